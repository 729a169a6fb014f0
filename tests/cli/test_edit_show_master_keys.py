"""`secretsctl edit -s/--show-master-keys`: the draft shows the `sops` block, as sops's `-s`.

The draft is compared with what real sops 3.11 shows its editor (digests, never text). sops
3.11 then drops every edit made with `-s` and rewrites the file as it was; secretsctl applies
value edits, and a changed `sops` block sends the user back to the editor.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.cli.test_edit import (
    CHANGE_ONE_VALUE,
    NEW,
    OLD,
    PLAIN,
    assert_one_error,
    digest,
    edit_env,
    make_editor,
    records,
    sops_file,
)
from tests.conftest import Runner, Sops

pytestmark = pytest.mark.interop

STORES = [
    ("s.yaml", PLAIN),
    ("s.json", b'{\n\t"user": "admin",\n\t"password": "pw-old-1234",\n\t"n": 3\n}\n'),
    ("s.env", b"# head\nuser=admin\npassword=pw-old-1234\n"),
    ("s.ini", b"[db]\nuser     = admin\npassword = pw-old-1234\n"),
    ("s.bin", b"line one\npw-old-1234\n"),
]


SORTED_LINES = """\
note(sorted_lines=hashlib.sha256(b"\\n".join(sorted(data.splitlines()))).hexdigest())
"""


@pytest.mark.parametrize(("name", "plain"), STORES, ids=[name for name, _ in STORES])
def test_the_draft_is_what_sops_shows(
    secretsctl: Runner, sops: Sops, tmp_path: Path, name: str, plain: bytes
) -> None:
    target = sops_file(sops, tmp_path, name, plain)
    editor = make_editor(tmp_path, SORTED_LINES)
    env = edit_env(sops.key, editor, tmp_path)
    theirs = sops.run("edit", "-s", str(target), env=env)
    assert theirs.returncode == ExitCode.FILE_HAS_NOT_BEEN_MODIFIED, theirs.stderr.decode()
    ours = secretsctl("edit", "--show-master-keys", str(target), env=env)
    assert ours.returncode == ExitCode.FILE_HAS_NOT_BEEN_MODIFIED, ours.stderr.decode()
    sops_seen, sops_lines, ours_seen, ours_lines = records(tmp_path)
    if name.endswith(".ini"):
        # sops's INI store writes its [sops] section in Go's random map order.
        assert ours_lines["sorted_lines"] == sops_lines["sorted_lines"]
    else:
        assert ours_seen["digest"] == sops_seen["digest"]


def test_a_value_edit_is_applied(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("edit", "-s", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    opened = sops.run("decrypt", str(target))
    assert opened.returncode == 0, opened.stderr.decode()
    assert digest(opened.stdout) == digest(PLAIN.replace(OLD, NEW))


def test_sops_itself_drops_the_edit(sops: Sops, tmp_path: Path) -> None:
    """Why secretsctl differs: sops 3.11 exits 0 and writes the old values back."""
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = sops.run("edit", "-s", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN)


def test_the_old_top_level_form_takes_s(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("-s", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN.replace(OLD, NEW))


CHANGE_METADATA_THEN_RESTORE = """\
if run == 1:
    open(os.environ["EDIT_RECORD"] + ".draft", "wb").write(data)
    open(path, "wb").write(data.replace(b"version: 3.11.0", b"version: 3.9.0"))
else:
    first = open(os.environ["EDIT_RECORD"] + ".draft", "rb").read()
    open(path, "wb").write(first.replace(b"pw-old-1234", b"pw-new-5678"))
"""


def test_a_changed_sops_block_reopens_the_editor(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, CHANGE_METADATA_THEN_RESTORE)
    env = edit_env(sops.key, editor, tmp_path)
    result = secretsctl("edit", "-s", str(target), env=env, input=b"\n")
    assert result.returncode == 0, result.stderr.decode()
    assert "the sops metadata was changed" in result.stderr.decode()
    assert_one_error(result.stderr)
    assert len(records(tmp_path)) == 2
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN.replace(OLD, NEW))


@pytest.mark.parametrize(
    "body",
    [
        'open(path, "wb").write(data.replace(b"version: 3.11.0", b"version: 3.9.0"))\n',
        'open(path, "wb").write(data.split(b"sops:")[0])\n',
    ],
    ids=["changed", "removed"],
)
def test_giving_up_on_a_changed_sops_block_leaves_the_file(
    secretsctl: Runner, sops: Sops, tmp_path: Path, body: str
) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, body)
    env = edit_env(sops.key, editor, tmp_path)
    result = secretsctl("edit", "-s", str(target), env=env, input=b"")
    assert result.returncode == ExitCode.KEYBOARD_INTERRUPT
    assert "metadata" in result.stderr.decode()
    assert_one_error(result.stderr)
    assert target.read_bytes() == before
    (seen,) = records(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))
