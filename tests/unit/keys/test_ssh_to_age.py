"""ssh-ed25519 → age conversion, checked against the sops-nix vector, pyrage and cryptography."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pyrage
import pytest

from secretsctl.errors import SecretsctlError
from secretsctl.keys import ssh_to_age as conv
from secretsctl.redact import Secret
from tests.conftest import SOPS_NIX_VECTORS
from tests.keys_support import (
    assert_not_leaked,
    ed25519_openssh,
    encrypted_openssh,
    openssh_armour,
    openssh_body,
    ssh_string,
)

VECTOR_RECIPIENT = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"
KEYS = Path(__file__).resolve().parents[2] / "vectors" / "keys"


def no_material(message: str, *secrets: bytes | str) -> None:
    """The message quotes none of the given secrets, nor their base64 forms."""
    assert_not_leaked(message, *secrets)


# --- the sops-nix vector ---------------------------------------------------------------------


def test_vector_private_key_converts_to_the_second_recipient() -> None:
    identity, recipient = conv.ssh_private_key_to_age(
        (SOPS_NIX_VECTORS / "ssh-ed25519-key").read_bytes()
    )
    assert recipient == VECTOR_RECIPIENT
    assert isinstance(identity, Secret)
    assert str(pyrage.x25519.Identity.from_str(identity.reveal()).to_public()) == recipient


def test_vector_public_key_converts_to_the_second_recipient() -> None:
    line = (SOPS_NIX_VECTORS / "ssh-ed25519-key.pub").read_text()
    assert conv.ssh_public_key_to_age_recipient(line) == VECTOR_RECIPIENT


def test_identity_is_unclamped_sha512_of_the_seed() -> None:
    data = (SOPS_NIX_VECTORS / "ssh-ed25519-key").read_bytes()
    key = conv.parse_openssh_private_key(data)
    assert key.seed is not None
    identity = conv.ssh_private_key_to_age_identity(data).reveal()
    assert identity.startswith("AGE-SECRET-KEY-1")
    assert identity.isupper()
    hrp, scalar = conv.bech32_decode(identity)
    assert hrp == "age-secret-key-"
    assert Secret(scalar) == Secret(hashlib.sha512(key.seed.reveal()).digest()[:32])


def test_converted_identity_opens_the_vector_entry() -> None:
    from tests.keys_support import read_metadata

    metadata = read_metadata(SOPS_NIX_VECTORS / "secrets.yaml")
    (entry,) = [k for k in metadata.key_groups[0].age if k.recipient == VECTOR_RECIPIENT]
    identity = conv.ssh_private_key_to_age_identity(
        (SOPS_NIX_VECTORS / "ssh-ed25519-key").read_bytes()
    )
    data_key = pyrage.decrypt(
        entry.enc.encode(), [pyrage.x25519.Identity.from_str(identity.reveal())]
    )
    assert len(data_key) == 32


# --- public key lines --------------------------------------------------------------------------


def test_public_key_line_forms() -> None:
    private, public = ed25519_openssh(os.urandom(32))
    expected = conv.ssh_private_key_to_age(private)[1]
    blob = public.split()[1]
    for line in (
        public,
        f"{public} user@host with spaces",
        f"  {public}\n",
        f'command="echo hi",no-pty {public} comment',
        f"host.example,192.0.2.1 {public}",
        f"ssh-ed25519\t{blob}",
    ):
        assert conv.ssh_public_key_to_age_recipient(line) == expected


def test_public_key_parse_returns_type_blob_comment() -> None:
    line = (KEYS / "id_ed25519.pub").read_text()
    key_type, blob, comment = conv.parse_ssh_public_key(line)
    assert key_type == "ssh-ed25519"
    assert base64.b64encode(blob).decode() == line.split()[1]
    assert comment == "test@secretsctl"


def test_rsa_public_key_is_refused_by_type() -> None:
    with pytest.raises(conv.UnsupportedSshKeyError, match=r"only ed25519 .* not ssh-rsa") as info:
        conv.ssh_public_key_to_age_recipient((KEYS / "id_rsa.pub").read_text())
    assert info.value.key_type == "ssh-rsa"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("", "not an SSH public key"),
        ("hello world", "not an SSH public key"),
        ("ssh-ed25519", "key data is missing"),
        ("ssh-ed25519 !!!notbase64", "not base64"),
        ("ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-rsa")).decode(), "another type"),
        ("ssh-ed25519 " + base64.b64encode(b"\x00\x00").decode(), "truncated"),
        (
            "ssh-ed25519 "
            + base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(b"\x01" * 31)).decode(),
            "wrong ed25519 key length",
        ),
    ],
)
def test_malformed_public_keys(line: str, match: str) -> None:
    with pytest.raises(conv.SshKeyError, match=match) as info:
        conv.ssh_public_key_to_age_recipient(line)
    assert isinstance(info.value, SecretsctlError)
    if line.split()[1:]:
        assert line.split()[1] not in str(info.value)


def _ed25519_line(point: bytes) -> str:
    blob = ssh_string(b"ssh-ed25519") + ssh_string(point)
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def test_point_not_on_the_curve_is_refused() -> None:
    # y = 2 gives x^2 = 3 / (4d + 1), which is not a square mod p.
    with pytest.raises(conv.SshKeyError, match="not a point on the curve"):
        conv.ed25519_public_to_x25519((2).to_bytes(32, "little"))
    with pytest.raises(conv.SshKeyError, match="not a point on the curve"):
        conv.ssh_public_key_to_age_recipient(_ed25519_line((2).to_bytes(32, "little")))


def test_neutral_point_is_refused() -> None:
    with pytest.raises(conv.SshKeyError, match="neutral point"):
        conv.ed25519_public_to_x25519((1).to_bytes(32, "little"))


def test_unreduced_y_is_accepted_like_edwards25519() -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    # The base point has y = 4/5, canonical; its non-reduced twin y + p fits in 255 bits
    # only for y < 19, so use y = 0 (a valid point, x^2 = -1 is a square mod p).
    p = 2**255 - 19
    canonical = conv.ed25519_public_to_x25519((0).to_bytes(32, "little"))
    assert conv.ed25519_public_to_x25519(p.to_bytes(32, "little")) == canonical
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    assert len(conv.ed25519_public_to_x25519(raw)) == 32


def test_wrong_public_length() -> None:
    with pytest.raises(conv.SshKeyError, match="32 bytes"):
        conv.ed25519_public_to_x25519(b"\x00" * 31)


# --- private keys -------------------------------------------------------------------------------


def test_random_private_key_matches_cryptography_x25519() -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import x25519

    seed = os.urandom(32)
    private, public = ed25519_openssh(seed)
    identity, recipient = conv.ssh_private_key_to_age(private)
    scalar = hashlib.sha512(seed).digest()[:32]
    x_public = (
        x25519.X25519PrivateKey.from_private_bytes(scalar)
        .public_key()
        .public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    )
    assert recipient == conv.x25519_recipient_string(x_public)
    assert conv.ssh_public_key_to_age_recipient(public) == recipient
    assert str(pyrage.x25519.Identity.from_str(identity.reveal()).to_public()) == recipient


def test_rsa_private_key_is_refused_by_type() -> None:
    data = (KEYS / "id_rsa").read_bytes()
    key = conv.parse_openssh_private_key(data)
    assert (key.key_type, key.encrypted, key.seed) == ("ssh-rsa", False, None)
    assert key.public_line == " ".join((KEYS / "id_rsa.pub").read_text().split()[:2])
    with pytest.raises(conv.UnsupportedSshKeyError, match="not ssh-rsa"):
        conv.ssh_private_key_to_age(data)


def test_encrypted_private_key_is_refused_without_prompting() -> None:
    _, public = ed25519_openssh(os.urandom(32))
    blob = base64.b64decode(public.split()[1])
    data = encrypted_openssh(blob)
    key = conv.parse_openssh_private_key(data)
    assert key.encrypted
    assert key.seed is None
    assert key.key_type == "ssh-ed25519"
    with pytest.raises(conv.EncryptedSshKeyError, match="passphrase-protected") as info:
        conv.ssh_private_key_to_age(data)
    assert info.value.hint


@pytest.mark.skipif(not os.path.exists("/usr/bin/ssh-keygen"), reason="ssh-keygen is missing")
def test_ssh_keygen_encrypted_key_is_recognised(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "key"
    subprocess.run(
        ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    with pytest.raises(conv.EncryptedSshKeyError):
        conv.ssh_private_key_to_age(path.read_bytes())


def _tampered(private: bytes, old: bytes, new: bytes) -> bytes:
    body = openssh_body(private)
    assert old in body
    return openssh_armour(body.replace(old, new, 1))


def test_malformed_private_keys_never_echo_material() -> None:
    seed = os.urandom(32)
    private, _ = ed25519_openssh(seed)
    body = openssh_body(private)
    public = conv.parse_openssh_private_key(private).public_blob[-32:]
    # The copy of the public key inside the 64-byte secret, the last of its three copies.
    last_public = body.rindex(public)
    cases = {
        "not an OpenSSH private key": b"garbage",
        "a PEM key": b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        "END line is missing": private.replace(b"-----END", b"-----XND"),
        "invalid base64": private.replace(private.splitlines()[1][:4], b"!!!!"),
        "bad magic": _tampered(private, b"openssh-key-v1", b"openssh-key-v2"),
        "truncated": openssh_armour(body[:-40]),
        "several keys": _tampered(
            private, b"\x00\x00\x00\x01\x00\x00\x00\x33", b"\x00\x00\x00\x02\x00\x00\x00\x33"
        ),
        "inconsistent ed25519 key": openssh_armour(
            body[:last_public] + os.urandom(32) + body[last_public + 32 :]
        ),
    }
    for match, data in cases.items():
        with pytest.raises(conv.SshKeyError, match=match) as info:
            conv.ssh_private_key_to_age(data)
        no_material(str(info.value), seed, private)


def test_check_bytes_must_agree() -> None:
    private, _ = ed25519_openssh(os.urandom(32))
    body = bytearray(openssh_body(private))
    # The private section starts right after its length: check1, check2.
    marker = body.index(b"ssh-ed25519", body.index(b"ssh-ed25519") + 20) - 12
    body[marker] ^= 0xFF
    with pytest.raises(conv.SshKeyError, match="check bytes differ"):
        conv.parse_openssh_private_key(openssh_armour(bytes(body)))


def test_crlf_and_surrounding_whitespace_are_accepted() -> None:
    private, _ = ed25519_openssh(os.urandom(32))
    expected = conv.ssh_private_key_to_age(private)[1]
    assert conv.ssh_private_key_to_age(b"\n  " + private.replace(b"\n", b"\r\n"))[1] == expected


# --- bech32 -----------------------------------------------------------------------------------


def test_bech32_round_trip_and_case() -> None:
    data = bytes(range(32))
    text = conv.bech32_encode("age", data)
    assert conv.bech32_decode(text) == ("age", data)
    assert conv.bech32_decode(text.upper()) == ("age", data)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("age1QQQ", "mixes upper and lower case"),
        ("1qqqqqqq", "separator"),
        ("age1qq", "separator"),
        ("age1qqqqqqqb", "invalid character"),
        ("age1qqqqqqqqqq", "checksum"),
    ],
)
def test_bech32_rejects(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        conv.bech32_decode(text)


def test_bip173_valid_checksums() -> None:
    # Valid strings from BIP 173 whose data part is whole bytes.
    for text in ("A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"):
        hrp, _ = conv.bech32_decode(text)
        assert hrp == text.lower()[: text.lower().rfind("1")]


def test_pyrage_agrees_with_our_recipient_encoding() -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    _, public = conv.bech32_decode(recipient)
    assert conv.x25519_recipient_string(public) == recipient


def test_wrong_lengths_for_encoders() -> None:
    with pytest.raises(conv.SshKeyError):
        conv.x25519_recipient_string(b"\x00" * 31)
    with pytest.raises(conv.SshKeyError):
        conv.x25519_identity_string(Secret(b"\x00" * 33))
    with pytest.raises(conv.SshKeyError):
        conv.ed25519_seed_to_x25519(Secret(b"\x00" * 31))


def test_repr_of_parsed_key_hides_the_seed() -> None:
    seed = os.urandom(32)
    private, _ = ed25519_openssh(seed)
    key = conv.parse_openssh_private_key(private)
    no_material(repr(key), seed)
    assert "ssh-ed25519" in repr(key)
