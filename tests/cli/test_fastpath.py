"""The click-free boot path parses exactly as click would, or leaves the command line to click."""

from __future__ import annotations

import os
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.cli import activate_cmd, activation, fastpath
from secretsctl.cli.root import cli

WORDS = [
    "-m", "--manifest", "--manifest=a.yaml", "a.yaml", "b.yaml", "m.json", "--manifest=m.json",
    "--root", "--root=/nonexistent-root", "/tmp", "/etc/hostname", "--delivery", "none",
    "list-files", "systemctl", "bogus", "--delivery=none", "--force", "--no-wait", "--dry-run",
    "--json", "--help", "-h", "--", "-ma.yaml", "-m=a.yaml", "--dry-run=1", "", "--man", "-q",
    "-c", "--config",
    "--debug", "--version", "--force=yes", "render", "activate", "-", "--root=",
]  # fmt: skip
ENVIRONMENT = {
    "SECRETSCTL_MANIFEST": st.sampled_from(["", "env.yaml", "env.json"]),
    "SECRETSCTL_ROOT": st.sampled_from(["", "/tmp", "/etc/hostname"]),
    "SECRETSCTL_DEBUG": st.sampled_from(["", "1", "0"]),
}


def recorders(seen: dict[str, Any]) -> tuple[Any, Any]:
    """Stand-ins for run_activation and report that note what they are given."""

    def fake_run(**params: Any) -> str:
        seen["params"] = params
        return "result"

    def fake_report(app: Any, result: str, *, as_json: bool, table: bool) -> None:
        seen.update(debug=app.debug, quiet=app.quiet, as_json=as_json, table=table)

    return fake_run, fake_report


def click_parse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
    """What the click command receives for ``argv``, or None when click refuses it."""
    seen: dict[str, Any] = {}
    fake_run, fake_report = recorders(seen)
    monkeypatch.setattr(activate_cmd, "run_activation", fake_run)
    monkeypatch.setattr(activate_cmd, "report", fake_report)
    try:
        cli.main(args=argv, prog_name="secretsctl", standalone_mode=False)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        return None
    return seen or None


def fast_run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
    """What the fast path hands to the same functions, or None when it declines."""
    seen: dict[str, Any] = {}
    fake_run, fake_report = recorders(seen)
    monkeypatch.setattr(activation, "run_activation", fake_run)
    monkeypatch.setattr(activation, "report", fake_report)
    return seen if fastpath.run(argv) else None


def check_same(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ENVIRONMENT:
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        fast = fast_run(argv, monkeypatch)
        if fast is None:
            return
        assert fast == click_parse(argv, monkeypatch), f"fast path and click differ on {argv}"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.sampled_from(["--debug", "-q", "--quiet"]), max_size=2),
    st.sampled_from(["render", "activate", "check", "status"]),
    st.lists(st.sampled_from(WORDS), max_size=6),
    st.fixed_dictionaries({}, optional=ENVIRONMENT),
)
@example([], "render", ["-m", "a.yaml", "--root", "/tmp", "--delivery", "none"], {})
@example(["--debug"], "activate", ["--manifest=a.yaml", "--no-wait", "--force"], {})
@example([], "render", ["--dry-run", "--json"], {"SECRETSCTL_MANIFEST": "env.yaml"})
def test_whatever_the_fast_path_accepts_click_parses_the_same(
    before: list[str], command: str, after: list[str], environ: dict[str, str]
) -> None:
    check_same([*before, command, *after], environ)


@pytest.mark.parametrize(
    "argv",
    [
        ["render", "-m", "a.yaml", "--root", "/tmp", "--delivery", "none"],
        ["activate"],
        ["-q", "render", "--dry-run", "--json", "--manifest=m.json"],
        ["--debug", "activate", "--no-wait", "--force", "--manifest", "a.yaml"],
    ],
)
def test_the_usual_command_lines_take_the_fast_path(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    assert fastpath.parse(argv, os.environ) is not None
    check_same(argv, {})


@pytest.mark.parametrize(
    "argv",
    [
        ["render", "--help"],
        ["--version"],
        ["render", "-ma.yaml"],
        ["render", "--delivery", "bogus"],
        ["render", "-m", "a.yaml", "-m", "b.yaml"],
        ["render", "-c", "a.yaml"],
        ["render", "--root", "/etc/hostname"],
        ["activate", "--dry-run"],
        ["render", "--man", "a.yaml"],
        ["check"],
        [],
    ],
)
def test_anything_else_is_left_to_click(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRETSCTL_DEBUG", raising=False)
    assert fastpath.parse(argv, os.environ) is None


def test_a_debug_environment_is_left_to_click() -> None:
    assert fastpath.parse(["render"], {"SECRETSCTL_DEBUG": "1"}) is None
