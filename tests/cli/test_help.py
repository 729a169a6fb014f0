"""`secretsctl --help`: commands in sections, examples, and shell completion that works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from secretsctl.cli.root import COMMAND_SECTIONS, cli
from tests.conftest import SECRETSCTL, Runner


def test_every_command_is_listed_once_in_its_section(secretsctl: Runner) -> None:
    done = secretsctl("--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    titles = [title for title, _ in COMMAND_SECTIONS]
    assert [line[:-1] for line in text.splitlines() if line[:-1] in titles] == titles
    listed = re.findall(r"^  ([a-z][a-z-]*) {2,}\S", text, flags=re.MULTILINE)
    sectioned = [name for _, names in COMMAND_SECTIONS for name in names]
    assert listed == sectioned
    assert sorted(sectioned) == sorted(cli.list_commands(None)), "a command has no section"  # type: ignore[arg-type]


def test_help_shows_examples_and_how_to_install_completion(secretsctl: Runner) -> None:
    text = secretsctl("--help").stdout.decode()
    assert "Examples:\n    secretsctl keygen -o ~/.config/sops/age/keys.txt\n" in text
    for shell in ("bash", "zsh", "fish"):
        assert f"_SECRETSCTL_COMPLETE={shell}_source secretsctl" in text


@pytest.mark.parametrize("command", ["keygen", "leds"])
def test_commands_have_their_own_help(secretsctl: Runner, command: str) -> None:
    done = secretsctl(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: secretsctl {command} ".encode())


def test_bash_completion_as_the_help_says(tmp_path: object) -> None:
    """The help's bash line, sourced by a real bash, completes command names and options."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    folder = os.path.dirname(SECRETSCTL)
    script = (
        'eval "$(_SECRETSCTL_COMPLETE=bash_source secretsctl)"\n'
        "COMP_WORDS=(secretsctl ke); COMP_CWORD=1; _secretsctl_completion secretsctl\n"
        'echo "${COMPREPLY[@]}"\n'
        "COMPREPLY=(); COMP_WORDS=(secretsctl render --dry); COMP_CWORD=2; _secretsctl_completion secretsctl\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        capture_output=True,
        env={"PATH": f"{folder}:{os.environ.get('PATH', '/usr/bin:/bin')}"},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == ["keygen", "--dry-run"]
