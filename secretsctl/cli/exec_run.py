"""``exec-env`` and ``exec-file``'s work without click, as sops runs them.

The fast path (:mod:`secretsctl.cli.fastpath`) calls :func:`exec_env` and :func:`exec_file`
directly; the click commands in :mod:`secretsctl.cli.exec_cmd` call them after parsing, with
the same parameters. FILE and COMMAND arrive as ``args``, as sops takes them.
"""

from __future__ import annotations

from secretsctl.cli.sops_run import SopsOptions, format_for
from secretsctl.errors import ExitCode, InputError, SecretsctlError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.cli.app import App
    from secretsctl.exec import RunAs
    from secretsctl.sops.codec import Decrypted
    from secretsctl.sops.stores import Format


def _file_and_command(args: tuple[str, ...]) -> tuple[str, str]:
    """Return FILE and COMMAND; exit 1 unless there are exactly these two."""
    if len(args) != 2:  # sops: the same message and exit 1, missing or extra
        raise SecretsctlError(
            "missing file to decrypt", hint="give FILE and COMMAND (one shell line, quoted)"
        )
    return args[0], args[1]


def _run_as(user: str | None) -> RunAs | None:
    """Return the ``--user`` to run COMMAND as; None: this process's user."""
    from secretsctl.exec import lookup_user

    return lookup_user(user) if user else None


def _decrypt(app: App, file: str, fmt: Format, sops: SopsOptions) -> Decrypted:
    import os

    from secretsctl.api import decrypt_file

    identities = sops.identities(app)
    if not os.path.exists(file):
        raise InputError(
            f"cannot operate on non-existent file {file!r}", exit_code=ExitCode.NO_FILE_SPECIFIED
        )
    decrypted = decrypt_file(file, identities, fmt)
    for warning in decrypted.warnings:
        app.display_warning(warning)
    return decrypted


def _warn_background(app: App, command: str) -> None:
    app.display_warning(
        f"{command}'s --background option is deprecated in sops and may be removed there"
    )


def exec_env(
    app: App,
    *,
    args: tuple[str, ...],
    background: bool,
    user: str | None,
    input_type: str | None,
    config_path: str | None,
    keyservice: tuple[str, ...],
    enable_local_keyservice: bool | None,
    pristine: bool,
    same_process: bool,
) -> None:
    """Run COMMAND with FILE's top-level keys in its environment; exit with its status."""
    import os

    from secretsctl.exec import (
        Launch,
        child_environment,
        exec_with_env,
        file_variables,
        run_with_env,
    )

    sops = SopsOptions(config_path, keyservice, enable_local_keyservice)
    file, command = _file_and_command(args)
    if background:
        _warn_background(app, "exec-env")
        if same_process:
            raise UsageError("the --same-process flag cannot be used with --background")
    decrypted = _decrypt(app, file, format_for(input_type, file), sops)
    environ = child_environment(file_variables(decrypted.documents), os.environ, pristine=pristine)
    launch = Launch(command, environ, _run_as(user), background)
    if same_process:
        exec_with_env(launch)
    raise SystemExit(run_with_env(launch))


def exec_file(
    app: App,
    *,
    args: tuple[str, ...],
    background: bool,
    user: str | None,
    input_type: str | None,
    config_path: str | None,
    keyservice: tuple[str, ...],
    enable_local_keyservice: bool | None,
    output_type: str | None,
    no_fifo: bool,
    filename: str | None,
) -> None:
    """Run COMMAND with each {} replaced by the plaintext's path; exit with its status."""
    import os

    from secretsctl.api import indent_for
    from secretsctl.edit import temp_location
    from secretsctl.exec import Launch, check_filename, run_with_file
    from secretsctl.redact import Secret

    sops = SopsOptions(config_path, keyservice, enable_local_keyservice)
    file, command = _file_and_command(args)
    check_filename(filename)
    if background:
        _warn_background(app, "exec-file")
    input_format = format_for(input_type, file)
    output_format = format_for(output_type, file)
    run_as = _run_as(user)
    environ = dict(os.environ)
    if run_as is not None:
        # The caller's runtime folder is private to the caller: the user could not reach it.
        environ.pop("XDG_RUNTIME_DIR", None)
    location = temp_location(environ)
    stores = sops.stores(app)
    decrypted = _decrypt(app, file, input_format, sops)
    indent = indent_for(output_format, stores)
    plaintext = Secret(output_format.store.emit_plain(decrypted.documents, indent=indent))
    launch = Launch(command, Secret(dict(os.environ)), run_as, background)
    raise SystemExit(
        run_with_file(launch, plaintext, location=location, fifo=not no_fifo, filename=filename)
    )
