"""Planted symlinks on the runtime paths are never followed into someone else's folder (issue 16).

Each test runs the installed ``secretsctl render --manifest … --root R`` as root, in a forked
child inside its own private mount namespace, against a manifest of sops-nix's test vectors.
A link planted on the way to a folder secretsctl writes in points at a folder of the victim's
(``DIR``): the run must refuse before writing anything, with exit 10 and one error line, and
leave ``DIR`` as it was (mode, owner, contents) with nothing mounted anywhere. A symlink owned
by root on the way (``/var/run -> /run``) is followed, within the root.
"""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.activate_support import Users, in_private_namespace, nix_secret, tree_listing
from tests.cli.test_render import make_cli, mounts
from tests.cli.test_sops_install_secrets import nix_manifest
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.privileged


class Victim:
    """Someone else's folder a planted link points at, and a way to see it did not change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
        (folder / "precious").write_bytes(b"keep me")
        (folder / "precious").chmod(0o640)
        self.before = self.snapshot()

    def snapshot(self) -> tuple[Any, ...]:
        info = os.lstat(self.folder)
        return (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, tree_listing(self.folder))

    def untouched(self) -> bool:
        return self.snapshot() == self.before and (self.folder / "precious").read_bytes() == (
            b"keep me"
        )


def render(tmp_path: Path, root: Path, *more: str, **top: Any) -> subprocess.CompletedProcess[str]:
    """``secretsctl render --root ROOT`` of a one-secret manifest (``top`` overrides fields)."""
    secrets = top.pop("secrets", [nix_secret("test_key", "test_key")])
    manifest = nix_manifest(tmp_path, secrets, [], **top)
    cli = make_cli(tmp_path)
    return cli("render", "--manifest", str(manifest), "--root", str(root), *more)


def error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not hints (a refusal is one error line, and a hint)."""
    return [line for line in stderr.splitlines() if not line.startswith("secretsctl: hint: ")]


def plant(link: Path, target: Path, owner: tuple[int, int] = (0, 0)) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    os.lchown(link, *owner)


def in_namespace(body: Callable[[], None]) -> None:
    """Run ``body`` in a private mount namespace, with a throw-away tmpfs over /run.

    The tmpfs catches anything a regression writes to the host's /run through an absolute
    link, and vanishes with the namespace.
    """

    def wrapped() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"none", b"/run", b"tmpfs", ctypes.c_ulong(0), b"mode=0755") != 0:
            raise OSError(ctypes.get_errno(), "mount tmpfs on /run")
        body()

    in_private_namespace(wrapped)


# --- refused: a link at secretsctl's own folders, whoever owns it ------------------------------


@pytest.mark.parametrize(
    ("own_folder", "what"),
    [("run/secretsctl", "the state folder"), ("run/secrets.d", "the mount point")],
)
def test_a_symlink_at_an_own_folder_is_refused(tmp_path: Path, own_folder: str, what: str) -> None:
    root = tmp_path / "root"
    victim = Victim(tmp_path / "victim")
    plant(root / own_folder, victim.folder)  # owned by root: still not followed

    def body() -> None:
        mounted = mounts()
        done = render(tmp_path, root)
        assert done.returncode == ExitCode.ACTIVATION_FAILED, done.stderr
        assert error_lines(done.stderr) == [
            f"secretsctl: error: refusing {root / own_folder}: it is a symlink, and secretsctl "
            "puts its own files only in a real directory"
        ], what
        assert "secretsctl: hint: " in done.stderr
        assert victim.untouched(), f"{what}: the folder the link points at was changed"
        assert mounts() == mounted, "something was mounted"
        assert not (root / "run/secrets").exists()
        assert os.path.islink(root / own_folder)

    in_namespace(body)


# --- refused: a link on the way to a folder, owned by someone else ----------------------------


FOLDERS = {
    # where the link is planted, under the root -> fields of the manifest, options
    "custom path": ("var/lib/app", {"secrets": [nix_secret("k", "test_key",
                                                           path="/var/lib/app/k")]}, ()),
    "symlink path": ("srv", {"symlinkPath": "/srv/secrets"}, ()),
    "lock and everything in /run": ("run", {}, ()),
    "NixOS list files": ("run/nixos", {}, ("--delivery", "list-files")),
    "mount point's folder": ("mnt", {"secretsMountPoint": "/mnt/secrets.d"}, ()),
}  # fmt: skip


@pytest.mark.parametrize("where", list(FOLDERS))
def test_a_link_not_owned_by_root_on_the_way_is_refused(
    tmp_path: Path, users: Users, where: str
) -> None:
    folder, top, options = FOLDERS[where]
    root = tmp_path / "root"
    victim = Victim(tmp_path / "victim")
    os.chown(victim.folder, users.alice_uid, users.alice_gid)
    victim.before = victim.snapshot()
    plant(root / folder, victim.folder, (users.alice_uid, users.alice_gid))

    def body() -> None:
        mounted = mounts()
        done = render(tmp_path, root, *options, **top)
        assert done.returncode == ExitCode.ACTIVATION_FAILED, done.stderr
        assert error_lines(done.stderr) == [
            f"secretsctl: error: refusing to follow the symlink {root / folder}: it is owned by "
            f"uid {users.alice_uid}, not by root"
        ], where
        assert "secretsctl: hint: " in done.stderr
        assert victim.untouched(), f"{where}: the folder the link points at was changed"
        assert mounts() == mounted, "something was mounted"
        assert not os.path.lexists(root / "run/secrets")
        assert not os.path.lexists(root / "srv/secrets")

    in_namespace(body)


# --- followed: a link owned by root, resolved within the root ---------------------------------


@pytest.mark.parametrize("target", ["../run", "/run"], ids=["relative", "absolute"])
def test_a_root_owned_symlinked_folder_still_works(tmp_path: Path, target: str) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var/run").symlink_to(target)  # made by root, as distributions ship it
    marker = f"app-{os.urandom(3).hex()}"
    secrets = [nix_secret("k", "test_key", path=f"/var/run/{marker}/k")]

    def body() -> None:
        done = render(tmp_path, root, secrets=secrets, symlinkPath="/var/run/secrets")
        assert done.returncode == 0, done.stderr
        link = root / "run" / marker / "k"
        assert os.readlink(link) == f"{root}/var/run/secrets/k"
        assert os.readlink(root / "run/secrets") == f"{root}/run/secrets.d/1"
        same_secret((root / "run/secrets/k").read_bytes(), b"test_value", "test_key")
        assert not os.path.lexists(Path("/run") / marker), "an absolute target left the root"
        assert not os.path.lexists("/run/secrets.d/1")

    in_namespace(body)


def test_a_recorded_link_now_behind_a_planted_link_is_left_alone(
    tmp_path: Path, users: Users
) -> None:
    """A stale link whose folder became someone else's link: not removed, not followed."""
    root = tmp_path / "root"
    (root / "var/lib/app").mkdir(parents=True)
    victim = Victim(tmp_path / "victim")
    (victim.folder / "k").symlink_to(root / "run/secrets/k")  # what the recorded link was
    victim.before = victim.snapshot()
    linked = [nix_secret("k", "test_key", path="/var/lib/app/k")]

    def body() -> None:
        assert render(tmp_path, root, secrets=linked).returncode == 0
        (root / "var/lib/app/k").unlink()
        (root / "var/lib/app").rmdir()
        plant(root / "var/lib/app", victim.folder, (users.alice_uid, users.alice_gid))
        done = render(tmp_path, root, secrets=[nix_secret("k", "test_key")])
        assert done.returncode == 0, done.stderr
        assert done.stderr == (
            f"secretsctl: warning: left {root}/var/lib/app/k in place: it is not a link "
            "secretsctl made\n"
        )
        assert victim.untouched(), "the folder behind the planted link was changed"

    in_namespace(body)
