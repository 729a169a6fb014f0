"""`secretsctl rotate --output-type` and `--output`, side by side with sops 3.11's rotate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import Runner, Sops
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.interop

PLAIN = b"user: admin\npassword: pw-77b2-secret\n"
VALUES = {"user": "admin", "password": "pw-77b2-secret"}


def sops_yaml(sops: Sops, folder: Path) -> Path:
    path = folder / "s.yaml"
    path.write_bytes(PLAIN)
    result = sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path))
    assert result.returncode == 0, result.stderr.decode()
    return path


def decrypted_json(sops: Sops, path: Path) -> object:
    result = sops.run("decrypt", "--input-type", "json", "--output-type", "json", str(path))
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_rotate_output_type_rewrites_the_file_in_another_store_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_yaml(sops, tmp_path)
    theirs = tmp_path / "theirs.yaml"
    shutil.copy(path, theirs)
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    result = secretsctl("rotate", "-i", "--output-type", "json", str(path), env=env)
    assert result.returncode == 0, result.stderr.decode()
    real = sops.run("rotate", "-i", "--output-type", "json", str(theirs))
    assert real.returncode == 0, real.stderr.decode()
    ours_block = json.loads(path.read_bytes())["sops"]
    theirs_block = json.loads(theirs.read_bytes())["sops"]
    assert list(ours_block) == list(theirs_block)
    same_secret(decrypted_json(sops, path), decrypted_json(sops, theirs), "ours and sops's values")
    same_secret(decrypted_json(sops, path), VALUES, "the rotated values")


def test_rotate_output_writes_there_and_leaves_the_file(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_yaml(sops, tmp_path)
    before = path.read_bytes()
    target = tmp_path / "rotated.json"
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    args = ("rotate", "--output", str(target), "--output-type", "json", str(path))
    result = secretsctl(*args, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert path.read_bytes() == before
    same_secret(decrypted_json(sops, target), VALUES, "the values written to --output")


def test_rotate_output_with_in_place_is_refused_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_yaml(sops, tmp_path)
    before = path.read_bytes()
    out = str(tmp_path / "out.yaml")
    real = sops.run("rotate", "-i", "--output", out, str(path))
    assert real.returncode == ExitCode.CONFLICTING_PARAMETERS, real.stderr.decode()
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    mine = secretsctl("rotate", "-i", "--output", out, str(path), env=env)
    assert mine.returncode == ExitCode.CONFLICTING_PARAMETERS, mine.stderr.decode()
    assert mine.stderr.decode().startswith("secretsctl: error: cannot operate on both")
    assert path.read_bytes() == before
    assert not Path(out).exists()


def test_rotate_without_in_place_prints_and_leaves_the_file_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_yaml(sops, tmp_path)
    before = path.read_bytes()
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    real = sops.run("rotate", str(path))
    assert real.returncode == 0, real.stderr.decode()
    mine = secretsctl("rotate", str(path), env=env)
    assert mine.returncode == 0, mine.stderr.decode()
    assert path.read_bytes() == before, "the file must stay as it was"
    leaked = b"pw-77b2-secret" in mine.stdout
    assert not leaked, "the printed file is encrypted"
    printed = tmp_path / "printed.yaml"
    printed.write_bytes(mine.stdout)
    assert mine.stdout.split(b"\nsops:\n")[0] != before.split(b"\nsops:\n")[0], "not rotated"
    opened = sops.run("decrypt", str(printed))
    assert opened.returncode == 0, opened.stderr.decode()
    same_secret(opened.stdout, PLAIN, "the printed file's plaintext")
    assert mine.stdout.count(b"\nsops:\n") == real.stdout.count(b"\nsops:\n") == 1


def test_rotate_of_several_files_without_in_place_is_a_usage_error(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_yaml(sops, tmp_path)
    other = tmp_path / "t.yaml"
    shutil.copy(path, other)
    before = path.read_bytes()
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    mine = secretsctl("rotate", str(path), str(other), env=env)
    assert mine.returncode == ExitCode.CONFLICTING_PARAMETERS
    lines = mine.stderr.decode().splitlines()
    assert lines[0] == "secretsctl: error: printing takes one FILE", lines
    assert "-i" in lines[1]
    assert mine.stdout == b""
    assert path.read_bytes() == before == other.read_bytes()
