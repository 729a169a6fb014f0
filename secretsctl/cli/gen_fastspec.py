"""Write :mod:`secretsctl.cli._fastspec`, the fast path's table, from the click commands.

``python -m secretsctl.cli.gen_fastspec --write`` after changing an option of a command the
fast path runs (:data:`secretsctl.cli.fastpath.RUNNERS`) or of the root group; without
``--write`` it prints the table. A test regenerates it and fails while the committed file
differs. Each parameter becomes a ``flag``, a ``value`` (a string, a choice or a path), an
``argument``, ``arguments`` (every word from the first that is no option, for a command that
reads no options after its arguments, as exec's FILE COMMAND), or ``decline``: a parameter
the fast parser does not read, so a command line that uses it goes to click (options with
callbacks are among them: their callbacks, like click's ``--version`` and render's ``-c``, do
nothing when the option is absent). A parameter whose absence the table cannot describe (an
environment variable or default click would have to interpret) stops the generation.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

TARGET = os.path.join(os.path.dirname(__file__), "_fastspec.py")
COMMAND = "python -m secretsctl.cli.gen_fastspec --write"

HEADER = f'''"""The fast path's table of options, generated from the click commands; do not edit.

Regenerate with ``{COMMAND}``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.cli.fastpath import Entry

'''


STRING = click.types.StringParamType


class UnsupportedParameter(Exception):
    """A parameter whose default or environment the table cannot describe."""


def _value_type(param: click.Parameter) -> dict[str, Any] | None:
    """Describe a string, choice or path type; None for any other type."""
    kind = param.type
    if type(kind) is STRING:
        return {}
    if type(kind) is click.Choice:
        if not kind.case_sensitive or not all(isinstance(c, str) for c in kind.choices):
            return None
        return {"choices": tuple(kind.choices)}
    if type(kind) is click.Path:
        plain = click.Path(file_okay=kind.file_okay, dir_okay=kind.dir_okay)
        if vars(kind) != vars(plain):
            return None  # exists, readable, resolve_path, allow_dash, path_type: click's work
        return {"path": (kind.file_okay, kind.dir_okay)}
    return None


def _entry(
    command: click.Command, param: click.Parameter, absent: dict[str, Any]
) -> dict[str, Any]:
    """Describe one parameter for the fast parser."""
    entry: dict[str, Any] = {"name": param.name}
    value_type = _value_type(param)
    plain = (
        param.expose_value
        and param.callback is None
        and not param.is_eager
        and param.nargs == 1
        and not param.multiple
        and not getattr(param, "deprecated", False)
    )
    if isinstance(param, click.Argument):
        if not _interspersed(command):
            # Click reads options up to the first word that is none; that word and all after
            # it are this one argument's values, whatever they look like.
            if param.nargs != -1 or param.required or type(param.type) is not STRING:
                raise UnsupportedParameter(f"argument {param.name!r} is not all the words left")
            return {**entry, "kind": "arguments", "default": absent[str(param.name)]}
        if not plain or value_type is None:
            raise UnsupportedParameter(f"argument {param.name!r} is not a plain string or path")
        entry.update(kind="argument", required=param.required, **value_type)
        return {**entry, "default": absent[str(param.name)]}
    assert isinstance(param, click.Option)  # noqa: S101 - click has no other parameters
    entry["opts"] = (*param.opts, *param.secondary_opts)
    is_flag = (
        param.is_bool_flag
        and not param.secondary_opts
        and not param.count
        and absent.get(str(param.name)) is False
        and _values(command, [param.opts[0]]).get(str(param.name)) is True
    )
    if plain and not param.prompt and is_flag:
        entry["kind"] = "flag"
    elif plain and not param.prompt and not param.is_flag and value_type is not None:
        entry["kind"] = "value"
        entry.update(value_type)
    else:
        entry["kind"] = "decline"
        if param.envvar:
            raise UnsupportedParameter(f"option {param.opts[0]} has an environment variable")
    if param.envvar:
        if not isinstance(param.envvar, str):
            raise UnsupportedParameter(f"option {param.opts[0]} has several variables")
        entry["envvar"] = param.envvar
    if param.expose_value:
        entry["default"] = absent[str(param.name)]
    return entry


def _values(command: click.Command, args: list[str]) -> dict[str, Any]:
    """Return what click passes for each parameter with ``args`` and no environment."""
    variables = [p.envvar for p in command.params if isinstance(p.envvar, str)]
    saved = {variable: os.environ.pop(variable) for variable in variables if variable in os.environ}
    try:
        context = command.make_context("", args, resilient_parsing=True)
        return dict(context.params)
    finally:
        os.environ.update(saved)


def _interspersed(command: click.Command) -> bool:
    """Whether click reads options after the command's arguments (its context's setting)."""
    return bool(
        command.context_settings.get("allow_interspersed_args", command.allow_interspersed_args)
    )


def _describe(command: click.Command, name: str) -> tuple[dict[str, Any], ...]:
    settings = command.context_settings
    known = {"help_option_names", "allow_interspersed_args", "ignore_unknown_options"}
    ignore_unknown = settings.get("ignore_unknown_options", command.ignore_unknown_options)
    if set(settings) - known or ignore_unknown:
        raise UnsupportedParameter(f"command {name!r} has context settings the table lacks")
    arguments = [param for param in command.params if isinstance(param, click.Argument)]
    if not (_interspersed(command) or isinstance(command, click.Group)) and len(arguments) != 1:
        raise UnsupportedParameter(f"command {name!r} takes no options after its arguments")
    absent = _values(command, [])
    return tuple(_entry(command, param, absent) for param in command.params)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _lines(value: Any, indent: int) -> list[str]:
    """Write a table value as ``ruff format`` does: dicts and tuples of dicts one item a line."""
    if isinstance(value, dict):
        items = [(f"{_literal(key)}: ", item) for key, item in value.items()]
        opening, closing = "{", "}"
    elif isinstance(value, tuple) and any(isinstance(item, dict) for item in value):
        items = [("", item) for item in value]
        opening, closing = "(", ")"
    else:
        return [_literal(value)]
    pad = " " * indent
    lines = [opening]
    for prefix, item in items:
        first, *rest = _lines(item, indent + 4)
        lines += [f"{pad}    {prefix}{first}", *rest]
        lines[-1] += ","
    return [*lines, pad + closing]


def render_table() -> str:
    """Return the text of :mod:`secretsctl.cli._fastspec` for the current click commands."""
    from secretsctl.cli.fastpath import RUNNERS
    from secretsctl.cli.root import cli

    context = click.Context(cli, info_name="secretsctl")
    commands: dict[str, Any] = {}
    for name in RUNNERS:
        command = cli.get_command(context, name)
        if command is None:
            raise UnsupportedParameter(f"no command {name!r}")
        commands[name] = _describe(command, name)
    parts = [
        ("GLOBAL_OPTIONS", "tuple[Entry, ...]", "The root group's options.", _describe(cli, "")),
        (
            "COMMANDS",
            "dict[str, tuple[Entry, ...]]",
            "Each command's options and arguments, in click's order.",
            commands,
        ),
    ]
    text = HEADER
    for name, annotation, comment, value in parts:
        body = "\n".join(_lines(value, 0))
        text += f"# {comment}\n{name}: {annotation} = {body}\n"
        if name != parts[-1][0]:
            text += "\n"
    return text


def main(argv: list[str] | None = None) -> None:
    """Print the table, or write it over :mod:`secretsctl.cli._fastspec` with ``--write``."""
    args = sys.argv[1:] if argv is None else argv
    text = render_table()
    if args == ["--write"]:
        with open(TARGET, "w", encoding="utf-8") as out:
            out.write(text)
    elif not args:
        sys.stdout.write(text)
    else:
        sys.exit(f"usage: {COMMAND.removesuffix(' --write')} [--write]")


if __name__ == "__main__":
    main()
