"""Command-line options shared by several commands, spelled once."""

from __future__ import annotations

import click

sops_config_option = click.option(
    "--config",
    "config_path",
    envvar="SOPS_CONFIG",
    type=click.Path(dir_okay=False),
    help="Path of .sops.yaml; by default searched upward from the current directory."
    " Env: SOPS_CONFIG.",
)

pgp_option = click.option(
    "-p",
    "--pgp",
    envvar="SOPS_PGP_FP",
    help="Comma-separated PGP fingerprints (gpg encrypts to them); with --age they share one"
    " key group. Env: SOPS_PGP_FP.",
)


def flag_key_group(age: str | None, pgp: str | None) -> tuple[str, ...]:
    """Return the key group given by ``--age`` and ``--pgp`` (comma-separated), each checked.

    A PGP fingerprint given to ``--age`` is refused, never silently taken as PGP.
    """
    from secretsctl.keys.kinds import recipients_for

    return (
        *recipients_for("age", (age or "").split(",")),
        *recipients_for("pgp", (pgp or "").split(",")),
    )
