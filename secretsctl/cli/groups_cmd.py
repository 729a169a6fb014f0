"""``groups add`` and ``groups delete``: sops's commands that add or remove a whole key group.

The core is secretsctl.change (add_key_group, delete_key_group); as in sops the new file goes
to stdout unless ``--in-place``, which replaces FILE atomically, keeping its mode and owner.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

from secretsctl.cli.app import App
from secretsctl.cli.options import SopsCommand, sops_options
from secretsctl.cli.sops_run import SopsOptions
from secretsctl.errors import ExitCode, InputError, SecretsctlError

_file = click.option(
    "-f", "--file", "file", type=click.Path(dir_okay=False), help="The sops file to change."
)
_in_place = click.option(
    "-i", "--in-place", is_flag=True, help="Replace FILE instead of printing the new file."
)
_threshold = click.option(
    "--shamir-secret-sharing-threshold",
    "threshold",
    type=click.IntRange(min=0),
    default=0,
    help="How many key groups must open the file; by default (0) the file's own threshold.",
)

# sops's flags for master keys secretsctl keeps in files but cannot wrap a data key for.
_CLOUD_FLAGS = (
    ("kms", "AWS KMS ARN"),
    ("gcp-kms", "GCP KMS resource ID"),
    ("azure-kv", "Azure Key Vault key URL"),
    ("hc-vault-transit", "Vault transit key URI"),
)


def _cloud_options(func: Any) -> Any:
    for name, what in reversed(_CLOUD_FLAGS):
        func = click.option(
            f"--{name}",
            name.replace("-", "_"),
            multiple=True,
            metavar="KEY",
            help=f"{what} (as sops; secretsctl refuses: it makes no cloud calls).",
        )(func)
    for name, what in (
        ("--aws-profile", "AWS profile (with --kms)."),
        ("--encryption-context", "KMS encryption context (with --kms)."),
    ):
        func = click.option(name, help=what)(func)
    return func


def _path(file: str | None) -> str:
    if not file:
        raise InputError(
            "no file specified: pass --file FILE",
            exit_code=ExitCode.COULD_NOT_READ_INPUT_FILE,
        )
    return os.path.abspath(file)


def _change_groups(
    app: App, sops: SopsOptions, path: str, in_place: bool, change_groups: Callable[..., bytes]
) -> None:
    """Run ``change_groups`` (given identities and stores), then replace FILE or print it.

    The identities are the key services'; the stores settings are the ``.sops.yaml``'s.
    """
    stores = sops.stores(app)
    content = change_groups(identities=sops.identities(app), stores=stores)
    if in_place:
        from secretsctl import change

        change.write_all([(path, content)])
    else:
        app.write_stdout(content, plaintext=False)


@click.group("groups")
def groups() -> None:
    """Add or delete a key group of a sops file (sops's `groups` commands).

    \b
    Examples:
      secretsctl groups add -f secrets.yaml -i --age age1...
      secretsctl groups delete -f secrets.yaml -i 1
    """


@groups.command("add", cls=SopsCommand, context_settings={"allow_extra_args": True})
@_file
@click.option(
    "--age",
    multiple=True,
    metavar="RECIPIENTS",
    help="age recipients of the new group (comma-separated, repeatable).",
)
@click.option(
    "--pgp",
    multiple=True,
    metavar="FINGERPRINT",
    help="PGP fingerprints of the new group (repeatable).",
)
@_cloud_options
@_in_place
@_threshold
@sops_options
@click.pass_obj
def add(
    app: App,
    file: str | None,
    age: tuple[str, ...],
    pgp: tuple[str, ...],
    kms: tuple[str, ...],
    gcp_kms: tuple[str, ...],
    azure_kv: tuple[str, ...],
    hc_vault_transit: tuple[str, ...],
    aws_profile: str | None,
    encryption_context: str | None,
    in_place: bool,
    threshold: int,
    sops: SopsOptions,
) -> None:
    """Add a key group of the given keys to FILE; the data key is split again for every group.

    FILE's values, lastmodified and MAC stay as they are. Without a threshold the file's is
    kept (none: every group must open the file, as in sops).

    \b
    Examples:
      secretsctl groups add -f secrets.yaml -i --age age1...
      secretsctl groups add -f s.yaml -i --shamir-secret-sharing-threshold 2 --age age1...
    """
    from secretsctl import change
    from secretsctl.keys.kinds import recipients_for

    del aws_profile, encryption_context
    if click.get_current_context().args:
        raise SecretsctlError("no positional arguments allowed", hint="give FILE with --file")
    cloud = [
        f"--{name} {key}"
        for (name, _), keys in zip(
            _CLOUD_FLAGS, (kms, gcp_kms, azure_kv, hc_vault_transit), strict=True
        )
        for key in keys
    ]
    if cloud:
        raise SecretsctlError(
            f"cannot add {', '.join(cloud)}: secretsctl keeps cloud KMS and Vault keys in a"
            " file but cannot wrap a data key for them",
            hint="add that group with sops, or give the group's keys with --age or --pgp",
        )
    path = _path(file)
    recipients = [
        *recipients_for("age", [part for text in age for part in text.split(",")]),
        *recipients_for("pgp", [part for text in pgp for part in text.split(",")]),
    ]
    add_group = functools.partial(change.add_key_group, path, recipients, threshold=threshold)
    _change_groups(app, sops, path, in_place, add_group)


@groups.command("delete", cls=SopsCommand)
@click.argument("index", nargs=-1)
@_file
@_in_place
@_threshold
@sops_options
@click.pass_obj
def delete(
    app: App,
    index: tuple[str, ...],
    file: str | None,
    in_place: bool,
    threshold: int,
    sops: SopsOptions,
) -> None:
    """Delete key group INDEX (from 0) of FILE; the data key is split again for the rest.

    The deleted group's keys no longer open FILE. Deleting the only group, or leaving fewer
    groups than the Shamir threshold, is refused.

    \b
    Examples:
      secretsctl groups delete -f secrets.yaml -i 1
      secretsctl groups delete -f s.yaml -i --shamir-secret-sharing-threshold 1 0
    """
    from secretsctl import change

    if len(index) != 1:
        raise SecretsctlError("exactly one positional argument (index) required")
    number = change.parse_group_index(index[0])
    path = _path(file)
    delete_group = functools.partial(change.delete_key_group, path, number, threshold=threshold)
    _change_groups(app, sops, path, in_place, delete_group)
