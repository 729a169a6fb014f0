"""The activation commands' work without click: loading inputs, running, reporting.

``secretsctl activate`` is the boot path, and click costs ~25 ms to import; the fast path
(:mod:`secretsctl.cli.fastpath`) calls this module directly, the click commands in
:mod:`secretsctl.cli.activate_cmd` call it after parsing. Output names paths, owners,
modes, sizes and units; never a value.
"""

from __future__ import annotations

import os
import sys

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.paths import DEFAULT_CONFIG

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypedDict

    from secretsctl.activate.diff import ItemChange
    from secretsctl.activate.result import ApplyResult
    from secretsctl.activate.status import StatusFile, StatusResult
    from secretsctl.activate.units import Delivery
    from secretsctl.cli.app import App
    from secretsctl.config.model import Manifest
    from secretsctl.paths import RuntimePaths
    from secretsctl.render.model import RenderPlan

    class RunOptions(TypedDict):
        """What the command line decides of an apply or a rollback."""

        dry_run: bool
        force: bool
        wait: bool
        deliver: Delivery


DELIVERIES = ("systemctl", "list-files", "none")


def is_sopsnix_manifest(path: str) -> bool:
    """Tell whether ``--manifest`` names sops-nix's ``manifest.json`` (by its ``.json`` name)."""
    return path.endswith(".json")


def load_inputs(manifest_path: str | None, *, check_only: bool = False) -> Manifest:
    """Read ``--manifest``: a ``secretsctl.yaml`` (the default) or sops-nix's manifest.json."""
    path = manifest_path or DEFAULT_CONFIG
    if is_sopsnix_manifest(path):
        from secretsctl.config.sopsnix import load_manifest

        return load_manifest(path, check_only=check_only)
    from secretsctl.config.load import load_config

    return load_config(path)


def plan_inputs(
    manifest_path: str | None, *, check_only: bool = False, unprivileged: bool = False
) -> tuple[Manifest, RenderPlan]:
    """Load the inputs and build the plan; the problems of both are reported together."""
    from secretsctl.render.plan import build_plan

    path = manifest_path or DEFAULT_CONFIG
    if is_sopsnix_manifest(path):
        manifest = load_inputs(path, check_only=check_only)
        earlier: tuple[SecretsctlError, ...] = ()
        flawed: frozenset[str] = frozenset()
    else:
        from secretsctl.config.load import read_config

        manifest, earlier, flawed = read_config(path)
    plan = build_plan(
        manifest, check_only=check_only, unprivileged=unprivileged, earlier=earlier, skip=flawed
    )
    return manifest, plan


def runtime_paths(root: str | None) -> RuntimePaths:
    """Return the runtime paths, under ``--root`` when given."""
    from secretsctl.paths import RuntimePaths

    return RuntimePaths(os.path.abspath(root)) if root else RuntimePaths()


def mode_text(mode: int) -> str:
    """Write a mode as people do: ``0440``."""
    return f"{mode:04o}"


def plan_rows(result: ApplyResult) -> list[tuple[str, ...]]:
    """One row per item: path, owner:group, mode, size, state, and the units acted on.

    A unit shows beside an item only when the run restarts or reloads it (the result's units,
    as ``--json`` says): none on a first generation, none for an unchanged item.
    """
    rows: list[tuple[str, ...]] = []
    append = rows.append
    restarted, reloaded = set(result.restart_units), set(result.reload_units)
    for item in result.items:
        value = item.state.value
        units = ""
        if (item.restart_units or item.reload_units) and value in ("new", "changed"):
            units = ", ".join(
                [f"restart {u}" for u in item.restart_units if u in restarted]
                + [f"reload {u}" for u in item.reload_units if u in reloaded]
            )
        if item.drift:
            value += " (owner/mode drift)"
        append(
            (
                item.path,
                f"{item.owner}:{item.group}",
                f"{item.mode:04o}",
                str(item.size),
                value,
                units,
            )
        )
    return rows


def table_text(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    every = [header, *rows]
    widths = [max(map(len, column)) for column in zip(*every, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths[:-1]) + "  {}"
    return "".join(line.format(*row).rstrip() + "\n" for row in every)


def _file_json(file: ItemChange | StatusFile, **path: str) -> dict[str, object]:
    """Return the fields a file has in both JSON documents; ``path`` goes after its name."""
    return {
        "kind": file.kind.value,
        "name": file.name,
        **path,
        "relative_path": file.relative_path,
        "owner": file.owner,
        "group": file.group,
        "uid": file.uid,
        "gid": file.gid,
        "mode": mode_text(file.mode),
        "size": file.size,
    }


def result_json(result: ApplyResult) -> str:
    """Render the result as one JSON document (``--json``)."""
    import json

    document = {
        "version": 1,
        "dry_run": result.dry_run,
        "generation": result.generation,
        "previous": result.previous,
        "created": result.created,
        "files": [
            {
                **_file_json(item, path=item.path),
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


def report(app: App, result: ApplyResult, *, as_json: bool, table: bool) -> None:
    """Print a run's result: the plan table (or JSON), the change log, the units, errors."""
    for warning in result.warnings:
        app.display_warning(warning)
    out = sys.stdout
    if as_json:
        out.write(result_json(result))
    else:
        if table:
            header = ("PATH", "OWNER:GROUP", "MODE", "SIZE", "STATE", "UNITS")
            out.write(table_text(plan_rows(result), header))
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


def run_activation(
    *,
    manifest_path: str | None,
    root: str | None,
    dry_run: bool,
    force: bool,
    no_wait: bool,
    delivery: str,
    rollback: bool = False,
) -> ApplyResult:
    """Load, plan and apply (or only plan, with ``dry_run``); return what was done.

    With ``rollback``, switch back to the previous kept generation instead (nothing is
    decrypted or planned).
    """
    from secretsctl.activate.units import Delivery

    options: RunOptions = {
        "dry_run": dry_run,
        "force": force,
        "wait": not no_wait,
        "deliver": Delivery(delivery),
    }
    if rollback:
        from secretsctl.activate.rollback import rollback as roll_back

        return roll_back(load_inputs(manifest_path), runtime_paths(root), **options)
    from secretsctl.activate.apply import apply

    # Not root: nothing can be chowned, so owners missing here only earn a warning.
    manifest, plan = plan_inputs(manifest_path, unprivileged=os.geteuid() != 0)
    return apply(plan, manifest, runtime_paths(root), **options)


def status_text(result: StatusResult) -> str:
    """Render the live generation and its files as a table."""
    if result.generation is None:
        return f"{result.symlink_path}: no live generation\n"
    lines = f"{result.symlink_path} -> {result.target} (generation {result.generation})\n"
    if result.generations:
        lines += f"generations kept: {', '.join(str(g) for g in result.generations)}\n"
    rows = [
        (
            f.relative_path,
            f"{f.owner}:{f.group}",
            mode_text(f.mode),
            str(f.size),
            "" if f.configured else "not configured",
        )
        for f in result.files
    ]
    return lines + table_text(rows, ("FILE", "OWNER:GROUP", "MODE", "SIZE", "NOTE"))


def status_json(result: StatusResult) -> str:
    """Render the status as one JSON document (``status --json``)."""
    import json

    document = {
        "version": 1,
        "symlink_path": result.symlink_path,
        "target": result.target,
        "generation": result.generation,
        "generations": list(result.generations),
        "files": [
            {
                **_file_json(f),
                "regular": f.regular,
                "configured": f.configured,
                "configured_mode": mode_text(f.configured_mode)
                if f.configured_mode is not None
                else None,
            }
            for f in result.files
        ],
        "warnings": list(result.warnings),
    }
    return json.dumps(document, indent=2) + "\n"
