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
