"""``secretsctl unit``: the boot unit, for the program and configuration actually installed."""

from __future__ import annotations

import os
import shutil
import sys

import click

UNIT_NAME = "secretsctl-activate.service"
_TEMPLATE_EXEC = "/usr/bin/secretsctl"
_TEMPLATE_CONFIG = "/etc/secretsctl/secretsctl.yaml"


def unit_text(program: str, config: str) -> str:
    """Return the boot unit with its ``ExecStart`` naming ``program`` and ``config``."""
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "units")
    with open(os.path.join(folder, UNIT_NAME), encoding="utf-8") as stream:
        text = stream.read()
    config_dir = os.path.dirname(config)
    return (
        text.replace(_TEMPLATE_EXEC, program)
        .replace(_TEMPLATE_CONFIG, config)
        .replace("RequiresMountsFor=/etc/secretsctl ", f"RequiresMountsFor={config_dir} ")
    )


def installed_program() -> str:
    """Return the absolute path of the running ``secretsctl`` console script."""
    argv0 = sys.argv[0]
    found = argv0 if os.sep in argv0 else shutil.which(argv0)
    if found and os.path.basename(found) == "secretsctl":
        return os.path.abspath(found)
    beside = os.path.join(os.path.dirname(sys.executable), "secretsctl")
    return beside if os.path.exists(beside) else _TEMPLATE_EXEC


@click.command("unit")
@click.option(
    "-m",
    "--manifest",
    "manifest_path",
    envvar="SECRETSCTL_MANIFEST",
    metavar="FILE",
    default=_TEMPLATE_CONFIG,
    show_default=True,
    help="What the unit installs: a secretsctl.yaml or sops-nix's manifest.json. "
    "Env: SECRETSCTL_MANIFEST.",
)
def unit(manifest_path: str) -> None:
    """Print the systemd boot unit (secretsctl-activate.service) for this installation.

    \b
    Example:
      secretsctl unit > /etc/systemd/system/secretsctl-activate.service
      systemctl enable secretsctl-activate.service
    """
    sys.stdout.write(unit_text(installed_program(), os.path.abspath(manifest_path)))
    sys.stdout.flush()
