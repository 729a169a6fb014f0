"""systemd/ci-keyboard-leds.service: the original's ordering and restart policy, and verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from secretsctl.leds.cli import DEFAULT_ENV_FILE
from tests.conftest import REPO
from tests.leds.daemon_support import CI_KEYBOARD_LEDS

UNIT = REPO / "systemd" / "ci-keyboard-leds.service"


def directives() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            assert key not in found, f"{key} is set twice"
            found[key] = value
    return found


def test_the_unit_keeps_the_original_ordering_and_restart_policy() -> None:
    unit = directives()
    assert unit["Description"] == "Monitor CI status and update keyboard LEDs"
    assert unit["PartOf"] == "hyprland-session.target"
    assert unit["WantedBy"] == "hyprland-session.target"
    assert unit["After"].split() == ["hyprland-session.target", "razerdaemon.service"]
    assert unit["Restart"] == "always"
    assert unit["RestartSec"] == "5"
    assert unit["PassEnvironment"].split() == ["HYPRLAND_INSTANCE_SIGNATURE", "XDG_RUNTIME_DIR"]
    assert unit["ExecStart"].split()[1:] == ["run"]
    assert "PrivateTmp" not in unit  # the Razer socket is in the real /tmp


def test_the_environment_file_is_optional_and_the_daemons_default() -> None:
    assert directives()["EnvironmentFile"] == f"-{DEFAULT_ENV_FILE}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_the_unit_passes_systemd_analyze_verify_user(tmp_path: Path) -> None:
    unit = tmp_path / "ci-keyboard-leds.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/ci-keyboard-leds", CI_KEYBOARD_LEDS))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    check = subprocess.run(
        ["systemd-analyze", "verify", "--user", str(unit)],
        capture_output=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)},
    )
    assert check.returncode == 0, check.stderr.decode()
    assert check.stderr == b"", check.stderr.decode()
