"""Writing files as transactions: final mode on the descriptor, fsync, rename.

A reader never sees a half-written file: the bytes go to a new file created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` beside the target, get their final owner and mode on the open
descriptor, are synced, and the file is renamed over the target. Any failure removes the
temporary file and leaves the target as it was.
"""

from __future__ import annotations

import os

from secretsctl.errors import OutputError


class suppress:
    """``contextlib.suppress``: ignore these exceptions (without importing contextlib at boot)."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> bool:
        return kind is not None and issubclass(kind, self._kinds)


def current_umask() -> int:
    """Return the process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    ``mode`` defaults to the existing file's mode, else ``0o666 & ~umask``; an existing file's
    owner and group are kept unless ``uid``/``gid`` say otherwise. A symlink at ``path`` is
    followed, so the file it points to is replaced.
    """
    temporary = stage(path, data, mode=mode, uid=uid, gid=gid)
    target = os.path.realpath(path)
    try:
        os.replace(temporary, target)
    except OSError as exc:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    fsync_directory(os.path.dirname(target))


def create_new(path: str | os.PathLike[str], data: bytes, *, mode: int) -> None:
    """Create ``path`` holding ``data`` with ``mode``, all at once; never replace a file.

    The bytes are staged and synced beside it, then hard-linked into place: ``link(2)`` fails
    when anything (a file, a link) already has the name, and a reader never sees a part.
    """
    temporary = stage(path, data, mode=mode)
    try:
        os.link(temporary, path, follow_symlinks=False)
    except FileExistsError:
        raise OutputError(
            f"{path} already exists; it is not overwritten",
            hint="choose another file name, or remove the old file first",
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def stage(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
) -> str:
    """Write ``data`` to a new synced file beside ``path``, ready to be renamed over it.

    The defaults are :func:`write_atomic`'s. Returns the temporary file's path; on failure
    nothing is left behind.
    """
    target = os.path.realpath(path)
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    if mode is None:
        mode = existing.st_mode & 0o7777 if existing else 0o666 & ~current_umask()
    if existing is not None:
        uid = existing.st_uid if uid == -1 else uid
        gid = existing.st_gid if gid == -1 else gid
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        try:
            if (uid != -1 or gid != -1) and (uid, gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            write_fully(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return temporary


def write_fully(fd: int, data: bytes, *, sync: bool = True) -> None:
    """Write every byte of ``data`` to ``fd`` (``write`` may take fewer), then ``fsync`` it."""
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]
    if sync:
        os.fsync(fd)


def fsync_directory(folder: str | os.PathLike[str] = ".", *, dir_fd: int | None = None) -> None:
    """Sync a directory's entries (best effort: some filesystems refuse).

    ``folder`` is relative to ``dir_fd`` when given, which may be an ``O_PATH`` descriptor:
    the default ``"."`` syncs that directory itself.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
