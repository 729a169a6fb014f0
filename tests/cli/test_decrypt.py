"""`secretsctl decrypt`: output as sops prints it, exit codes as sops's, nothing leaked."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SECRETSCTL, Runner, Sops

EXAMPLE = REPO / "examples" / "secrets.yaml"
DEMO_KEY = REPO / "examples" / "demo-age-key.txt"
DEMO_ENV = {"SOPS_AGE_KEY_FILE": str(DEMO_KEY)}
EXPECTED_EXAMPLE = (
    b"# Secrets of the machine secretsctl was made for. DEMO VALUES: they grant nothing.\n"
    b"github_token: demo-github-token-0000000000000000000000\n"
    b"telegram_bot_token: 000000000:DEMO-telegram-bot-token-not-real\n"
)


def test_decrypts_the_bundled_example(secretsctl: Runner) -> None:
    result = secretsctl("decrypt", str(EXAMPLE), env=DEMO_ENV)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == EXPECTED_EXAMPLE
    assert result.stderr == b""


def test_extract_prints_a_string_without_newline(secretsctl: Runner) -> None:
    result = secretsctl("decrypt", "--extract", '["github_token"]', str(EXAMPLE), env=DEMO_ENV)
    assert result.returncode == 0
    assert result.stdout == b"demo-github-token-0000000000000000000000"


@pytest.mark.parametrize(("fmt", "expected"), [("json", b'{\n\t"github_token": "demo-github'),
                                               ("dotenv", b"github_token=demo-github")])
def test_output_type(secretsctl: Runner, fmt: str, expected: bytes) -> None:
    result = secretsctl("decrypt", "--output-type", fmt, str(EXAMPLE), env=DEMO_ENV)
    assert result.returncode == 0, result.stderr.decode()
    assert expected in result.stdout


def test_output_file_is_private(secretsctl: Runner, tmp_path: Path) -> None:
    target = tmp_path / "plain.yaml"
    result = secretsctl("decrypt", "--output", str(target), str(EXAMPLE), env=DEMO_ENV)
    assert result.returncode == 0 and result.stdout == b""
    assert target.read_bytes() == EXPECTED_EXAMPLE
    assert target.stat().st_mode & 0o777 == 0o600


def _decrypt_on_a_terminal(tmp_path: Path, extra_env: dict[str, str]) -> tuple[int, bytes, bytes]:
    controller, terminal = pty.openpty()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **DEMO_ENV, **extra_env}
    proc = subprocess.run([SECRETSCTL, "decrypt", str(EXAMPLE)], stdout=terminal,
                          stderr=subprocess.PIPE, env=env, check=False)  # fmt: skip
    os.close(terminal)
    os.set_blocking(controller, False)
    try:
        shown = os.read(controller, 4096)
    except (BlockingIOError, OSError):
        shown = b""
    os.close(controller)
    return proc.returncode, shown, proc.stderr


def test_prints_plaintext_on_a_terminal_as_sops_does(tmp_path: Path) -> None:
    returncode, shown, _ = _decrypt_on_a_terminal(tmp_path, {})
    assert returncode == 0
    assert b"demo-github" in shown, "plaintext not shown"


def test_refuses_plaintext_on_a_terminal_when_asked(tmp_path: Path) -> None:
    refuse = {"SECRETSCTL_REFUSE_TERMINAL": "1"}
    returncode, shown, stderr = _decrypt_on_a_terminal(tmp_path, refuse)
    assert returncode == 8
    assert b"demo-github" not in shown
    assert b"secretsctl: error: refusing to print decrypted secrets to a terminal" in stderr
    assert b"--force" in stderr


def test_wrong_key_exit_128_lists_recipients_and_locations(secretsctl: Runner, age_key) -> None:  # type: ignore[no-untyped-def]
    result = secretsctl("decrypt", str(EXAMPLE), env={"SOPS_AGE_KEY_FILE": str(age_key.key_file)})
    assert result.returncode == 128
    assert result.stdout == b""
    err = result.stderr.decode()
    assert err.startswith("secretsctl: error: ")
    assert "age1p0x2f5lk4jd9x3psdyxtvpgmjgtkk54j5gg2vsr307psslasevxqhre3ty" in err
    assert "SOPS_AGE_KEY_FILE" in err
    assert "Traceback" not in err
    assert age_key.identity not in err


def test_no_key_at_all_exit_128(secretsctl: Runner) -> None:
    result = secretsctl("decrypt", str(EXAMPLE))
    assert result.returncode == 128
    assert result.stdout == b""
    assert "keys.txt" in result.stderr.decode()


def test_missing_file_exit_100(secretsctl: Runner, tmp_path: Path) -> None:
    result = secretsctl("decrypt", str(tmp_path / "nope.yaml"), env=DEMO_ENV)
    assert result.returncode == 100
    assert result.stderr.decode().count("\n") <= 2


def test_not_a_sops_file(secretsctl: Runner, tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("a: 1\n")
    result = secretsctl("decrypt", str(plain), env=DEMO_ENV)
    assert result.returncode == 1
    assert b"sops metadata not found" in result.stderr
    assert result.stdout == b""


def test_malformed_yaml_exit_1_as_sops(secretsctl: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n  b: {")
    result = secretsctl("decrypt", str(bad), env=DEMO_ENV)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"secretsctl: error: ")


def test_bad_extract_path_exit_91(secretsctl: Runner) -> None:
    result = secretsctl("decrypt", "--extract", "hello", str(EXAMPLE), env=DEMO_ENV)
    assert result.returncode == 91
    assert result.stdout == b""


def test_stdin_needs_a_type(secretsctl: Runner) -> None:
    result = secretsctl("decrypt", input=EXAMPLE.read_bytes(), env=DEMO_ENV)
    assert result.returncode == 8
    result = secretsctl("decrypt", "--input-type", "yaml", input=EXAMPLE.read_bytes(), env=DEMO_ENV)
    assert result.returncode == 0 and result.stdout == EXPECTED_EXAMPLE


@pytest.mark.interop
def test_same_bytes_as_sops_for_the_example(sops: Sops, secretsctl: Runner) -> None:
    theirs = sops.run("decrypt", str(EXAMPLE), env=DEMO_ENV)
    ours = secretsctl("decrypt", str(EXAMPLE), env=DEMO_ENV)
    assert theirs.returncode == ours.returncode == 0
    assert ours.stdout == theirs.stdout
