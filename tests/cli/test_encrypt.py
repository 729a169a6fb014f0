"""`secretsctl encrypt`: recipients, `.sops.yaml`, rule flags, files written as sops writes them.

Every test runs the console script as a subprocess with only the environment it gives, in a
fresh folder. The interop ones use the real sops 3.11 binary as the judge of what was written:
sops must open the file, and the `sops` block must have the fields, values and order sops writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import AgeKey, Runner, Sops, make_age_key

PLAIN_YAML = b"user: admin\npassword: pw-4f1c-secret\nport: 5432\nnested:\n    token: tk-88aa\n"
VOLATILE = {"lastmodified", "mac"}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def env_for(key: AgeKey) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(key.key_file)}


def load(data: bytes, kind: str = "yaml") -> Any:
    """An encrypted file as plain Python data, keeping the order of keys (no secretsctl code)."""
    if kind in ("json", "binary"):
        return json.loads(data)
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(data)


def metadata_layout(data: bytes, kind: str = "yaml") -> list[Any]:
    """The `sops` block's fields in order, with values, except the ones that change every run.

    Age entries are reduced to their recipient and their field order; key groups likewise.
    """

    def entry(value: Any) -> Any:
        if isinstance(value, dict):
            return [(k, "<enc>" if k == "enc" else entry(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [entry(v) for v in value]
        return value

    block = load(data, kind)["sops"]
    return [(k, "<volatile>" if k in VOLATILE else entry(v)) for k, v in block.items()]


_ENC = re.compile(rb"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:(\w+)\]")


def masked_body(data: bytes) -> list[bytes]:
    """The lines before the metadata, every ciphertext replaced by its type."""
    lines = []
    for line in data.splitlines():
        if line in (b"sops:", b'\t"sops": {'):
            break
        lines.append(_ENC.sub(rb"ENC[\1]", line))
    return lines


def ssh_keypair(folder: Path, name: str = "id_ed25519") -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = folder / name
    private.write_bytes(
        key.private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH, s.NoEncryption())
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH).decode()
    return private, public + " host@test"


def write_rule(folder: Path, body: str) -> Path:
    config = folder / ".sops.yaml"
    config.write_text("creation_rules:\n" + body)
    return config


def error_lines(stderr: bytes) -> list[str]:
    return stderr.decode().splitlines()


def assert_one_error(stderr: bytes, *, hint: bool) -> None:
    lines = error_lines(stderr)
    assert lines, "no error printed"
    assert lines[0].startswith("secretsctl: error: ")
    assert "Traceback" not in stderr.decode()
    if hint:
        assert len(lines) == 2
        assert lines[1].startswith("secretsctl: hint: ")
    else:
        assert len(lines) == 1


# --- recipients -----------------------------------------------------------------------------


@pytest.mark.interop
def test_one_recipient_opens_with_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "--age", sops.key.recipient, str(source), cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    assert b"pw-4f1c-secret" not in result.stdout
    out = tmp_path / "enc.yaml"
    out.write_bytes(result.stdout)
    ages = load(result.stdout)["sops"]["age"]
    assert [a["recipient"] for a in ages] == [sops.key.recipient]
    opened = sops.run("decrypt", str(out), cwd=tmp_path)
    assert opened.returncode == 0 and opened.stderr == b""
    assert digest(opened.stdout) == digest(PLAIN_YAML)


@pytest.mark.interop
def test_several_recipients_comma_list_with_ssh(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    second = make_age_key(tmp_path, "second.txt")
    ssh_private, ssh_public = ssh_keypair(tmp_path)
    # Spaces around entries are tolerated, as in sops.
    recipients = f"{sops.key.recipient} , {second.recipient},{ssh_public}"
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    ours = secretsctl("encrypt", "--age", recipients, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    theirs = sops.run("encrypt", "--age", recipients, str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    # The same entries in the same order, the SSH recipient verbatim (comment included).
    assert metadata_layout(ours.stdout) == metadata_layout(theirs.stdout)
    assert [a["recipient"] for a in load(ours.stdout)["sops"]["age"]] == [
        sops.key.recipient, second.recipient, ssh_public,
    ]  # fmt: skip
    out = tmp_path / "enc.yaml"
    out.write_bytes(ours.stdout)
    for env in (
        env_for(sops.key),
        env_for(second),
        {"SOPS_AGE_KEY_FILE": "", "SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(ssh_private)},
    ):
        opened = sops.run("decrypt", str(out), cwd=tmp_path, env=env)
        assert opened.returncode == 0, opened.stderr.decode()
        assert digest(opened.stdout) == digest(PLAIN_YAML)
        back = secretsctl("decrypt", str(out), env=env, cwd=tmp_path)
        assert back.returncode == 0 and digest(back.stdout) == digest(PLAIN_YAML)


def test_recipients_from_sops_age_recipients(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path
) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    result = secretsctl(
        "encrypt", str(source), cwd=tmp_path, env={"SOPS_AGE_RECIPIENTS": age_key.recipient}
    )
    assert result.returncode == 0, result.stderr.decode()
    assert [a["recipient"] for a in load(result.stdout)["sops"]["age"]] == [age_key.recipient]


# --- .sops.yaml -------------------------------------------------------------------------------


def _rules_for(first: AgeKey, second: AgeKey) -> str:
    # The first matching rule wins: secret.yaml matches the second rule, not the catch-all.
    return (
        f"    - path_regex: \\.json$\n      age: {first.recipient}\n"
        f"    - path_regex: secret\\.yaml$\n      age: {second.recipient},{first.recipient}\n"
        f"    - age: {first.recipient}\n"
    )


def _recipients(data: bytes, kind: str = "yaml") -> list[str]:
    return [a["recipient"] for a in load(data, kind)["sops"]["age"]]


def test_recipients_from_sops_yaml_in_cwd(secretsctl: Runner, tmp_path: Path) -> None:
    first, second = make_age_key(tmp_path, "a.txt"), make_age_key(tmp_path, "b.txt")
    write_rule(tmp_path, _rules_for(first, second))
    (tmp_path / "secret.yaml").write_bytes(PLAIN_YAML)
    (tmp_path / "other.yaml").write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "secret.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert _recipients(result.stdout) == [second.recipient, first.recipient]
    result = secretsctl("encrypt", "other.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert _recipients(result.stdout) == [first.recipient]


def test_recipients_from_sops_yaml_in_a_parent_folder(secretsctl: Runner, tmp_path: Path) -> None:
    first, second = make_age_key(tmp_path, "a.txt"), make_age_key(tmp_path, "b.txt")
    write_rule(tmp_path, _rules_for(first, second))
    deep = tmp_path / "one" / "two"
    deep.mkdir(parents=True)
    (deep / "secret.yaml").write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "secret.yaml", cwd=deep)
    assert result.returncode == 0, result.stderr.decode()
    assert _recipients(result.stdout) == [second.recipient, first.recipient]


@pytest.mark.parametrize("how", ["--config", "SOPS_CONFIG"])
def test_recipients_from_an_explicit_config(secretsctl: Runner, tmp_path: Path, how: str) -> None:
    first, second = make_age_key(tmp_path, "a.txt"), make_age_key(tmp_path, "b.txt")
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    config = write_rule(elsewhere, f"    - age: {second.recipient}\n")
    work = tmp_path / "work"
    work.mkdir()
    # A .sops.yaml in the cwd that must be ignored in favour of the explicit one.
    write_rule(work, f"    - age: {first.recipient}\n")
    (work / "s.yaml").write_bytes(PLAIN_YAML)
    if how == "--config":
        result = secretsctl("encrypt", "--config", str(config), "s.yaml", cwd=work)
    else:
        result = secretsctl("encrypt", "s.yaml", cwd=work, env={"SOPS_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr.decode()
    assert _recipients(result.stdout) == [second.recipient]


def test_age_flag_replaces_the_config_keys(secretsctl: Runner, tmp_path: Path) -> None:
    first, second = make_age_key(tmp_path, "a.txt"), make_age_key(tmp_path, "b.txt")
    write_rule(tmp_path, f"    - age: {first.recipient}\n      encrypted_regex: ^pass\n")
    (tmp_path / "s.yaml").write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "--age", second.recipient, "s.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    sops_block = load(result.stdout)["sops"]
    assert _recipients(result.stdout) == [second.recipient]
    # The rule's other settings still apply.
    assert sops_block["encrypted_regex"] == "^pass"


@pytest.mark.parametrize(
    ("label", "args", "config", "code"),
    [
        # As sops 3.11 ("config file not found, or has no creation rules, and no keys provided
        # through command line options", exit 1; README: 1 is "no matching creation rule").
        ("no-config-no-flag", [], None, ExitCode.GENERIC),
        ("empty-age-flag", ["--age", ""], None, ExitCode.GENERIC),
        # A rule matches but lists no key. README: 111 is "no recipient to encrypt to"
        # (sops 3.11 exits 1 here: "Could not generate data key: [empty key group provided]").
        (
            "rule-without-keys",
            [],
            "    - path_regex: \\.yaml$\n      encrypted_regex: ^pass\n",
            ExitCode.NO_ENCRYPTION_KEY_FOUND,
        ),
    ],
)
def test_no_recipient_at_all(
    secretsctl: Runner, tmp_path: Path, label: str, args: list[str], config: str | None, code: int
) -> None:
    """One error line and a hint, the documented exit code, nothing written."""
    if config is not None:
        write_rule(tmp_path, config)
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", *args, str(source), cwd=tmp_path)
    assert result.stdout == b""
    assert_one_error(result.stderr, hint=True)
    assert result.returncode == code
    assert source.read_bytes() == PLAIN_YAML


def test_no_matching_creation_rule_is_exit_1(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path
) -> None:
    write_rule(tmp_path, f"    - path_regex: \\.json$\n      age: {age_key.recipient}\n")
    (tmp_path / "s.yaml").write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "s.yaml", cwd=tmp_path)
    assert result.returncode == ExitCode.GENERIC
    assert result.stdout == b""
    assert error_lines(result.stderr)[0].startswith("secretsctl: error: ")
    assert "no matching creation rule" in result.stderr.decode()


# --- rule flags -------------------------------------------------------------------------------

RULE_FLAGS = [
    ("unencrypted-suffix", ["--unencrypted-suffix", "_clear"]),
    ("encrypted-suffix", ["--encrypted-suffix", "word"]),
    ("unencrypted-regex", ["--unencrypted-regex", "^(user|port)$"]),
    ("encrypted-regex", ["--encrypted-regex", "^pass"]),
    ("unencrypted-comment-regex", ["--unencrypted-comment-regex", "^ public"]),
    ("encrypted-comment-regex", ["--encrypted-comment-regex", "^ secret"]),
    ("mac-only-encrypted", ["--mac-only-encrypted"]),
    ("mac-only-with-regex", ["--mac-only-encrypted", "--encrypted-regex", "^pass"]),
    ("none", []),
]


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["yaml", "json"])
@pytest.mark.parametrize(("label", "flags"), RULE_FLAGS, ids=[r[0] for r in RULE_FLAGS])
def test_rule_flags_land_in_metadata_as_sops_writes_them(
    secretsctl: Runner, sops: Sops, tmp_path: Path, kind: str, label: str, flags: list[str]
) -> None:
    plain = b"# public header\nuser: admin\n# secret below\npassword: pw-4f1c-secret\nport: 5432\n"
    if kind == "json":
        plain = (
            b'{"user": "admin", "password": "pw-4f1c-secret", "port": 5432, "user_clear": "x"}\n'
        )
    source = tmp_path / f"s.{kind}"
    source.write_bytes(plain)
    ours = secretsctl("encrypt", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    # sops 3.11's `encrypt` subcommand lacks some of these flags; its legacy `-e` has them all.
    theirs = sops.run("-e", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert metadata_layout(ours.stdout, kind) == metadata_layout(theirs.stdout, kind)
    # The same values are left in cleartext (same layout, same types), and sops opens the file
    # to the same plaintext as its own.
    assert masked_body(ours.stdout) == masked_body(theirs.stdout)
    mine = tmp_path / f"ours.{kind}"
    mine.write_bytes(ours.stdout)
    opened = sops.run("decrypt", str(mine), cwd=tmp_path)
    assert opened.returncode == 0 and opened.stderr == b""
    reference = tmp_path / f"theirs.{kind}"
    reference.write_bytes(theirs.stdout)
    expected = sops.run("decrypt", str(reference), cwd=tmp_path)
    assert expected.returncode == 0
    assert digest(opened.stdout) == digest(expected.stdout)


def flat_metadata(data: bytes, kind: str) -> list[tuple[str, str]]:
    """dotenv `sops_*` lines or the INI `[sops]` section, in file order, volatile values masked."""
    items, in_sops = [], kind == "dotenv"
    for line in data.decode().splitlines():
        if kind == "ini" and line.startswith("["):
            in_sops = line == "[sops]"
            continue
        if not in_sops or "=" not in line or (kind == "dotenv" and not line.startswith("sops_")):
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        key = key.removeprefix("sops_")
        if key in VOLATILE or key.endswith("__map_enc"):
            value = "<volatile>"
        items.append((key, value))
    return items


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["dotenv", "ini"])
@pytest.mark.parametrize(("label", "flags"), [RULE_FLAGS[3], RULE_FLAGS[6], RULE_FLAGS[8]],
                         ids=[RULE_FLAGS[3][0], RULE_FLAGS[6][0], RULE_FLAGS[8][0]])  # fmt: skip
def test_rule_flags_in_flat_store_metadata(
    secretsctl: Runner, sops: Sops, tmp_path: Path, kind: str, label: str, flags: list[str]
) -> None:
    plain = (
        b"USER=admin\nPASSWORD=pw-4f1c-secret\n"
        if kind == "dotenv"
        else b"[s]\nuser = a\npassword = b\n"
    )
    source = tmp_path / ("s.env" if kind == "dotenv" else "s.ini")
    source.write_bytes(plain)
    ours = secretsctl("encrypt", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    theirs = sops.run("-e", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    mine, reference = flat_metadata(ours.stdout, kind), flat_metadata(theirs.stdout, kind)
    assert mine
    if kind == "dotenv":
        assert mine == reference  # sorted, as sops writes them
    else:
        assert sorted(mine) == sorted(reference)  # sops 3.11 writes [sops] in map order


@pytest.mark.parametrize(
    "flags",
    [
        ["--unencrypted-suffix", "_u", "--encrypted-suffix", "_e"],
        ["--encrypted-regex", "a", "--unencrypted-regex", "b"],
        ["--encrypted-comment-regex", "a", "--unencrypted-suffix", "_u"],
        ["--unencrypted-comment-regex", "a", "--encrypted-regex", "b"],
    ],
    ids=["suffixes", "regexes", "comment-and-suffix", "comment-and-regex"],
)
def test_two_rule_flags_conflict(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path, flags: list[str]
) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    result = secretsctl("encrypt", "--age", age_key.recipient, *flags, str(source), cwd=tmp_path)
    assert result.returncode == ExitCode.CONFLICTING_PARAMETERS
    assert result.stdout == b""
    lines = error_lines(result.stderr)
    assert lines[0].startswith("secretsctl: error: cannot use more than one of")
    assert all(line.startswith("secretsctl: ") for line in lines)


# --- writing files ------------------------------------------------------------------------------


def test_in_place_is_atomic_and_keeps_mode_and_owner(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path
) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    source.chmod(0o640)
    owner = (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        owner = (4321, 4322)
        os.chown(source, *owner)
    before = source.stat()
    result = secretsctl(
        "encrypt", "--in-place", "--age", age_key.recipient, str(source), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    after = source.stat()
    assert after.st_mode & 0o7777 == 0o640
    assert (after.st_uid, after.st_gid) == owner
    # Replaced by a rename (a new inode), not rewritten in place; no temporary file is left.
    assert after.st_ino != before.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.txt", "s.yaml"]
    assert b"pw-4f1c-secret" not in source.read_bytes()
    back = secretsctl("decrypt", str(source), env=env_for(age_key))
    assert back.returncode == 0 and digest(back.stdout) == digest(PLAIN_YAML)


def test_in_place_failure_leaves_the_file_alone(secretsctl: Runner, tmp_path: Path) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    before = source.stat()
    result = secretsctl(
        "encrypt", "--in-place", "--age", "age1notarecipient", str(source), cwd=tmp_path
    )
    assert result.returncode == ExitCode.GENERIC  # as sops: a malformed recipient is exit 1
    assert_one_error(result.stderr, hint=False)
    assert "age1notarecipient" in result.stderr.decode()
    assert source.read_bytes() == PLAIN_YAML
    assert source.stat().st_ino == before.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_output_writes_a_new_file(secretsctl: Runner, age_key: AgeKey, tmp_path: Path) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    target = tmp_path / "out" / "enc.yaml"
    target.parent.mkdir()
    result = secretsctl(
        "encrypt", "--output", str(target), "--age", age_key.recipient, str(source), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    assert source.read_bytes() == PLAIN_YAML
    assert b"ENC[AES256_GCM," in target.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["enc.yaml"]
    back = secretsctl("decrypt", str(target), env=env_for(age_key))
    assert back.returncode == 0 and digest(back.stdout) == digest(PLAIN_YAML)


def test_output_over_an_existing_file_keeps_its_mode(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path
) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    target = tmp_path / "enc.yaml"
    target.write_bytes(b"old\n")
    target.chmod(0o604)
    result = secretsctl(
        "encrypt", "--output", str(target), "--age", age_key.recipient, str(source), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    assert target.stat().st_mode & 0o7777 == 0o604
    assert b"ENC[AES256_GCM," in target.read_bytes()


def test_in_place_and_output_conflict(secretsctl: Runner, age_key: AgeKey, tmp_path: Path) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    result = secretsctl(
        "encrypt",
        "--in-place",
        "--output",
        str(tmp_path / "o.yaml"),
        "--age",
        age_key.recipient,
        str(source),
    )
    assert result.returncode == ExitCode.CONFLICTING_PARAMETERS
    assert source.read_bytes() == PLAIN_YAML
    assert not (tmp_path / "o.yaml").exists()


# --- stdin --------------------------------------------------------------------------------------


def test_stdin_needs_a_type(secretsctl: Runner, age_key: AgeKey, tmp_path: Path) -> None:
    result = secretsctl("encrypt", "--age", age_key.recipient, input=PLAIN_YAML, cwd=tmp_path)
    assert result.returncode == ExitCode.CONFLICTING_PARAMETERS
    assert result.stdout == b""
    assert_one_error(result.stderr, hint=False)
    assert "--input-type" in result.stderr.decode()
    dash = secretsctl("encrypt", "--age", age_key.recipient, "-", input=PLAIN_YAML, cwd=tmp_path)
    assert dash.returncode == ExitCode.CONFLICTING_PARAMETERS


def test_stdin_with_input_type(secretsctl: Runner, age_key: AgeKey, tmp_path: Path) -> None:
    result = secretsctl(
        "encrypt",
        "--input-type",
        "yaml",
        "--age",
        age_key.recipient,
        input=PLAIN_YAML,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    (tmp_path / "e.yaml").write_bytes(result.stdout)
    back = secretsctl("decrypt", str(tmp_path / "e.yaml"), env=env_for(age_key))
    assert back.returncode == 0 and digest(back.stdout) == digest(PLAIN_YAML)


def test_stdin_with_filename_override_picks_store_and_rule(
    secretsctl: Runner, tmp_path: Path
) -> None:
    first, second = make_age_key(tmp_path, "a.txt"), make_age_key(tmp_path, "b.txt")
    write_rule(tmp_path, _rules_for(first, second))
    plain = b'{"user": "admin", "password": "pw-4f1c-secret"}'
    result = secretsctl("encrypt", "--filename-override", "x.json", input=plain, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"{\n\t")
    assert _recipients(result.stdout, "json") == [first.recipient]
    result = secretsctl(
        "encrypt", "--filename-override", "secret.yaml", input=PLAIN_YAML, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    assert _recipients(result.stdout) == [second.recipient, first.recipient]


# --- refusing encrypted input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("s.yaml", PLAIN_YAML),
        ("s.json", b'{"a": "b"}'),
        ("s.env", b"A=b\n"),
        ("s.ini", b"[x]\na = b\n"),
    ],
)
@pytest.mark.parametrize("in_place", [False, True], ids=["stdout", "in-place"])
def test_already_encrypted_is_203_and_untouched(
    secretsctl: Runner, age_key: AgeKey, tmp_path: Path, name: str, plain: bytes, in_place: bool
) -> None:
    source = tmp_path / name
    source.write_bytes(plain)
    first = secretsctl("encrypt", "--age", age_key.recipient, str(source), cwd=tmp_path)
    assert first.returncode == 0, first.stderr.decode()
    source.write_bytes(first.stdout)
    before = source.stat()
    args = ["--in-place"] if in_place else []
    again = secretsctl("encrypt", *args, "--age", age_key.recipient, str(source), cwd=tmp_path)
    assert again.returncode == ExitCode.FILE_ALREADY_ENCRYPTED
    assert again.stdout == b""
    assert error_lines(again.stderr)[0].startswith("secretsctl: error: ")
    assert "already encrypted" in again.stderr.decode()
    assert source.read_bytes() == first.stdout
    after = source.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


# --- stores and settings --------------------------------------------------------------------------


@pytest.mark.interop
def test_binary_file(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    payload = bytes(range(256)) + b"\x00\xff\r\n" * 8
    source = tmp_path / "blob.dat"
    source.write_bytes(payload)
    ours = secretsctl("encrypt", "--age", sops.key.recipient, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    document = json.loads(ours.stdout)
    assert list(document) == ["data", "sops"]
    assert document["data"].startswith("ENC[AES256_GCM,") and document["data"].endswith(
        ",type:str]"
    )
    theirs = sops.run("encrypt", "--age", sops.key.recipient, str(source), cwd=tmp_path)
    # No rule field at all in a binary file.
    assert metadata_layout(ours.stdout, "binary") == metadata_layout(theirs.stdout, "binary")
    out = tmp_path / "enc.dat"
    out.write_bytes(ours.stdout)
    opened = sops.run("decrypt", str(out), cwd=tmp_path)
    assert opened.returncode == 0 and opened.stdout == payload


@pytest.mark.interop
def test_binary_file_ignores_rule_flags_like_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    source = tmp_path / "blob.dat"
    source.write_bytes(b"\x01\x02binary")
    flags = ["--encrypted-regex", "^x"]
    ours = secretsctl("encrypt", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stderr.decode().startswith("secretsctl: warning: ")
    theirs = sops.run("encrypt", "--age", sops.key.recipient, *flags, str(source), cwd=tmp_path)
    assert theirs.returncode == 0
    assert metadata_layout(ours.stdout, "binary") == metadata_layout(theirs.stdout, "binary")


@pytest.mark.interop
def test_mac_only_encrypted_leaves_cleartext_out_of_the_mac(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    source = tmp_path / "s.yaml"
    source.write_bytes(b"password: pw-4f1c-secret\nport_unencrypted: 8080\n")
    ours = secretsctl(
        "encrypt", "--mac-only-encrypted", "--age", sops.key.recipient, str(source), cwd=tmp_path
    )
    assert ours.returncode == 0, ours.stderr.decode()
    assert load(ours.stdout)["sops"]["mac_only_encrypted"] is True
    edited = ours.stdout.replace(b"port_unencrypted: 8080", b"port_unencrypted: 9090")
    assert edited != ours.stdout
    out = tmp_path / "enc.yaml"
    out.write_bytes(edited)
    opened = sops.run("decrypt", str(out), cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == b"password: pw-4f1c-secret\nport_unencrypted: 9090\n"
    # Without the flag the same edit breaks the MAC.
    plain = secretsctl("encrypt", "--age", sops.key.recipient, str(source), cwd=tmp_path)
    out.write_bytes(plain.stdout.replace(b"port_unencrypted: 8080", b"port_unencrypted: 9090"))
    assert sops.run("decrypt", str(out), cwd=tmp_path).returncode == ExitCode.MAC_MISMATCH


@pytest.mark.interop
@pytest.mark.parametrize("indent", [2, 6])
def test_stores_yaml_indent(secretsctl: Runner, sops: Sops, tmp_path: Path, indent: int) -> None:
    (tmp_path / ".sops.yaml").write_text(
        f"stores:\n    yaml:\n        indent: {indent}\n"
        f"creation_rules:\n    - age: {sops.key.recipient}\n"
    )
    source = tmp_path / "s.yaml"
    source.write_bytes(b"a:\n    b:\n        - c\n        - d: e\nf: g\n")
    ours = secretsctl("encrypt", str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    theirs = sops.run("encrypt", str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    pad = " " * indent
    assert f"\n{pad}b:\n".encode() in ours.stdout
    assert f"\n{pad}age:\n".encode() in ours.stdout

    def skeleton(data: bytes) -> list[bytes]:
        # Each line's indentation and key, without values or armour (which differ per run).
        lines = []
        for line in data.splitlines():
            stripped = line.lstrip(b" ")
            if stripped.startswith((b"-----", b"YWdl")) or b":" not in stripped:
                continue
            lines.append(line[: len(line) - len(stripped)] + stripped.split(b":")[0])
        return lines

    assert skeleton(ours.stdout) == skeleton(theirs.stdout)


@pytest.mark.interop
def test_shamir_threshold_flag_with_key_groups(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    keys = [sops.key, make_age_key(tmp_path, "b.txt"), make_age_key(tmp_path, "c.txt")]
    groups = "".join(f"          - age:\n              - {k.recipient}\n" for k in keys)
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n    - key_groups:\n" + groups)
    source = tmp_path / "s.yaml"
    source.write_bytes(PLAIN_YAML)
    flag = ["--shamir-secret-sharing-threshold", "2"]
    ours = secretsctl("encrypt", *flag, str(source), cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr.decode()
    theirs = sops.run("encrypt", *flag, str(source), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert metadata_layout(ours.stdout) == metadata_layout(theirs.stdout)
    block = load(ours.stdout)["sops"]
    assert block["shamir_threshold"] == 2
    assert [[e["recipient"] for e in g["age"]] for g in block["key_groups"]] == [
        [k.recipient] for k in keys
    ]
    out = tmp_path / "enc.yaml"
    out.write_bytes(ours.stdout)
    for pair in ((0, 1), (1, 2), (0, 2)):
        both = tmp_path / f"pair{pair[0]}{pair[1]}.txt"
        both.write_text("".join(keys[i].key_file.read_text() for i in pair))
        opened = sops.run("decrypt", str(out), cwd=tmp_path, env={"SOPS_AGE_KEY_FILE": str(both)})
        assert opened.returncode == 0, opened.stderr.decode()
        assert digest(opened.stdout) == digest(PLAIN_YAML)
    alone = secretsctl("decrypt", str(out), env=env_for(keys[1]))
    assert alone.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert sops.run("decrypt", str(out), cwd=tmp_path, env=env_for(keys[1])).returncode == 128
