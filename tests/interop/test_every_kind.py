"""One file, every key kind: X25519, post-quantum, an age plugin and PGP, with the real sops.

A file encrypted to all four in one key group opens with any one of their keys alone, in
secretsctl and in sops 3.11; a Shamir file with one group per kind opens with any two kinds
and not with one; ``rotate`` and ``updatekeys`` keep every kind. Each key is given alone:
the age kinds through ``SOPS_AGE_KEY_FILE``, PGP through ``GNUPGHOME`` (an empty home when
PGP is not the key under test, so gpg cannot help).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import Runner, make_age_key, sops_binary
from tests.leds.secrets_support import same_secret
from tests.pgp_support import GnupgHome, gnupg_home  # noqa: F401 - fixture
from tests.plugin_support import make_plugin_key, path_with_plugin

pytestmark = pytest.mark.interop

PLAIN = b"password: hunter2\nnested:\n    token: abc123\n"
KINDS = ("x25519", "pq", "plugin", "pgp")


class Keys:
    """One key of every kind: recipients, and the environment that gives each key alone."""

    def __init__(self, folder: Path, home: GnupgHome, secretsctl: Runner) -> None:
        self.folder = folder
        self.home = home
        x25519 = make_age_key(folder, "x25519.txt")
        pq_file = folder / "pq.txt"
        made = secretsctl("keygen", "--pq", "-o", str(pq_file))
        assert made.returncode == 0, made.stderr.decode()
        pq_recipient = made.stderr.decode().split("Public key: ", 1)[1].strip()
        plugin = make_plugin_key(folder, "plugin.txt")
        fingerprint = home.generate("every-kind", "ed25519")
        self.recipients = {
            "x25519": x25519.recipient,
            "pq": pq_recipient,
            "plugin": plugin.recipient,
            "pgp": fingerprint,
        }
        self.key_files = {"x25519": x25519.key_file, "pq": pq_file, "plugin": plugin.key_file}
        (folder / "no-gnupg").mkdir(mode=0o700)

    def env(self, *kinds: str) -> dict[str, str]:
        """Only the keys of ``kinds``; the test plugin on PATH either way."""
        age_text = "".join(self.key_files[k].read_text() for k in kinds if k in self.key_files)
        keys = self.folder / f"keys-{'-'.join(kinds)}.txt"
        keys.write_text(age_text)
        home = self.home.path if "pgp" in kinds else self.folder / "no-gnupg"
        return {
            "PATH": path_with_plugin(),
            "SOPS_AGE_KEY_FILE": str(keys),
            "GNUPGHOME": str(home),
            "HOME": str(self.folder),
        }


@pytest.fixture
def keys(tmp_path: Path, gnupg_home: GnupgHome, secretsctl: Runner) -> Keys:  # noqa: F811
    return Keys(tmp_path, gnupg_home, secretsctl)


def sops(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sops_binary(), *args], capture_output=True, env=env, cwd=cwd, check=False, timeout=120
    )


def opens(secretsctl: Runner, path: Path, env: dict[str, str]) -> None:
    ours = secretsctl("decrypt", str(path), env=env)
    assert ours.returncode == 0, ours.stderr.decode()
    same_secret(ours.stdout, PLAIN, "secretsctl's decrypted text")
    theirs = sops("decrypt", str(path), env=env, cwd=path.parent)
    assert theirs.returncode == 0, theirs.stderr.decode()
    same_secret(theirs.stdout, PLAIN, "sops's decrypted text")


def kinds_in(document: bytes, keys: Keys) -> set[str]:
    text = document.decode()
    found = {kind for kind, recipient in keys.recipients.items() if recipient in text}
    assert set(re.findall(r"fp: ([0-9A-F]+)", text)) <= {keys.recipients["pgp"]}
    return found


def encrypt_all_in_one_group(secretsctl: Runner, keys: Keys) -> Path:
    plain = keys.folder / "plain.yaml"
    plain.write_bytes(PLAIN)
    age = ",".join(keys.recipients[k] for k in ("x25519", "pq", "plugin"))
    done = secretsctl(
        "encrypt", "--age", age, "--pgp", keys.recipients["pgp"], str(plain), env=keys.env("pgp")
    )
    assert done.returncode == 0, done.stderr.decode()
    target = keys.folder / "every-kind.yaml"
    target.write_bytes(done.stdout)
    assert kinds_in(done.stdout, keys) == set(KINDS)
    return target


def test_one_group_of_every_kind_opens_with_each_key_alone(keys: Keys, secretsctl: Runner) -> None:
    target = encrypt_all_in_one_group(secretsctl, keys)
    for kind in KINDS:
        opens(secretsctl, target, keys.env(kind))
    none = secretsctl("decrypt", str(target), env=keys.env())
    assert none.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY


def test_rotate_and_updatekeys_keep_every_kind(keys: Keys, secretsctl: Runner) -> None:
    target = encrypt_all_in_one_group(secretsctl, keys)
    # Wrapping for PGP needs the public key, so gpg's home is given to both commands.
    rotated = secretsctl("rotate", "-i", str(target), env=keys.env("x25519", "pgp"))
    assert rotated.returncode == 0, rotated.stderr.decode()
    assert kinds_in(target.read_bytes(), keys) == set(KINDS)
    for kind in KINDS:
        opens(secretsctl, target, keys.env(kind))
    age = ", ".join(keys.recipients[k] for k in ("x25519", "pq", "plugin"))
    (keys.folder / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: '{age}'\n    pgp: '{keys.recipients['pgp']}'\n"
    )
    updated = secretsctl(
        "updatekeys", "-y", str(target), env=keys.env("pq", "pgp"), cwd=keys.folder
    )
    assert updated.returncode == 0, updated.stderr.decode()
    assert kinds_in(target.read_bytes(), keys) == set(KINDS)
    opens(secretsctl, target, keys.env("plugin"))


@pytest.mark.parametrize("writer", ["secretsctl", "sops"])
def test_a_shamir_group_per_kind_opens_with_any_two_kinds(
    writer: str, keys: Keys, secretsctl: Runner
) -> None:
    r = keys.recipients
    (keys.folder / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{r['x25519']}]\n      - age: [{r['pq']}]\n"
        f"      - age: [{r['plugin']}]\n      - pgp: [{r['pgp']}]\n"
    )
    plain = keys.folder / "plain.yaml"
    plain.write_bytes(PLAIN)
    env = keys.env("pgp")
    if writer == "sops":
        done = sops("encrypt", str(plain), env=env, cwd=keys.folder)
    else:
        done = secretsctl("encrypt", str(plain), env=env, cwd=keys.folder)
    assert done.returncode == 0, done.stderr.decode()
    target = keys.folder / "shamir.yaml"
    target.write_bytes(done.stdout)
    assert kinds_in(done.stdout, keys) == set(KINDS)
    for index, first in enumerate(KINDS):
        for second in KINDS[index + 1 :]:
            opens(secretsctl, target, keys.env(first, second))
        alone = secretsctl("decrypt", str(target), env=keys.env(first))
        assert alone.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY, first
        assert "  1 of 2 required key groups opened\n" in alone.stderr.decode()


def test_the_environment_is_isolated() -> None:
    """A guard: the kinds under test never come from the test runner's own keys."""
    assert "SOPS_AGE_KEY" not in os.environ
    assert "GNUPGHOME" not in os.environ
