"""Dry runs: what ``apply`` or ``rollback`` would do, from the live tree, writing nothing.

No mount, no directory, no symlink, no state; only NixOS's dry-activation list files when
that delivery is chosen.
"""

from __future__ import annotations

from secretsctl.activate import fsops, generations, links
from secretsctl.activate.live import compare_with_live, existing_generations
from secretsctl.activate.result import ApplyResult
from secretsctl.activate.switch import change_log
from secretsctl.activate.units import Delivery, decide_units, deliver_units

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from secretsctl.activate.context import Context
    from secretsctl.activate.diff import Diff
    from secretsctl.activate.links import LinkSpec
    from secretsctl.config.model import Manifest
    from secretsctl.render.model import PlannedFile, RenderPlan


def dry_apply(
    plan: RenderPlan,
    files: Sequence[PlannedFile],
    wanted: Sequence[LinkSpec],
    manifest: Manifest,
    ctx: Context,
    live: generations.LiveLink,
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
    may_mount: bool,
) -> ApplyResult:
    """Say what ``apply`` would do with ``files`` (the plan's, in write order) and ``wanted``."""
    warnings = list(plan.warnings)
    if live.kind == "other":
        what = "directory" if live.is_dir else "file"
        warnings.append(f"would replace the {what} at {live.path} with the link")
    if not may_mount:
        fsops.require_ram_backed(
            ctx.mount_point, why="secretsctl mounts only as root in system mode"
        )
    diff = compare_with_live(ctx, files, live, warnings)
    created = diff.tree_changed or live.generation is None
    number = (live.generation or 0) + 1 if created else live.generation
    assert number is not None  # noqa: S101 - created when there is no live generation
    # The warnings come in a real run's order: the state file's, the links', then the units'.
    state, note = links.load_state(links.state_file(ctx.state_dir, manifest.mount_point), ctx.dirs)
    if note:
        warnings.append(note)
    restart, reload, unit_warnings = decide_units(diff, deliver, systemctl, check_units)
    kept = [*existing_generations(ctx.mount_point), number]
    return dry_run_result(
        manifest,
        ctx,
        diff,
        wanted,
        state.links,
        deliver=deliver,
        systemctl=systemctl,
        restart=restart,
        reload=reload,
        generation=number,
        previous=live.generation,
        created=created,
        pruned=generations.would_prune(kept, number, manifest.keep_generations),
        warnings=warnings,
        unit_warnings=unit_warnings,
    )


def dry_run_result(
    manifest: Manifest,
    ctx: Context,
    diff: Diff,
    wanted: Sequence[LinkSpec],
    recorded_links: Mapping[str, str],
    *,
    deliver: Delivery,
    systemctl: str,
    restart: tuple[str, ...],
    reload: tuple[str, ...],
    generation: int,
    previous: int | None,
    created: bool,
    pruned: tuple[int, ...],
    warnings: list[str],
    unit_warnings: Sequence[str],
) -> ApplyResult:
    """Say what a run (or a rollback) would do, from its diff and units; write nothing.

    ``unit_warnings`` follow the links' warnings, as in a real run.
    """
    list_files: tuple[str, ...] = ()
    errors: list[str] = []
    if deliver is Delivery.LIST_FILES:
        _, list_files, errors = deliver_units(
            ctx, restart, reload, deliver, systemctl, dry_run=True
        )
    removable, foreign = links.stale_links(recorded_links, (s.path for s in wanted), ctx.dirs)
    warnings += [f"would leave {p} in place: it is not a link secretsctl made" for p in foreign]
    warnings += unit_warnings
    log = change_log(diff, manifest, dry_run=True)
    log += [f"would remove stale link: {p}" for p in removable]
    return ApplyResult(
        dry_run=True,
        generation=generation,
        previous=previous,
        created=created,
        items=diff.items,
        log_lines=tuple(log),
        restart_units=restart,
        reload_units=reload,
        delivery=deliver,
        delivered=bool(list_files),
        list_files=list_files,
        links_created=(
            *diff.links_made,
            *(
                s.path
                for s in wanted
                if not links.link_is_current(s, chown=ctx.chown, dirs=ctx.dirs)
            ),
        ),
        links_removed=(*diff.links_dropped, *removable),
        pruned=pruned,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )
