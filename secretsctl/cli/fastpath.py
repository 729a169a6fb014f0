"""The boot path without click: ``activate``, ``render``, ``decrypt`` and ``exec-*``.

Importing click costs ~15 ms, a third of a small decrypt. This parser reads the commands'
options from :mod:`secretsctl.cli._fastspec`, a table generated from the click commands
themselves, and accepts only their plain spellings (``--name value``, ``--name=value``,
``-m value``, flags, arguments; for exec's FILE COMMAND, every word from the first that is
no option on); the same names, environment variables and defaults as click. It declines
everything else: help, version, a repeated, unknown, abbreviated or malformed option, a value
that starts with ``-``, ``--``, an option the table marks ``decline``, an environment value
click would have to interpret. Click then parses the command line as always, with its
messages. Tests check that the table matches the click commands and that whatever this parser
accepts, click parses to the same values.
"""

from __future__ import annotations

import os

from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Literal, TypedDict

    from secretsctl.cli.app import App

    class Entry(TypedDict, total=False):
        """One parameter in :mod:`secretsctl.cli._fastspec`."""

        name: str
        kind: Literal["flag", "value", "argument", "arguments", "decline"]
        opts: tuple[str, ...]
        choices: tuple[str, ...]
        path: tuple[bool, bool]  # click.Path's file_okay, dir_okay
        envvar: str
        required: bool
        default: object


class Invocation(Record):
    """A parsed command line, as the click command receives it."""

    command: str
    debug: bool
    quiet: bool
    params: dict[str, object]


def _activation(command: str) -> Callable[..., None]:
    def run_command(app: App, **params: object) -> None:
        from secretsctl.cli.activation import report, run_activation

        as_json = bool(params.pop("as_json", False))
        params.setdefault("dry_run", False)
        result = run_activation(**params)  # type: ignore[arg-type]
        report(app, result, as_json=as_json, table=command == "render")

    return run_command


def _decrypt(app: App, **params: object) -> None:
    from secretsctl.cli.sops_run import decrypt

    decrypt(app, **params)  # type: ignore[arg-type]


def _exec_env(app: App, **params: object) -> None:
    from secretsctl.cli.exec_run import exec_env

    exec_env(app, **params)  # type: ignore[arg-type]


def _exec_file(app: App, **params: object) -> None:
    from secretsctl.cli.exec_run import exec_file

    exec_file(app, **params)  # type: ignore[arg-type]


# What each command the fast path takes does once parsed: what its click command does.
RUNNERS: dict[str, Callable[..., None]] = {
    "render": _activation("render"),
    "activate": _activation("activate"),
    "decrypt": _decrypt,
    "exec-env": _exec_env,
    "exec-file": _exec_file,
}


def _path_fits(value: str, file_okay: bool, dir_okay: bool) -> bool:
    """Tell whether click's ``Path(file_okay, dir_okay)`` takes ``value`` without a message."""
    import stat

    try:
        mode = os.stat(value).st_mode
    except (OSError, ValueError):
        return True
    return not ((not file_okay and stat.S_ISREG(mode)) or (not dir_okay and stat.S_ISDIR(mode)))


def _fits(entry: Entry, value: str) -> bool:
    """Tell whether click converts ``value`` to itself, with no message, for this entry."""
    if not value or value.startswith("-"):
        return False
    choices = entry.get("choices")
    if choices is not None and value not in choices:
        return False
    path = entry.get("path")
    return path is None or _path_fits(value, *path)


def _read(
    table: Sequence[Entry],
    argv: Sequence[str],
    position: int,
    environ: Mapping[str, str],
    *,
    stop_at_word: bool,
) -> tuple[dict[str, object], int] | None:
    """Read ``table``'s parameters from ``argv[position:]``; None where click must parse.

    With ``stop_at_word`` (the root group), reading stops at the first word that is no
    option, the command's name.
    """
    by_spelling = {spelling: entry for entry in table for spelling in entry.get("opts", ())}
    arguments = [entry for entry in table if entry["kind"] in ("argument", "arguments")]
    rewritten = tuple(
        f"{spelling}="
        for entry in table
        if entry["kind"] == "decline"
        for spelling in entry["opts"]
    )
    values: dict[str, object] = {}
    while position < len(argv):
        word = argv[position]
        if not word.startswith("-"):
            if stop_at_word:
                break
            if arguments and arguments[0]["kind"] == "arguments":
                rest = argv[position:]
                # A word click's command class rewrites before parsing (``--x=false``).
                if any(word.startswith(rewritten) for word in rest):
                    return None
                values[str(arguments[0]["name"])] = tuple(rest)
                position = len(argv)
                break
            if not arguments or not _fits(arguments[0], word):
                return None
            values[str(arguments.pop(0)["name"])] = word
            position += 1
            continue
        option, equals, value = word.partition("=")
        entry = by_spelling.get(option)
        if entry is None or entry["kind"] == "decline" or entry["name"] in values:
            return None
        if entry["kind"] == "flag":
            if equals:
                return None
            values[str(entry["name"])] = True
        else:
            if equals and not option.startswith("--"):
                return None  # click reads `-m=x` as the value `=x`
            if not equals:
                position += 1
                if position >= len(argv):
                    return None
                value = argv[position]
            if not _fits(entry, value):
                return None
            values[str(entry["name"])] = value
        position += 1
    for entry in table:
        name = str(entry["name"])
        if name in values or "default" not in entry:
            continue
        variable = entry.get("envvar")
        given = environ.get(variable) if isinstance(variable, str) else None
        if not given:
            if entry.get("required"):
                return None
            values[name] = entry["default"]
        elif entry["kind"] != "value" or not _fits(entry, given):
            return None  # a flag's variable, or a value click would refuse
        else:
            values[name] = given
    return values, position


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Invocation | None:
    """Parse ``[--debug] [-q] COMMAND [options] [argument]`` as click would, or return None."""
    from secretsctl.cli._fastspec import COMMANDS, GLOBAL_OPTIONS

    read = _read(GLOBAL_OPTIONS, argv, 0, environ, stop_at_word=True)
    if read is None:
        return None
    global_values, position = read
    if position >= len(argv) or argv[position] not in COMMANDS:
        return None
    command = argv[position]
    read = _read(COMMANDS[command], argv, position + 1, environ, stop_at_word=False)
    if read is None:
        return None
    debug, quiet = bool(global_values["debug"]), bool(global_values["quiet"])
    return Invocation(command, debug, quiet, read[0])


def run(argv: Sequence[str]) -> bool:
    """Run ``argv`` if the fast path takes it; return False to leave it to click."""
    invocation = parse(argv, os.environ)
    if invocation is None:
        return False
    from secretsctl.cli.app import App

    app = App(debug=invocation.debug, quiet=invocation.quiet)
    runner = RUNNERS[invocation.command]
    app.run_guarded(lambda: runner(app, **invocation.params))
    return True
