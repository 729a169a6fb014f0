"""Activation commands: ``render``, ``activate``, ``check``, ``status`` and ``rollback``.

Each reads ``--manifest``: a ``secretsctl.yaml``, or sops-nix's ``manifest.json``,
builds the render plan in memory, and hands it to :mod:`secretsctl.activate`. Output
names paths, owners, modes, sizes and units; never a value.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from secretsctl.cli.activation import (
    DELIVERIES,
    load_inputs,
    plan_inputs,
    report,
    run_activation,
    runtime_paths,
    status_json,
    status_text,
)
from secretsctl.paths import DEFAULT_CONFIG

if TYPE_CHECKING:
    from secretsctl.cli.app import App


def _config_is_manifest_now(_ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value is not None:
        from secretsctl.errors import UsageError

        raise UsageError(
            "the activation commands take what to install as -m/--manifest FILE;"
            " --config names .sops.yaml, for the sops commands only",
            hint=f"secretsctl {_ctx.info_name} --manifest {value}",
        )


def _input_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "-m",
                "--manifest",
                "manifest_path",
                envvar="SECRETSCTL_MANIFEST",
                metavar="FILE",
                help="What to install: a secretsctl.yaml, or sops-nix's manifest.json (a file"
                f" named *.json) [default: {DEFAULT_CONFIG}]. Env: SECRETSCTL_MANIFEST.",
            ),
            click.option(
                "-c",
                "--config",
                hidden=True,
                expose_value=False,
                callback=_config_is_manifest_now,
            ),
            click.option(
                "--root",
                envvar="SECRETSCTL_ROOT",
                type=click.Path(file_okay=False),
                help="Put every runtime path (mount point, /run/secrets, custom paths, lock)"
                " under DIR. Env: SECRETSCTL_ROOT.",
            ),
        ]
    ):
        func = option(func)
    return func


def _apply_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--force",
                is_flag=True,
                help="Replace a real file or directory found at the symlink path.",
            ),
            click.option(
                "--no-wait",
                is_flag=True,
                help="Fail at once if another run holds the lock (exit 11).",
            ),
            click.option(
                "--delivery",
                type=click.Choice(DELIVERIES),
                default="systemctl",
                show_default=True,
                help="How units whose secrets changed are told: systemctl try-restart and"
                " try-reload-or-restart, NixOS's /run/nixos list files, or not at all.",
            ),
        ]
    ):
        func = option(func)
    return func


@click.command()
@_input_options
@_apply_options
@click.option("--dry-run", is_flag=True, help="Plan in memory and print it; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON document.")
@click.pass_obj
def render(app: App, /, as_json: bool, **params: Any) -> None:
    """Decrypt, render and install the configured secrets as a new generation.

    With --dry-run, do all of it in memory and print the plan (paths, owners, modes,
    sizes, states, units), writing nothing at all. No value is ever printed.

    \b
    Examples:
      secretsctl render --dry-run                  # /etc/secretsctl/secretsctl.yaml
      secretsctl render -m secretsctl.yaml --root "$(mktemp -d -p /dev/shm)"
      secretsctl render -m /nix/store/...-manifest.json --delivery list-files
    """
    report(app, run_activation(**params), as_json=as_json, table=True)


@click.command()
@_input_options
@_apply_options
@click.pass_obj
def activate(app: App, /, **params: Any) -> None:
    """Install the secrets as the boot unit does: no prompts, one journal line per change.

    \b
    Example (what secretsctl-activate.service runs):
      secretsctl activate --manifest /etc/secretsctl/secretsctl.yaml
    """
    report(app, run_activation(dry_run=False, **params), as_json=False, table=False)


@click.command()
@_input_options
@click.pass_obj
def check(app: App, manifest_path: str | None, root: str | None) -> None:
    """Validate without decrypting or writing: for build time.

    Checks that sops files parse and hold the configured keys, that owners and groups exist,
    that templates compile and name only known secrets, and that modes are valid. Warns about
    a private key file that others can read or that git tracks.

    \b
    Example (in a build, with no key on the builder):
      secretsctl check -m secretsctl.yaml
    """
    from secretsctl.keys.audit import key_file_warnings

    manifest, plan = plan_inputs(manifest_path, check_only=True)
    for warning in plan.warnings:
        app.display_warning(warning)
    keys = manifest.keys
    key_files = [*([keys.age_key_file] if keys.age_key_file else []), *keys.age_ssh_key_paths]
    for finding in key_file_warnings(key_files):
        app.display_warning(finding.text)
        app.display_hint(finding.hint)
    count = len(plan.files)
    app.display_info(f"{count} item{'s' if count != 1 else ''} checked, no problem found")


@click.command()
@_input_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON document.")
@click.pass_obj
def status(app: App, manifest_path: str | None, root: str | None, as_json: bool) -> None:
    """Show the live generation: each file with owner, group and mode.

    Warns about any file more readable than its configuration says.

    \b
    Examples:
      secretsctl status
      secretsctl status --json
    """
    from secretsctl.activate.status import status as live_status

    result = live_status(load_inputs(manifest_path), runtime_paths(root))
    if as_json:
        sys.stdout.write(status_json(result))
    else:
        sys.stdout.write(status_text(result))
    sys.stdout.flush()
    for warning in result.warnings:
        app.display_warning(warning)


@click.command()
@_input_options
@_apply_options
@click.option("--dry-run", is_flag=True, help="Say what the rollback would do; change nothing.")
@click.pass_obj
def rollback(app: App, /, **params: Any) -> None:
    """Switch back to the previous kept generation, atomically, restarting changed units.

    \b
    Examples:
      secretsctl rollback --dry-run
      secretsctl rollback
    """
    report(app, run_activation(rollback=True, **params), as_json=False, table=True)
