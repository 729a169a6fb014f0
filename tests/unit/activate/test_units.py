"""units: systemctl calls as sops-nix makes them, batched LoadState checks, NixOS list files."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretsctl.activate import units
from tests.activate_support import Systemctl, install_systemctl


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Systemctl:
    return install_systemctl(tmp_path / "bin", monkeypatch)


def test_restart_then_reload_with_no_block(systemctl: Systemctl) -> None:
    errors = units.run_systemctl(["a.service", "b.service"], ["c.service"])
    assert errors == []
    assert systemctl.calls() == [
        ["--no-block", "try-restart", "a.service", "b.service"],
        ["--no-block", "try-reload-or-restart", "c.service"],
    ]


def test_empty_lists_run_nothing(systemctl: Systemctl) -> None:
    assert units.run_systemctl([], []) == []
    assert units.load_states([]).states == {}
    assert systemctl.calls() == []


def test_failure_is_reported_with_the_command(
    systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEMCTL_STANDIN_FAIL", "1")
    (error,) = units.run_systemctl(["a.service"], [])
    assert error == (
        f"error running '{systemctl.program.rsplit('/', 1)[-1]} --no-block try-restart a.service': "
        "exit status 1: Failed to connect to bus"
    )


def test_a_missing_program_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (error,) = units.run_systemctl(["a.service"], [], systemctl=str(tmp_path / "nope"))
    assert "not found" in error


def test_load_states_in_one_call(systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSTEMCTL_STANDIN_UNKNOWN", "gone.service")
    check = units.load_states(["a.service", "gone.service", "b.socket"])
    assert check.error is None
    assert check.states == {
        "a.service": "loaded",
        "gone.service": "not-found",
        "b.socket": "loaded",
    }
    assert check.missing == ("gone.service",)
    assert systemctl.calls() == [
        ["show", "-p", "LoadState", "--value", "a.service", "gone.service", "b.socket"]
    ]


def test_load_states_without_systemd(systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSTEMCTL_STANDIN_DOWN", "1")
    check = units.load_states(["a.service"])
    assert check.states == {}
    assert check.error
    assert "exit status 1" in check.error
    assert check.no_systemd


def test_a_failing_systemctl_with_systemd_running_is_not_taken_for_no_systemd(
    systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    check = units.load_states(["a.service"])
    assert check.error
    assert not check.no_systemd


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a.service", True),
        ("getty@tty1.service", True),
        ("x-y_z:1.timer", True),
        ("-a.service", False),
        ("a service", False),
        ("", False),
        ("a/b.service", False),
        ("--no-block", False),
    ],
)
def test_unit_names(name: str, valid: bool) -> None:
    assert units.valid_unit_name(name) is valid


def test_list_files_append_one_unit_a_line(tmp_path: Path) -> None:
    nixos = tmp_path / "nixos"
    nixos.mkdir()
    assert units.append_list_files(str(nixos), ["a.service", "b.service"], [], dry_run=False) == (
        str(nixos / "activation-restart-list"),
    )
    units.append_list_files(str(nixos), ["c.service"], ["d.service"], dry_run=False)
    assert (nixos / "activation-restart-list").read_text() == "a.service\nb.service\nc.service\n"
    assert (nixos / "activation-reload-list").read_text() == "d.service\n"
    assert (nixos / "activation-restart-list").stat().st_mode & 0o077 == 0
    units.append_list_files(str(nixos), ["e.service"], [], dry_run=True)
    assert (nixos / "dry-activation-restart-list").read_text() == "e.service\n"
    assert not (nixos / "dry-activation-reload-list").exists(), "an empty list makes no file"


def test_list_files_need_the_nixos_directory(tmp_path: Path) -> None:
    assert units.append_list_files(str(tmp_path / "nixos"), ["a.service"], [], dry_run=False) == ()
    assert not (tmp_path / "nixos").exists()
