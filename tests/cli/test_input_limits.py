"""Hostile input through the console script: alias bombs, deep nesting, endless and oversized
input. Each is one `secretsctl: error:` line (plus hints or the problem list), a documented
exit code, no traceback and nothing changed on disk.

Every run has its address space bounded (tests/memory_support.py) and a timeout as a hang
guard, so a regression fails instead of eating the machine or hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from secretsctl.limits import MAX_INPUT_BYTES_ENV, MAX_NESTING_DEPTH
from tests.activate_support import in_private_namespace, require_root, tree_listing
from tests.cli.test_render import Setup, make_cli, setup
from tests.conftest import REPO, SECRETSCTL
from tests.memory_support import memory_limited
from tests.property.test_decrypt_fuzz import documented_exit_codes

__all__ = ["setup"]  # the fixture of test_render.py

EXAMPLE = REPO / "examples" / "secrets.yaml"
DEMO_KEY = REPO / "examples" / "demo-age-key.txt"
TOO_DEEP = f"the document is nested more than {MAX_NESTING_DEPTH} levels deep"
TOO_MANY_ALIASES = "the document expands too much through aliases"


def alias_bomb() -> bytes:
    """The report's 2 KB file: nine levels of nine aliases, no sops metadata needed."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}_unencrypted: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def run(
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The console script with a bounded address space and a hang guard."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ["HOME"],
        "SOPS_AGE_KEY_FILE": str(DEMO_KEY),
        **(env or {}),
    }
    if "PYTHONPATH" in os.environ:  # a run against another checkout of the package
        full_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        memory_limited([SECRETSCTL, *args]),
        input=input if input is not None else b"",
        capture_output=True,
        env=full_env,
        cwd=cwd,
        check=False,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def one_error(done: subprocess.CompletedProcess[str], code: int) -> list[str]:
    """Check the shape of a refusal; return its stderr lines."""
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    assert done.stdout == ""
    assert done.returncode == code, done.stderr
    assert done.returncode in documented_exit_codes()
    assert lines[0].startswith("secretsctl: error: ")
    assert all(not line.startswith("secretsctl: error:") for line in lines[1:])
    return lines


# --- decrypt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("comment", [False, True], ids=["events", "comments"])
def test_decrypt_refuses_an_alias_bomb(tmp_path: Path, comment: bool) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_bytes((b"# c\n" if comment else b"") + alias_bomb())
    lines = one_error(run("decrypt", str(bomb)), ExitCode.COULD_NOT_READ_INPUT_FILE)
    line = 5 if comment else 4
    assert lines == [f"secretsctl: error: {bomb}: yaml: line {line}: {TOO_MANY_ALIASES}"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("flow.yaml", b"a: " + b"[" * 1_000_000 + b"\n"),
        ("compact.yaml", b"a:\n  " + b"- " * 1_000_000 + b"x\n"),
        ("deep.json", b'{"a": ' + b"[" * 1_000_000),
    ],
)
def test_decrypt_refuses_deep_nesting_at_once(tmp_path: Path, name: str, text: bytes) -> None:
    """A million levels: libyaml's scan was quadratic (100,000 took 17 s); now it stops at
    the limit. The run's timeout is only a hang guard."""
    path = tmp_path / name
    path.write_bytes(text)
    lines = one_error(run("decrypt", str(path)), ExitCode.COULD_NOT_READ_INPUT_FILE)
    assert len(lines) == 1
    assert lines[0].startswith(f"secretsctl: error: {path}: ")
    assert lines[0].endswith(TOO_DEEP)


def test_decrypt_refuses_endless_input() -> None:
    lines = one_error(run("decrypt", "/dev/zero"), ExitCode.COULD_NOT_READ_INPUT_FILE)
    assert lines == [
        "secretsctl: error: /dev/zero: larger than the input limit of 67108864 bytes",
        f"secretsctl: hint: to read it anyway, raise the limit with {MAX_INPUT_BYTES_ENV}=<bytes>",
    ]


def test_oversized_files_and_stdin_are_refused_below_the_limit_setting(tmp_path: Path) -> None:
    size = EXAMPLE.stat().st_size
    small = {MAX_INPUT_BYTES_ENV: str(size - 1)}
    assert (
        run("decrypt", "--force", str(EXAMPLE), env={MAX_INPUT_BYTES_ENV: str(size)}).returncode
        == 0
    )
    code = ExitCode.COULD_NOT_READ_INPUT_FILE
    lines = one_error(run("decrypt", str(EXAMPLE), env=small), code)
    assert (
        lines[0] == f"secretsctl: error: {EXAMPLE}: larger than the input limit of {size - 1} bytes"
    )
    data = EXAMPLE.read_bytes()
    for args in (
        ("decrypt", "--input-type", "yaml", "-"),
        (
            "encrypt",
            "--input-type",
            "yaml",
            "--age",
            "age1p0x2f5lk4jd9x3psdyxtvpgmjgtkk54j5gg2vsr307psslasevxqhre3ty",
            "-",
        ),
        ("ssh-to-age",),
    ):
        lines = one_error(run(*args, env=small, input=data), code)
        assert lines[0].startswith("secretsctl: error: <stdin>: larger than the input limit"), args
    copy = tmp_path / "secrets.yaml"
    copy.write_bytes(data)
    before = copy.read_bytes()
    for args in (
        ("set", str(copy), '["github_token"]', "--value-stdin"),
        ("set", str(copy), '["github_token"]', '"x"'),
        ("unset", str(copy), '["github_token"]'),
        ("rotate", "--in-place", str(copy)),
    ):
        lines = one_error(run(*args, env=small, input=data), code)
        assert "larger than the input limit" in lines[0], args
    assert copy.read_bytes() == before


def test_sops_yaml_is_bounded_too(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_bytes(alias_bomb())
    plain = tmp_path / "plain.yaml"
    plain.write_text("a: b\n")
    done = run("encrypt", str(plain), cwd=tmp_path)
    lines = one_error(done, ExitCode.ERROR_READING_CONFIG)
    assert lines == [f"secretsctl: error: {tmp_path}/.sops.yaml: yaml: line 4: {TOO_MANY_ALIASES}"]
    (tmp_path / ".sops.yaml").write_text("creation_rules: " + "[" * 1_000_000 + "\n")
    lines = one_error(run("encrypt", str(plain), cwd=tmp_path), ExitCode.ERROR_READING_CONFIG)
    assert lines == [f"secretsctl: error: {tmp_path}/.sops.yaml: yaml: line 1: {TOO_DEEP}"]


# --- render and activate ---------------------------------------------------------------------

CONFIG = """\
defaults:
  sops_file: secrets.yaml
  age_key_file: keys.txt
secrets:
  api_token: {}
"""


def test_render_dry_run_refuses_an_alias_bomb_as_its_sops_file(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "secretsctl.yaml").write_text(CONFIG)
    (folder / "keys.txt").write_bytes(DEMO_KEY.read_bytes())
    (folder / "secrets.yaml").write_bytes(alias_bomb())
    root = tmp_path / "root"
    done = run("render", "--dry-run", "-m", str(folder / "secretsctl.yaml"), "--root", str(root))
    lines = one_error(done, ExitCode.COULD_NOT_READ_INPUT_FILE)
    assert lines == [
        "secretsctl: error: 1 problem found; nothing was changed",
        f"  {folder}/secretsctl.yaml:5:3: secrets.api_token.sops_file: {folder}/secrets.yaml:"
        f" yaml: line 4: {TOO_MANY_ALIASES}",
    ]
    assert not root.exists(), "a dry run wrote something"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bomb", alias_bomb().decode().replace("_unencrypted", ""), f"4:10: {TOO_MANY_ALIASES}"),
        ("deep", "secrets: " + "[" * 1_000_000 + "\n", f"1:265: {TOO_DEEP}"),
        ("oversized", CONFIG + "#" * 100, "larger than the input limit of 100 bytes"),
    ],
)
def test_render_refuses_a_hostile_configuration(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    config = tmp_path / f"{name}.yaml"
    config.write_text(text)
    root = tmp_path / "root"
    env = {MAX_INPUT_BYTES_ENV: "100"} if name == "oversized" else {}
    for command in (("render", "--dry-run"), ("render",), ("activate",), ("check",)):
        done = run(*command, "-m", str(config), "--root", str(root), env=env)
        lines = one_error(done, ExitCode.ERROR_READING_CONFIG)
        separator = ": " if name == "oversized" else ":"
        assert lines[0] == f"secretsctl: error: {config}{separator}{message}", command
    assert not root.exists(), "something was written"


def test_activate_refuses_an_alias_bomb_and_keeps_the_live_generation(
    setup: Setup, tmp_path: Path
) -> None:
    """Boot path: a sops file replaced by an alias bomb changes nothing that is live."""
    require_root()
    setup.config.write_text(CONFIG)
    cli = make_cli(tmp_path)
    lock = str(setup.runtime("/run/secretsctl.lock"))

    def body() -> None:
        first = cli("activate", *setup.args())
        assert first.returncode == 0, first.stderr
        before = tree_listing(setup.root, exclude=(lock,))
        setup.sops_file.write_bytes(alias_bomb())
        for command in (("activate",), ("render",), ("render", "--dry-run")):
            done = subprocess.run(
                memory_limited([SECRETSCTL, *command, *setup.args()]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=cli.env,
                check=False,
                timeout=60,
            )
            lines = one_error(done, ExitCode.COULD_NOT_READ_INPUT_FILE)
            assert lines[1].endswith(f"{setup.sops_file}: yaml: line 4: {TOO_MANY_ALIASES}")
        assert tree_listing(setup.root, exclude=(lock,)) == before, "a refused run changed files"
        assert os.readlink(setup.live) == str(setup.mount_point / "1")

    in_private_namespace(body)
