"""The click-free boot path parses exactly as click would, or leaves the command line to click.

The fast parser reads only the table generated from the click commands
(``secretsctl/cli/_fastspec.py``); these tests check that table against the commands, and
that for every command in it, whatever the fast parser accepts, click parses the same.
"""

from __future__ import annotations

import os
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from secretsctl.cli import _fastspec, activate_cmd, activation, fastpath, gen_fastspec
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
    if not click_accepts(argv):
        return None
    return seen or None


def click_accepts(argv: list[str]) -> bool:
    """Run the click root group on ``argv``; False when click refuses it."""
    try:
        cli.main(args=argv, prog_name="secretsctl", standalone_mode=False)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        return False
    return True


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


def test_the_table_is_generated_from_the_click_commands() -> None:
    with open(_fastspec.__file__, encoding="utf-8") as committed:
        assert committed.read() == gen_fastspec.render_table(), (
            "secretsctl/cli/_fastspec.py is out of date with the click commands;"
            f" run `{gen_fastspec.COMMAND}`"
        )


def test_the_table_covers_every_fast_command() -> None:
    assert set(_fastspec.COMMANDS) == set(fastpath.RUNNERS) == {
        "render", "activate", "decrypt", "exec-env", "exec-file"
    }  # fmt: skip


def test_an_option_the_table_cannot_describe_stops_the_generation() -> None:
    command = click.Command("odd", params=[click.Option(["--count"], type=int, envvar="ODD_COUNT")])
    with pytest.raises(gen_fastspec.UnsupportedParameter, match="--count"):
        gen_fastspec._describe(command, "odd")


def click_invocation(argv: list[str]) -> fastpath.Invocation | None:
    """What the click root group and command receive for ``argv``; None when click refuses."""
    seen: dict[str, Any] = {}

    def root_callback(**params: Any) -> None:
        seen["root"] = params

    def command_callback(**params: Any) -> None:
        seen["params"] = params

    context = click.Context(cli)
    command_name = next((word for word in argv if word in _fastspec.COMMANDS), None)
    if command_name is None:
        return None
    command = cli.get_command(context, command_name)
    assert command is not None
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(cli, "callback", root_callback)
        monkeypatch.setattr(command, "callback", command_callback)
        if not click_accepts(argv) or "params" not in seen:
            return None
    root = seen["root"]
    return fastpath.Invocation(command_name, root["debug"], root["quiet"], seen["params"])


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An existing file, an existing folder and a missing path, for path checks."""
    folder = tmp_path_factory.mktemp("places")
    (folder / "file.yaml").write_text("a: b\n")
    return {
        "file": str(folder / "file.yaml"),
        "dir": str(folder),
        "missing": str(folder / "missing.yaml"),
    }


VARIABLES = sorted(
    {
        entry["envvar"]
        for entries in (_fastspec.GLOBAL_OPTIONS, *_fastspec.COMMANDS.values())
        for entry in entries
        if "envvar" in entry
    }
)


JUNK = ["--", "-", "", "--help", "-h", "--version", "-v", "--bogus", "-qi", "--debug", "-q"]


def words_for(
    data: st.DataObject, entries: tuple[dict[str, Any], ...], places: dict[str, str]
) -> list[str]:
    """Words a person might type for some of ``entries``: spellings, values, and junk.

    Half the time only the plain spellings the fast parser is meant to accept.
    """
    if data.draw(st.booleans()):
        return plain_words_for(data, entries, places)
    words: list[str] = []
    plain = [*places.values(), "a.yaml", "x.json", '["a"]', "cat {}"]
    odd = st.sampled_from(["-x", "", "bogus", *places.values()])
    forms = {
        "flag": ["alone"] * 8 + ["equals", "separate"],
        "value": ["separate", "separate", "equals", "attached", "alone"],
        "argument": ["argument"],
        "arguments": ["argument"],
        "decline": ["alone", "separate", "equals"],
    }
    chosen = st.lists(st.sampled_from(entries), max_size=4, unique_by=lambda entry: entry["name"])
    for entry in data.draw(chosen):
        likely = st.sampled_from(list(entry.get("choices", plain)))
        value = data.draw(st.one_of(likely, likely, likely, odd))
        form = data.draw(st.sampled_from(forms[entry["kind"]]))
        spelling = data.draw(st.sampled_from(entry.get("opts", [""])))
        if form == "argument":
            words.append(value)
        elif form == "alone":
            words.append(spelling)
        elif form == "separate":
            words += [spelling, value]
        else:
            words.append(f"{spelling}={value}" if form == "equals" else f"{spelling}{value}")
    if words and data.draw(st.integers(0, 7)) == 0:
        words.append(data.draw(st.sampled_from(words)))  # a repeated option, or two arguments
    if data.draw(st.integers(0, 7)) == 0:
        words.insert(data.draw(st.integers(0, len(words))), data.draw(st.sampled_from(JUNK)))
    return words


def plain_words_for(
    data: st.DataObject, entries: tuple[dict[str, Any], ...], places: dict[str, str]
) -> list[str]:
    """Options and arguments of ``entries`` spelled as the fast parser reads them."""
    words: list[str] = []
    readable = [entry for entry in entries if entry["kind"] != "decline"]
    chosen = st.lists(st.sampled_from(readable), max_size=5, unique_by=lambda entry: entry["name"])
    plain = [places["missing"], "a.yaml", "x.json", '["a"]', "cat {}"]
    for entry in data.draw(chosen):
        value = data.draw(st.sampled_from([*entry.get("choices", plain), "bogus"]))
        if entry["kind"] in ("argument", "arguments"):
            words.append(value)
            continue
        spelling = data.draw(st.sampled_from(entry["opts"]))
        if entry["kind"] == "flag":
            words.append(spelling)
        elif spelling.startswith("--") and data.draw(st.booleans()):
            words.append(f"{spelling}={value}")
        else:
            words += [spelling, value]
    return words


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_for_every_command_in_the_table_what_the_fast_parser_accepts_click_parses_the_same(
    data: st.DataObject, places: dict[str, str]
) -> None:
    command = data.draw(st.sampled_from(sorted(_fastspec.COMMANDS)))
    before = words_for(data, _fastspec.GLOBAL_OPTIONS, places)
    after = words_for(data, _fastspec.COMMANDS[command], places)
    environ = data.draw(
        st.dictionaries(st.sampled_from(VARIABLES), st.sampled_from(["", "1", *places.values()]))
    )
    argv = [*before, command, *after]
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [*VARIABLES, *ENVIRONMENT]:
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        fast = fastpath.parse(argv, os.environ)
        event(f"{command}: {'fast' if fast is not None else 'left to click'}")
        if fast is not None:
            assert fast == click_invocation(argv), f"fast path and click differ on {argv}"


@pytest.mark.parametrize(
    "argv",
    [
        ["decrypt", "s.yaml"],
        ["--debug", "decrypt", "--extract", '["a"]', "--output-type", "json", "s.yaml"],
        ["-q", "decrypt", "s.yaml", "--input-type=yaml", "--ignore-mac", "--output", "p.yaml"],
        ["decrypt", "--filename-override", "x.json", "--config", "c.yaml", "-i", "s.yaml"],
    ],
)
def test_the_usual_decrypt_command_lines_take_the_fast_path(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    fast = fastpath.parse(argv, os.environ)
    assert fast is not None
    assert fast == click_invocation(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["decrypt", "-"],
        ["decrypt", "--keyservice", "unix:///k.sock", "s.yaml"],
        ["decrypt", "--enable-local-keyservice=false", "s.yaml"],
        ["decrypt", "--disable-local-keyservice", "s.yaml"],
        ["decrypt", "--input-type", "toml", "s.yaml"],
        ["decrypt", "a.yaml", "b.yaml"],
        ["decrypt", "--", "s.yaml"],
        ["decrypt", "--extract", "-x", "s.yaml"],
        ["decrypt", "--output", "/", "s.yaml"],
        ["decrypt", "/"],
        ["decrypt", "-d", "s.yaml"],
        ["-d", "s.yaml"],
        ["decrypt", "--help"],
    ],
)
def test_other_decrypt_command_lines_are_left_to_click(argv: list[str]) -> None:
    assert fastpath.parse(argv, {}) is None
