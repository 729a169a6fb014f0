"""`secretsctl decrypt`, `exec-env` and `exec-file` without click behave exactly as through click.

Each case runs the console script (which takes the click-free fast path for the plain
spellings) and a process that always parses with click, in two copies of the same folder, and
compares stdout, stderr, the exit code, and the files left behind. The error cases cover every
way decrypt fails: usage, a missing or unreadable file, a wrong or missing key, a tampered
value or MAC, a bad ``--extract`` path, a bad ``.sops.yaml``, a write that cannot happen, and a
terminal refused with ``SECRETSCTL_REFUSE_TERMINAL``; the exec cases cover FILE and COMMAND
(an option after FILE belongs to COMMAND), the exit status, ``--same-process``, ``--user``,
fifo and file, and a refused ``--filename``.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pyrage
import pytest

from secretsctl.cli import fastpath
from tests.conftest import FAST_PATH_PROBE, REPO, SECRETSCTL, fast_path_probe

EXAMPLE = REPO / "examples" / "secrets.yaml"
DEMO_KEY = REPO / "examples" / "demo-age-key.txt"
# The same process as the console script, with the fast path left out.
CLICK_ONLY = (
    "import sys; from secretsctl.cli import run_process; from secretsctl.cli.root import run;"
    " run_process(lambda: run(sys.argv[1:]))"
)


class Outcome(NamedTuple):
    """What one run left: exit code, output streams, and every file in its folder."""

    returncode: int
    stdout: bytes
    stderr: bytes
    files: dict[str, tuple[bytes, int]]


# A valid identity that opens none of the files (one for the whole module: both runs of a
# case must see the same key).
WRONG_KEY = f"{pyrage.x25519.Identity.generate()}\n"


def make_folder(folder: Path) -> None:
    """The inputs every case can name, relative to its folder."""
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "s.yaml")
    shutil.copy(DEMO_KEY, folder / "keys.txt")
    text = EXAMPLE.read_text()
    value = text.split("github_token: ENC[AES256_GCM,data:")[1][:8]
    (folder / "tampered-value.yaml").write_text(text.replace(value, value[::-1], 1))
    mac = text.split("mac: ENC[AES256_GCM,data:")[1][:8]
    (folder / "tampered-mac.yaml").write_text(text.replace(mac, mac[::-1], 1))
    (folder / "plain.yaml").write_text("a: b\n")
    (folder / "empty.yaml").write_bytes(b"")
    (folder / "dir").mkdir()
    (folder / "bad-sops.yaml").write_text("creation_rules: [\n")
    (folder / "wrong-keys.txt").write_text(WRONG_KEY)
    (folder / "malformed-keys.txt").write_text(
        "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSRP9V7E\n"
    )
    (folder / "locked.yaml").write_bytes(EXAMPLE.read_bytes())
    (folder / "locked.yaml").chmod(0)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(folder))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return files


def run(command: list[str], folder: Path, env: dict[str, str], stdin: bytes | None) -> Outcome:
    # PYTHONPATH: the package beside these tests, not the one the venv has installed.
    full_env = {"PATH": os.environ["PATH"], "HOME": str(folder), "PYTHONPATH": str(REPO), **env}
    proc = subprocess.run(
        command, cwd=folder, env=full_env, input=stdin, capture_output=True, check=False
    )
    # Messages name the folder (HOME's key file, say); the two runs have two folders.
    stderr = proc.stderr.replace(bytes(folder), b"<folder>")
    return Outcome(proc.returncode, proc.stdout, stderr, snapshot(folder))


KEY = {"SOPS_AGE_KEY_FILE": "keys.txt"}
# (argv, environment, stdin, whether the fast path takes it)
CASES: list[tuple[list[str], dict[str, str], bytes | None, bool]] = [
    (["decrypt", "s.yaml"], KEY, None, True),
    (["-q", "decrypt", "s.yaml"], KEY, None, True),
    (["--debug", "decrypt", "s.yaml"], KEY, None, True),
    (["decrypt", "--extract", '["github_token"]', "s.yaml"], KEY, None, True),
    (["decrypt", '--extract=["nope"]', "s.yaml"], KEY, None, True),
    (["decrypt", "--extract", "not a path", "s.yaml"], KEY, None, True),
    (["decrypt", "--output-type", "json", "s.yaml"], KEY, None, True),
    (["decrypt", "s.yaml", "--output-type=dotenv"], KEY, None, True),
    (["decrypt", "--output-type", "ini", "s.yaml"], KEY, None, True),
    (["decrypt", "--input-type", "json", "s.yaml"], KEY, None, True),
    (["decrypt", "--filename-override", "x.json", "s.yaml"], KEY, None, True),
    (["decrypt", "--output", "out.yaml", "s.yaml"], KEY, None, True),
    (["decrypt", "--output", "missing/out.yaml", "s.yaml"], KEY, None, True),
    (["decrypt", "--output", "dir", "s.yaml"], KEY, None, False),
    (["decrypt", "-i", "s.yaml"], KEY, None, True),
    (["decrypt", "-i", "--output", "out.yaml", "s.yaml"], KEY, None, True),
    (["decrypt", "missing.yaml"], KEY, None, True),
    (["decrypt", "dir"], KEY, None, False),
    (["decrypt", "locked.yaml"], KEY, None, True),
    (["decrypt", "empty.yaml"], KEY, None, True),
    (["decrypt", "plain.yaml"], KEY, None, True),
    (["decrypt", "tampered-value.yaml"], KEY, None, True),
    (["decrypt", "tampered-mac.yaml"], KEY, None, True),
    (["decrypt", "--ignore-mac", "tampered-mac.yaml"], KEY, None, True),
    (["decrypt", "s.yaml"], {}, None, True),
    (["decrypt", "s.yaml"], {"SOPS_AGE_KEY_FILE": "wrong-keys.txt"}, None, True),
    (["decrypt", "s.yaml"], {"SOPS_AGE_KEY_FILE": "malformed-keys.txt"}, None, True),
    (["decrypt", "s.yaml"], {"SOPS_AGE_KEY_FILE": "missing.txt"}, None, True),
    (["decrypt", "--config", "bad-sops.yaml", "s.yaml"], KEY, None, True),
    (["decrypt", "s.yaml"], {**KEY, "SOPS_CONFIG": "bad-sops.yaml"}, None, True),
    (["decrypt", "s.yaml"], {**KEY, "SOPS_CONFIG": "dir"}, None, False),
    (["decrypt", "--config", "missing.yaml", "s.yaml"], KEY, None, True),
    (["decrypt"], KEY, EXAMPLE.read_bytes(), True),
    (["decrypt", "--input-type", "yaml"], KEY, EXAMPLE.read_bytes(), True),
    (["decrypt", "-"], KEY, EXAMPLE.read_bytes(), False),
    (["decrypt", "s.yaml", "s.yaml"], KEY, None, False),
    (["decrypt", "--input-type", "toml", "s.yaml"], KEY, None, False),
    (["decrypt", "s.yaml"], {**KEY, "SOPS_KEYSERVICE": "unix:///nowhere.sock"}, None, True),
    (["decrypt", "s.yaml"], {**KEY, "SOPS_ENABLE_LOCAL_KEYSERVICE": "maybe"}, None, True),
    (["decrypt", "--disable-local-keyservice", "s.yaml"], KEY, None, False),
    # exec-env and exec-file: FILE and COMMAND are every word from the first that is no option.
    (["exec-env", "s.yaml", 'test -n "$github_token" && echo set'], KEY, None, True),
    (["exec-env", "--pristine", "s.yaml", "env | cut -d= -f1 | sort"], KEY, None, True),
    (["exec-env", "s.yaml", "exit 3"], KEY, None, True),
    (["exec-env", "s.yaml"], KEY, None, True),
    (["exec-env", "s.yaml", "true", "extra"], KEY, None, True),
    (["exec-env", "missing.yaml", "true"], KEY, None, True),
    (["exec-env", "tampered-mac.yaml", "true"], KEY, None, True),
    (["exec-env", "s.yaml", "--pristine"], KEY, None, True),
    (["exec-env", "--background", "--same-process", "s.yaml", "true"], KEY, None, True),
    (["exec-env", "--same-process", "s.yaml", "echo replaced"], KEY, None, True),
    (["exec-env", "--input-type", "json", "s.yaml", "true"], KEY, None, True),
    (["exec-env", "--user", "root", "s.yaml", "id -u"], KEY, None, True),
    (["exec-env", "--enable-local-keyservice=false", "s.yaml", "true"], KEY, None, False),
    (["exec-env", "s.yaml", "--enable-local-keyservice=false"], KEY, None, False),
    (["exec-env", "--", "s.yaml", "true"], KEY, None, False),
    (["exec-file", "s.yaml", "wc -c < {}"], KEY, None, True),
    (
        ["exec-file", "--no-fifo", "--output-type", "json", "s.yaml", "test -s {} && echo ok"],
        KEY,
        None,
        True,
    ),
    (["exec-file", "--filename", "../x", "s.yaml", "true"], KEY, None, True),
    (["exec-file", "s.yaml", "cat {}"], {}, None, True),
]


@pytest.mark.parametrize(
    ("argv", "env", "stdin", "fast"),
    CASES,
    ids=[" ".join([*case[0], *sorted(case[1])]) for case in CASES],
)
def test_decrypt_and_exec_are_the_same_with_and_without_click(
    argv: list[str],
    env: dict[str, str],
    stdin: bytes | None,
    fast: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("fast", "click"):
        make_folder(tmp_path / name)
    monkeypatch.chdir(tmp_path / "fast")
    assert (fastpath.parse(argv, env) is not None) == fast, "the fast path's choice changed"
    through_fast = run([str(SECRETSCTL), *argv], tmp_path / "fast", env, stdin)
    through_click = run([sys.executable, "-c", CLICK_ONLY, *argv], tmp_path / "click", env, stdin)
    assert through_fast.returncode == through_click.returncode, "exit codes differ"
    assert through_fast.stderr == through_click.stderr, "stderr differs"
    assert through_fast.stdout == through_click.stdout, "stdout differs"
    assert through_fast.files == through_click.files, "the files left behind differ"


def on_a_terminal(command: list[str], folder: Path, env: dict[str, str]) -> tuple[int, bytes]:
    controller, terminal = pty.openpty()
    full_env = {"PATH": os.environ["PATH"], "HOME": str(folder), "PYTHONPATH": str(REPO), **KEY,
                **env}  # fmt: skip
    proc = subprocess.run(command, cwd=folder, stdout=terminal, stderr=subprocess.PIPE,
                          env=full_env, check=False)  # fmt: skip
    os.close(terminal)
    os.set_blocking(controller, False)
    shown = b""
    try:
        while chunk := os.read(controller, 65536):
            shown += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(controller)
    return proc.returncode, proc.stderr + b"|" + shown


@pytest.mark.parametrize(
    "env", [{}, {"SECRETSCTL_REFUSE_TERMINAL": "1"}], ids=["terminal", "refused terminal"]
)
@pytest.mark.parametrize("extra", [[], ["--force"]], ids=["", "--force"])
def test_a_terminal_is_treated_the_same_with_and_without_click(
    env: dict[str, str], extra: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_folder(tmp_path / "folder")
    monkeypatch.chdir(tmp_path / "folder")
    argv = ["decrypt", *extra, "s.yaml"]
    assert fastpath.parse(argv, env) is not None
    through_fast = on_a_terminal([str(SECRETSCTL), *argv], tmp_path / "folder", env)
    through_click = on_a_terminal(
        [sys.executable, "-c", CLICK_ONLY, *argv], tmp_path / "folder", env
    )
    assert through_fast == through_click, "the terminal saw different things"


# exec runs a child, so it has subprocess and signal (and their re and enum); still not these.
EXEC_NOT_LOADED = ("click", "typing", "shutil", "pathlib", "dataclasses", "hashlib", "inspect")


@pytest.mark.parametrize(
    "argv",
    [["exec-env", "s.yaml", 'test -n "$github_token"'], ["exec-file", "s.yaml", "test -p {}"]],
    ids=["exec-env", "exec-file"],
)
def test_exec_on_the_fast_path_imports_neither_click_nor_typing(
    argv: list[str], tmp_path: Path
) -> None:
    make_folder(tmp_path / "folder")
    probe = [sys.executable, "-c", fast_path_probe(EXEC_NOT_LOADED), *argv]
    result = run(probe, tmp_path / "folder", KEY, None)
    assert result.returncode == 0, "the command failed"
    # The command exited (SystemExit), so the fast path returned nothing: None.
    assert result.stderr == b"(None, [])", result.stderr.decode()


def test_the_fast_path_imports_nothing_heavy(tmp_path: Path) -> None:
    make_folder(tmp_path / "folder")
    probe = [sys.executable, "-c", FAST_PATH_PROBE, "decrypt", "s.yaml"]
    result = run(probe, tmp_path / "folder", KEY, None)
    assert result.returncode == 0
    # stderr holds only the probe's line (stdout, the plaintext, is never shown).
    assert result.stderr == b"(True, [])", result.stderr.decode()
