"""``secretsctl exec-env`` and ``exec-file``: run a command with the plaintext, as sops does."""

from __future__ import annotations

from typing import Any

import click

from secretsctl.cli import options
from secretsctl.cli.app import App

_CONTEXT = {"ignore_unknown_options": False, "allow_interspersed_args": False}


# FILE and COMMAND (as sops takes them) and the options exec-env and exec-file share.
_shared_options = options.option_group(
    click.argument("args", nargs=-1, metavar="FILE COMMAND"),
    click.option(
        "--background",
        is_flag=True,
        help="Do not wait for the command; exit 0 at once (deprecated in sops).",
    ),
    click.option("--user", metavar="NAME", help="Run the command as this user."),
    options.input_type_option(),
    options.sops_config_option,
    options.keyservice_options,
)


@click.command(cls=options.SopsCommand, context_settings=_CONTEXT)
@_shared_options
@click.option(
    "--pristine",
    is_flag=True,
    help="Give the command only the file's variables, none of secretsctl's environment.",
)
@click.option(
    "--same-process",
    is_flag=True,
    help="Replace secretsctl by the command (exec) instead of running it as a child.",
)
@click.pass_obj
def exec_env(app: App, /, **params: Any) -> None:
    """Run COMMAND (through /bin/sh -c) with FILE's top-level keys in its environment.

    Values must be strings, numbers or booleans (no mappings or lists), as in sops. The exit
    status is COMMAND's (128 + N if a signal N killed it).

    \b
    Examples:
      secretsctl exec-env secrets.yaml 'deploy --token "$GITHUB_TOKEN"'
      secretsctl exec-env --pristine secrets.env 'env'
    """
    from secretsctl.cli.exec_run import exec_env as run

    run(app, **params)


@click.command(cls=options.SopsCommand, context_settings=_CONTEXT)
@_shared_options
@options.output_type_option("Store of the plaintext; by default FILE's.")
@click.option(
    "--no-fifo",
    is_flag=True,
    help="Use a 0600 file on a RAM-backed filesystem instead of a fifo.",
)
@click.option(
    "--filename",
    metavar="NAME",
    help="Name of the fifo or file (default: tmp-file, or tmp-file<digits> with --no-fifo).",
)
@click.pass_obj
def exec_file(app: App, /, **params: Any) -> None:
    """Run COMMAND (through /bin/sh -c) with each {} in it replaced by the plaintext's path.

    The plaintext is a fifo that can be read once, or with --no-fifo a 0600 file; it sits in a
    private 0700 folder on a RAM-backed filesystem ($XDG_RUNTIME_DIR if a tmpfs, else
    /dev/shm), removed when COMMAND ends, fails, or secretsctl is interrupted. The exit status
    is COMMAND's (128 + N if a signal N killed it).

    \b
    Examples:
      secretsctl exec-file secrets.yaml 'yq .db {}'
      secretsctl exec-file --no-fifo --output-type dotenv secrets.yaml 'app --env-file {}'
    """
    from secretsctl.cli.exec_run import exec_file as run

    run(app, **params)
