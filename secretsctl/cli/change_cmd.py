"""Commands that change encrypted files in place: ``set``, ``unset``, ``updatekeys``, ``rotate``.

Each prepares every new file content first (secretsctl.change) and then writes them all with
``change.write_all``: a file is fully rewritten or left as it was, and with several files a
failure in any of them leaves every one untouched.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from secretsctl.cli.app import App
from secretsctl.cli.options import (
    SopsCommand,
    ignore_mac_option,
    input_type_option,
    option_group,
    options_as,
    output_type_option,
    sops_options,
)
from secretsctl.cli.sops_run import SopsOptions, format_named
from secretsctl.errors import ExitCode, InputError, SecretsctlError, UsageError
from secretsctl.record import Record

if TYPE_CHECKING:
    from secretsctl.change import KeyUpdate, Rewrite
    from secretsctl.sops.stores import Format


class _RewriteOptions(Record):
    """``--input-type``, ``--output-type`` and ``--ignore-mac`` of a command that rewrites."""

    input_type: str | None
    output_type: str | None
    ignore_mac: bool

    @property
    def fmt(self) -> Format | None:
        return format_named(self.input_type)

    @property
    def output_fmt(self) -> Format | None:
        return format_named(self.output_type)

    def rewrite(self, app: App, sops: SopsOptions, path: str) -> Rewrite:
        """Return how to open the file at ``path`` and write it back."""
        from secretsctl.api import indent_for
        from secretsctl.change import Rewrite
        from secretsctl.sops.stores import Format

        fmt, output_fmt = self.fmt, self.output_fmt
        return Rewrite(
            fmt,
            ignore_mac=self.ignore_mac,
            indent=indent_for(output_fmt or fmt or Format.for_path(path), sops.stores(app)),
            output_fmt=output_fmt,
            identities=sops.identities(app),
        )


# The options of every command that rewrites a file (set, unset, rotate).
_rewrite_options = option_group(
    options_as(
        _RewriteOptions,
        "options",
        input_type_option(),
        output_type_option("Store to write the file in; by default its input store."),
        ignore_mac_option("Skip the MAC check of the file as it is now."),
    ),
    sops_options,
)


@click.command("set", cls=SopsCommand)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.argument("path", required=False)
@click.argument("value", required=False)
@click.option(
    "--value-stdin",
    is_flag=True,
    help="Read VALUE from stdin, so it never shows in the process list.",
)
@click.option(
    "--value-file", is_flag=True, help="Read VALUE from the file named by the VALUE argument."
)
@click.option("--idempotent", is_flag=True, help="Write nothing if the value is already there.")
@_rewrite_options
@click.pass_obj
def set_command(
    app: App,
    file: str | None,
    path: str | None,
    value: str | None,
    value_stdin: bool,
    value_file: bool,
    idempotent: bool,
    options: _RewriteOptions,
    sops: SopsOptions,
) -> None:
    """Set the value at PATH, like '["a"][0]', in FILE to VALUE, a JSON value.

    Every other encrypted value keeps its bytes; the data key and recipients stay the same.

    \b
    Examples:
      secretsctl set secrets.yaml '["github_token"]' '"ghp_..."'
      secretsctl set --value-stdin secrets.yaml '["db"]["password"]' < password.json
    """
    from secretsctl import change

    if value_stdin and value_file:
        raise SecretsctlError("cannot use both --value-file and --value-stdin")
    if file is None or path is None or (value is None) is not value_stdin:
        wanted = 2 if value_stdin else 3
        raise InputError(
            f"no file specified, or index and value are missing: set needs exactly {wanted}"
            f" arguments{' with --value-stdin' if value_stdin else ''}",
            exit_code=ExitCode.NO_FILE_SPECIFIED,
        )
    tree_path = change.parse_set_path(path)
    from secretsctl.limits import read_file, read_stream

    if value is None:
        raw = read_stream(sys.stdin.buffer, "<stdin>")
    elif value_file:
        try:
            raw = read_file(value)
        except OSError as exc:
            raise InputError(f"cannot read {value}: {exc.strerror}") from None
    else:
        raw = os.fsencode(value)
    parsed = change.parse_set_value(raw)
    result = change.set_in_file(
        os.path.abspath(file),
        tree_path,
        parsed,
        idempotent=idempotent,
        rewrite=options.rewrite(app, sops, file),
    )
    if result.content is not None:
        change.write_all([(result.path, result.content)])


@click.command("unset", cls=SopsCommand)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.argument("path", required=False)
@click.option("--idempotent", is_flag=True, help="Succeed, writing nothing, if PATH is not there.")
@_rewrite_options
@click.pass_obj
def unset_command(
    app: App,
    file: str | None,
    path: str | None,
    idempotent: bool,
    options: _RewriteOptions,
    sops: SopsOptions,
) -> None:
    """Remove the key or list element at PATH, like '["a"][0]', from FILE.

    \b
    Example:
      secretsctl unset secrets.yaml '["old_token"]'
    """
    from secretsctl import change

    if file is None or path is None:
        raise InputError(
            "no file specified, or index is missing", exit_code=ExitCode.NO_FILE_SPECIFIED
        )
    tree_path = change.parse_set_path(path)
    result = change.unset_in_file(
        os.path.abspath(file),
        tree_path,
        idempotent=idempotent,
        rewrite=options.rewrite(app, sops, file),
    )
    if result.content is not None:
        change.write_all([(result.path, result.content)])


def _show_update(update: KeyUpdate) -> None:
    """Print the changes sops's ``updatekeys`` prints, for one file, on stdout."""
    echo = click.echo
    echo(f"The following changes will be made to the groups of {update.path}:")
    old, new = update.old_threshold, update.new_threshold
    if old > 0 and old == new:
        echo(f"shamir_threshold: {new}")
    else:
        if new > 0:
            echo(f"+++ shamir_threshold: {new}")
        if old > 0:
            echo(f"--- shamir_threshold: {old}")
    for index, group in enumerate(update.groups):
        echo(f"Group {index + 1}")
        for key in group.common:
            echo(f"    {key}")
        for key in group.added:
            echo(f"+++ {key}")
        for key in group.removed:
            echo(f"--- {key}")


def _approved(path: str) -> bool:
    """Ask y/n on stdin, as sops does (a pipe works too); end of input is an error."""
    while True:
        click.echo("Is this okay? (y/n): ", nl=False)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if line == "":
            click.echo()
            raise SecretsctlError(
                f"no answer for {path} (end of input); nothing was changed",
                hint="pass --yes to approve the changes without asking",
            )
        answer = line.strip()
        if answer in ("y", "n"):
            return answer == "y"


@click.command("updatekeys", cls=SopsCommand)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("-y", "--yes", is_flag=True, help="Approve every change without asking.")
@click.option(
    "--shamir-secret-sharing-threshold",
    "threshold",
    type=click.IntRange(min=1),
    help="How many key groups must open the file; by default the file's own threshold.",
)
@input_type_option()
@sops_options
@click.pass_obj
def updatekeys(
    app: App,
    files: tuple[str, ...],
    yes: bool,
    threshold: int | None,
    input_type: str | None,
    sops: SopsOptions,
) -> None:
    """Re-wrap the data key of each FILE for the recipients of its .sops.yaml creation rule.

    Shows the recipients added (+++) and removed (---) per file and asks y/n on stdin unless
    --yes. Values, lastmodified and the MAC stay as they are. If any file fails, none is
    changed.

    \b
    Examples:
      secretsctl updatekeys secrets.yaml
      secretsctl updatekeys -y secrets/*.yaml
    """
    from secretsctl import change

    if not files:
        raise InputError("no file specified", exit_code=ExitCode.NO_FILE_SPECIFIED)
    config = sops.config(app, required=True)
    assert config is not None  # noqa: S101 - required=True raises instead
    updates = change.plan_updatekeys(
        [os.path.abspath(file) for file in files],
        config,
        threshold=threshold,
        fmt=format_named(input_type),
        identities=sops.identities(app),
    )
    approved: list[tuple[str, bytes]] = []
    for update in updates:
        if update.content is None:
            app.display_info(f"{update.path} already up to date")
            continue
        _show_update(update)
        if yes or _approved(update.path):
            approved.append((update.path, update.content))
        else:
            app.display_info(f"{update.path} left unchanged")
    change.write_all(approved)
    for path, _ in approved:
        app.display_info(f"{path} synced with new keys")


def _recipients(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@click.command("rotate", cls=SopsCommand)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "-i",
    "--in-place",
    is_flag=True,
    help="Rewrite each FILE in place (all or nothing); without it, print the rotated FILE.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the rotated file here (one FILE only) and leave FILE as it is.",
)
@click.option("--add-age", help="Comma-separated age recipients to add to the first key group.")
@click.option("--rm-age", help="Comma-separated age recipients to remove from every key group.")
@click.option("--add-pgp", help="Comma-separated PGP fingerprints to add to the first key group.")
@click.option("--rm-pgp", help="Comma-separated PGP fingerprints to remove from every key group.")
@_rewrite_options
@click.pass_obj
def rotate(
    app: App,
    files: tuple[str, ...],
    in_place: bool,
    output: str | None,
    add_age: str | None,
    rm_age: str | None,
    add_pgp: str | None,
    rm_pgp: str | None,
    options: _RewriteOptions,
    sops: SopsOptions,
) -> None:
    """Re-encrypt FILE under a new data key, with a new lastmodified and MAC.

    As sops, the rotated file is printed unless -i rewrites it in place or --output names
    another file. -i takes several FILEs: if any fails (e.g. no key opens it), none is
    changed. --output-type writes another store.

    \b
    Examples:
      secretsctl rotate -i secrets.yaml
      secretsctl rotate -i --add-age age1... --rm-age age1... secrets/*.yaml
      secretsctl rotate secrets.yaml > rotated.yaml
    """
    from secretsctl import change

    if not files:
        raise InputError("no file specified", exit_code=ExitCode.NO_FILE_SPECIFIED)
    if output and in_place:
        raise UsageError("cannot operate on both --output and --in-place")
    if not in_place and len(files) > 1:
        raise UsageError(
            f"{'--output' if output else 'printing'} takes one FILE",
            hint="rotate several files in place with -i",
        )
    stores = sops.stores(app)
    results = change.rotate_files(
        [os.path.abspath(file) for file in files],
        add_age=_recipients(add_age),
        remove_age=_recipients(rm_age),
        add_pgp=_recipients(add_pgp),
        remove_pgp=_recipients(rm_pgp),
        fmt=options.fmt,
        ignore_mac=options.ignore_mac,
        stores=stores,
        identities=sops.identities(app),
        output_fmt=options.output_fmt,
    )
    if output:
        from secretsctl import fsutil

        fsutil.write_atomic(output, results[0][1])
    elif in_place:
        change.write_all(results)
    else:
        app.write_stdout(results[0][1], plaintext=False)
