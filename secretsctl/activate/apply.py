"""Installing a render plan as the live generation: the steps of a run, in order.

``apply`` runs, under one exclusive lock:

1. checks of the plan itself (names, clashes, modes, link paths), all reported together;
2. in a dry run, steps 5 and 9 only, from the live tree: nothing at all is written (no mount,
   no directory, no symlink, no state), except NixOS's dry-activation list files when that
   delivery is chosen;
3. the RAM-backed mount (or the check that the mount point already is RAM-backed);
4. removal of an unfinished generation N+1 left by an interrupted run;
5. the comparison of the plan, in memory, with the live generation;
6. when anything differs (bytes, owners, modes, the set of files or directories): generation
   N+1, each file created with its final owner and mode before it is written, secrets first,
   then templates under ``rendered/``, one fsync of the generation directory; then the atomic
   switch of the symlink path. Any failure up to the switch removes N+1 and leaves the live
   generation serving. When nothing differs, no generation is made and N stays live:
   the generation number does not advance;
7. custom ``path`` links, and removal of stale recorded ones;
8. pruning by ``keep_generations``;
9. unit restarts and reloads for the items whose bytes changed.

Failures after the switch (links, pruning, units) do not undo it: they are returned in
``ApplyResult.errors`` and the new generation stays live. Each step lives in its own module:
:mod:`.validate` (1), :mod:`.dryrun` (2), :mod:`.live` (5), :mod:`.write` (6),
:mod:`.switch` (6 to 9), with :mod:`.linking` (7) and :mod:`.units` (9); rolling back is
:mod:`.rollback`, reporting the live generation :mod:`.status`.
"""

from __future__ import annotations

import os

from secretsctl.activate import fsops, generations
from secretsctl.activate.context import locked_run, open_mount_point
from secretsctl.activate.linking import wanted_links
from secretsctl.activate.live import compare_with_live
from secretsctl.activate.switch import make_live
from secretsctl.activate.units import Delivery
from secretsctl.activate.validate import check_folders, validate
from secretsctl.activate.write import in_write_order, owner_mode, write_age_keys, write_generation

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.activate.result import ApplyResult
    from secretsctl.config.model import Manifest
    from secretsctl.paths import RuntimePaths
    from secretsctl.redact import Secret
    from secretsctl.render.model import RenderPlan


def apply(
    plan: RenderPlan,
    manifest: Manifest,
    paths: RuntimePaths,
    *,
    dry_run: bool = False,
    force: bool = False,
    deliver: Delivery = Delivery.SYSTEMCTL,
    wait: bool = True,
    systemctl: str = "systemctl",
    check_units: bool = True,
    keys_gid: int | None = None,
    may_mount: bool | None = None,
    owners_known: bool = True,
    always_new_generation: bool = False,
    age_keys: Secret[bytes] | None = None,
) -> ApplyResult:
    """Install ``plan`` as the live generation (or, with ``dry_run``, say what that would do).

    ``force`` replaces a real file or directory at the symlink path (else refused).
    ``wait=False`` fails at once (exit 11, naming the holder's PID) when another run holds
    the lock. ``keys_gid`` overrides the ``keys`` group lookup (0 for sops-nix's
    ``-ignore-passwd``). ``may_mount`` defaults to "root, in system mode"; without it the mount
    point must already be on tmpfs or ramfs. In user mode nothing is chowned or mounted and
    no unit is told, as in sops-nix. ``systemctl`` is the program run for unit checks and
    restarts. ``owners_known=False``: the plan's owners were not looked up (a dry activation
    forces 0:0), so an owner differing from the live file's is not reported as drift.
    ``always_new_generation`` writes generation N+1 even when nothing changed, as sops-nix
    does (its tests and pruning count on it); secretsctl's own default keeps N then.
    ``age_keys`` replaces ``<mount point>/age-keys.txt`` (mode 0600, the caller's) before the
    generation is written, as sops-nix writes its combined key file; never in a dry run.
    """
    validate(plan, manifest, paths)
    if manifest.user_mode:
        deliver = Delivery.NONE
    with locked_run(
        manifest,
        paths,
        wait=wait,
        dry_run=dry_run,
        keys_gid=keys_gid,
        owners_known=owners_known,
    ) as ctx:
        if may_mount is None:
            may_mount = ctx.chown
        wanted = wanted_links(ctx, plan.files)
        check_folders(ctx, wanted, deliver)
        live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
        generations.refuse_non_symlink(live, force=force)
        files = in_write_order(plan.files)
        if dry_run:
            # Only dry runs need it: the boot path does not load it.
            from secretsctl.activate.dryrun import dry_apply

            return dry_apply(
                plan, files, wanted, manifest, ctx, live, deliver, systemctl, check_units, may_mount
            )
        mount = fsops.mount_secret_fs(
            ctx.mount_point,
            dirs=ctx.dirs,
            use_tmpfs=manifest.use_tmpfs,
            may_mount=may_mount,
            fallback_when_denied=paths.root not in ("", "/"),
            chown=ctx.chown,
            keys_gid=ctx.owners.dir_gid,
        )
        mount_fd = open_mount_point(ctx)
        try:
            # Read again: a fresh mount hides whatever generation was there before.
            live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
            warnings = list(plan.warnings)
            generations.clean_switch_leftovers(ctx.symlink_path, ctx.dirs)
            following = (live.generation or 0) + 1
            if generations.remove_leftover(mount_fd, following):
                warnings.append(f"removed generation {following}, left unlinked by an earlier run")
            diff = compare_with_live(ctx, files, live, warnings)
            if age_keys is not None:
                write_age_keys(ctx, mount_fd, age_keys)
            created = diff.tree_changed or live.generation is None or always_new_generation
            number = following if created else live.generation
            assert number is not None  # noqa: S101 - created when there is no live generation

            def write() -> None:
                write_generation(ctx, mount_fd, number, files)

            return make_live(
                manifest=manifest,
                ctx=ctx,
                mount_fd=mount_fd,
                live=live,
                diff=diff,
                number=number,
                write=write if created else None,
                # Owners and modes as written, for rollback's check (none kept with keep 1).
                record=(
                    {f.relative_path: owner_mode(ctx, f) for f in files}
                    if manifest.keep_generations != 1
                    else None
                ),
                wanted=wanted,
                deliver=deliver,
                systemctl=systemctl,
                check_units=check_units,
                force=force,
                mount=mount,
                warnings=warnings,
            )
        finally:
            os.close(mount_fd)


__all__ = ["apply"]
