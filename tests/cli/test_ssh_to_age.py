"""`secretsctl ssh-to-age`: the sops-nix conversion, private output files, refusals that leak
nothing (no key material in any message)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import REPO, SOPS_NIX_VECTORS, VECTORS, Runner, Sops
from tests.keys_support import (
    assert_not_leaked,
    ed25519_openssh,
    encrypted_openssh,
    openssh_armour,
    openssh_body,
    ssh_string,
)

VECTOR_RECIPIENT = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"
VECTOR_PUBLIC = SOPS_NIX_VECTORS / "ssh-ed25519-key.pub"
VECTOR_PRIVATE = SOPS_NIX_VECTORS / "ssh-ed25519-key"
VECTOR_FILE = SOPS_NIX_VECTORS / "secrets.yaml"
VECTOR_PLAINTEXT = (
    b"test_key: test_value\na_list:\n    - e1\n    - e3\n"
    b"nested:\n    test:\n        file: another value\n"
)


def documented_exit_codes() -> set[int]:
    """The codes in the README's exit-code table."""
    text = (REPO / "README.md").read_text()
    return {int(m) for m in re.findall(r"^\| +(\d+) \|", text, flags=re.MULTILINE)}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_one_error(stderr: bytes) -> None:
    text = stderr.decode()
    lines = text.splitlines()
    assert lines and lines[0].startswith("secretsctl: error: ")
    assert all(line.startswith("secretsctl: hint: ") for line in lines[1:])
    assert "Traceback" not in text


# --- public keys ------------------------------------------------------------------------------


def test_vector_public_key_from_stdin(secretsctl: Runner) -> None:
    result = secretsctl("ssh-to-age", input=VECTOR_PUBLIC.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == (VECTOR_RECIPIENT + "\n").encode()
    assert result.stderr == b""


def test_vector_public_key_from_a_file_to_a_file(secretsctl: Runner, tmp_path: Path) -> None:
    target = tmp_path / "recipient.txt"
    result = secretsctl("ssh-to-age", "-i", str(VECTOR_PUBLIC), "-o", str(target))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    assert target.read_text() == VECTOR_RECIPIENT + "\n"


def test_one_recipient_per_line(secretsctl: Runner) -> None:
    _, other = ed25519_openssh(bytes(range(32)))
    lines = VECTOR_PUBLIC.read_bytes().strip() + b" comment@host\r\n\n" + other.encode() + b"\n"
    result = secretsctl("ssh-to-age", input=lines)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode().splitlines()
    assert len(out) == 2
    assert out[0] == VECTOR_RECIPIENT
    assert out[1].startswith("age1") and out[1] != VECTOR_RECIPIENT


def test_converted_identity_matches_converted_recipient(secretsctl: Runner) -> None:
    import pyrage

    identity = secretsctl("ssh-to-age", "--private-key", "-i", str(VECTOR_PRIVATE))
    assert identity.returncode == 0, identity.stderr.decode()
    text = identity.stdout.decode()
    assert text.startswith("AGE-SECRET-KEY-1") and text.endswith("\n") and text.count("\n") == 1
    assert str(pyrage.x25519.Identity.from_str(text.strip()).to_public()) == VECTOR_RECIPIENT


# --- private keys -----------------------------------------------------------------------------


@pytest.fixture
def converted_key_file(secretsctl: Runner, tmp_path: Path) -> Path:
    target = tmp_path / "keys.txt"
    result = secretsctl("ssh-to-age", "--private-key", "-i", str(VECTOR_PRIVATE), "-o", str(target))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    return target


def test_private_key_output_opens_the_vector(secretsctl: Runner, converted_key_file: Path) -> None:
    result = secretsctl(
        "decrypt", str(VECTOR_FILE), env={"SOPS_AGE_KEY_FILE": str(converted_key_file)}
    )
    assert result.returncode == 0, result.stderr.decode()
    assert digest(result.stdout) == digest(VECTOR_PLAINTEXT)


@pytest.mark.interop
def test_private_key_output_opens_the_vector_with_sops(
    sops: Sops, converted_key_file: Path
) -> None:
    result = sops.run(
        "decrypt", str(VECTOR_FILE), env={"SOPS_AGE_KEY_FILE": str(converted_key_file)}
    )
    assert result.returncode == 0, result.stderr.decode()
    assert digest(result.stdout) == digest(VECTOR_PLAINTEXT)


def test_private_key_output_file_is_0600(converted_key_file: Path) -> None:
    assert converted_key_file.stat().st_mode & 0o777 == 0o600
    assert converted_key_file.read_text().startswith("AGE-SECRET-KEY-1")


def test_private_key_output_replacing_a_readable_file_is_0600(
    secretsctl: Runner, tmp_path: Path
) -> None:
    target = tmp_path / "keys.txt"
    target.write_text("old\n")
    target.chmod(0o644)
    result = secretsctl("ssh-to-age", "--private-key", "-i", str(VECTOR_PRIVATE), "-o", str(target))
    assert result.returncode == 0, result.stderr.decode()
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.txt"]


def test_private_key_from_stdin(secretsctl: Runner) -> None:
    from_file = secretsctl("ssh-to-age", "--private-key", "-i", str(VECTOR_PRIVATE))
    from_stdin = secretsctl("ssh-to-age", "--private-key", input=VECTOR_PRIVATE.read_bytes())
    assert from_stdin.returncode == 0
    assert digest(from_stdin.stdout) == digest(from_file.stdout)


# --- refusals ---------------------------------------------------------------------------------


def _rsa_private() -> bytes:
    return (VECTORS / "keys" / "id_rsa").read_bytes()


def _pem_private() -> bytes:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())


def _encrypted_private() -> bytes:
    public_blob = ssh_string(b"ssh-ed25519") + ssh_string(bytes(32))
    return encrypted_openssh(public_blob)


def _truncated_private() -> bytes:
    body = openssh_body(VECTOR_PRIVATE.read_bytes())
    return openssh_armour(body[: len(body) // 2])


def _missing_end_line() -> bytes:
    return b"\n".join(VECTOR_PRIVATE.read_bytes().splitlines()[:-1]) + b"\n"


def _bad_base64_private() -> bytes:
    lines = VECTOR_PRIVATE.read_bytes().splitlines()
    lines[2] = lines[2][:10] + b"!*" + lines[2][12:]
    return b"\n".join(lines) + b"\n"


def _flipped_check_bytes() -> bytes:
    # The two 32-bit check words of the private section must agree; change one.
    body = bytearray(openssh_body(VECTOR_PRIVATE.read_bytes()))
    marker = body.index(b"\x00\x00\x00\x0bssh-ed25519", 60)  # the private section's key type
    body[marker - 1] ^= 0x01
    return openssh_armour(bytes(body))


MALFORMED_PRIVATE = {
    "garbage": lambda: b"this is not a key at all\n",
    "empty": lambda: b"",
    "public-key-given": lambda: VECTOR_PUBLIC.read_bytes(),
    "age-identity-given": lambda: (SOPS_NIX_VECTORS / "age-keys.txt").read_bytes(),
    "pkcs8-pem": _pem_private,
    "truncated": _truncated_private,
    "missing-end-line": _missing_end_line,
    "bad-base64": _bad_base64_private,
    "check-bytes-differ": _flipped_check_bytes,
}


def _key_material(data: bytes) -> list[bytes]:
    """The base64 lines of a key file, and their decoded bytes (at least 16 of them)."""
    material: list[bytes] = []
    for line in data.splitlines():
        if line.startswith(b"-----") or len(line) < 16:
            continue
        material.append(line)
        with contextlib.suppress(ValueError):
            material.append(base64.b64decode(line + b"=" * (-len(line) % 4)))
    return material


@pytest.mark.parametrize("name", sorted(MALFORMED_PRIVATE))
def test_malformed_private_key_one_line_no_material(
    secretsctl: Runner, tmp_path: Path, name: str
) -> None:
    data = MALFORMED_PRIVATE[name]()
    source = tmp_path / "key"
    source.write_bytes(data)
    target = tmp_path / "out.txt"
    result = secretsctl("ssh-to-age", "--private-key", "-i", str(source), "-o", str(target))
    assert result.stdout == b""
    assert not target.exists()
    assert_one_error(result.stderr)
    assert_not_leaked(result.stderr.decode(), *_key_material(data))
    assert result.returncode != 0
    assert result.returncode in documented_exit_codes()


@pytest.mark.parametrize(
    ("name", "make", "word"),
    [
        ("rsa", _rsa_private, "rsa"),
        ("passphrase-protected", _encrypted_private, "passphrase"),
    ],
)
def test_unsupported_private_key_is_refused(
    secretsctl: Runner, tmp_path: Path, name: str, make: object, word: str
) -> None:
    data = make()  # type: ignore[operator]
    result = secretsctl("ssh-to-age", "--private-key", input=data)
    assert result.stdout == b""
    assert_one_error(result.stderr)
    assert word in result.stderr.decode().lower()
    assert_not_leaked(result.stderr.decode(), *_key_material(data))
    assert result.returncode == ExitCode.GENERIC


def test_ssh_keygen_passphrase_key_is_refused(secretsctl: Runner, tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "id_ed25519"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "correct horse", "-f", str(key)], check=True
    )
    result = secretsctl("ssh-to-age", "--private-key", "-i", str(key))
    assert result.returncode == ExitCode.GENERIC
    assert result.stdout == b""
    assert_one_error(result.stderr)
    assert "correct horse" not in result.stderr.decode()
    assert_not_leaked(result.stderr.decode(), *_key_material(key.read_bytes()))


MALFORMED_PUBLIC = {
    "garbage": b"hello world\n",
    "not-base64": b"ssh-ed25519 !!!notbase64!!! x@y\n",
    "no-key-data": b"ssh-ed25519\n",
    "short-blob": b"ssh-ed25519 "
    + base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(bytes(7)))
    + b"\n",
    "type-mismatch": b"ssh-ed25519 "
    + base64.b64encode(ssh_string(b"ssh-rsa") + ssh_string(bytes(32)))
    + b"\n",
    "empty": b"",
    "private-key-given": b"PRIVATE",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_PUBLIC))
def test_malformed_public_key_one_line(secretsctl: Runner, name: str) -> None:
    data = MALFORMED_PUBLIC[name]
    if data == b"PRIVATE":
        data = VECTOR_PRIVATE.read_bytes()
    result = secretsctl("ssh-to-age", input=data)
    assert result.stdout == b""
    assert_one_error(result.stderr)
    assert_not_leaked(result.stderr.decode(), *_key_material(data))
    assert result.returncode != 0
    assert result.returncode in documented_exit_codes()


@pytest.mark.parametrize(
    ("option", "name"),
    [
        pytest.param("--private-key", "garbage", id="private-garbage"),
        pytest.param("--private-key", "truncated", id="private-truncated"),
        pytest.param(None, "garbage", id="public-garbage"),
        pytest.param(None, "not-base64", id="public-not-base64"),
        pytest.param(None, "empty", id="public-empty"),
    ],
)
def test_malformed_key_is_exit_2(secretsctl: Runner, option: str | None, name: str) -> None:
    """README: 2 is "unreadable or unparsable input" (and an empty public input already gives 2)."""
    data = MALFORMED_PRIVATE[name]() if option else MALFORMED_PUBLIC[name]
    result = secretsctl("ssh-to-age", *([option] if option else []), input=data)
    assert result.returncode == ExitCode.COULD_NOT_READ_INPUT_FILE


def test_rsa_public_key_is_refused(secretsctl: Runner) -> None:
    result = secretsctl("ssh-to-age", "-i", str(VECTORS / "keys" / "id_rsa.pub"))
    assert result.returncode == ExitCode.GENERIC
    assert result.stdout == b""
    assert_one_error(result.stderr)
    assert "ssh-rsa" in result.stderr.decode()


def test_missing_input_file_exit_100(secretsctl: Runner, tmp_path: Path) -> None:
    """README: 100 is "the input file does not exist", as for decrypt and encrypt."""
    result = secretsctl("ssh-to-age", "-i", str(tmp_path / "nope"))
    assert result.stdout == b""
    assert_one_error(result.stderr)
    assert result.returncode == ExitCode.NO_FILE_SPECIFIED
