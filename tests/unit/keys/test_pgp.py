"""The PGP kind: fingerprints, GnuPG homes as identities, gpg runs, sops-nix's SSH RSA import."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.keys.kinds import (
    NO_MATCH,
    KeySourceError,
    RecipientError,
    parse_recipient,
    pgp,
    recipient_kind,
    recipients_for,
)
from secretsctl.keys.sources import LocationStatus, load_identities
from secretsctl.sops.metadata import ForeignKey
from tests.keys_support import hanging_program, interrupt_once_started, process_gone
from tests.pgp_support import (  # noqa: F401 - fixtures
    VECTOR_SSH_PGP,
    VECTOR_SSH_RSA,
    GnupgHome,
    gnupg_home,
    require_gpg,
    session_gnupg,
)

FP = "85D77543B3D624B63CEA9E6DBC17301B491B3F21"


# --- fingerprints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (FP, FP),
        (FP.lower(), FP.lower()),
        (" 85D7 7543 B3D6 24B6 3CEA 9E6D BC17 301B 491B 3F21 ", FP),
        (FP[-16:], FP[-16:]),
        (FP + "!", FP + "!"),
    ],
)
def test_fingerprint_forms_sops_accepts(text: str, kept: str) -> None:
    recipient = parse_recipient(text)
    assert (recipient.kind, recipient.text) == ("pgp", kept)
    assert recipients_for("pgp", [text]) == [kept]


@pytest.mark.parametrize(
    "text", ["age1xyz", "ABCDEFG123456789", FP[:12], "ssh-rsa AAAA", FP + "00"]
)
def test_a_pgp_list_takes_fingerprints_only(text: str) -> None:
    with pytest.raises(RecipientError, match="malformed PGP fingerprint"):
        recipients_for("pgp", [text])


@pytest.mark.parametrize("text", [FP, FP[-16:], FP + "!"])
def test_a_fingerprint_in_an_age_list_is_refused(text: str) -> None:
    with pytest.raises(RecipientError, match="unknown age recipient type") as info:
        recipients_for("age", [text])
    assert info.value.exit_code == 1
    assert info.value.hint is not None and "--pgp" in info.value.hint


@given(st.text(alphabet="0123456789abcdefABCDEF !xyz1", max_size=60))
def test_fingerprint_parser_property(text: str) -> None:
    """Any text: a hex fingerprint of 16 to 40 digits (spaces dropped), or RecipientError."""
    try:
        fp = recipients_for("pgp", [text])
    except RecipientError as error:
        assert "malformed PGP fingerprint" in error.message
        return
    if not text.strip():
        assert fp == []
        return
    (kept,) = fp
    digits = kept.rstrip("!")
    assert " " not in kept
    assert 16 <= len(digits) <= 40 and len(digits) % 4 == 0
    assert all(c in "0123456789abcdefABCDEF" for c in digits)
    assert recipient_kind(kept) == "pgp"
    # Never both an age recipient and a fingerprint.
    with pytest.raises(RecipientError):
        recipients_for("age", [kept])


def test_short_ids_as_sops_shortens() -> None:
    assert pgp._short_id(FP) == FP[-16:]
    assert pgp._short_id(FP + "!") == FP[-16:] + "!"
    assert pgp._short_id(FP[-16:]) == FP[-16:]


# --- identities ----------------------------------------------------------------------------------


def test_gnupghome_and_dot_gnupg_are_the_environment_identities(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [i for i in load_identities().identities if i.kind == "pgp"] == []
    (isolated_env / ".gnupg").mkdir(mode=0o700)
    (found,) = [i for i in load_identities().identities if i.kind == "pgp"]
    assert found.location == str(isolated_env / ".gnupg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    result = load_identities()
    (found,) = [i for i in result.identities if i.kind == "pgp"]
    assert found.identity.reveal() == str(home)
    assert str(result.locations[-1]) == f"GNUPGHOME ({home}): 1 identity"
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "missing"))
    result = load_identities()
    assert [i for i in result.identities if i.kind == "pgp"] == []
    assert result.locations[-1].status is LocationStatus.FAILED
    assert [str(p) for p in result.problems] == ["GNUPGHOME: the GnuPG home is not a folder"]


def test_an_explicit_gnupg_home_only_in_system_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNUPGHOME", str(tmp_path))
    result = load_identities(use_environment=False, gnupg_home=tmp_path / "explicit")
    assert result.identities == ()
    assert result.locations_tried == (str(tmp_path / "explicit"),)
    (tmp_path / "explicit").mkdir()
    result = load_identities(use_environment=False, gnupg_home=tmp_path / "explicit")
    assert [(i.kind, i.location) for i in result.identities] == [
        ("pgp", str(tmp_path / "explicit"))
    ]
    assert pgp.parse_identity(os.fsencode(tmp_path), "x")[0].identity.reveal() == str(tmp_path)
    with pytest.raises(KeySourceError):
        pgp.parse_identity(b"relative", "x")


# --- unwrap never raises -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "enc", ["", "not pgp", "-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----"]
)
def test_unwrap_of_garbage_is_a_reason(enc: str, gnupg_home: GnupgHome) -> None:
    from secretsctl.keys.sources import load_identities as load

    identities = load(use_environment=False, gnupg_home=gnupg_home.path).identities
    entry = ForeignKey("pgp", (("created_at", "2024-01-01T00:00:00Z"), ("enc", enc), ("fp", FP)))
    reason = pgp.unwrap(entry, identities)
    assert isinstance(reason, str)
    assert reason and reason != NO_MATCH
    assert "\n" not in reason


def test_a_passphrase_protected_key_fails_at_once_instead_of_prompting(
    gnupg_home: GnupgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pinentry-mode error: gpg says it cannot ask; nothing waits for a pinentry."""
    uid = "locked <locked@secretsctl.test>"
    gnupg_home.gpg(
        "--pinentry-mode", "loopback", "--passphrase", "sesame",
        "--quick-gen-key", uid, "future-default", "default", "never",
    )  # fmt: skip
    # A fresh agent has no passphrase cached.
    subprocess.run(
        ["gpgconf", "--homedir", str(gnupg_home.path), "--kill", "gpg-agent"], check=False
    )
    monkeypatch.setenv("GNUPGHOME", str(gnupg_home.path))
    entry = pgp.wrap(os.urandom(32), parse_recipient(_fingerprint(gnupg_home, uid)))
    identities = load_identities(use_environment=False, gnupg_home=gnupg_home.path).identities
    reason = pgp.unwrap(entry, identities)
    assert isinstance(reason, str)
    assert reason.startswith("gpg: ")
    assert "sesame" not in reason


def _fingerprint(home: GnupgHome, uid: str) -> str:
    listing = home.gpg("--with-colons", "--list-keys", uid).stdout.decode()
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


# --- sops-nix's sshKeyPaths import ---------------------------------------------------------------


def test_the_sops_nix_rsa_vector_gets_sops_nix_s_fingerprint() -> None:
    key = pgp.ssh_rsa_to_openpgp(VECTOR_SSH_RSA.read_bytes())
    assert key.fingerprint == VECTOR_SSH_PGP.lower()
    assert "PRIVATE" not in repr(key) and key.fingerprint in repr(key)


def test_pem_and_openssh_forms_of_one_key_give_one_fingerprint() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    openssh = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pgp.ssh_rsa_to_openpgp(openssh).fingerprint == pgp.ssh_rsa_to_openpgp(pem).fingerprint


def test_only_unencrypted_rsa_keys_are_imported() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeySourceError, match="only RSA keys"):
        pgp.ssh_rsa_to_openpgp(ed)
    locked = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"sesame"),
    )
    with pytest.raises(KeySourceError, match="never prompts"):
        pgp.ssh_rsa_to_openpgp(locked)
    with pytest.raises(KeySourceError, match="not an SSH private key"):
        pgp.ssh_rsa_to_openpgp(b"garbage")


def test_a_passphrase_protected_openssh_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "id_rsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "sesame", "-f", str(key)], check=True
    )
    with pytest.raises(KeySourceError, match="never prompts") as info:
        pgp.ssh_rsa_to_openpgp(key.read_bytes())
    assert "sesame" not in info.value.message


def test_gpg_accepts_the_imported_key_and_decrypts_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_gpg()
    data_key = os.urandom(32)
    with pgp.imported_home([str(VECTOR_SSH_RSA)], str(tmp_path)) as result:
        assert result.imported == [(str(VECTOR_SSH_RSA), VECTOR_SSH_PGP.lower())]
        assert result.problems == []
        listing = subprocess.run(
            ["gpg", "--homedir", result.home, "--with-colons", "--list-secret-keys"],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        assert "root (Imported from SSH) <root@localhost>" in listing
        monkeypatch.setenv("GNUPGHOME", result.home)
        entry = pgp.wrap(data_key, parse_recipient(VECTOR_SSH_PGP))
        identities = load_identities(use_environment=False, gnupg_home=result.home).identities
        assert pgp.unwrap(entry, identities) == data_key
        home = result.home
    assert not os.path.exists(home), "the temporary home was left behind"


def test_gpg_interrupted_by_ctrl_c_is_ended_with_its_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, pid_file = hanging_program(tmp_path)
    monkeypatch.setenv("SOPS_GPG_EXEC", str(program))
    pid = interrupt_once_started(pid_file, lambda: pgp.run_gpg(["--version"], b"", timeout=60))
    assert process_gone(pid), "gpg outlived the interrupted run"
