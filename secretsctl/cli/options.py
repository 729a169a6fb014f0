"""Command-line options shared by several commands, spelled once.

The sops commands share ``--input-type``/``--output-type`` (:data:`FORMATS`), ``--ignore-mac``,
and the trio ``--config``, ``--keyservice``, ``--enable-local-keyservice``, which
:func:`sops_options` hands to a command as one :class:`SopsOptions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from secretsctl.cli.sops_run import SopsOptions, go_bool

if TYPE_CHECKING:
    Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")


def option_group(*decorators: Decorator) -> Decorator:
    """Return one decorator that applies ``decorators`` as if stacked in this order."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def options_as(record: Any, name: str, *decorators: Decorator) -> Decorator:
    """Return a decorator that adds ``decorators`` and passes their values as one record.

    The command receives the options' (and arguments') values as the keyword argument
    ``name``: a ``record``, a :class:`~secretsctl.record.Record` whose fields are named as the
    parameters.
    """
    fields: tuple[str, ...] = record._fields

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_record(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = record(*[kwargs.pop(field) for field in fields])
            return command(*args, **kwargs)

        return option_group(*decorators)(with_record)

    return decorate


def input_type_option(help: str = "Store of FILE; by default from its extension.") -> Decorator:
    """``--input-type``: one of :data:`FORMATS`."""
    return click.option("--input-type", type=click.Choice(FORMATS), help=help)


def output_type_option(help: str) -> Decorator:
    """``--output-type``: one of :data:`FORMATS`."""
    return click.option("--output-type", type=click.Choice(FORMATS), help=help)


def ignore_mac_option(help: str = "Skip the MAC check.") -> Decorator:
    """``--ignore-mac``, a flag."""
    return click.option("--ignore-mac", is_flag=True, help=help)


sops_config_option = click.option(
    "--config",
    "config_path",
    envvar="SOPS_CONFIG",
    type=click.Path(dir_okay=False),
    help="Path of .sops.yaml; by default searched upward from the current directory."
    " Env: SOPS_CONFIG.",
)

pgp_option = click.option(
    "-p",
    "--pgp",
    envvar="SOPS_PGP_FP",
    help="Comma-separated PGP fingerprints (gpg encrypts to them); with --age they share one"
    " key group. Env: SOPS_PGP_FP.",
)


def flag_key_group(age: str | None, pgp: str | None) -> tuple[str, ...]:
    """Return the key group given by ``--age`` and ``--pgp`` (comma-separated), each checked.

    A PGP fingerprint given to ``--age`` is refused, never silently taken as PGP.
    """
    from secretsctl.keys.kinds import recipients_for

    return (
        *recipients_for("age", (age or "").split(",")),
        *recipients_for("pgp", (pgp or "").split(",")),
    )


# --- key services -----------------------------------------------------------------------------

LOCAL_KEYSERVICE_FLAG = "--enable-local-keyservice"
_NO_LOCAL_KEYSERVICE_FLAG = "--disable-local-keyservice"


class SopsCommand(click.Command):
    """A command that also takes sops's Go spelling ``--enable-local-keyservice=false``.

    Go's boolean flags take a value only after ``=``; click's flags take none. The Go form is
    rewritten to the flag or its ``--disable-…`` opposite before click parses.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rewrite ``--enable-local-keyservice=BOOL``, then parse as click does."""
        rewritten: list[str] = []
        for index, word in enumerate(args):
            if word == "--":
                rewritten.extend(args[index:])
                break
            option, equals, value = word.partition("=")
            if equals and option == LOCAL_KEYSERVICE_FLAG:
                enabled = go_bool(value)
                if enabled is None:
                    raise click.UsageError(
                        f"invalid boolean value {value!r} for {option} (true or false)", ctx
                    )
                word = LOCAL_KEYSERVICE_FLAG if enabled else _NO_LOCAL_KEYSERVICE_FLAG
            rewritten.append(word)
        return super().parse_args(ctx, rewritten)


def keyservice_options(func: Any) -> Any:
    """Add sops's ``--keyservice URI`` (repeatable) and ``--enable-local-keyservice``."""
    func = click.option(
        f"{LOCAL_KEYSERVICE_FLAG}/{_NO_LOCAL_KEYSERVICE_FLAG}",
        "enable_local_keyservice",
        default=None,
        help="Use this host's keys (the default), or only the --keyservice servers; sops's"
        " --enable-local-keyservice=false works too. Env: SOPS_ENABLE_LOCAL_KEYSERVICE.",
    )(func)
    return click.option(
        "--keyservice",
        "keyservice",
        multiple=True,
        metavar="URI",
        help="Also ask this sops key service (unix:///path/to.sock or tcp://host:port) for"
        " data keys; repeatable, asked in order after the local keys. Env: SOPS_KEYSERVICE"
        " (comma-separated, asked before the options').",
    )(func)


# --config, --keyservice and --enable-local-keyservice, as the keyword argument ``sops``.
sops_options = options_as(SopsOptions, "sops", sops_config_option, keyservice_options)
