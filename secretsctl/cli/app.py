"""The application object every command gets in ``ctx.obj``: all output goes through it."""

from __future__ import annotations

import sys

from secretsctl.errors import ExitCode, SecretsctlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, NoReturn

    from secretsctl.sops.creation_rules import SopsConfig

PROG = "secretsctl"


class App:
    """Output by verbosity, and the only exit path for expected errors."""

    __slots__ = ("debug", "quiet")
    prog = PROG  # the name every line starts with

    def __init__(self, debug: bool = False, quiet: bool = False) -> None:
        self.debug = debug
        self.quiet = quiet

    @classmethod
    def _line(cls, kind: str, text: str, stream: IO[str] | None = None) -> None:
        # The first line carries the prefix; detail lines (recipients, locations) are indented.
        out = stream or sys.stderr
        first, *rest = text.splitlines() or [""]
        out.write(f"{cls.prog}: {kind}{first}\n")
        for line in rest:
            out.write(f"  {line.lstrip()}\n" if not line.startswith("  ") else f"{line}\n")
        out.flush()

    def display_error(self, text: str) -> None:
        """Print an error line on stderr."""
        self._line("error: ", text)

    def display_warning(self, text: str) -> None:
        """Print a warning line on stderr, unless quiet."""
        if not self.quiet:
            self._line("warning: ", text)

    def display_hint(self, text: str) -> None:
        """Print a hint line on stderr."""
        self._line("hint: ", text)

    def display_info(self, text: str) -> None:
        """Print an informational line on stderr, unless quiet."""
        if not self.quiet:
            self._line("", text)

    def abort(self, text: str, code: int = ExitCode.GENERIC, hint: str | None = None) -> NoReturn:
        """Print ``secretsctl: error: …`` (and a hint) and exit with ``code``."""
        self.display_error(text)
        if hint:
            self.display_hint(hint)
        raise SystemExit(int(code))

    def run_guarded(self, body: Callable[[], None]) -> None:
        """Run a command; expected errors become one line and their exit code, never a trace."""
        try:
            body()
        except SecretsctlError as error:
            self.fail(error)
        except KeyboardInterrupt:
            self.abort("interrupted", ExitCode.KEYBOARD_INTERRUPT)
        except BrokenPipeError:
            sys.stderr.close()
            raise SystemExit(ExitCode.OK) from None
        except Exception as exc:
            if self.debug:
                import traceback

                # Frames and the type only: locals, or the message of an unexpected exception,
                # could hold decrypted values.
                traceback.print_tb(exc.__traceback__)
            self.abort(
                f"internal error ({type(exc).__name__}); this is a bug in secretsctl",
                ExitCode.GENERIC,
                hint="run again with --debug for a traceback, and report it",
            )

    def fail(self, error: SecretsctlError) -> NoReturn:
        """Abort with an expected error's message, hint and exit code."""
        self.abort(error.message, error.exit_code, error.hint)

    def write_stdout(self, data: bytes, *, plaintext: bool, force: bool = False) -> None:
        """Write command output; plaintext goes to a terminal too, as sops prints it.

        With ``SECRETSCTL_REFUSE_TERMINAL`` set (a shared or recorded screen), plaintext is
        refused on a terminal unless forced.
        """
        import os

        stream = sys.stdout.buffer
        refuse = bool(os.environ.get("SECRETSCTL_REFUSE_TERMINAL"))
        if plaintext and refuse and not force and sys.stdout.isatty():
            self.abort(
                "refusing to print decrypted secrets to a terminal",
                ExitCode.CONFLICTING_PARAMETERS,
                hint="use --output FILE, pipe the output, pass --force,"
                " or unset SECRETSCTL_REFUSE_TERMINAL",
            )
        stream.write(data)
        stream.flush()


def find_sops_config(
    app: App, config_path: str | None, *, required: bool = False
) -> SopsConfig | None:
    """Find and read ``.sops.yaml`` as sops does (upward from the current folder, or ``--config``).

    Warnings (a ``.sops.yml`` ignored) go through ``app``. With ``required``, a missing file
    is a :class:`ConfigError`; otherwise None.
    """
    import os

    from secretsctl.sops.config_lookup import find_config

    path, warning = find_config(os.getcwd(), config_path)
    if warning:
        app.display_warning(warning)
    if path is None:
        if required:
            from secretsctl.errors import ConfigError

            raise ConfigError(
                "config file not found",
                hint="create a .sops.yaml with creation rules, or pass --config",
            )
        return None
    from secretsctl.sops.creation_rules import load_config

    return load_config(path)
