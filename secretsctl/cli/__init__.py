"""The ``secretsctl`` command line: a thin click layer over the importable core.

Commands (in :mod:`secretsctl.cli.root` and the ``*_cmd`` modules) parse arguments, call the
core, and print its results through :class:`~secretsctl.cli.app.App`. Heavy modules
(cryptography, pyrage, ruamel) are imported inside the commands that need them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn


def run_process(run: Callable[[], None]) -> NoReturn:
    """Run one command as a whole process: no cyclic GC, no interpreter teardown.

    A command is a short-lived process. Reference counting frees what it allocates; the
    cyclic collector's passes over import- and parse-time objects, and the interpreter's
    teardown of every module, cost ~13 ms of a decrypt at boot. Every file a command writes
    is closed and synced, and every temporary folder removed, before ``run`` returns.
    In-process callers (tests) call the command's ``run`` themselves.
    """
    import gc
    import os
    import sys

    gc.disable()
    code = 0
    try:
        run()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            continue  # a closed pipe: nothing more can be said (no contextlib at boot)
    os._exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run one ``secretsctl`` command and end the process (the console script)."""

    def command() -> None:
        import sys

        from secretsctl.cli import fastpath

        if fastpath.run(sys.argv[1:] if argv is None else argv):
            return
        from secretsctl.cli.root import run

        run(argv)

    run_process(command)
