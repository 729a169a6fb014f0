"""Activation commands: ``render``, ``activate``, ``check``, ``status`` and ``rollback``.

Each reads ``secretsctl.yaml`` (``-c``) or sops-nix's ``manifest.json`` (``--manifest``),
builds the render plan in memory, and hands it to :mod:`secretsctl.activate.apply`. Output
names paths, owners, modes, sizes and units; never a value.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from secretsctl.cli.app import App
from secretsctl.errors import ExitCode, UsageError
from secretsctl.paths import DEFAULT_CONFIG

if TYPE_CHECKING:
    from collections.abc import Sequence

    from secretsctl.activate.apply import ApplyResult, StatusResult
    from secretsctl.config.model import Manifest
    from secretsctl.paths import RuntimePaths

DELIVERIES = ("systemctl", "list-files", "none")


def _input_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "-c",
                "--config",
                "config_path",
                envvar="SECRETSCTL_CONFIG",
                help=f"secretsctl.yaml to use [default: {DEFAULT_CONFIG}]. Env: SECRETSCTL_CONFIG.",
            ),
            click.option(
                "--manifest",
                "manifest_path",
                help="Read sops-nix's manifest.json instead of secretsctl.yaml.",
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


def _load(
    config_path: str | None, manifest_path: str | None, *, check_only: bool = False
) -> Manifest:
    if config_path and manifest_path:
        raise UsageError("give either --config or --manifest, not both")
    if manifest_path:
        from secretsctl.config.sopsnix import load_manifest

        return load_manifest(manifest_path, check_only=check_only)
    from secretsctl.config.load import load_config

    return load_config(config_path or DEFAULT_CONFIG)


def _paths(root: str | None) -> RuntimePaths:
    from secretsctl.paths import RuntimePaths

    return RuntimePaths(os.path.abspath(root)) if root else RuntimePaths()


def _mode(mode: int) -> str:
    return f"{mode:04o}"


def _plan_rows(result: ApplyResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for item in result.items:
        units = [f"restart {u}" for u in item.restart_units]
        units += [f"reload {u}" for u in item.reload_units]
        state = item.state.value + (" (owner/mode drift)" if item.drift else "")
        rows.append(
            (
                item.path,
                f"{item.owner}:{item.group}",
                _mode(item.mode),
                str(item.size),
                state,
                ", ".join(units) if item.state.value in ("new", "modified") else "",
            )
        )
    return rows


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _result_json(result: ApplyResult) -> str:
    import json

    document = {
        "version": 1,
        "dry_run": result.dry_run,
        "generation": result.generation,
        "previous": result.previous,
        "created": result.created,
        "files": [
            {
                "kind": item.kind.value,
                "name": item.name,
                "path": item.path,
                "relative_path": item.relative_path,
                "owner": item.owner,
                "group": item.group,
                "uid": item.uid,
                "gid": item.gid,
                "mode": _mode(item.mode),
                "size": item.size,
                "state": item.state.value,
                "drift": item.drift,
                "restart_units": list(item.restart_units),
                "reload_units": list(item.reload_units),
            }
            for item in result.items
        ],
        "restart_units": list(result.restart_units),
        "reload_units": list(result.reload_units),
        "delivery": result.delivery.value,
        "delivered": result.delivered,
        "links_created": list(result.links_created),
        "links_removed": list(result.links_removed),
        "pruned": list(result.pruned),
        "log": list(result.log_lines),
        "warnings": list(result.warnings),
        "errors": list(result.errors),
    }
    return json.dumps(document, indent=2) + "\n"


def _report(app: App, result: ApplyResult, *, as_json: bool, table: bool) -> None:
    for warning in result.warnings:
        app.display_warning(warning)
    out = sys.stdout
    if as_json:
        out.write(_result_json(result))
    else:
        if table:
            header = ("PATH", "OWNER:GROUP", "MODE", "SIZE", "STATE", "UNITS")
            out.write(_table(_plan_rows(result), header))
        for line in result.log_lines:
            out.write(line + "\n")
        verb = "would " if result.dry_run else ""
        if result.restart_units:
            out.write(f"{verb}restart: {', '.join(result.restart_units)}\n")
        if result.reload_units:
            out.write(f"{verb}reload: {', '.join(result.reload_units)}\n")
        if table and not result.changed:
            out.write("nothing to change\n")
        elif table and result.generation is not None:
            done = "would be live" if result.dry_run else "is live"
            out.write(f"generation {result.generation} {done}\n")
    out.flush()
    for error in result.errors:
        app.display_error(error)
    if result.errors:
        raise SystemExit(int(ExitCode.ACTIVATION_FAILED))


def _run(
    app: App,
    *,
    config_path: str | None,
    manifest_path: str | None,
    root: str | None,
    dry_run: bool,
    force: bool,
    no_wait: bool,
    delivery: str,
) -> ApplyResult:
    from secretsctl.activate.apply import apply
    from secretsctl.activate.units import Delivery
    from secretsctl.render.plan import build_plan

    manifest = _load(config_path, manifest_path)
    # Not root: nothing can be chowned, so owners missing here only earn a warning.
    plan = build_plan(manifest, unprivileged=os.geteuid() != 0)
    return apply(
        plan,
        manifest,
        _paths(root),
        dry_run=dry_run,
        force=force,
        wait=not no_wait,
        deliver=Delivery(delivery),
    )


@click.command()
@_input_options
@_apply_options
@click.option("--dry-run", is_flag=True, help="Plan in memory and print it; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON document.")
@click.pass_obj
def render(
    app: App,
    config_path: str | None,
    manifest_path: str | None,
    root: str | None,
    force: bool,
    no_wait: bool,
    delivery: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Decrypt, render and install the configured secrets as a new generation.

    With --dry-run, do all of it in memory and print the plan (paths, owners, modes,
    sizes, states, units), writing nothing at all. No value is ever printed.
    """
    result = _run(
        app,
        config_path=config_path,
        manifest_path=manifest_path,
        root=root,
        dry_run=dry_run,
        force=force,
        no_wait=no_wait,
        delivery=delivery,
    )
    _report(app, result, as_json=as_json, table=True)


@click.command()
@_input_options
@_apply_options
@click.pass_obj
def activate(
    app: App,
    config_path: str | None,
    manifest_path: str | None,
    root: str | None,
    force: bool,
    no_wait: bool,
    delivery: str,
) -> None:
    """Install the secrets as the boot unit does: no prompts, one journal line per change."""
    result = _run(
        app,
        config_path=config_path,
        manifest_path=manifest_path,
        root=root,
        dry_run=False,
        force=force,
        no_wait=no_wait,
        delivery=delivery,
    )
    _report(app, result, as_json=False, table=False)


@click.command()
@_input_options
@click.pass_obj
def check(app: App, config_path: str | None, manifest_path: str | None, root: str | None) -> None:
    """Validate without decrypting or writing: for build time.

    Checks that sops files parse and hold the configured keys, that owners and groups exist,
    that templates compile and name only known secrets, and that modes are valid.
    """
    from secretsctl.render.plan import build_plan

    manifest = _load(config_path, manifest_path, check_only=True)
    plan = build_plan(manifest, check_only=True)
    for warning in plan.warnings:
        app.display_warning(warning)
    count = len(plan.files)
    app.display_info(f"{count} item{'s' if count != 1 else ''} checked, no problem found")


@click.command()
@_input_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON document.")
@click.pass_obj
def status(
    app: App, config_path: str | None, manifest_path: str | None, root: str | None, as_json: bool
) -> None:
    """Show the live generation: each file with owner, group and mode.

    Warns about any file more readable than its configuration says.
    """
    from secretsctl.activate.apply import status as live_status

    result = live_status(_load(config_path, manifest_path), _paths(root))
    if as_json:
        sys.stdout.write(_status_json(result))
    else:
        sys.stdout.write(_status_text(result))
    sys.stdout.flush()
    for warning in result.warnings:
        app.display_warning(warning)


def _status_text(result: StatusResult) -> str:
    if result.generation is None:
        return f"{result.symlink_path}: no live generation\n"
    lines = f"{result.symlink_path} -> {result.target} (generation {result.generation})\n"
    if result.generations:
        lines += f"generations kept: {', '.join(str(g) for g in result.generations)}\n"
    rows = [
        (
            f.relative_path,
            f"{f.owner}:{f.group}",
            _mode(f.mode),
            str(f.size),
            "" if f.configured else "not configured",
        )
        for f in result.files
    ]
    return lines + _table(rows, ("FILE", "OWNER:GROUP", "MODE", "SIZE", "NOTE"))


def _status_json(result: StatusResult) -> str:
    import json

    document = {
        "version": 1,
        "symlink_path": result.symlink_path,
        "target": result.target,
        "generation": result.generation,
        "generations": list(result.generations),
        "files": [
            {
                "kind": f.kind.value,
                "name": f.name,
                "relative_path": f.relative_path,
                "owner": f.owner,
                "group": f.group,
                "uid": f.uid,
                "gid": f.gid,
                "mode": _mode(f.mode),
                "size": f.size,
                "regular": f.regular,
                "configured": f.configured,
                "configured_mode": _mode(f.configured_mode)
                if f.configured_mode is not None
                else None,
            }
            for f in result.files
        ],
        "warnings": list(result.warnings),
    }
    return json.dumps(document, indent=2) + "\n"


@click.command()
@_input_options
@_apply_options
@click.option("--dry-run", is_flag=True, help="Say what the rollback would do; change nothing.")
@click.pass_obj
def rollback(
    app: App,
    config_path: str | None,
    manifest_path: str | None,
    root: str | None,
    force: bool,
    no_wait: bool,
    delivery: str,
    dry_run: bool,
) -> None:
    """Switch back to the previous kept generation, atomically, restarting changed units."""
    from secretsctl.activate.apply import rollback as roll_back
    from secretsctl.activate.units import Delivery

    result = roll_back(
        _load(config_path, manifest_path),
        _paths(root),
        dry_run=dry_run,
        force=force,
        wait=not no_wait,
        deliver=Delivery(delivery),
    )
    _report(app, result, as_json=False, table=True)
