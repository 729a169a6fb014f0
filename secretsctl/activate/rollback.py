"""Rolling back: making the newest kept generation older than the live one live again.

Its files are used as they are, after checking they are regular files with the owners and
modes recorded when they were written; the switch, links and units are as in ``apply``.
"""

from __future__ import annotations

import os

from secretsctl.activate import fsops, generations, links
from secretsctl.activate.context import Context, locked_run, open_mount_point
from secretsctl.activate.dryrun import dry_run_result
from secretsctl.activate.linking import known_links, spec_generation_links, wanted_links
from secretsctl.activate.live import compare_with_live
from secretsctl.activate.naming import kind_and_name, spec_index
from secretsctl.activate.switch import make_live
from secretsctl.activate.units import Delivery, decide_units
from secretsctl.activate.validate import check_folders
from secretsctl.activate.write import in_write_order
from secretsctl.errors import ActivationError, ExitCode
from secretsctl.render.model import PlannedFile

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Mapping

    from secretsctl.activate.fsops import TreeSnapshot
    from secretsctl.activate.naming import Names
    from secretsctl.activate.result import ApplyResult
    from secretsctl.config.model import Manifest, SecretSpec, TemplateSpec
    from secretsctl.paths import RuntimePaths
    from secretsctl.render.model import ItemKind


def rollback(
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
) -> ApplyResult:
    """Make the newest kept generation older than the live one live again.

    Its files are used as they are, after checking they are regular files with the owners
    and modes recorded when they were written. Change log, units and custom links (from the
    configuration, for the items the generation holds) are handled as in :func:`apply`;
    nothing is pruned. Without such a generation: exit 12, and nothing changes.
    """
    if manifest.user_mode:
        deliver = Delivery.NONE
    with locked_run(manifest, paths, wait=wait, dry_run=dry_run, keys_gid=keys_gid) as ctx:
        check_folders(ctx, (), deliver)
        live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
        if live.generation is None:
            raise ActivationError(
                f"nothing to roll back: {ctx.symlink_path} does not point at a generation "
                f"of {ctx.mount_point}",
                exit_code=ExitCode.NO_ROLLBACK_TARGET,
            )
        try:
            mount_fd = open_mount_point(ctx)
        except OSError as exc:
            raise ActivationError(
                f"nothing to roll back: cannot open {ctx.mount_point}: {exc.strerror}",
                exit_code=ExitCode.NO_ROLLBACK_TARGET,
            ) from None
        try:
            return _roll_back_to_older(
                manifest,
                ctx,
                mount_fd,
                live,
                dry_run,
                force,
                deliver,
                systemctl,
                check_units,
            )
        finally:
            os.close(mount_fd)


def _roll_back_to_older(
    manifest: Manifest,
    ctx: Context,
    mount_fd: int,
    live: generations.LiveLink,
    dry_run: bool,
    force: bool,
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
) -> ApplyResult:
    assert live.generation is not None  # noqa: S101 - checked by the caller
    target = generations.rollback_target(mount_fd, live.generation)
    if target is None:
        raise ActivationError(
            f"nothing to roll back to: no generation older than {live.generation} is kept in "
            f"{ctx.mount_point} (keep_generations is {manifest.keep_generations})",
            hint="keep_generations 2 or more (or 0, keep all) keeps older generations",
            exit_code=ExitCode.NO_ROLLBACK_TARGET,
        )
    state, note = links.load_state(links.state_file(ctx.state_dir, manifest.mount_point), ctx.dirs)
    warnings = [note] if note else []
    files = _read_generation(
        mount_fd,
        target,
        spec_index(manifest),
        state.generations.get(target),
        warnings,
        ctx.names,
        spec_generation_links(ctx.symlink_path, ctx.paths.runtime, manifest),
    )
    diff = compare_with_live(ctx, files, live, warnings)
    wanted = wanted_links(ctx, files)
    check_folders(ctx, wanted, deliver)
    if not dry_run:
        return make_live(
            manifest=manifest,
            ctx=ctx,
            mount_fd=mount_fd,
            live=live,
            diff=diff,
            number=target,
            write=None,
            record=None,
            wanted=wanted,
            deliver=deliver,
            systemctl=systemctl,
            check_units=check_units,
            force=force,
            mount=None,
            warnings=warnings,
            prune=False,
        )
    restart, reload, unit_warnings = decide_units(diff, deliver, systemctl, check_units)
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
        generation=target,
        previous=live.generation,
        created=False,
        pruned=(),
        warnings=warnings,
        unit_warnings=unit_warnings,
    )


def _read_generation(
    mount_fd: int,
    number: int,
    index: dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]],
    record: dict[str, tuple[int, int, int]] | None,
    warnings: list[str],
    names: Names,
    config_links: Mapping[str, str],
) -> list[PlannedFile]:
    """Read a kept generation back as planned files, in configuration order, after checks.

    ``config_links`` are the links inside the symlink path the configuration makes (relative
    path → target): they are neither files nor a sign of tampering.
    """
    from secretsctl.redact import Secret

    def order(relative: str) -> tuple[int, str]:
        found = index.get(kind_and_name(relative))
        return (found[0] if found else len(index), relative)

    try:
        target_fd = fsops.open_dir(str(number), dir_fd=mount_fd)
    except OSError as exc:
        raise ActivationError(f"cannot roll back to generation {number}: {exc.strerror}") from None
    try:
        with fsops.TreeSnapshot(target_fd) as tree:
            known = known_links(tree, config_links)
            _verify_generation(tree, number, record, warnings, known)
            files = []
            entries = [e for e in tree.files() if e.relative not in known]
            for entry in sorted(entries, key=lambda e: order(e.relative)):
                kind, name = kind_and_name(entry.relative)
                found = index.get((kind, name))
                spec = found[1] if found else None
                data, info = tree.read(entry)
                files.append(
                    PlannedFile(
                        kind,
                        name,
                        Secret(data),
                        info.uid,
                        info.gid,
                        info.mode,
                        *names(info.uid, info.gid),
                        link_path=spec.path if spec else None,
                        restart_units=spec.restart_units if spec else (),
                        reload_units=spec.reload_units if spec else (),
                    )
                )
            return in_write_order(files)
    except OSError as exc:
        raise ActivationError(f"cannot roll back to generation {number}: {exc.strerror}") from None
    finally:
        os.close(target_fd)


def _verify_generation(
    tree: TreeSnapshot,
    number: int,
    record: dict[str, tuple[int, int, int]] | None,
    warnings: list[str],
    known: frozenset[str] = frozenset(),
) -> None:
    """Refuse a generation with anything but regular files, or files changed since written.

    The ``known`` links (the configuration's, inside the symlink path) are allowed.
    """
    problems = [
        f"{e.relative} is not a regular file"
        for e in tree.files()
        if not e.is_file and e.relative not in known
    ]
    if record is None:
        warnings.append(
            f"generation {number} has no record of its owners and modes; "
            "only checked that its files are regular files"
        )
    elif not problems:
        for entry in tree.files():
            if entry.relative in known:
                continue
            wanted = record.get(entry.relative)
            info = tree.info(entry)
            if wanted is None:
                problems.append(f"{entry.relative} was not written by secretsctl")
            elif (info.uid, info.gid, info.mode) != wanted:
                problems.append(
                    f"{entry.relative} is {info.uid}:{info.gid} {info.mode:04o}, "
                    f"written as {wanted[0]}:{wanted[1]} {wanted[2]:04o}"
                )
        problems += [f"{rel} is missing" for rel in record if rel not in tree.entries]
    if problems:
        raise ActivationError(f"cannot roll back to generation {number}: " + "; ".join(problems))
