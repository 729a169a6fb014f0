"""Both directions against the real sops 3.11 binary, through the command line.

For every awkward plaintext in tests/vectors/plain and every rule set:
- what `secretsctl encrypt` writes, `sops decrypt` opens with exit 0 and no warning, giving the
  same plaintext as sops's own encrypt-then-decrypt round trip;
- what `sops encrypt` writes, `secretsctl decrypt` prints byte for byte as `sops decrypt` does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import VECTORS, AgeKey, Runner, Sops, make_age_key

pytestmark = pytest.mark.interop

PLAIN = VECTORS / "plain"
CORPUS = sorted(p.name for p in PLAIN.iterdir())
TYPES = {".yaml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini", ".bin": "binary"}

# (name, command-line flags, .sops.yaml rule settings)
RULE_SETS = [
    ("default", [], ""),
    ("unencrypted-regex", ["--unencrypted-regex", "^(name|port|k)$"], ""),
    ("encrypted-regex", ["--encrypted-regex", "^(token|password|k|list|nested|second)"], ""),
    ("encrypted-suffix", ["--encrypted-suffix", "_secret"], ""),
    ("mac-only-encrypted", [], "mac_only_encrypted: true\n"),
    ("encrypted-comment-regex", [], "encrypted_comment_regex: a comment\n"),
]


def file_type(name: str) -> str:
    return TYPES[Path(name).suffix]


def write_config(folder: Path, key: AgeKey, extra: str = "", recipients: str | None = None) -> None:
    rule = f"    - age: {recipients or key.recipient}\n"
    rule += "".join(f"      {line}\n" for line in extra.splitlines())
    (folder / ".sops.yaml").write_text("creation_rules:\n" + rule)


def env_for(key: AgeKey) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(key.key_file)}


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize(("label", "flags", "config"), RULE_SETS, ids=[r[0] for r in RULE_SETS])
def test_sops_opens_what_we_write(
    sops: Sops, secretsctl: Runner, tmp_path: Path, name: str, label: str, flags: list[str], config: str
) -> None:
    source = tmp_path / name
    shutil.copy(PLAIN / name, source)
    write_config(tmp_path, sops.key, config)
    kind = file_type(name)
    ours = secretsctl("encrypt", *flags, str(source), env=env_for(sops.key), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    encrypted = tmp_path / f"ours{Path(name).suffix}"
    encrypted.write_bytes(ours.stdout)
    opened = sops.run("decrypt", str(encrypted), cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stderr == b"", "sops printed a warning"
    theirs = sops.run("encrypt", *flags, str(source), cwd=tmp_path)
    assert theirs.returncode == 0
    reference = tmp_path / f"theirs{Path(name).suffix}"
    reference.write_bytes(theirs.stdout)
    expected = sops.run("decrypt", "--input-type", kind, "--output-type", kind, str(reference), cwd=tmp_path)
    if expected.returncode != 0:
        # sops cannot open its own file here: an unencrypted -0.0 is written as `-0`, which
        # reads back as an int and breaks the MAC. We write `-0.0`, so sops opens ours; the
        # plaintext must then be what we print ourselves.
        assert b"MAC mismatch" in expected.stderr
        expected = secretsctl("decrypt", str(encrypted), env=env_for(sops.key), cwd=tmp_path)
        assert expected.returncode == 0, expected.stderr.decode()
    assert opened.stdout == expected.stdout


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize(("label", "flags", "config"), RULE_SETS, ids=[r[0] for r in RULE_SETS])
def test_we_open_what_sops_writes(
    sops: Sops, secretsctl: Runner, tmp_path: Path, name: str, label: str, flags: list[str], config: str
) -> None:
    source = tmp_path / name
    shutil.copy(PLAIN / name, source)
    write_config(tmp_path, sops.key, config)
    theirs = sops.run("encrypt", *flags, str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    encrypted = tmp_path / f"theirs{Path(name).suffix}"
    encrypted.write_bytes(theirs.stdout)
    expected = sops.run("decrypt", str(encrypted), cwd=tmp_path)
    ours = secretsctl("decrypt", str(encrypted), env=env_for(sops.key), cwd=tmp_path)
    # Where sops rejects its own file (an unencrypted -0.0 breaks its MAC), so must we.
    assert ours.returncode == expected.returncode, ours.stderr.decode()
    assert ours.stdout == expected.stdout
    if expected.returncode == 0:
        assert ours.stderr == b""


@pytest.mark.parametrize("kind", ["json", "dotenv", "ini", "binary"])
def test_output_types_match_sops(sops: Sops, secretsctl: Runner, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "flat.yaml"
    source.write_text("a: one\nb: two\n")
    encrypted = tmp_path / "enc.yaml"
    encrypted.write_bytes(sops.run("encrypt", "--age", sops.key.recipient, str(source)).stdout)
    if kind == "binary":
        source.write_text("data: raw bytes\n")
        encrypted.write_bytes(sops.run("encrypt", "--age", sops.key.recipient, str(source)).stdout)
    expected = sops.run("decrypt", "--output-type", kind, str(encrypted))
    ours = secretsctl("decrypt", "--output-type", kind, str(encrypted), env=env_for(sops.key))
    assert (ours.returncode == 0) == (expected.returncode == 0)
    assert ours.stdout == expected.stdout


def test_binary_payload_both_directions(sops: Sops, secretsctl: Runner, tmp_path: Path) -> None:
    payload = bytes(range(256)) + os.urandom(300) + b"\xff\xfe\x00"
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    ours = secretsctl("encrypt", "--age", sops.key.recipient, str(source))
    assert ours.returncode == 0, ours.stderr.decode()
    (tmp_path / "ours.bin").write_bytes(ours.stdout)
    opened = sops.run("decrypt", str(tmp_path / "ours.bin"))
    assert opened.returncode == 0 and opened.stdout == payload and opened.stderr == b""
    theirs = sops.run("encrypt", "--age", sops.key.recipient, str(source))
    (tmp_path / "theirs.bin").write_bytes(theirs.stdout)
    back = secretsctl("decrypt", str(tmp_path / "theirs.bin"), env=env_for(sops.key))
    assert back.returncode == 0 and back.stdout == payload


def _ssh_keypair(folder: Path) -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = folder / "id_ed25519"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode() + " test@host"


def test_ssh_ed25519_recipients_both_directions(sops: Sops, secretsctl: Runner, tmp_path: Path) -> None:
    private, public = _ssh_keypair(tmp_path)
    source = tmp_path / "s.yaml"
    source.write_text("token: t0k3n\n")
    ssh_env = {"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(private)}
    ours = secretsctl("encrypt", "--age", public, str(source))
    assert ours.returncode == 0, ours.stderr.decode()
    (tmp_path / "ours.yaml").write_bytes(ours.stdout)
    assert b"recipient: ssh-ed25519 " in ours.stdout
    opened = sops.run("decrypt", str(tmp_path / "ours.yaml"), env={**ssh_env, "SOPS_AGE_KEY_FILE": ""})
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == b"token: t0k3n\n"
    theirs = sops.run("encrypt", "--age", public, str(source))
    (tmp_path / "theirs.yaml").write_bytes(theirs.stdout)
    back = secretsctl("decrypt", str(tmp_path / "theirs.yaml"), env=ssh_env)
    assert back.returncode == 0 and back.stdout == b"token: t0k3n\n"


def test_ssh_to_age_recipient_opens_with_the_host_key(sops: Sops, secretsctl: Runner, tmp_path: Path) -> None:
    """sops-nix's path: encrypt to the host key's ssh-to-age recipient, open with the SSH key."""
    private, public = _ssh_keypair(tmp_path)
    converted = secretsctl("ssh-to-age", input=public.encode())
    assert converted.returncode == 0
    recipient = converted.stdout.decode().strip()
    assert recipient.startswith("age1")
    source = tmp_path / "s.yaml"
    source.write_text("token: t0k3n\n")
    theirs = sops.run("encrypt", "--age", recipient, str(source))
    (tmp_path / "theirs.yaml").write_bytes(theirs.stdout)
    back = secretsctl("decrypt", str(tmp_path / "theirs.yaml"), env={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(private)})
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout == b"token: t0k3n\n"
    identity = secretsctl("ssh-to-age", "--private-key", "-i", str(private))
    key_file = tmp_path / "converted.txt"
    key_file.write_bytes(identity.stdout)
    opened = sops.run("decrypt", str(tmp_path / "theirs.yaml"), env={"SOPS_AGE_KEY_FILE": str(key_file)})
    assert opened.returncode == 0 and opened.stdout == b"token: t0k3n\n"


def test_shamir_key_groups_both_directions(sops: Sops, secretsctl: Runner, tmp_path: Path) -> None:
    second = make_age_key(tmp_path, "second.txt")
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        "    - shamir_threshold: 2\n"
        "      key_groups:\n"
        f"          - age: [{sops.key.recipient}]\n"
        f"          - age: [{second.recipient}]\n"
    )
    both = tmp_path / "both.txt"
    both.write_text(sops.key.key_file.read_text() + second.key_file.read_text())
    source = tmp_path / "s.yaml"
    source.write_text("token: t0k3n\nn: 1\n")
    ours = secretsctl("encrypt", str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    (tmp_path / "ours.yaml").write_bytes(ours.stdout)
    assert b"shamir_threshold: 2" in ours.stdout and b"key_groups:" in ours.stdout
    opened = sops.run("decrypt", str(tmp_path / "ours.yaml"), env={"SOPS_AGE_KEY_FILE": str(both)})
    assert opened.returncode == 0 and opened.stdout == b"token: t0k3n\n\"n\": 1\n"
    one_key = secretsctl("decrypt", str(tmp_path / "ours.yaml"), env=env_for(sops.key))
    assert one_key.returncode == 128 and one_key.stdout == b""
    theirs = sops.run("encrypt", str(source), cwd=tmp_path)
    (tmp_path / "theirs.yaml").write_bytes(theirs.stdout)
    back = secretsctl("decrypt", str(tmp_path / "theirs.yaml"), env={"SOPS_AGE_KEY_FILE": str(both)})
    assert back.returncode == 0 and back.stdout == b"token: t0k3n\n\"n\": 1\n"


@pytest.mark.parametrize("key", ["age-keys.txt", "ssh-ed25519-key"])
def test_sops_nix_vector_opens(secretsctl: Runner, sops_nix_vectors: Path, key: str) -> None:
    variable = "SOPS_AGE_KEY_FILE" if key.endswith(".txt") else "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
    result = secretsctl("decrypt", str(sops_nix_vectors / "secrets.yaml"), env={variable: str(sops_nix_vectors / key)})
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == (
        b"test_key: test_value\na_list:\n    - e1\n    - e3\nnested:\n    test:\n        file: another value\n"
    )
