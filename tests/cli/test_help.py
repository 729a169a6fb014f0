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
        "COMP_WORDS=(secretsctl keyg); COMP_CWORD=1; _secretsctl_completion secretsctl\n"
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


@pytest.mark.parametrize("command", ["render", "activate", "check", "status", "rollback"])
def test_config_on_an_activation_command_points_to_manifest(
    secretsctl: Runner, command: str
) -> None:
    """-c/--config means .sops.yaml (sops's meaning); what to install is -m/--manifest."""
    done = secretsctl(command, "-c", "setup.yaml")
    assert done.returncode == 8
    assert done.stderr.decode().splitlines() == [
        "secretsctl: error: the activation commands take what to install as -m/--manifest"
        " FILE; --config names .sops.yaml, for the sops commands only",
        f"secretsctl: hint: secretsctl {command} --manifest setup.yaml",
    ]


def test_manifest_reads_either_format(secretsctl: Runner, tmp_path: object) -> None:
    """A *.json file is sops-nix's manifest.json; anything else is a secretsctl.yaml."""
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "m.json").write_text('{"secrets": [], "templates": []}\n')
    (folder / "m.yaml").write_text('{"secrets": [], "templates": []}\n')
    as_json = secretsctl("check", "-m", str(folder / "m.json"))
    as_yaml = secretsctl("check", "-m", str(folder / "m.yaml"))
    assert (as_json.returncode, as_yaml.returncode) == (5, 5)
    assert b"m.json: secretsMountPoint: must be an absolute path" in as_json.stderr
    assert b"m.yaml:1:13: secrets: expected a mapping of names" in as_yaml.stderr


@pytest.mark.parametrize(
    "command",
    ["decrypt", "encrypt", "edit", "set", "unset", "updatekeys", "rotate", "render", "activate",
     "check", "status", "rollback", "unit", "keygen"],
)
def test_every_command_s_help_has_an_example(secretsctl: Runner, command: str) -> None:
    text = secretsctl(command, "--help").stdout.decode()
    assert re.search(r"\n  Examples?.*:\n    secretsctl ", text), f"{command} --help has no example"


@pytest.mark.parametrize(
    "argv",
    [["leds", "hook", "--help"], ["leds", "run", "--help"], ["leds", "status", "--help"],
     ["keygen", "--help"], ["render", "--help"], ["--help"]],
)
def test_no_help_shows_click_s_markers(secretsctl: Runner, argv: list[str]) -> None:
    """A raw docstring once showed click's \\b paragraph marker as text."""
    text = secretsctl(*argv).stdout.decode()
    assert "\\b" not in text and "\b" not in text
