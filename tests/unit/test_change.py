"""Changing encrypted files in place: unchanged values keep their ENC[…] bytes; all or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from secretsctl import change
from secretsctl.errors import ExitCode, OutputError, SecretsctlError
from secretsctl.keys.sources import IdentitySet, load_identities
from tests.conftest import AgeKey, Sops

PLAIN = "# head\nfirst: one # note\nsecond: two\nnested:\n    n: 3\n"


def identities(key: AgeKey) -> IdentitySet:
    return load_identities(use_environment=False, age_key_file=str(key.key_file))


def lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def test_an_unchanged_value_keeps_its_bytes(sops: Sops, age_key: AgeKey, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(PLAIN)
    assert sops.run("encrypt", "-i", "--age", age_key.recipient, str(path)).returncode == 0
    before = path.read_bytes()
    expected = sops.run("decrypt", str(path)).stdout.replace(b"second: two", b"second: changed")
    opened = change.open_for_change(str(path), identities=identities(age_key))
    documents = opened.decrypted.documents
    top = documents[0]
    top[[key for key, _ in top].index("second")] = ("second", "changed")
    after = change.reseal(opened, documents)
    changed = [(a, b) for a, b in zip(lines(before), lines(after), strict=True) if a != b]
    keys = sorted(a.strip().split(":")[0] for a, _ in changed)
    # lastmodified is whole seconds: within the second sops wrote it, it does not change.
    assert keys in (["lastmodified", "mac", "second"], ["mac", "second"]), keys
    change.write_all([(str(path), after)])
    done = sops.run("decrypt", str(path))
    assert done.returncode == 0, done.stderr
    same = done.stdout == expected
    assert same, "sops decrypts something else (values not shown)"


def test_a_missing_file_is_exit_100(tmp_path: Path, age_key: AgeKey) -> None:
    with pytest.raises(SecretsctlError) as caught:
        change.open_for_change(str(tmp_path / "nope.yaml"), identities=identities(age_key))
    assert caught.value.exit_code == ExitCode.NO_FILE_SPECIFIED


def test_write_all_keeps_mode_and_changes_nothing_on_failure(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_bytes(b"old a")
    second.write_bytes(b"old b")
    first.chmod(0o640)
    change.write_all([(str(first), b"new a"), (str(second), b"new b")])
    assert (first.read_bytes(), second.read_bytes()) == (b"new a", b"new b")
    assert stat.S_IMODE(first.stat().st_mode) == 0o640
    missing = tmp_path / "gone" / "c.yaml"  # its folder does not exist: staging fails
    with pytest.raises(OutputError):
        change.write_all([(str(first), b"newer a"), (str(missing), b"c")])
    assert first.read_bytes() == b"new a", "a file changed although another failed"
    assert sorted(os.listdir(tmp_path)) == ["a.yaml", "b.yaml"], "a temporary file was left"
