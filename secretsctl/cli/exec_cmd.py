"""``secretsctl exec-env`` and ``exec-file``: run a command with the plaintext, as sops does."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from secretsctl.cli import options
from secretsctl.cli.app import App
from secretsctl.errors import ExitCode, InputError, SecretsctlError, UsageError
from secretsctl.record import Record

if TYPE_CHECKING:
    from secretsctl.exec import RunAs
    from secretsctl.sops.codec import Decrypted
    from secretsctl.sops.stores import Format

_CONTEXT = {"ignore_unknown_options": False, "allow_interspersed_args": False}


class _RunOptions(Record):
    """FILE, COMMAND and the options exec-env and exec-file share."""

    args: tuple[str, ...]
    background: bool
    user: str | None
    input_type: str | None

    def file_and_command(self) -> tuple[str, str]:
        """Return FILE and COMMAND; exit 1 unless there are exactly these two."""
        if len(self.args) != 2:  # sops: the same message and exit 1, missing or extra
            raise SecretsctlError(
                "missing file to decrypt", hint="give FILE and COMMAND (one shell line, quoted)"
            )
        return self.args[0], self.args[1]

    def run_as(self) -> RunAs | None:
        """Return the ``--user`` to run COMMAND as; None: this process's user."""
        from secretsctl.exec import lookup_user

        return lookup_user(self.user) if self.user else None


_shared_options = options.option_group(
    options.options_as(
        _RunOptions,
        "run",
        click.argument("args", nargs=-1, metavar="FILE COMMAND"),
        click.option(
            "--background",
            is_flag=True,
            help="Do not wait for the command; exit 0 at once (deprecated in sops).",
        ),
        click.option("--user", metavar="NAME", help="Run the command as this user."),
        options.input_type_option(),
    ),
    options.sops_options,
)


def _decrypt(app: App, file: str, fmt: Format, sops: options.SopsOptions) -> Decrypted:
    from secretsctl.keys.sources import load_identities
    from secretsctl.limits import read_file
    from secretsctl.sops import codec

    identities = sops.identities(app)
    try:
        data = read_file(file)
    except FileNotFoundError:
        raise InputError(
            f"cannot operate on non-existent file {file!r}", exit_code=ExitCode.NO_FILE_SPECIFIED
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    try:
        sops_file = codec.parse(data, fmt)
    except SecretsctlError as exc:
        raise exc.with_file(file) from None
    decrypted = codec.decrypt_file(
        sops_file, load_identities() if identities is None else identities, label=file
    )
    for warning in decrypted.warnings:
        app.display_warning(warning)
    return decrypted


def _warn_background(app: App, command: str) -> None:
    app.display_warning(
        f"{command}'s --background option is deprecated in sops and may be removed there"
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
def exec_env(
    app: App,
    run: _RunOptions,
    sops: options.SopsOptions,
    pristine: bool,
    same_process: bool,
) -> None:
    """Run COMMAND (through /bin/sh -c) with FILE's top-level keys in its environment.

    Values must be strings, numbers or booleans (no mappings or lists), as in sops. The exit
    status is COMMAND's (128 + N if a signal N killed it).

    \b
    Examples:
      secretsctl exec-env secrets.yaml 'deploy --token "$GITHUB_TOKEN"'
      secretsctl exec-env --pristine secrets.env 'env'
    """
    import os

    from secretsctl.exec import (
        Launch,
        child_environment,
        exec_with_env,
        file_variables,
        run_with_env,
    )

    file, command = run.file_and_command()
    if run.background:
        _warn_background(app, "exec-env")
        if same_process:
            raise UsageError("the --same-process flag cannot be used with --background")
    decrypted = _decrypt(app, file, options.format_for(run.input_type, file), sops)
    environ = child_environment(file_variables(decrypted.documents), os.environ, pristine=pristine)
    launch = Launch(command, environ, run.run_as(), run.background)
    if same_process:
        exec_with_env(launch)
    raise SystemExit(run_with_env(launch))


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
def exec_file(
    app: App,
    run: _RunOptions,
    sops: options.SopsOptions,
    output_type: str | None,
    no_fifo: bool,
    filename: str | None,
) -> None:
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
    import os

    from secretsctl.api import indent_for
    from secretsctl.edit import temp_location
    from secretsctl.exec import Launch, check_filename, run_with_file
    from secretsctl.redact import Secret

    file, command = run.file_and_command()
    check_filename(filename)
    if run.background:
        _warn_background(app, "exec-file")
    input_format = options.format_for(run.input_type, file)
    output_format = options.format_for(output_type, file)
    run_as = run.run_as()
    environ = dict(os.environ)
    if run_as is not None:
        # The caller's runtime folder is private to the caller: the user could not reach it.
        environ.pop("XDG_RUNTIME_DIR", None)
    location = temp_location(environ)
    stores = sops.stores(app)
    decrypted = _decrypt(app, file, input_format, sops)
    indent = indent_for(output_format, stores)
    plaintext = Secret(output_format.store.emit_plain(decrypted.documents, indent=indent))
    launch = Launch(command, Secret(dict(os.environ)), run_as, run.background)
    raise SystemExit(
        run_with_file(launch, plaintext, location=location, fifo=not no_fifo, filename=filename)
    )
