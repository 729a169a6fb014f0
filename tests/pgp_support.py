"""Real GnuPG homes for the PGP tests: made with gpg, keys without passphrase, removed after.

Homes live in short folders under /tmp (gpg-agent's socket path must fit in 108 bytes) and
their agent is stopped when the test ends. CI installs gnupg and sets SECRETSCTL_REQUIRE_GPG=1
so these tests fail, not skip, when gpg is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import SOPS_NIX_VECTORS

# The sops-nix vectors' PGP keys: key.asc, and ssh-key imported as sops-nix imports it.
VECTOR_PGP = "7FB89715AADA920D65D25E63F9BA9DEBD03F57C0"
VECTOR_SSH_PGP = "2504791468B153B8A3963CC97BA53D1919C5DFD4"
VECTOR_KEY_ASC = SOPS_NIX_VECTORS / "key.asc"
VECTOR_SSH_RSA = SOPS_NIX_VECTORS / "ssh-key"


def require_gpg() -> str:
    """Return gpg's path; fail when CI requires it, else skip, when it is missing."""
    found = shutil.which("gpg")
    if found is None:
        if os.environ.get("SECRETSCTL_REQUIRE_GPG") == "1":
            pytest.fail("gpg is missing (SECRETSCTL_REQUIRE_GPG=1)")
        pytest.skip("gpg is not installed")
    return found


@dataclass
class GnupgHome:
    """A GnuPG home made for one test, and the fingerprints generated in it."""

    path: Path
    keys: dict[str, str] = field(default_factory=dict)  # name -> fingerprint

    @property
    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.path)}

    def gpg(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            ["gpg", "--homedir", str(self.path), "--batch", *args],
            input=input,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        return done

    def generate(self, name: str, algo: str) -> str:
        """Generate a key without passphrase ("rsa2048" or "ed25519"); return its fingerprint."""
        uid = f"{name} <{name}@secretsctl.test>"
        if algo == "ed25519":
            self.gpg(
                "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never"
            )
        else:
            self.gpg("--passphrase", "", "--quick-gen-key", uid, algo, "sign,encr", "never")
        listing = self.gpg("--with-colons", "--list-keys", uid).stdout.decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        self.keys[name] = fingerprint
        return fingerprint

    def import_key(self, path: Path) -> None:
        self.gpg("--import", str(path))

    def export_public(self, fingerprint: str) -> bytes:
        return self.gpg("--export", "--armor", fingerprint).stdout

    def delete_secret(self, fingerprint: str) -> None:
        self.gpg("--yes", "--delete-secret-keys", fingerprint)


def stop_agent(path: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(path), "--kill", "gpg-agent"], capture_output=True, check=False
    )


def new_home() -> GnupgHome:
    require_gpg()
    return GnupgHome(Path(tempfile.mkdtemp(prefix="sc-gpg-", dir="/tmp")))  # noqa: S108


def remove_home(home: GnupgHome) -> None:
    stop_agent(home.path)
    shutil.rmtree(home.path, ignore_errors=True)


@pytest.fixture
def gnupg_home() -> Iterator[GnupgHome]:
    """An empty GnuPG home (0700), its agent stopped and the folder removed afterwards."""
    home = new_home()
    try:
        yield home
    finally:
        remove_home(home)


@pytest.fixture(scope="session")
def session_gnupg() -> Iterator[GnupgHome]:
    """One home for the session: an RSA key, an ed25519/cv25519 key and key.asc (7FB8…)."""
    home = new_home()
    try:
        home.generate("rsa", "rsa2048")
        home.generate("ed", "ed25519")
        home.import_key(VECTOR_KEY_ASC)
        home.keys["vector"] = VECTOR_PGP
        yield home
    finally:
        remove_home(home)
