"""The click root group, its commands, and the one place expected errors become exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from secretsctl.cli.app import App
from secretsctl.errors import ExitCode


class LazyGroup(click.Group):
    """A group whose commands are imported only when used (click's documented pattern).

    ``secretsctl decrypt`` at boot pays for its own module, not for every command's.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List every command, loaded or not."""
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands in their sections (sops-compatible, activation, keys, LEDs)."""
        # One first column for every section, so the descriptions line up across them.
        width = max(len(name) for _, names in COMMAND_SECTIONS for name in names)
        limit = formatter.width - formatter.current_indent - width - 6
        for title, names in COMMAND_SECTIONS:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name.ljust(width), command.get_short_help_str(limit)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Read sops's old top-level forms (``-d FILE``, ``-e -i FILE``, ``FILE``) as commands."""
        from secretsctl.cli import legacy

        position = 0
        while position < len(args) and args[position] in _GROUP_FLAGS:
            position += 1
        try:
            tail = legacy.rewrite(args[position:], self.list_commands(ctx))
        except legacy.LegacyFormError as exc:
            raise click.UsageError(str(exc), ctx) from None
        return super().parse_args(ctx, [*args[:position], *tail])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a command's module on first use."""
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)  # noqa: S101 - the table above names commands
        return command


_GROUP_FLAGS = frozenset({"--debug", "-q", "--quiet"})

COMMAND_SECTIONS = (
    (
        "sops-compatible commands",
        (
            *("decrypt", "encrypt", "edit", "set", "unset", "updatekeys", "rotate", "groups"),
            *("filestatus", "exec-env", "exec-file"),
        ),
    ),
    ("Activation commands", ("render", "activate", "check", "status", "rollback", "unit")),
    ("Key commands", ("keygen", "ssh-to-age", "keyservice")),
    ("LED companion", ("leds",)),
)

EPILOG = """\b
Examples:
  secretsctl keygen -o ~/.config/sops/age/keys.txt
  secretsctl encrypt --age age1... plain.yaml > secrets.yaml
  secretsctl edit secrets.yaml
  secretsctl render --dry-run
  secretsctl activate

\b
Shell completion: add the line for your shell to its start-up file.
  bash  (~/.bashrc):  eval "$(_SECRETSCTL_COMPLETE=bash_source secretsctl)"
  zsh   (~/.zshrc):   eval "$(_SECRETSCTL_COMPLETE=zsh_source secretsctl)"
  fish  (~/.config/fish/completions/secretsctl.fish):
                      _SECRETSCTL_COMPLETE=fish_source secretsctl | source

Each command's --help has its own examples.
"""


@click.group(
    cls=LazyGroup,
    lazy_commands={
        "decrypt": "secretsctl.cli.sops_cmd:decrypt",
        "encrypt": "secretsctl.cli.sops_cmd:encrypt",
        "edit": "secretsctl.cli.edit_cmd:edit",
        "set": "secretsctl.cli.change_cmd:set_command",
        "unset": "secretsctl.cli.change_cmd:unset_command",
        "updatekeys": "secretsctl.cli.change_cmd:updatekeys",
        "rotate": "secretsctl.cli.change_cmd:rotate",
        "groups": "secretsctl.cli.groups_cmd:groups",
        "filestatus": "secretsctl.cli.filestatus_cmd:filestatus",
        "exec-env": "secretsctl.cli.exec_cmd:exec_env",
        "exec-file": "secretsctl.cli.exec_cmd:exec_file",
        "ssh-to-age": "secretsctl.cli.keys_cmd:ssh_to_age",
        "keygen": "secretsctl.cli.keys_cmd:keygen",
        "keyservice": "secretsctl.cli.keyservice_cmd:keyservice",
        "unit": "secretsctl.cli.unit_cmd:unit",
        "render": "secretsctl.cli.activate_cmd:render",
        "activate": "secretsctl.cli.activate_cmd:activate",
        "check": "secretsctl.cli.activate_cmd:check",
        "status": "secretsctl.cli.activate_cmd:status",
        "rollback": "secretsctl.cli.activate_cmd:rollback",
        "leds": "secretsctl.leds.cli:cli",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="SECRETSCTL_DEBUG",
    help="Show a traceback for internal errors (never local variables). Env: SECRETSCTL_DEBUG.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.version_option(None, "-v", "--version", package_name="secretsctl", prog_name="secretsctl")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Decrypt, encrypt and activate sops secrets (sops 3.11 file format, age keys)."""
    ctx.obj = App(debug=debug, quiet=quiet)


# click >= 8.2 raises this (a UsageError) when a group is called without a command.
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)


def run(argv: list[str] | None = None) -> None:
    """Run the command line; expected errors become one line and an exit code."""
    run_click(cli, App(debug="--debug" in (argv if argv is not None else sys.argv[1:])), argv)


def run_click(group: click.Group, app: App, argv: list[str] | None = None) -> None:
    """Run a click group; usage errors, aborts and expected errors become ``app``'s lines."""

    def parse_and_run() -> None:
        try:
            group.main(args=argv, prog_name=app.prog, standalone_mode=False)
        except _NO_ARGS_IS_HELP as exc:
            click.echo(exc.format_message(), err=True)
            raise SystemExit(2) from None
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else app.prog
            app.abort(exc.format_message(), 2, hint=f"see `{command} --help`")
        except click.Abort:
            app.abort("aborted", ExitCode.KEYBOARD_INTERRUPT)
        except click.exceptions.Exit as exc:
            raise SystemExit(exc.exit_code) from None

    app.run_guarded(parse_and_run)
