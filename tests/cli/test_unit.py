"""`secretsctl unit`: the boot unit names the installed program and passes systemd's checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SECRETSCTL, Runner


def test_unit_names_the_installed_program_and_config(secretsctl: Runner, tmp_path: Path) -> None:
    result = secretsctl("unit", "--manifest", str(tmp_path / "conf.yaml"))
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert f"ExecStart={SECRETSCTL} activate --manifest {tmp_path / 'conf.yaml'}\n" in text
    assert f"RequiresMountsFor={tmp_path} /var/lib/secretsctl\n" in text
    for line in ("Type=oneshot", "RemainAfterExit=yes", "DefaultDependencies=no",
                 "Before=sysinit.target shutdown.target", "WantedBy=sysinit.target"):
        assert f"{line}\n" in text, line
    assert "After=local-fs.target systemd-sysusers.service" in text


def test_repository_unit_is_the_packaged_one() -> None:
    shipped = REPO / "systemd" / "secretsctl-activate.service"
    packaged = REPO / "secretsctl" / "units" / "secretsctl-activate.service"
    assert shipped.read_bytes() == packaged.read_bytes()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(secretsctl: Runner, tmp_path: Path) -> None:
    unit = tmp_path / "secretsctl-activate.service"
    unit.write_bytes(secretsctl("unit").stdout)
    check = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, check=False)
    assert check.returncode == 0, check.stderr.decode()
    assert check.stderr == b""
