"""`secretsctl edit`: sops's edit flow, with the plaintext on tmpfs only and removed on every exit.

Editors are small Python scripts written by each test and named in SOPS_EDITOR. Each one
records what it saw (the draft's folder, modes, filesystem, a digest of the text, never the text)
in a JSON file the test reads. The real sops 3.11 binary writes the files edited here and
judges what secretsctl writes back. One test drives a real vim through tmux.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import SECRETSCTL, AgeKey, Runner, Sops

PLAIN = (
    b"# database settings\n"
    b"user: admin\n"
    b"# rotate yearly\n"
    b"password: pw-old-1234\n"
    b"port: 5432\n"
    b"hosts:\n"
    b"    - db1\n"
    b"    - db2\n"
    b"zeta: last\n"
)
OLD, NEW = b"pw-old-1234", b"pw-new-5678"

PRELUDE = """\
import hashlib, json, os, signal, subprocess, sys, time
path = sys.argv[-1]
record = os.environ["EDIT_RECORD"]
def note(**fields):
    entries = json.load(open(record)) if os.path.exists(record) else []
    entries.append(fields)
    with open(record + ".new", "w") as out:
        json.dump(entries, out)
    os.replace(record + ".new", record)
folder = os.path.dirname(path)
data = open(path, "rb").read()
note(
    path=path,
    argv=sys.argv[1:],
    pid=os.getpid(),
    file_mode=os.stat(path).st_mode & 0o7777,
    dir_mode=os.stat(folder).st_mode & 0o7777,
    fs=subprocess.run(["stat", "-f", "-c", "%T", folder], capture_output=True, text=True)
    .stdout.strip(),
    listing=sorted(os.listdir(folder)),
    digest=hashlib.sha256(data).hexdigest(),
    runs=len(json.load(open(record))) + 1 if os.path.exists(record) else 1,
)
run = json.load(open(record))[-1]["runs"]
"""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_editor(folder: Path, body: str, name: str = "editor.py") -> Path:
    script = folder / name
    script.write_text(f"#!{sys.executable}\n{PRELUDE}{textwrap.dedent(body)}")
    script.chmod(0o755)
    return script


def records(folder: Path) -> list[dict[str, Any]]:
    path = folder / "record.json"
    return json.loads(path.read_text()) if path.exists() else []


def edit_env(key: AgeKey, editor: Path, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "SOPS_AGE_KEY_FILE": str(key.key_file),
        "SOPS_EDITOR": str(editor),
        "EDIT_RECORD": str(folder / "record.json"),
        **extra,
    }


def sops_file(sops: Sops, folder: Path, name: str = "secrets.yaml", plain: bytes = PLAIN) -> Path:
    """A file written by the real sops, mode 0640."""
    source = folder / f"plain-{name}"
    source.write_bytes(plain)
    out = sops.run("encrypt", "--age", sops.key.recipient, "--filename-override", name, str(source))
    assert out.returncode == 0, out.stderr.decode()
    source.unlink()
    target = folder / name
    target.write_bytes(out.stdout)
    target.chmod(0o640)
    return target


def changed_keys(before: bytes, after: bytes) -> list[str]:
    old, new = before.decode().splitlines(), after.decode().splitlines()
    assert len(old) == len(new), "the number of lines changed"
    return sorted(a.strip().split(":")[0] for a, b in zip(old, new, strict=True) if a != b)


def assert_one_error(stderr: bytes) -> None:
    text = stderr.decode()
    assert "Traceback" not in text
    assert OLD.decode() not in text, "a value was printed"
    assert NEW.decode() not in text, "a value was printed"
    assert any(line.startswith("secretsctl: error: ") for line in text.splitlines())


CHANGE_ONE_VALUE = """\
open(path, "wb").write(data.replace(b"pw-old-1234", b"pw-new-5678"))
"""


@pytest.mark.interop
def test_one_changed_value_changes_one_line(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    time.sleep(1.05)  # lastmodified has whole seconds: make its change visible
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    after = target.read_bytes()
    assert changed_keys(before, after) == ["lastmodified", "mac", "password"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    opened = sops.run("decrypt", str(target))
    assert opened.returncode == 0, opened.stderr.decode()
    assert digest(opened.stdout) == digest(PLAIN.replace(OLD, NEW))
    (seen,) = records(tmp_path)
    assert seen["digest"] == digest(PLAIN)
    assert os.path.basename(seen["path"]) == "secrets.yaml"
    assert (seen["dir_mode"], seen["file_mode"]) == (0o700, 0o600)
    assert seen["fs"] in ("tmpfs", "ramfs")
    assert seen["listing"] == ["secrets.yaml"]
    assert not os.path.exists(os.path.dirname(seen["path"]))


def test_owner_and_group_are_kept(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file another owner")
    target = sops_file(sops, tmp_path)
    os.chown(target, 4321, 4322)
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    after = target.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (4321, 4322, 0o640)


def test_unchanged_text_is_exit_200_and_the_file_is_untouched(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    stamp = target.stat().st_mtime_ns
    editor = make_editor(tmp_path, "")
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == ExitCode.FILE_HAS_NOT_BEEN_MODIFIED == 200
    assert result.stderr == b"secretsctl: File has not changed, exiting.\n"
    assert target.read_bytes() == before
    assert target.stat().st_mtime_ns == stamp
    (seen,) = records(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))


def test_one_extra_newline_is_a_change(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, 'open(path, "ab").write(b"\\n")\n')
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN)


INVALID_THEN_VALID = """\
if run == 1:
    open(path, "wb").write(data + b"broken: [unclosed\\n")
else:
    fixed = data.replace(b"broken: [unclosed\\n", b"").replace(b"pw-old-1234", b"pw-new-5678")
    open(path, "wb").write(fixed)
"""


@pytest.mark.interop
def test_invalid_text_reopens_the_editor_on_the_users_text(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, INVALID_THEN_VALID)
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path), input=b"\n")
    assert result.returncode == 0, result.stderr.decode()
    first, second = records(tmp_path)
    assert first["digest"] == digest(PLAIN)
    # The second run sees the invalid text the user left, not the original.
    assert second["digest"] == digest(PLAIN + b"broken: [unclosed\n")
    assert first["path"] == second["path"]
    message = result.stderr.decode()
    assert "yaml: line " in message
    assert "column" in message
    assert "Press Enter to return to the editor" in message
    assert_one_error(result.stderr)
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN.replace(OLD, NEW))
    assert not os.path.exists(os.path.dirname(first["path"]))


def test_giving_up_on_invalid_text_leaves_the_file_and_deletes_the_draft(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, 'open(path, "wb").write(b"password: [unclosed\\n")\n')
    # EOF on stdin where the key press is read: the user cannot go back to the editor.
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path), input=b"")
    assert result.returncode == ExitCode.KEYBOARD_INTERRUPT
    assert target.read_bytes() == before
    assert "was not changed; the edited text was deleted" in result.stderr.decode()
    assert_one_error(result.stderr)
    (seen,) = records(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("os.kill(os.getpid(), signal.SIGKILL)\n", "was killed by SIGKILL"),
        ('open(path, "wb").write(b"half: written\\n"); sys.exit(3)\n', "exited with status 3"),
    ],
    ids=["killed", "failed"],
)
def test_an_editor_that_fails_is_exit_201_and_changes_nothing(
    secretsctl: Runner, sops: Sops, tmp_path: Path, body: str, expected: str
) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, body)
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == ExitCode.NO_EDITOR_FOUND == 201
    assert (
        f"secretsctl: error: Could not run editor: `{editor}` {expected}" in result.stderr.decode()
    )
    assert_one_error(result.stderr)
    assert target.read_bytes() == before
    (seen,) = records(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))


def test_no_editor_at_all_is_exit_201(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = secretsctl(
        "edit", str(target), env={"SOPS_AGE_KEY_FILE": str(sops.key.key_file), "PATH": str(empty)}
    )
    assert result.returncode == 201
    assert result.stderr.decode().startswith("secretsctl: error: no editor available")


def test_a_missing_editor_program_is_exit_201(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file), "EDITOR": "no-such-editor --wait"}
    result = secretsctl("edit", str(target), env=env)
    assert result.returncode == 201
    assert "Could not run editor: `no-such-editor`" in result.stderr.decode()


def test_sops_editor_wins_over_editor_and_is_split_like_a_shell(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, "")
    env = edit_env(sops.key, editor, tmp_path, EDITOR="false")
    env["SOPS_EDITOR"] = f"{editor} --wait 'two words'"
    result = secretsctl("edit", str(target), env=env)
    assert result.returncode == 200, result.stderr.decode()
    (seen,) = records(tmp_path)
    assert seen["argv"][:2] == ["--wait", "two words"]
    assert len(seen["argv"]) == 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_editor_runs_removes_the_folder(
    sops: Sops, tmp_path: Path, isolated_env: Path, signum: int
) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, "time.sleep(60)\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(isolated_env)}
    env.update(edit_env(sops.key, editor, tmp_path))
    process = subprocess.Popen(
        [SECRETSCTL, "edit", str(target)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a terminal's Ctrl+C would reach the editor too; this does not
    )
    deadline = time.monotonic() + 20
    while not records(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    (seen,) = records(tmp_path)
    assert os.path.exists(seen["path"])
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == ExitCode.KEYBOARD_INTERRUPT
    name = signal.Signals(signum).name
    assert f"interrupted by {name}" in stderr.decode()
    assert not os.path.exists(os.path.dirname(seen["path"]))
    assert target.read_bytes() == before
    # The editor was asked to exit too.
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pid"], 0)


def test_a_tampered_file_is_refused_before_the_editor_runs(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    target = sops_file(sops, tmp_path)
    lines = target.read_bytes().splitlines(keepends=True)
    # lastmodified is the MAC's AAD: changing it makes the MAC fail, and nothing else.
    stamp = next(i for i, line in enumerate(lines) if line.lstrip().startswith(b"lastmodified:"))
    lines[stamp] = b'    lastmodified: "2001-01-01T00:00:00Z"\n'
    target.write_bytes(b"".join(lines))
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    env = edit_env(sops.key, editor, tmp_path)
    refused = secretsctl("edit", str(target), env=env)
    assert refused.returncode == ExitCode.MAC_MISMATCH
    assert records(tmp_path) == []
    forced = secretsctl("edit", "--ignore-mac", str(target), env=env)
    assert forced.returncode == 0, forced.stderr.decode()
    assert sops.run("decrypt", str(target)).returncode == 0


def test_xdg_runtime_dir_on_tmpfs_is_used(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    runtime = Path(os.environ.get("SECRETSCTL_TEST_SHM", "/dev/shm")) / f"xdg-{os.getpid()}"
    runtime.mkdir(mode=0o700)
    try:
        target = sops_file(sops, tmp_path)
        editor = make_editor(tmp_path, "")
        env = edit_env(sops.key, editor, tmp_path, XDG_RUNTIME_DIR=str(runtime))
        assert secretsctl("edit", str(target), env=env).returncode == 200
        (seen,) = records(tmp_path)
        assert os.path.dirname(os.path.dirname(seen["path"])) == str(runtime)
        assert list(runtime.iterdir()) == []
    finally:
        shutil.rmtree(runtime)


def test_xdg_runtime_dir_on_disk_falls_back_to_dev_shm(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    disk = tmp_path / "runtime"
    disk.mkdir()
    target = sops_file(sops, tmp_path)
    editor = make_editor(tmp_path, "")
    env = edit_env(sops.key, editor, tmp_path, XDG_RUNTIME_DIR=str(disk))
    assert secretsctl("edit", str(target), env=env).returncode == 200
    (seen,) = records(tmp_path)
    assert os.path.dirname(os.path.dirname(seen["path"])) == "/dev/shm"
    assert seen["fs"] == "tmpfs"


@pytest.mark.interop
@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("s.json", b'{\n\t"user": "admin",\n\t"password": "pw-old-1234",\n\t"n": 3\n}\n'),
        ("s.env", b"# head\nuser=admin\npassword=pw-old-1234\n"),
        ("s.ini", b"[db]\nuser     = admin\npassword = pw-old-1234\n"),
        ("s.bin", b"line one\npw-old-1234\n"),
    ],
)
def test_every_store_round_trips_through_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, name: str, plain: bytes
) -> None:
    target = sops_file(sops, tmp_path, name, plain)
    shown = sops.run("decrypt", str(target)).stdout
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("edit", str(target), env=edit_env(sops.key, editor, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    (seen,) = records(tmp_path)
    assert seen["digest"] == digest(shown)
    opened = sops.run("decrypt", str(target))
    assert opened.returncode == 0, opened.stderr.decode()
    assert digest(opened.stdout) == digest(shown.replace(OLD, NEW))


# --- new files --------------------------------------------------------------------------------


def write_rule(folder: Path, recipient: str) -> None:
    (folder / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: \\.yaml$\n    encrypted_regex: ^pass\n"
        f"    age: {recipient}\n"
    )


@pytest.mark.interop
def test_a_new_file_is_made_from_the_creation_rule(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    write_rule(tmp_path, sops.key.recipient)
    (tmp_path / "sub").mkdir()
    editor = make_editor(
        tmp_path, 'open(path, "wb").write(b"user: admin\\npassword: pw-new-5678\\n")\n'
    )
    # Found upward from the current directory, as sops finds it.
    result = secretsctl(
        "edit", "new.yaml", env=edit_env(sops.key, editor, tmp_path), cwd=tmp_path / "sub"
    )
    assert result.returncode == 0, result.stderr.decode()
    created = tmp_path / "sub" / "new.yaml"
    text = created.read_bytes()
    assert b"user: admin\n" in text
    assert NEW not in text
    assert b"encrypted_regex: ^pass" in text
    opened = sops.run("decrypt", str(created))
    assert opened.returncode == 0, opened.stderr.decode()
    assert digest(opened.stdout) == digest(b"user: admin\npassword: pw-new-5678\n")


@pytest.mark.interop
@pytest.mark.parametrize("name", ["new.yaml", "new.json", "new.env", "new.ini", "new.bin"])
def test_a_new_file_shows_sops_example_and_an_unchanged_one_is_not_written(
    secretsctl: Runner, sops: Sops, tmp_path: Path, name: str
) -> None:
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {sops.key.recipient}\n")
    editor = make_editor(tmp_path, 'open(os.environ["EDIT_RECORD"] + ".text", "wb").write(data)\n')
    env = edit_env(sops.key, editor, tmp_path)
    ours = secretsctl("edit", name, env=env, cwd=tmp_path)
    assert ours.returncode == 200, ours.stderr.decode()
    assert not (tmp_path / name).exists()
    shown_by_us = (tmp_path / "record.json.text").read_bytes()
    theirs = sops.run("edit", name, env=env, cwd=tmp_path)
    assert theirs.returncode == 200, theirs.stderr.decode()
    assert not (tmp_path / name).exists()
    assert (tmp_path / "record.json.text").read_bytes() == shown_by_us


@pytest.mark.interop
def test_a_new_file_with_age_needs_no_rule(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    editor = make_editor(tmp_path, 'open(path, "wb").write(b"password: pw-new-5678\\n")\n')
    env = edit_env(sops.key, editor, tmp_path)
    result = secretsctl("edit", "--age", sops.key.recipient, "new.yaml", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    opened = sops.run("decrypt", str(tmp_path / "new.yaml"))
    assert digest(opened.stdout) == digest(b"password: pw-new-5678\n")


def test_a_new_file_without_a_rule_is_refused_before_the_editor(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    result = secretsctl("edit", "new.yaml", env=edit_env(sops.key, editor, tmp_path), cwd=tmp_path)
    assert result.returncode == ExitCode.GENERIC
    assert_one_error(result.stderr)
    assert records(tmp_path) == []
    assert not (tmp_path / "new.yaml").exists()


# --- no RAM-backed folder ---------------------------------------------------------------------


def _without_dev_shm(
    folder: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    """Run secretsctl with a disk folder bind-mounted over /dev/shm, in a private namespace."""
    from tests.activate_support import require_root

    require_root()
    if shutil.which("unshare") is None:
        pytest.skip("unshare is missing")
    disk = folder / "not-shm"
    disk.mkdir(exist_ok=True)
    script = 'mount --bind "$0" /dev/shm && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(disk),
         SECRETSCTL, *args],
        env={"PATH": os.environ["PATH"], "HOME": str(folder), **env},
        capture_output=True,
        check=False,
    )  # fmt: skip


@pytest.mark.privileged
def test_no_ram_backed_folder_is_refused_unless_disk_is_allowed(sops: Sops, tmp_path: Path) -> None:
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, CHANGE_ONE_VALUE)
    env = edit_env(sops.key, editor, tmp_path, TMPDIR=str(tmp_path))
    refused = _without_dev_shm(tmp_path, ["edit", str(target)], env)
    assert refused.returncode == ExitCode.COULD_NOT_WRITE_OUTPUT_FILE, refused.stderr.decode()
    lines = refused.stderr.decode().splitlines()
    assert lines[0].startswith("secretsctl: error: no RAM-backed folder for the plaintext")
    assert lines[1].startswith("secretsctl: hint: ")
    assert "--allow-disk-tmp" in lines[1]
    assert records(tmp_path) == []
    assert target.read_bytes() == before
    allowed = _without_dev_shm(tmp_path, ["edit", "--allow-disk-tmp", str(target)], env)
    assert allowed.returncode == 0, allowed.stderr.decode()
    assert allowed.stderr.decode().startswith("secretsctl: warning: the plaintext goes to a disk")
    (seen,) = records(tmp_path)
    assert os.path.dirname(os.path.dirname(seen["path"])) == str(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))


# --- a real vim in a terminal -----------------------------------------------------------------


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", f"secretsctl-test-{os.getpid()}", *args],
        capture_output=True,
        text=True,
        check=False,
    ).stdout


@pytest.mark.interop
def test_real_vim_through_tmux(sops: Sops, tmp_path: Path, isolated_env: Path) -> None:
    vim, tmux = shutil.which("vim"), shutil.which("tmux")
    if vim is None or tmux is None:
        if os.environ.get("SECRETSCTL_REQUIRE_VIM"):
            pytest.fail("vim and tmux are needed (apt-get install vim tmux)")
        pytest.skip("vim or tmux is missing")
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    watcher = tmp_path / "watch"
    (tmp_path / "vimrc").write_text("set swapfile undofile backup writebackup\n")
    runtime = Path("/dev/shm") / f"vim-test-{os.getpid()}"  # only this test's drafts
    runtime.mkdir(mode=0o700)
    command = (
        f"env -i PATH={os.environ['PATH']} HOME={isolated_env} TERM=xterm"
        f" XDG_RUNTIME_DIR={runtime}"
        f" SOPS_AGE_KEY_FILE={sops.key.key_file} VIMINIT='source {tmp_path / 'vimrc'}'"
        f" SOPS_EDITOR={vim} {SECRETSCTL} edit {target}; echo exit=$? > {watcher}"
    )
    _tmux("new-session", "-d", "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 20
        drafts: list[Path] = []
        while time.monotonic() < deadline and not drafts:
            drafts = list(runtime.glob("secretsctl-edit-*/secrets.yaml"))
            time.sleep(0.05)
        assert drafts, "vim never opened a draft"
        folder = drafts[0].parent
        while time.monotonic() < deadline and "password" not in _tmux("capture-pane", "-p"):
            time.sleep(0.05)
        # Real keystrokes: find the value, change it, write and quit.
        _tmux("send-keys", "/pw-old", "Enter")
        _tmux("send-keys", "cE", "pw-new-5678", "Escape")
        _tmux("send-keys", ":w", "Enter")
        time.sleep(0.5)
        # Even with a vimrc asking for them, no swap, undo or backup file appears, after a
        # change (swap) and a write (undo file, backup) alike.
        assert sorted(p.name for p in folder.iterdir()) == ["secrets.yaml"]
        _tmux("send-keys", ":q", "Enter")
        while time.monotonic() < deadline and not watcher.exists():
            time.sleep(0.05)
        assert watcher.read_text().strip() == "exit=0"
    finally:
        _tmux("kill-server")
        leftovers = list(runtime.iterdir())
        shutil.rmtree(runtime)
    assert leftovers == []
    assert changed_keys(before, target.read_bytes()) in (
        ["lastmodified", "mac", "password"],
        ["mac", "password"],
    )
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN.replace(OLD, NEW))
    assert not (isolated_env / ".viminfo").exists()


@pytest.mark.interop
def test_ctrl_c_at_the_prompt_in_a_terminal(sops: Sops, tmp_path: Path, isolated_env: Path) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("SECRETSCTL_REQUIRE_VIM"):
            pytest.fail("tmux is needed (apt-get install tmux)")
        pytest.skip("tmux is missing")
    target = sops_file(sops, tmp_path)
    before = target.read_bytes()
    editor = make_editor(tmp_path, 'open(path, "wb").write(b"a: [\\n")\n')
    watcher = tmp_path / "watch"
    command = (
        f"env -i PATH={os.environ['PATH']} HOME={isolated_env} TERM=xterm"
        f" SOPS_AGE_KEY_FILE={sops.key.key_file} SOPS_EDITOR={editor}"
        f" EDIT_RECORD={tmp_path / 'record.json'} {SECRETSCTL} edit {target};"
        f" echo exit=$? > {watcher}; sleep 30"
    )
    _tmux("new-session", "-d", "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "Press Enter" not in _tmux("capture-pane", "-p"):
            time.sleep(0.05)
        _tmux("send-keys", "C-c")
        while time.monotonic() < deadline and not watcher.exists():
            time.sleep(0.05)
        screen = _tmux("capture-pane", "-p")
    finally:
        _tmux("kill-server")
    assert watcher.read_text().strip() == f"exit={ExitCode.KEYBOARD_INTERRUPT}"
    assert "interrupted by SIGINT" in screen
    (seen,) = records(tmp_path)
    assert not os.path.exists(os.path.dirname(seen["path"]))
    assert target.read_bytes() == before


@pytest.mark.interop
def test_real_nvim_leaves_no_undo_backup_or_shada(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    if shutil.which("nvim") is None:
        if os.environ.get("SECRETSCTL_REQUIRE_VIM"):
            pytest.fail("nvim is needed (apt-get install neovim)")
        pytest.skip("nvim is missing")
    target = sops_file(sops, tmp_path)
    home = tmp_path / "nvim-home"
    (home / "config" / "nvim").mkdir(parents=True)
    # The user's own init asks for every file that would keep a copy of the plaintext.
    (home / "config" / "nvim" / "init.vim").write_text("set swapfile undofile backup writebackup\n")
    env = {
        "SOPS_AGE_KEY_FILE": str(sops.key.key_file),
        "SOPS_EDITOR": "nvim --headless -c '%s/pw-old-1234/pw-new-5678/' -c wq",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    result = secretsctl("edit", str(target), env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert digest(sops.run("decrypt", str(target)).stdout) == digest(PLAIN.replace(OLD, NEW))
    kept = [p for p in home.rglob("*") if p.is_file() and "log" not in p.name]
    assert kept == [home / "config" / "nvim" / "init.vim"]
