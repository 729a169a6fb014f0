"""`secretsctl filestatus` side by side with `sops filestatus`: same JSON, same exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Runner, Sops

pytestmark = pytest.mark.interop

PLAINS = {
    "s.yaml": b"a: 1\nb: two\n",
    "s.json": b'{"a": 1, "b": "two"}',
    "s.env": b"A=1\nB=two\n",
    "s.ini": b"[x]\na = 1\n",
}


@pytest.mark.parametrize("name", sorted(PLAINS))
@pytest.mark.parametrize("encrypt", [False, True])
def test_same_answer_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, name: str, encrypt: bool
) -> None:
    path = tmp_path / name
    path.write_bytes(PLAINS[name])
    if encrypt:
        assert sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path)).returncode == 0
    ours, theirs = secretsctl("filestatus", str(path)), sops.run("filestatus", str(path))
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert ours.stdout == (b'{"encrypted":true}\n' if encrypt else b'{"encrypted":false}\n')


@pytest.mark.parametrize(
    "args", [(), ("missing.yaml",), ("bad.yaml",), ("--input-type", "json", "s.yaml")]
)
def test_errors_exit_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"a: [\n")
    (tmp_path / "s.yaml").write_bytes(b"a: 1\n")
    ours = secretsctl("filestatus", *args, cwd=tmp_path)
    theirs = sops.run("filestatus", *args, cwd=tmp_path)
    assert ours.returncode == theirs.returncode
    assert ours.stdout == theirs.stdout
    assert "Traceback" not in ours.stderr.decode()
