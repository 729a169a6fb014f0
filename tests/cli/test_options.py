"""The shared option decorators: a group of options handed to a command as one record."""

from __future__ import annotations

import click
from click.testing import CliRunner

from secretsctl.cli.options import option_group, options_as, sops_options
from secretsctl.cli.sops_run import SopsOptions
from secretsctl.record import Record


class _Pair(Record):
    first: str | None
    second: bool


def _command() -> click.Command:
    seen: list[object] = []

    @click.command()
    @click.option("--before")
    @option_group(
        options_as(_Pair, "pair", click.option("--first"), click.option("--second", is_flag=True)),
        sops_options,
    )
    @click.option("--after")
    def command(before: str | None, pair: _Pair, sops: SopsOptions, after: str | None) -> None:
        seen.append((before, pair, sops, after))
        click.echo(repr(seen[-1]))

    return command


def test_a_group_of_options_arrives_as_one_record() -> None:
    result = CliRunner().invoke(
        _command(),
        ["--first", "a", "--second", "--keyservice", "unix:///k", "--config", "c", "--after", "z"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(
        (None, _Pair("a", True), SopsOptions("c", ("unix:///k",), None), "z")
    )


def test_the_options_keep_the_order_they_are_written_in() -> None:
    names = [param.name for param in _command().params]
    assert names == [
        "before",
        "first",
        "second",
        "config_path",
        "keyservice",
        "enable_local_keyservice",
        "after",
    ]
