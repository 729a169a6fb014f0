"""``secretsctl filestatus``: whether a file is sops-encrypted, as ``sops filestatus`` says."""

from __future__ import annotations

import click

from secretsctl.cli.options import SopsCommand, input_type_option
from secretsctl.cli.sops_run import format_for


@click.command(cls=SopsCommand)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@input_type_option()
def filestatus(file: str | None, input_type: str | None) -> None:
    """Print {"encrypted":true} if FILE holds sops metadata (a version and a MAC), else false.

    Nothing is decrypted and no key is needed.

    \b
    Example:
      secretsctl filestatus secrets.yaml
    """
    from secretsctl.errors import ExitCode, InputError, MetadataNotFoundError
    from secretsctl.limits import read_file

    if file is None:
        raise InputError("no file specified", exit_code=ExitCode.NO_FILE_SPECIFIED)
    fmt = format_for(input_type, file)
    try:
        data = read_file(file)
    except OSError as exc:
        message = f"cannot read {file}: {exc.strerror}"
        raise InputError(message, exit_code=ExitCode.GENERIC) from None
    try:
        _, metadata = fmt.store.load_encrypted(data)
    except MetadataNotFoundError:
        encrypted = False
    else:
        encrypted = bool(metadata.get("version")) and bool(metadata.get("mac"))
    click.echo('{"encrypted":' + ("true" if encrypted else "false") + "}")
