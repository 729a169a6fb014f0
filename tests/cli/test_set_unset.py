"""`secretsctl set` and `unset` on files real sops 3.11 wrote, judged by real sops.

Each change must leave every other `ENC[…]` byte-identical (a diff shows the value's line,
`lastmodified` and `mac`), keep comments and order, and give what `sops set`/`sops unset` give;
exit codes are compared with sops's on the same input.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import AgeKey, Runner, Sops

pytestmark = pytest.mark.interop

PLAIN_YAML = b"""\
# top comment
user: admin
password: pw-9d1e-secret
port: 5432
nested:
    # inner comment
    token: tk-88aa
    deep:
        x: 1
list:
    - one
    # list comment
    - two
"""
PLAIN_JSON = b'{"user": "admin", "password": "pw-9d1e-secret", "nested": {"token": "tk-88aa"}}\n'
NEW_SECRET = "nv-7c2b-secret"


def env_for(key: AgeKey) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(key.key_file)}


def sops_file(sops: Sops, folder: Path, name: str, plain: bytes) -> Path:
    """A file as real sops writes it."""
    path = folder / name
    path.write_bytes(plain)
    result = sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path))
    assert result.returncode == 0, result.stderr.decode()
    return path


def changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines that differ, reduced to their key (or a marker for list items)."""
    out = []
    for line in difflib.unified_diff(
        before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0
    ):
        if line.startswith(("---", "+++", "@@")):
            continue
        key = line[1:].strip().split(":")[0].strip('"')
        out.append(line[0] + key)
    return out


def twin(path: Path) -> Path:
    """A byte copy of a file, for running sops and secretsctl on the same input."""
    other = path.with_name("twin-" + path.name)
    shutil.copyfile(path, other)
    return other


def decrypted(sops: Sops, path: Path) -> bytes:
    result = sops.run("decrypt", str(path))
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


# --- set ------------------------------------------------------------------------------------


def test_set_in_yaml_changes_one_line_and_agrees_with_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    other = twin(path)
    before = path.read_bytes()
    value = f'"{NEW_SECRET}"'
    result = secretsctl("set", str(path), '["nested"]["token"]', value, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    after = path.read_bytes()
    changed = changed_lines(before, after)
    assert sorted({c[1:] for c in changed}) in (
        ["lastmodified", "mac", "token"],
        ["mac", "token"],
    )
    assert len([c for c in changed if c[1:] == "token"]) == 2
    assert sops.run("set", str(other), '["nested"]["token"]', value).returncode == 0
    plain = decrypted(sops, path)
    assert plain == decrypted(sops, other)
    assert NEW_SECRET.encode() in plain
    assert b"# inner comment" in plain
    assert b"# list comment" in plain


def test_set_in_json_written_by_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = sops_file(sops, tmp_path, "s.json", PLAIN_JSON)
    other = twin(path)
    before = path.read_bytes()
    value = '{"b": [1, true, null], "a": "x"}'
    result = secretsctl("set", str(path), '["password"]', value, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    untouched = [
        line
        for line in before.decode().splitlines()
        if '"user"' in line or '"token"' in line or '"recipient"' in line
    ]
    assert all(line in path.read_text().splitlines() for line in untouched)
    assert sops.run("set", str(other), '["password"]', value).returncode == 0
    assert decrypted(sops, path) == decrypted(sops, other)


@pytest.mark.parametrize(
    ("tree_path", "value"),
    [
        ('["new"]', '"v"'),
        ('["a"]["b"][0]', '"v"'),
        ('["list"][7]', '"v"'),
        ('["list"][1]', '"v"'),
        ('["user"]["x"]', "1.5"),
        ('["port"]', "5432"),
        ('["user"]', "null"),
        ('["nested"]', '{"k": {"j": false}}'),
    ],
)
def test_set_gives_what_sops_gives(
    secretsctl: Runner, sops: Sops, tmp_path: Path, tree_path: str, value: str
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    other = twin(path)
    result = secretsctl("set", str(path), tree_path, value, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert sops.run("set", str(other), tree_path, value).returncode == 0
    assert decrypted(sops, path) == decrypted(sops, other)


def test_value_stdin_keeps_the_value_off_the_command_line(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    args = ("set", "--value-stdin", str(path), '["password"]')
    assert all(NEW_SECRET not in arg for arg in args)
    result = secretsctl(*args, input=f'"{NEW_SECRET}"\n'.encode(), env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    extracted = sops.run("decrypt", "--extract", '["password"]', str(path))
    assert extracted.stdout == NEW_SECRET.encode()


def test_value_file(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    holder = tmp_path / "value.json"
    holder.write_text(f'"{NEW_SECRET}"')
    result = secretsctl(
        "set", "--value-file", str(path), '["password"]', str(holder), env=env_for(sops.key)
    )
    assert result.returncode == 0, result.stderr.decode()
    extracted = sops.run("decrypt", "--extract", '["password"]', str(path))
    assert extracted.stdout == NEW_SECRET.encode()


def test_set_keeps_the_file_mode(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    path.chmod(0o640)
    result = secretsctl("set", str(path), '["user"]', '"root"', env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert path.stat().st_mode & 0o777 == 0o640


def test_idempotent_set_of_the_same_value_writes_nothing(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    before = path.read_bytes()
    stamp = os.stat(path).st_mtime_ns
    result = secretsctl(
        "set", "--idempotent", str(path), '["user"]', '"admin"', env=env_for(sops.key)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == stamp


# --- unset ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tree_path", ['["password"]', '["nested"]["deep"]', '["list"][1]'])
def test_unset_gives_what_sops_gives(
    secretsctl: Runner, sops: Sops, tmp_path: Path, tree_path: str
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    other = twin(path)
    before = path.read_bytes()
    result = secretsctl("unset", str(path), tree_path, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert sops.run("unset", str(other), tree_path).returncode == 0
    assert decrypted(sops, path) == decrypted(sops, other)
    added = [c for c in changed_lines(before, path.read_bytes()) if c.startswith("+")]
    # Comments are outside the MAC: removing one within the second keeps even the MAC's bytes.
    assert set(added) <= {"+lastmodified", "+mac"}


def test_unset_idempotent_of_a_missing_key_writes_nothing(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    before = path.read_bytes()
    result = secretsctl("unset", "--idempotent", str(path), '["nope"]', env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert path.read_bytes() == before


# --- exit codes, against sops ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("set", "{f}", "user", '"v"'),
        ("set", "{f}", '["user"]', "notjson"),
        ("set", "{f}", '["user"]', ""),
        ("set", "{f}", '["user"]'),
        ("set", "--value-stdin", "--value-file", "{f}", '["user"]'),
        ("set", "{missing}", '["user"]', '"v"'),
        ("unset", "{f}", '["nope"]'),
        ("unset", "{f}", '["list"][9]'),
        ("unset", "{f}", '["nested"][0]'),
        ("unset", "{f}", '["user"]["x"]'),
        ("unset", "{f}", "bad"),
        ("unset", "{f}"),
    ],
)
def test_exit_codes_match_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, args: tuple[str, ...]
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    other = twin(path)
    before = path.read_bytes()
    missing = str(tmp_path / "missing.yaml")
    ours = secretsctl(
        *(a.format(f=path, missing=missing) for a in args), env=env_for(sops.key), input=b""
    )
    theirs = sops.run(*(a.format(f=other, missing=missing) for a in args), input=b"")
    assert ours.returncode == theirs.returncode, ours.stderr.decode()
    assert ours.returncode != 0
    assert path.read_bytes() == before
    lines = ours.stderr.decode().splitlines()
    assert lines[0].startswith("secretsctl: error: ")
    assert all(line.startswith("secretsctl: hint: ") for line in lines[1:])


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("set", "{f}", '["list"][-1]', '"v"'), ExitCode.INVALID_SET_FORMAT),
        (("set", "{f}", "", '"v"'), ExitCode.INVALID_SET_FORMAT),
        (("set", "{f}", '["list"]["k"]', '"v"'), ExitCode.GENERIC),
        (("set", "{f}", '["nested"][0]', '"v"'), ExitCode.GENERIC),
        (("set", "{f}", '["sops"]', '"v"'), ExitCode.FILE_ALREADY_ENCRYPTED),
    ],
)
def test_where_sops_panics_or_writes_nonsense_we_refuse(
    secretsctl: Runner, sops: Sops, tmp_path: Path, args: tuple[str, ...], code: int
) -> None:
    # sops 3.11 panics (exit 2) on the first three and writes a file with the value lost,
    # or a second `sops` key, on the last two.
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    before = path.read_bytes()
    result = secretsctl(*(a.format(f=path) for a in args), env=env_for(sops.key))
    assert result.returncode == code
    assert path.read_bytes() == before
    assert "Traceback" not in result.stderr.decode()


def test_a_bad_value_is_never_echoed(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    bad = "{nv-7c2b-secret"
    result = secretsctl("set", str(path), '["user"]', bad, env=env_for(sops.key))
    assert result.returncode == ExitCode.INVALID_SET_FORMAT
    assert b"nv-7c2b" not in result.stderr


def test_a_wrong_key_is_exit_128_like_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    from tests.conftest import make_age_key

    path = sops_file(sops, tmp_path, "s.yaml", PLAIN_YAML)
    before = path.read_bytes()
    stranger = make_age_key(tmp_path, "other.txt")
    result = secretsctl("set", str(path), '["user"]', '"v"', env=env_for(stranger))
    theirs = sops.run("set", str(twin(path)), '["user"]', '"v"', env=env_for(stranger))
    assert result.returncode == theirs.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert path.read_bytes() == before
