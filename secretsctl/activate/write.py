"""Writing generation N+1 beside the live one: every file created with its final owner and mode.

Secrets first, then templates under ``rendered/``, then the custom links inside the symlink
path, then one fsync of the generation directory. A failure removes what was written and
leaves the live generation serving; the switch to the new one is :mod:`.switch`'s.
"""

from __future__ import annotations

import os

from secretsctl.activate import fsops, generations
from secretsctl.activate.linking import generation_links
from secretsctl.activate.naming import RENDERED
from secretsctl.errors import ActivationError
from secretsctl.fsutil import fsync_directory, suppress
from secretsctl.render.model import ItemKind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence

    from secretsctl.activate.context import Context
    from secretsctl.redact import Secret
    from secretsctl.render.model import PlannedFile


def in_write_order(files: Sequence[PlannedFile]) -> list[PlannedFile]:
    """Secrets first, then templates, each in plan order."""
    return [f for f in files if f.kind is ItemKind.SECRET] + [
        f for f in files if f.kind is not ItemKind.SECRET
    ]


def owner_mode(ctx: Context, item: PlannedFile) -> tuple[int, int, int]:
    """Return the owner, group and mode ``item`` is written with."""
    forced = ctx.owners.files
    if forced is None:
        return item.uid, item.gid, item.mode
    return forced[0], forced[1], item.mode


def write_generation(
    ctx: Context, mount_fd: int, number: int, files: Sequence[PlannedFile]
) -> None:
    """Write generation ``number`` completely, or remove what was written and raise."""
    owners = ctx.owners
    try:
        gen_fd, _ = generations.prepare_generation(
            mount_fd, number, keys_gid=owners.dir_gid, chown=ctx.chown
        )
    except OSError as exc:
        discard(mount_fd, number)
        raise ActivationError(
            f"failed to prepare new secrets directory: {ctx.mount_point}/{number}: {exc.strerror}"
        ) from None
    writer = fsops.TreeWriter(
        gen_fd, dir_uid=owners.dir_uid, dir_gid=owners.dir_gid, chown=ctx.chown
    )
    complete = False
    current = ""
    try:
        for item in files:
            current = item.relative_path
            uid, gid, mode = owner_mode(ctx, item)
            writer.write(current, item.content.reveal(), uid=uid, gid=gid, mode=mode)
        for link in generation_links(ctx, files):
            current = link.path
            writer.symlink(link.path, link.target, uid=link.uid, gid=link.gid)
        current = ""
        # One sync for the directory entries; each file was synced as it was written.
        os.fsync(gen_fd)
        complete = True
    except OSError as exc:
        what = "templates" if current.startswith(RENDERED) else "secrets"
        where = f"{current}: " if current else ""
        raise ActivationError(
            f"cannot write {what}: {where}{exc.strerror}", hint=_space_hint(exc)
        ) from None
    finally:
        writer.close()
        os.close(gen_fd)
        if not complete:
            discard(mount_fd, number)


def write_age_keys(ctx: Context, mount_fd: int, data: Secret[bytes]) -> None:
    """Replace the mount point's age-keys.txt: a new 0600 file, synced, renamed over it."""
    from secretsctl.keys.sopsnix_keyfile import NAME

    temporary = f".{NAME}.{os.urandom(6).hex()}.tmp"
    try:
        fsops.replace_file(mount_fd, NAME, temporary, data.reveal(), mode=0o600)
    except OSError as exc:
        raise ActivationError(
            f"cannot create '{ctx.mount_point}/{NAME}': {exc.strerror}", hint=_space_hint(exc)
        ) from None
    fsync_directory(dir_fd=mount_fd)


def _space_hint(exc: OSError) -> str | None:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the secrets filesystem is full; the live generation was left as it was"
    return None


def discard(mount_fd: int, number: int) -> None:
    """Remove an unlinked generation after a failure; the next run retries if this fails."""
    with suppress(OSError):
        generations.remove_leftover(mount_fd, number)
