"""Generations: numbered directories under the mount point, one live through the symlink path.

- The live generation is read from the symlink path. It counts only when the link target's
  parent directory *is* the mount point (paths compared, not string prefixes) and its basename
  is a canonical decimal number (no sign, no leading zero).
- A new generation is N+1; anything left at N+1 (a run that crashed half-way, or a dry run of
  sops-nix) is removed first.
- The switch is one ``rename(2)`` of a symlink made in a temporary directory over the symlink
  path, so a reader, or a crash, sees the old or the new generation, never a mixture.
- Pruning and rollback consider canonical decimal names only.
- One exclusive ``flock`` serialises whole runs, dry runs included.
"""

from __future__ import annotations

import errno
import os
import stat

from secretsctl.activate import fsops
from secretsctl.activate.rooted import dirs_or_system, readable
from secretsctl.errors import ActivationError, ExitCode
from secretsctl.fsutil import fsync_directory
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.activate.rooted import RootedDirs

SWITCH_PREFIX = ".secretsctl-switch-"


def parse_generation(name: str) -> int | None:
    """Return the number a canonical decimal name stands for, else None."""
    if not name or not name.isascii() or not name.isdigit():
        return None
    if len(name) > 1 and name[0] == "0":
        return None
    return int(name)


class LiveLink(Record):
    """What sits at the symlink path now."""

    path: str
    kind: str  # "absent", "symlink" or "other" (a real file or directory)
    target: str | None = None
    generation: int | None = None  # set only for a target that is a generation of the mount point
    is_dir: bool = False  # for "other": a directory

    @property
    def resolves(self) -> bool:
        """Tell whether the symlink path leads to an existing directory now."""
        return self.kind == "symlink" and os.path.isdir(self.path)


def read_live(symlink_path: str, mount_point: str, dirs: RootedDirs | None = None) -> LiveLink:
    """Inspect the symlink path and find the live generation.

    The folder of the symlink path is reached through ``dirs``.
    """
    with dirs_or_system(dirs) as walker:
        try:
            parent_fd, name = walker.parent(symlink_path, create=False)
            if parent_fd is None:
                return LiveLink(symlink_path, "absent")
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if not stat.S_ISLNK(info.st_mode):
                return LiveLink(symlink_path, "other", is_dir=stat.S_ISDIR(info.st_mode))
            target = os.readlink(name, dir_fd=parent_fd)
        except FileNotFoundError:
            return LiveLink(symlink_path, "absent")
        except OSError as exc:
            raise ActivationError(f"cannot access {symlink_path}: {exc.strerror}") from None
    generation = None
    if os.path.isabs(target):
        parent, base = os.path.split(os.path.normpath(target))
        if parent == os.path.normpath(mount_point):
            generation = parse_generation(base)
    return LiveLink(symlink_path, "symlink", target, generation)


def refuse_non_symlink(live: LiveLink, *, force: bool) -> None:
    """Refuse a real file or directory at the symlink path unless ``force``."""
    if live.kind == "other" and not force:
        what = "a directory" if live.is_dir else "a file that is not a symlink"
        raise ActivationError(
            f"cannot update secrets symlink: {live.path} is {what}",
            hint="move it away, or pass --force to replace it with the link to the secrets",
        )


def list_generations(mount_fd: int) -> list[int]:
    """Return the numbers of the generation directories of the mount point, ascending."""
    numbers = []
    with os.scandir(mount_fd) as listing:
        for entry in listing:
            number = parse_generation(entry.name)
            if number is not None and entry.is_dir(follow_symlinks=False):
                numbers.append(number)
    return sorted(numbers)


def prepare_generation(
    mount_fd: int, number: int, *, keys_gid: int, chown: bool
) -> tuple[int, bool]:
    """Create generation directory ``number`` (0751, ``0:keys``); return its fd.

    Anything already there is removed first: it can only be an unlinked leftover, since the
    live generation is the one before. The flag says whether a leftover was removed.
    """
    name = str(number)
    removed = fsops.remove_tree(mount_fd, name)
    fd = fsops.make_dir(mount_fd, name, uid=0, gid=keys_gid, chown=chown)
    return fd, removed


def remove_leftover(mount_fd: int, number: int) -> bool:
    """Remove an unlinked generation directory; say whether there was one."""
    return fsops.remove_tree(mount_fd, str(number))


def prune(mount_fd: int, current: int, keep: int) -> tuple[int, ...]:
    """Delete generations ``<= current - keep`` (never ``current``); keep 0 deletes nothing.

    Numbers above ``current`` stay (the numbering restarted), and so does every name that is
    not canonical decimal.
    """
    if keep <= 0:
        return ()
    removed = []
    for number in list_generations(mount_fd):
        if number != current and number <= current - keep:
            fsops.remove_tree(mount_fd, str(number))
            removed.append(number)
    return tuple(removed)


def would_prune(numbers: list[int], current: int, keep: int) -> tuple[int, ...]:
    """Return what :func:`prune` would delete among ``numbers``."""
    if keep <= 0:
        return ()
    return tuple(n for n in numbers if n != current and n <= current - keep)


def rollback_target(mount_fd: int, current: int) -> int | None:
    """Return the newest kept generation older than ``current``."""
    older = [n for n in list_generations(mount_fd) if n < current]
    return older[-1] if older else None


def clean_switch_leftovers(symlink_path: str, dirs: RootedDirs | None = None) -> None:
    """Remove temporary link directories an interrupted switch left beside the symlink path."""
    with dirs_or_system(dirs) as walker:
        parent_fd, name = walker.parent(symlink_path, create=False)
        if parent_fd is None:
            return
        prefix = SWITCH_PREFIX + name + "."
        listing_fd = readable(parent_fd)
        try:
            with os.scandir(listing_fd) as listing:
                stale = [entry.name for entry in listing if entry.name.startswith(prefix)]
        finally:
            os.close(listing_fd)
        for stale_name in stale:
            fsops.remove_tree(parent_fd, stale_name)


def switch_symlink(
    symlink_path: str,
    target: str,
    *,
    replace_other: bool = False,
    dirs: RootedDirs | None = None,
) -> None:
    """Point ``symlink_path`` at ``target`` with one rename of a fresh symlink over it.

    ``replace_other`` removes a real directory at the path first (``--force``); a real file
    is replaced by the rename itself. The folder of the path is reached through ``dirs``.
    """
    prefix = "cannot update secrets symlink: "
    with dirs_or_system(dirs) as walker:
        parent = os.path.dirname(symlink_path) or "/"
        try:
            parent_fd, name = walker.parent(symlink_path)
            assert parent_fd is not None  # noqa: S101 - created
            folder, folder_fd = fsops.make_private_dir_at(parent_fd, SWITCH_PREFIX + name + ".")
        except OSError as exc:
            raise ActivationError(f"{prefix}{parent}: {exc.strerror}") from None

        def clear_way() -> None:
            if replace_other and fsops.is_directory_at(parent_fd, name):
                fsops.remove_tree(parent_fd, name)

        try:
            fsops.replace_with_symlink(
                parent_fd, name, target, (folder, folder_fd), clear_way=clear_way
            )
        except OSError as exc:
            raise ActivationError(f"{prefix}{symlink_path}: {exc.strerror}") from None
        fsync_directory(dir_fd=parent_fd)


class RunLock:
    """An exclusive ``flock`` on the lock file, held for a whole run; the file holds no data.

    With ``create=False`` (dry runs, which must write nothing) a missing lock file is not
    made: no run has happened yet, so there is nothing to be consistent with, and the lock
    is simply not taken.
    """

    def __init__(
        self,
        path: str,
        *,
        wait: bool = True,
        create: bool = True,
        dirs: RootedDirs | None = None,
    ) -> None:
        self.path = path
        self.wait = wait
        self.create = create
        self.dirs = dirs
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock: wait for it, or fail at once naming the holder's PID."""
        import fcntl

        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
        with dirs_or_system(self.dirs) as walker:
            try:
                parent_fd, name = walker.parent(self.path, create=self.create)
                if parent_fd is None:
                    return  # not creating, and no folder: no run has happened yet
                if not self.create:
                    fd = os.open(name, flags, dir_fd=parent_fd)
                else:
                    fd = os.open(name, flags | os.O_CREAT, 0o600, dir_fd=parent_fd)
            except (FileNotFoundError, NotADirectoryError):
                if not self.create:
                    return
                raise ActivationError(f"cannot open lock file {self.path}: not found") from None
            except OSError as exc:
                raise ActivationError(
                    f"cannot open lock file {self.path}: {exc.strerror}"
                ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = lock_holder(fd) if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ActivationError(f"cannot lock {self.path}: {exc.strerror}") from None
            by = f" (PID {holder})" if holder else ""
            raise ActivationError(
                f"another secretsctl run holds the lock {self.path}{by}",
                hint="wait for it to finish, or run again without asking not to wait",
                exit_code=ExitCode.LOCK_HELD,
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(fd: int) -> int | None:
    """Find the PID holding a ``flock`` on the open file, from /proc/locks."""
    info = os.fstat(fd)
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
                    continue
                if fields[5] == wanted and fields[4].isdigit() and fields[4] != "0":
                    return int(fields[4])
    except OSError:
        return None
    return None
