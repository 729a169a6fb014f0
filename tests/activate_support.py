"""Helpers for the activation tests: plans, a checking systemctl stand-in, tree listings,
an instrumented ``os`` layer, and running a test body as root in a private mount namespace."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import stat
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from secretsctl.config.model import Manifest
from secretsctl.paths import RuntimePaths
from secretsctl.redact import Secret
from secretsctl.render.model import ItemKind, PlannedFile, RenderPlan
from tests.conftest import SOPS_NIX_VECTORS

# --- plans ----------------------------------------------------------------------------------


def secret(
    name: str,
    data: bytes = b"value",
    *,
    uid: int = 0,
    gid: int = 0,
    mode: int = 0o400,
    link: str | None = None,
    restart: tuple[str, ...] = (),
    reload: tuple[str, ...] = (),
) -> PlannedFile:
    """A planned secret file."""
    return PlannedFile(
        ItemKind.SECRET,
        name,
        Secret(data),
        uid,
        gid,
        mode,
        str(uid),
        str(gid),
        link_path=link,
        restart_units=restart,
        reload_units=reload,
    )


def template(name: str, data: bytes = b"rendered", **fields: Any) -> PlannedFile:
    """A planned template file (installed under rendered/); ``fields`` as :func:`secret`."""
    return secret(name, data, **fields)._replace(kind=ItemKind.TEMPLATE)


def plan(*files: PlannedFile) -> RenderPlan:
    """A render plan of these files."""
    return RenderPlan(tuple(files))


def manifest(**fields: Any) -> Manifest:
    """A manifest with the defaults (mount point /run/secrets.d, symlink /run/secrets)."""
    return Manifest(source="test", **fields)


def live_files(paths: RuntimePaths, m: Manifest) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file of the live generation: relative path -> (bytes, uid, gid, mode)."""
    root = Path(paths.runtime(m.symlink_path))
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            out[str(path.relative_to(root))] = (
                path.read_bytes(),
                info.st_uid,
                info.st_gid,
                stat.S_IMODE(info.st_mode),
            )
    return out


def expected_files(
    p: RenderPlan, *, owners: tuple[int, int] | None = None
) -> dict[str, tuple[bytes, int, int, int]]:
    """What :func:`live_files` shows once ``p`` is live (``owners`` when files are not chowned)."""
    return {
        f.relative_path: (
            f.content.reveal(),
            owners[0] if owners else f.uid,
            owners[1] if owners else f.gid,
            f.mode,
        )
        for f in p.files
    }


# --- a full listing of a tree, to prove that nothing was written ---------------------------


def tree_listing(root: str | Path, *, exclude: tuple[str, ...] = ()) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` (no link followed): type, mode, owner, size, mtime, target."""
    out: dict[str, tuple[Any, ...]] = {}
    base = str(root)
    for folder, dirs, files in os.walk(base):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if path in exclude:
                continue
            info = os.lstat(path)
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
            out[os.path.relpath(path, base)] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                info.st_uid,
                info.st_gid,
                info.st_size if not stat.S_ISDIR(info.st_mode) else None,
                info.st_mtime_ns,
                info.st_ctime_ns,
                target,
            )
    return out


# --- the systemctl stand-in -----------------------------------------------------------------

_STANDIN = r"""
import json, os, re, sys
args = sys.argv[1:]
log = os.environ.get("SYSTEMCTL_STANDIN_LOG")
if log:
    with open(log, "a") as handle:
        handle.write(json.dumps(args) + "\n")
unknown = set(filter(None, os.environ.get("SYSTEMCTL_STANDIN_UNKNOWN", "").split(",")))
name = re.compile(r"[A-Za-z0-9:_.\\@-]+\.(service|socket|target|timer|path|mount)")

def refuse(why):
    print(f"systemctl stand-in: {why}: {args}", file=sys.stderr)
    sys.exit(64)

def check_units(units):
    if not units:
        refuse("no unit given")
    for unit in units:
        if unit.startswith("-") or not name.fullmatch(unit):
            refuse(f"not a unit name: {unit!r}")
    if len(set(units)) != len(units):
        refuse("a unit given twice")

def down():
    # What the real systemctl says where systemd is not PID 1 (a container).
    if os.environ.get("SYSTEMCTL_STANDIN_DOWN"):
        print("System has not been booted with systemd as init system (PID 1). Can't operate.",
              file=sys.stderr)
        print("Failed to connect to bus: Host is down", file=sys.stderr)
        sys.exit(1)

if args[:4] == ["show", "-p", "LoadState", "--value"]:
    units = args[4:]
    check_units(units)
    down()
    print("\n\n".join("not-found" if u in unknown else "loaded" for u in units))
elif args[:1] == ["--no-block"] and args[1:2] in (["try-restart"], ["try-reload-or-restart"]):
    check_units(args[2:])
    down()
    missing = [u for u in args[2:] if u in unknown]
    if missing:
        for unit in missing:
            print(f"Failed to {args[1]} {unit}: Unit {unit} not found.", file=sys.stderr)
        sys.exit(5)
    if os.environ.get("SYSTEMCTL_STANDIN_FAIL"):
        print("Failed to connect to bus", file=sys.stderr)
        sys.exit(1)
else:
    refuse("unexpected arguments")
"""


@dataclass
class Systemctl:
    """A stand-in ``systemctl`` first on PATH: it checks and records every call."""

    folder: Path
    log: Path

    @property
    def program(self) -> str:
        return str(self.folder / "systemctl")

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def delivered(self) -> list[list[str]]:
        """The try-restart / try-reload-or-restart calls only."""
        return [c for c in self.calls() if c and c[0] == "--no-block"]

    def clear(self) -> None:
        if self.log.exists():
            self.log.unlink()


def install_systemctl(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Systemctl:
    """Put the stand-in first on PATH for this test."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "systemctl"
    program.write_text(f"#!{sys.executable}\n{_STANDIN}")
    program.chmod(0o755)
    log = folder / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("SYSTEMCTL_STANDIN_LOG", str(log))
    monkeypatch.delenv("SYSTEMCTL_STANDIN_UNKNOWN", raising=False)
    return Systemctl(folder, log)


# --- an instrumented os layer ---------------------------------------------------------------

# Pure functions of the os module: not system calls, never counted.
_PURE = frozenset(
    {
        "fspath",
        "fsencode",
        "fsdecode",
        "strerror",
        "major",
        "minor",
        "makedev",
        "getpid",
        "geteuid",
        "getegid",
        "getuid",
        "getgid",
        "get_inheritable",
        "WIFEXITED",
        "environ",
    }
)


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    result: Any = None


class RecordingOs:
    """Stands in for the ``os`` module of the activation code: records (and can hook) calls."""

    def __init__(self, hook: Callable[[str, tuple[Any, ...]], None] | None = None) -> None:
        self.calls: list[Call] = []
        self.hook = hook

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if not callable(real) or name in _PURE or isinstance(real, type):
            return real

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.hook is not None:
                self.hook(name, args)
            call = Call(name, args, kwargs)
            self.calls.append(call)
            call.result = real(*args, **kwargs)
            return call.result

        return wrapper


ACTIVATION_MODULES = (
    "secretsctl.activate.rooted",  # the walk to every folder written in
    "secretsctl.activate.fsops",
    "secretsctl.activate.generations",
    "secretsctl.activate.links",
    "secretsctl.activate.apply",
    "secretsctl.activate.context",
    "secretsctl.activate.live",
    "secretsctl.activate.linking",
    "secretsctl.activate.write",
    "secretsctl.activate.rollback",
    "secretsctl.fsutil",  # write_fully: the bytes and the fsync of every file
)


def instrument(monkeypatch: pytest.MonkeyPatch | None, layer: RecordingOs) -> None:
    """Route the activation modules' ``os`` through ``layer``."""
    import importlib

    for name in ACTIVATION_MODULES:
        module = importlib.import_module(name)
        if monkeypatch is None:
            module.os = layer  # type: ignore[attr-defined]
        else:
            monkeypatch.setattr(module, "os", layer)


# --- root, users, private mount namespaces ---------------------------------------------------


def require_root() -> None:
    """Skip unless root; fail instead when SECRETSCTL_REQUIRE_ROOT=1 (CI)."""
    if os.geteuid() == 0:
        return
    reason = "needs root (real mounts, chown, users); CI runs it as root"
    if os.environ.get("SECRETSCTL_REQUIRE_ROOT") == "1":
        pytest.fail(f"SECRETSCTL_REQUIRE_ROOT=1 but not root: {reason}")
    pytest.skip(reason)


_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000


def enter_private_mount_namespace() -> None:
    """``unshare -m --propagation private`` for the calling process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWNS): {os.strerror(error)}")
    if libc.mount(b"none", b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount --make-rprivate /: {os.strerror(error)}")


def in_child(body: Callable[[], None], *, private_namespace: bool = False) -> None:
    """Run ``body`` in a forked child; its failure (with the traceback) is raised here."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller
        os.close(read_end)
        code = 0
        try:
            if private_namespace:
                enter_private_mount_namespace()
            body()
        except BaseException:
            os.write(write_end, traceback.format_exc().encode("utf-8", "replace")[-20000:])
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        report = b"".join(chunks).decode("utf-8", "replace")
        raise AssertionError(f"in a child process (wait status {status}):\n{report}")


def in_private_namespace(body: Callable[[], None]) -> None:
    """Run ``body`` in a forked child inside its own private mount namespace.

    Mounts made by the body vanish with the child. A failure (assertion or error) in the
    child is reported with its traceback as this test's failure.
    """
    try:
        in_child(body, private_namespace=True)
    except AssertionError as failure:
        pytest.fail(str(failure), pytrace=False)


@dataclass(frozen=True)
class Users:
    """Users and a group made for the privileged tests (unique names, removed afterwards)."""

    alice: str
    alice_uid: int
    alice_gid: int
    bob: str
    bob_uid: int
    bob_gid: int
    group: str
    group_gid: int


def create_users() -> Iterator[Users]:
    """useradd two users and groupadd a group; userdel/groupdel them afterwards."""
    import grp
    import pwd
    import subprocess

    suffix = os.urandom(3).hex()
    alice, bob, group = f"sctla{suffix}", f"sctlb{suffix}", f"sctlg{suffix}"
    made: list[tuple[str, str]] = []
    try:
        for user in (alice, bob):
            subprocess.run(
                [
                    "useradd",
                    "--no-create-home",
                    "--user-group",
                    "--shell",
                    "/usr/sbin/nologin",
                    user,
                ],
                check=True,
                capture_output=True,
            )
            made.append(("userdel", user))
        subprocess.run(["groupadd", group], check=True, capture_output=True)
        made.append(("groupdel", group))
        a, b = pwd.getpwnam(alice), pwd.getpwnam(bob)
        yield Users(
            alice, a.pw_uid, a.pw_gid, bob, b.pw_uid, b.pw_gid, group, grp.getgrnam(group).gr_gid
        )
    finally:
        for command, name in reversed(made):
            subprocess.run([command, name], check=False, capture_output=True)
            if command == "userdel":  # --user-group made a group of the same name
                subprocess.run(["groupdel", name], check=False, capture_output=True)


def ram_backed_tempdir() -> str | None:
    """A new directory on tmpfs (/dev/shm or $XDG_RUNTIME_DIR), or None when there is none."""
    from secretsctl.activate import fsops

    for base in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm", tempfile.gettempdir()):
        if not base or not os.path.isdir(base) or not os.access(base, os.W_OK):
            continue
        try:
            if fsops.fs_magic(base) in fsops.RAM_BACKED:
                return tempfile.mkdtemp(prefix="secretsctl-test-", dir=base)
        except OSError:
            continue
    return None


def disk_backed_dir(*candidates: Path) -> Path | None:
    """The first of these directories that is not RAM-backed."""
    from secretsctl.activate import fsops

    for candidate in candidates:
        try:
            if fsops.fs_magic(str(candidate)) not in fsops.RAM_BACKED:
                return candidate
        except OSError:
            continue
    return None


# --- sops-nix manifests --------------------------------------------------------------------


def placeholder(name: str) -> str:
    """The placeholder Nix puts in template text for secret ``name``."""
    return f"<SOPS:{hashlib.sha256(name.encode()).hexdigest()}:PLACEHOLDER>"


def nix_secret(name: str, key: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "format": "yaml",
        "gid": 0,
        "group": None,
        "key": key,
        "mode": "0400",
        "name": name,
        "neededForUsers": False,
        "owner": None,
        "path": f"/run/secrets/{name}",
        "reloadUnits": [],
        "restartUnits": [],
        "sopsFile": str(SOPS_NIX_VECTORS / "secrets.yaml"),
        "sopsFileHash": "0" * 64,
        "uid": 0,
    }
    entry.update(fields)
    return entry


def nix_template(name: str, content: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "content": content,
        "file": f"/nix/store/00000000000000000000000000000000-{name}",
        "gid": 0,
        "group": None,
        "mode": "0400",
        "name": name,
        "owner": None,
        "path": f"/run/secrets/rendered/{name}",
        "reloadUnits": [],
        "restartUnits": [],
        "uid": 0,
    }
    entry.update(fields)
    return entry
