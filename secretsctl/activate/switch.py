"""Making a generation live: the atomic switch of the symlink, then links, pruning and units.

Shared by ``apply`` (a generation just written, or the live one when nothing differed) and
``rollback`` (an older kept generation). Failures after the switch do not undo it: they are
returned in :attr:`ApplyResult.errors` and the generation stays live.
"""

from __future__ import annotations

from secretsctl.activate import generations, links
from secretsctl.activate.linking import save_state, sync_links
from secretsctl.activate.result import ApplyResult
from secretsctl.activate.units import decide_units, deliver_units
from secretsctl.activate.write import discard
from secretsctl.errors import ActivationError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable

    from secretsctl.activate.context import Context
    from secretsctl.activate.diff import Diff
    from secretsctl.activate.fsops import MountOutcome
    from secretsctl.activate.links import LinkSpec
    from secretsctl.activate.units import Delivery
    from secretsctl.config.model import Manifest


def change_log(diff: Diff, manifest: Manifest, *, dry_run: bool) -> list[str]:
    """Return the change log lines, unless the configuration turns them off (or user mode)."""
    if manifest.user_mode or not manifest.log_secret_changes:
        return []
    return diff.change_log(dry_run=dry_run)


def make_live(
    *,
    manifest: Manifest,
    ctx: Context,
    mount_fd: int,
    live: generations.LiveLink,
    diff: Diff,
    number: int,
    write: Callable[[], None] | None,
    record: dict[str, tuple[int, int, int]] | None,
    wanted: list[LinkSpec],
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
    force: bool,
    mount: MountOutcome | None,
    warnings: list[str],
    prune: bool = True,
) -> ApplyResult:
    """Make ``number`` live (writing it first when ``write`` is given), then links, prune, units."""
    state_path = links.state_file(ctx.state_dir, manifest.mount_point)
    links.clean_state_leftover(state_path, ctx.dirs)
    state, note = links.load_state(state_path, ctx.dirs)
    if note:
        warnings.append(note)
    saved = (dict(state.links), set(state.generations))
    switching = number != live.generation or live.kind != "symlink"
    if write is not None:
        write()
    if switching:
        if record is not None and write is not None:
            state.generations[number] = record
        # Recorded before the switch, so a link made after it is never unaccounted for.
        state.links = {**state.links, **{s.path: s.target for s in wanted}}
        if (state.links, set(state.generations)) != saved:
            save_state(ctx, state_path, state, warnings)
            saved = (dict(state.links), set(state.generations))
        try:
            generations.switch_symlink(
                ctx.symlink_path,
                f"{ctx.mount_point}/{number}",
                replace_other=force and live.kind == "other",
                dirs=ctx.dirs,
            )
        except ActivationError:
            if write is not None:
                discard(mount_fd, number)
            raise
    errors: list[str] = []
    synced = sync_links(ctx, state, wanted, warnings, errors)
    previous_links = state.links
    state.links = {s.path: s.target for s in wanted if s.path not in synced.failed}
    state.links.update({p: previous_links[p] for p in synced.kept})
    pruned: tuple[int, ...] = ()
    if prune:
        try:
            pruned = generations.prune(mount_fd, number, manifest.keep_generations)
        except OSError as exc:
            errors.append(f"cannot prune old secrets generations: {exc.strerror}")
    if state.generations:
        kept = set(generations.list_generations(mount_fd))
        for stale in [n for n in state.generations if n not in kept]:
            del state.generations[stale]
    if (state.links, set(state.generations)) != saved:
        save_state(ctx, state_path, state, warnings)
    restart, reload, unit_warnings = decide_units(diff, deliver, systemctl, check_units)
    warnings += unit_warnings
    delivered, list_files, unit_errors = deliver_units(
        ctx, restart, reload, deliver, systemctl, dry_run=False
    )
    errors += unit_errors
    log = change_log(diff, manifest, dry_run=False)
    log += [f"removing stale link: {p}" for p in synced.removed]
    return ApplyResult(
        dry_run=False,
        generation=number,
        previous=live.generation,
        created=write is not None,
        items=diff.items,
        log_lines=tuple(log),
        restart_units=restart,
        reload_units=reload,
        delivery=deliver,
        delivered=delivered,
        list_files=list_files,
        links_created=(*diff.links_made, *synced.created),
        links_removed=(*diff.links_dropped, *synced.removed),
        pruned=pruned,
        mount=mount,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )
