"""The boot suite: a real systemd boots secretsctl-activate.service inside systemd-nspawn.

A minimal Debian root filesystem (debootstrap minbase with systemd, dbus and python3) is
built once and cached under /var/cache/secretsctl-boot/<key> (SECRETSCTL_BOOT_CACHE), built
in a temporary folder and renamed into place, so an interrupted build never leaves half a
tree. Each session copies it, installs this checkout there (a wheel and its dependencies,
downloaded on the host, into a venv at /opt/secretsctl), the boot unit from systemd/, the
example configuration with its demo key, and two consumer services, then boots it with
``systemd-nspawn --register=no --keep-unit -b`` (no system bus, no systemd as PID 1 needed
on the host). The tests talk to the container with ``nsenter`` into its init; the consumers
write what they saw (a SHA-256, never a value) into a bind-mounted results folder.

Without root, systemd-nspawn or nsenter (or debootstrap when the tree must be built), or
when the container does not boot, the suite is skipped with the reason, unless
SECRETSCTL_REQUIRE_BOOT=1, where it fails.
The suite is deselected by default (``-m "not boot"`` in pyproject's addopts); run it with
``.venv/bin/python -m pytest -m boot``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO

SUITE = "bookworm"
MIRROR = os.environ.get("SECRETSCTL_BOOT_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv")
CACHE = Path(os.environ.get("SECRETSCTL_BOOT_CACHE", "/var/cache/secretsctl-boot"))
# Bump when the way the base tree is made changes, so old caches are not reused.
_LAYOUT = "1"
BOOT_TIMEOUT = float(os.environ.get("SECRETSCTL_BOOT_TIMEOUT", "120"))
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The consumers. ci-keyboard-leds.service stands in for the companion's user unit as a
# system service: it needs github_token_env through EnvironmentFile= (no '-': a missing file
# fails the unit) and appends "<InvocationID> <sha256 of GITHUB_TOKEN>" to /results.
# telegram-consumer.service reads /run/secrets/telegram_bot_token the same way.
CONSUMERS = {
    "ci-keyboard-leds.service": """\
[Unit]
Description=boot test consumer of github_token_env (stands in for ci-keyboard-leds)

[Service]
Type=exec
EnvironmentFile=/run/secrets/rendered/github_token_env
ExecStart=/bin/sh -c 'h=$(printf %%s "$GITHUB_TOKEN" | sha256sum | cut -d" " -f1); \
echo "$INVOCATION_ID $h" >> /results/ci-keyboard-leds; exec sleep infinity'

[Install]
WantedBy=multi-user.target
""",
    "telegram-consumer.service": """\
[Unit]
Description=boot test consumer of telegram_bot_token

[Service]
Type=exec
ExecStart=/bin/sh -c 'h=$(sha256sum < /run/secrets/telegram_bot_token | cut -d" " -f1); \
echo "$INVOCATION_ID $h" >> /results/telegram-consumer; exec sleep infinity'

[Install]
WantedBy=multi-user.target
""",
}


def cannot_boot(reason: str) -> None:
    """Skip, or fail under SECRETSCTL_REQUIRE_BOOT=1 (CI, once the suite is on there)."""
    if os.environ.get("SECRETSCTL_REQUIRE_BOOT") == "1":
        pytest.fail(f"SECRETSCTL_REQUIRE_BOOT=1 but {reason}")
    pytest.skip(reason)


def _require_tools() -> None:
    if os.geteuid() != 0:
        cannot_boot("the boot tests need root (debootstrap, systemd-nspawn)")
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
        ("chroot", "coreutils"),
    ):
        if shutil.which(tool) is None:
            cannot_boot(f"{tool} is not on PATH (apt-get install {package})")


def _run(cmd: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(cmd, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    except OSError as exc:
        cannot_boot(f"{what} could not run: {exc}")
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
        cannot_boot(f"{what} failed ({result.returncode}): {tail}")
    return result  # type: ignore[no-any-return]


def base_key() -> str:
    """The cache key of the base tree: suite, mirror, packages and layout version."""
    text = "\n".join((_LAYOUT, SUITE, MIRROR, *PACKAGES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_base_tree() -> Path:
    """Return the cached debootstrap tree, building it first when it is missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = base_key()
    final = CACHE / key
    with open(CACHE / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building the same tree
        if final.is_dir():
            return final
        if shutil.which("debootstrap") is None:
            cannot_boot(f"debootstrap is missing (apt-get install debootstrap) to build {final}")
        # Leftovers of killed builds: .<key>.tmp-<pid> whose process is gone.
        for stale in CACHE.glob(f".{key}.tmp-*"):
            pid = stale.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
        staging = CACHE / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
            SUITE, str(staging), MIRROR,
        ]
        result = subprocess.run(cmd, capture_output=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            cannot_boot(f"debootstrap failed ({result.returncode}): {tail}")
        staging.rename(final)  # atomic: the tree is complete or absent
        return final


@pytest.fixture(scope="session")
def base_tree() -> Path:
    """The cached minimal Debian tree (read-only: sessions work on copies)."""
    _require_tools()
    return build_base_tree()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a wheel plus its dependencies' wheels, for the container's Python."""
    folder = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "-w", str(folder), str(REPO)], "building the wheel")
    (wheel,) = folder.glob("secretsctl-*.whl")
    # Debian 12's python3 is 3.11 on glibc 2.36, like the CI machine; binary wheels only, as
    # the container has no compiler.
    _run([*pip, "download", "--only-binary=:all:", "--python-version", "3.11",
          "-d", str(folder), str(wheel)], "downloading the dependencies' wheels")
    return folder


def expected_value(sops_file: Path, key: str) -> str:
    """One decrypted value, decrypted on the host (for hashes and leak checks; never shown)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "secretsctl"), "decrypt", "--extract", f'["{key}"]',
         str(sops_file)],
        capture_output=True,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ["HOME"],
             "SOPS_AGE_KEY_FILE": str(REPO / "examples" / "demo-age-key.txt")},
    )
    assert result.returncode == 0, "decrypting on the host failed"
    return result.stdout.decode()


def expected_sha256(sops_file: Path, key: str) -> str:
    """SHA-256 of one decrypted value, computed on the host (the value is never shown)."""
    return hashlib.sha256(expected_value(sops_file, key).encode()).hexdigest()


def prepare_tree(base: Path, tree: Path, wheels: Path) -> None:
    """Copy the base tree to ``tree`` and install secretsctl, its unit, config and consumers."""
    _run(["cp", "-a", "--reflink=auto", str(base), str(tree)], "copying the base tree")
    shutil.copytree(wheels, tree / "opt" / "wheels")
    chroot = ["chroot", str(tree), "env", "-i", f"PATH={CONTAINER_PATH}", "HOME=/root"]
    _run([*chroot, "python3", "-m", "venv", "/opt/secretsctl"], "python3 -m venv in the tree")
    _run([*chroot, "/opt/secretsctl/bin/pip", "-q", "--disable-pip-version-check", "install",
          "--no-index", "--find-links", "/opt/wheels", "secretsctl"],
         "installing the wheel in the tree")
    for script in ("secretsctl", "sops-install-secrets", "ci-keyboard-leds"):
        (tree / "usr" / "bin" / script).symlink_to(f"/opt/secretsctl/bin/{script}")
    # The desktop user of the example configuration (owner of github_token_env).
    _run([*chroot, "useradd", "--uid", "1000", "--user-group", "--create-home", "desktop"],
         "useradd desktop")

    etc = tree / "etc" / "secretsctl"
    etc.mkdir(mode=0o700)
    for name in ("secrets.yaml", "demo-age-key.txt"):
        shutil.copy2(REPO / "examples" / name, etc / name)
    shutil.copytree(REPO / "templates", etc / "templates")
    config = (REPO / "examples" / "secretsctl.yaml").read_text()
    config = config.replace("../templates/", "templates/")
    config = config.replace(
        "  telegram_bot_token: {}",
        "  telegram_bot_token:\n    restart_units: [telegram-consumer.service]",
    )
    assert "telegram-consumer.service" in config
    (etc / "secretsctl.yaml").write_text(config)

    units = tree / "etc" / "systemd" / "system"
    shutil.copy2(REPO / "systemd" / "secretsctl-activate.service", units)
    wants = units / "sysinit.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / "secretsctl-activate.service").symlink_to("../secretsctl-activate.service")
    multi = units / "multi-user.target.wants"
    multi.mkdir(exist_ok=True)
    for name, text in CONSUMERS.items():
        (units / name).write_text(text)
        (multi / name).symlink_to(f"../{name}")
    # Nothing of the boot needs a login prompt, and its absence keeps the console quiet.
    (units / "console-getty.service").symlink_to("/dev/null")


@dataclass
class Machine:
    """A booted container: its tree, results folder, nspawn process and init's host pid."""

    tree: Path
    results: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    init_pid: int = 0
    boots: int = 0
    _log_file: object = field(default=None, repr=False)

    def boot(self) -> None:
        """Boot with systemd-nspawn and wait until both consumers have reported."""
        for old in self.results.iterdir():
            old.unlink()
        self.boots += 1
        log = open(self.log, "ab")  # noqa: SIM115 (closed in poweroff)
        log.write(f"\n=== boot {self.boots} ===\n".encode())
        log.flush()
        self._log_file = log
        self.process = subprocess.Popen(
            ["systemd-nspawn", "--register=no", "--keep-unit", "--quiet", "--boot",
             "--private-network", f"--directory={self.tree}",
             f"--bind={self.results}:/results", "--console=read-only"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # no container outlives a killed test run
        )
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not self.init_pid:
            self._check_alive()
            self.init_pid = _init_pid_of(self.process.pid)
            if time.monotonic() > deadline:
                self.fail("no container init appeared")
            time.sleep(0.1)
        while not all((self.results / name.removesuffix(".service")).exists()
                      for name in CONSUMERS):
            self._check_alive()
            if time.monotonic() > deadline:
                self.fail("the consumers did not report in time")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            cannot_boot(f"systemd-nspawn exited with {code}: {self.console_tail()}")

    def console_tail(self) -> str:
        """The end of the container's console log (it never holds a value)."""
        return self.log.read_bytes()[-3000:].decode(errors="replace")

    def fail(self, what: str) -> None:
        """Fail with the state of the boot, then power off (in the finalizer)."""
        state = self.run("systemctl", "list-units", "--failed", "--no-pager", check=False)
        pytest.fail(f"{what}\nfailed units:\n{state.stdout}\nconsole:\n{self.console_tail()}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (all its namespaces, its root and cwd)."""
        result = subprocess.run(
            ["nsenter", f"--target={self.init_pid}", "--all", "--root", "--wd",
             "env", "-i", f"PATH={CONTAINER_PATH}", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", *cmd],
            capture_output=True, text=True, check=False, timeout=60,
        )
        if check:
            assert result.returncode == 0, f"{cmd}: {result.returncode}\n{result.stderr}"
        return result

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show`` of some properties, as a dict."""
        out = self.run("systemctl", "show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def poweroff(self) -> None:
        """Power off cleanly; SIGTERM, then SIGKILL, if the container does not stop."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            if self.init_pid:
                with contextlib.suppress(Exception):
                    self.run("systemctl", "poweroff", "--no-block", check=False)
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    process.send_signal(sig)
                try:
                    process.wait(timeout=30)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.init_pid = 0
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None


def _die_with_parent() -> None:
    """In nspawn's child before exec: SIGTERM it (a clean poweroff) if pytest dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _init_pid_of(nspawn_pid: int) -> int:
    """The host pid of the container's PID 1: a descendant of nspawn that is 1 in its ns."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        nspid = fields.get("NSpid", "").split()
        if len(nspid) < 2 or nspid[-1] != "1":
            continue
        pid = int(entry.name)
        while pid > 1:  # walk up to nspawn
            try:
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                break
            if ppid == nspawn_pid:
                return int(entry.name)
            pid = ppid
    return 0


@pytest.fixture(scope="session")
def machine_tree(
    base_tree: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A prepared copy of the base tree with secretsctl installed (one per session)."""
    tree = tmp_path_factory.mktemp("machine") / "root"
    prepare_tree(base_tree, tree, wheelhouse)
    return tree


@pytest.fixture(scope="session")
def machine(machine_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    """The booted container, powered off at the end of the session whatever happens."""
    results = tmp_path_factory.mktemp("results")
    m = Machine(machine_tree, results, machine_tree.parent / "console.log")
    try:
        m.boot()
        yield m
    finally:
        m.poweroff()
