"""The boot path without click: ``secretsctl activate`` and ``render`` as people type them.

Importing click costs ~25 ms, a quarter of a boot-time activation. This parser accepts only
the plain spellings of these two commands' options (``--name value``, ``--name=value``,
``-m value``, flags; the same names, environment variables and defaults as the click
commands in :mod:`secretsctl.cli.activate_cmd`) and declines everything else: help,
version, a repeated, unknown, abbreviated or malformed option, an environment value click
would have to interpret. Click then parses the command line as always, with its messages.
A property test checks that whatever this parser accepts, click parses to the same values.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from secretsctl.record import Record

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_GLOBAL_FLAGS = {"--debug": "debug", "-q": "quiet", "--quiet": "quiet"}
_VALUE_OPTIONS = {
    "-m": "manifest_path",
    "--manifest": "manifest_path",
    "--root": "root",
    "--delivery": "delivery",
}
_FLAGS = {"--force": "force", "--no-wait": "no_wait"}
_COMMAND_FLAGS = {"render": {"--dry-run": "dry_run", "--json": "as_json"}, "activate": {}}
_ENVIRONMENT = {"manifest_path": "SECRETSCTL_MANIFEST", "root": "SECRETSCTL_ROOT"}


class Invocation(Record):
    """A parsed ``render`` or ``activate`` command line, as the click command receives it."""

    command: str
    debug: bool
    quiet: bool
    params: dict[str, object]


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Invocation | None:
    """Parse a plain ``[--debug] [-q] render|activate [options]``, or return None."""
    if environ.get("SECRETSCTL_DEBUG"):
        return None  # click reads a boolean from it in its own way
    position = 0
    seen: dict[str, object] = {}
    while position < len(argv) and argv[position] in _GLOBAL_FLAGS:
        name = _GLOBAL_FLAGS[argv[position]]
        if name in seen:
            return None
        seen[name] = True
        position += 1
    if position >= len(argv) or argv[position] not in _COMMAND_FLAGS:
        return None
    command = argv[position]
    command_flags = _COMMAND_FLAGS[command]
    params: dict[str, object] = {
        "manifest_path": None,
        "root": None,
        "force": False,
        "no_wait": False,
        "delivery": "systemctl",
    }
    params.update(dict.fromkeys(command_flags.values(), False))
    given: set[str] = set()
    position += 1
    while position < len(argv):
        word = argv[position]
        option, equals, value = word.partition("=")
        if option in _VALUE_OPTIONS and not (equals and option == "-m"):
            if not equals:
                position += 1
                if position >= len(argv):
                    return None
                value = argv[position]
            if not value or value.startswith("-"):
                return None
            name = _VALUE_OPTIONS[option]
            params[name] = value
        elif not equals and (word in _FLAGS or word in command_flags):
            name = _FLAGS.get(word) or command_flags[word]
            params[name] = True
        else:
            return None
        if name in given:
            return None
        given.add(name)
        position += 1
    for name, variable in _ENVIRONMENT.items():
        if name not in given and environ.get(variable):
            params[name] = environ[variable]
    from secretsctl.cli.activation import DELIVERIES

    if params["delivery"] not in DELIVERIES:
        return None
    root = params["root"]
    if isinstance(root, str) and os.path.exists(root) and not os.path.isdir(root):
        return None  # click reports it
    return Invocation(command, bool(seen.get("debug")), bool(seen.get("quiet")), params)


def run(argv: Sequence[str]) -> bool:
    """Run ``argv`` if it is a plain activation command line; return False to leave it to click."""
    invocation = parse(argv, os.environ)
    if invocation is None:
        return False
    from secretsctl.cli.activation import report, run_activation
    from secretsctl.cli.app import App

    app = App(debug=invocation.debug, quiet=invocation.quiet)
    params = dict(invocation.params)
    as_json = bool(params.pop("as_json", False))
    params.setdefault("dry_run", False)

    def activate() -> None:
        result = run_activation(**params)  # type: ignore[arg-type]
        report(app, result, as_json=as_json, table=invocation.command == "render")

    app.run_guarded(activate)
    return True
