"""``secretsctl edit FILE``: ``sops edit`` with the plaintext kept off disks (secretsctl.edit)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from secretsctl.cli.app import App
from secretsctl.cli.options import (
    SopsCommand,
    flag_key_group,
    ignore_mac_option,
    input_type_option,
    pgp_option,
    sops_options,
)
from secretsctl.cli.sops_run import SopsOptions, check_services, format_for, identities_for
from secretsctl.errors import ConfigError, ExitCode, SecretsctlError

if TYPE_CHECKING:
    from secretsctl.sops.creation_rules import EncryptionSettings, SopsConfig

PRESS_A_KEY = "Press Enter to return to the editor, or Ctrl+C to exit."


def _ask_to_retry(app: App, problem: SecretsctlError) -> bool:
    """Say why the text was refused and wait for one byte on stdin; EOF means give up."""
    from secretsctl.edit import ShownMetadataError

    if isinstance(problem, ShownMetadataError):
        app.display_error(problem.message)
    else:
        app.display_error(f"Could not load tree, probably due to invalid syntax: {problem.message}")
    # Not quiet-able: the user must know why the program waits.
    app.display_hint(PRESS_A_KEY)
    try:
        return os.read(sys.stdin.fileno(), 1) != b""
    except OSError:
        return False


@click.command(cls=SopsCommand)
@click.argument("file", type=click.Path(dir_okay=False))
@input_type_option()
@ignore_mac_option()
@click.option(
    "-s",
    "--show-master-keys",
    is_flag=True,
    help="Show the sops metadata below the plaintext (it must stay as shown).",
)
@click.option(
    "--allow-disk-tmp",
    is_flag=True,
    help="Put the plaintext on a disk-backed folder ($TMPDIR or /tmp) when no RAM-backed one"
    " ($XDG_RUNTIME_DIR, /dev/shm) exists.",
)
@click.option(
    "-a",
    "--age",
    envvar="SOPS_AGE_RECIPIENTS",
    help="For a new FILE: comma-separated age recipients instead of the .sops.yaml creation"
    " rule's. Env: SOPS_AGE_RECIPIENTS.",
)
@pgp_option
@sops_options
@click.pass_obj
def edit(
    app: App,
    file: str,
    input_type: str | None,
    ignore_mac: bool,
    show_master_keys: bool,
    allow_disk_tmp: bool,
    age: str | None,
    pgp: str | None,
    sops: SopsOptions,
) -> None:
    """Edit FILE in $SOPS_EDITOR or $EDITOR; create it from .sops.yaml if it does not exist.

    The plaintext is written to a 0600 file in a fresh 0700 folder on a RAM-backed filesystem
    and removed on every way out. Exit 200: the file was not changed.

    \b
    Examples:
      secretsctl edit secrets.yaml
      EDITOR=nano secretsctl edit new.yaml   # a new file, from .sops.yaml's rule
    """
    from secretsctl import edit as core
    from secretsctl.api import indent_for

    services = sops.services()
    path = os.path.abspath(file)
    fmt = format_for(input_type, path)
    config = sops.config(app)
    indent = indent_for(fmt, config.stores if config else None)

    location = core.temp_location(os.environ, allow_disk=allow_disk_tmp)
    if not location.ram_backed:
        app.display_warning(
            f"the plaintext goes to a disk-backed folder ({location.path}, {location.filesystem})"
            " while you edit"
        )

    def on_invalid(problem: SecretsctlError) -> bool:
        return _ask_to_retry(app, problem)

    if os.path.lexists(path):
        result = core.edit_file(
            path, fmt=fmt, ignore_mac=ignore_mac, indent=indent, temp_base=location.path,
            show_master_keys=show_master_keys,
            allow_disk_tmp=allow_disk_tmp, on_invalid=on_invalid,
            identities=identities_for(app, services),
        )  # fmt: skip
    else:
        settings = _new_file_settings(config, path, flag_key_group(age, pgp), indent)
        check_services(app, services)
        result = core.create_file(
            path, settings, fmt=fmt, temp_base=location.path, allow_disk_tmp=allow_disk_tmp,
            on_invalid=on_invalid, services=services,
        )  # fmt: skip
    if not result.changed:
        app.display_info("File has not changed, exiting.")
        raise SystemExit(ExitCode.FILE_HAS_NOT_BEEN_MODIFIED)


def _new_file_settings(
    config: SopsConfig | None, path: str, flag_group: tuple[str, ...], indent: int | None
) -> EncryptionSettings:
    """Return the creation rule's settings for a new file, recipients replaced by the flags'."""
    from secretsctl.sops.creation_rules import EncryptionSettings, rule_for

    creation: EncryptionSettings | None = None
    if config is not None:
        try:
            creation = rule_for(config, path)
        except ConfigError:
            if not flag_group:
                raise
    if flag_group:
        groups = (flag_group,)
        if creation is None:
            return EncryptionSettings(key_groups=groups, indent=indent)
        return creation._replace(key_groups=groups, shamir_threshold=None, indent=indent)
    if creation is None:
        raise ConfigError(
            "config file not found, or has no creation rules, and no keys provided through"
            " command line options",
            hint="pass --age RECIPIENT or --pgp FINGERPRINT, or create a .sops.yaml with a"
            " creation rule",
        )
    return creation._replace(indent=indent)
