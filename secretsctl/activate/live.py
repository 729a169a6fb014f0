"""Reading the live generation: the tree the symlink path leads to, and the plan beside it.

:func:`compare_with_live` compares planned files with that tree (see
:func:`secretsctl.activate.diff.compare`); :func:`open_live` and
:func:`existing_generations` serve ``status`` too. Nothing here writes.
"""

from __future__ import annotations

import os

from secretsctl.activate import fsops, generations
from secretsctl.activate.diff import compare
from secretsctl.activate.linking import generation_links
from secretsctl.errors import ActivationError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence

    from secretsctl.activate.context import Context
    from secretsctl.activate.diff import Diff
    from secretsctl.activate.fsops import TreeSnapshot
    from secretsctl.render.model import PlannedFile


def open_live(symlink_path: str) -> TreeSnapshot | None:
    """Walk the tree the symlink path leads to now (None when it leads nowhere)."""
    try:
        fd = os.open(symlink_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ActivationError(
            f"cannot request units to restart: cannot read {symlink_path}: {exc.strerror}"
        ) from None
    return _snapshot(fd)


def _snapshot(fd: int) -> TreeSnapshot:
    """Walk the open generation folder ``fd``, then close it."""
    try:
        return fsops.TreeSnapshot(fd)
    except OSError as exc:
        raise ActivationError(
            f"cannot request units to restart: cannot read the live generation: {exc.strerror}"
        ) from None
    finally:
        os.close(fd)


def _open_generation(ctx: Context, number: int) -> TreeSnapshot | None:
    """Walk generation ``number``, reached through the mount point's checked descriptor."""
    try:
        mount_fd = ctx.dirs.own_directory(ctx.mount_point, create=False)
        if mount_fd is None:
            return None
        fd = os.open(str(number), fsops.DIR_FLAGS, dir_fd=mount_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ActivationError(
            f"cannot request units to restart: cannot read {ctx.mount_point}/{number}: "
            f"{exc.strerror}"
        ) from None
    return _snapshot(fd)


def compare_with_live(
    ctx: Context,
    files: Sequence[PlannedFile],
    link: generations.LiveLink,
    warnings: list[str],
) -> Diff:
    """Compare ``files`` with the tree the symlink path leads to now."""
    live = None
    if link.kind == "symlink":
        if link.generation is None and not _ram_backed(ctx.symlink_path):
            # A link into some other tree: sops-nix would walk all of it (even "/").
            warnings.append(
                f"{ctx.symlink_path} points at {link.target}, outside {ctx.mount_point} and "
                "not on a RAM filesystem: not compared, every item counts as new"
            )
        elif link.generation is not None:
            live = _open_generation(ctx, link.generation)
        else:
            live = open_live(ctx.symlink_path)
    try:
        return compare(
            files,
            live,
            owners=ctx.owners,
            symlink_path=ctx.symlink_path,
            runtime=ctx.paths.runtime,
            names=ctx.names,
            links={s.path: s.target for s in generation_links(ctx, files)},
        )
    except OSError as exc:
        raise ActivationError(
            f"cannot request units to restart: cannot read the live generation: {exc.strerror}"
        ) from None
    finally:
        if live is not None:
            live.close()


def _ram_backed(path: str) -> bool:
    try:
        entry = fsops.filesystem_of(path)
    except OSError:
        return False
    return entry is not None and entry.fs_type in fsops.RAM_TYPES


def existing_generations(mount_point: str) -> list[int]:
    """Return the generation numbers on the mount point (none when it cannot be read)."""
    try:
        fd = fsops.open_dir(mount_point)
    except OSError:
        return []
    try:
        return generations.list_generations(fd)
    finally:
        os.close(fd)
