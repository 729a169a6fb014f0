"""Runtime directories reached one component at a time from the root, never through a planted link.

Every folder secretsctl writes in (the mount point, the folder of the symlink path, the state
folder, the folder of the lock, NixOS's list-file folder, the folders of custom ``path`` links)
is opened from the root's descriptor one component at a time, each with
``O_PATH|O_DIRECTORY|O_NOFOLLOW`` relative to the one before (``openat``), and the files are
then made relative to that descriptor. So the folder checked is the folder used:

- A symlink met on the way is followed only when root owns it (or the user running
  secretsctl, who could write there anyway): ``/var/run -> /run`` keeps working. A link owned
  by anyone else (``/var/lib/app -> /home/mallory/x``, made by mallory) is refused.
- An absolute link target is resolved under the root, as in a chroot, so ``--root`` holds.
- secretsctl's own folders (the mount point, the state folder) must be real directories: a
  symlink there is refused whoever owns it (a ramfs mounted on ``/run/secrets.d -> /etc``
  would hide ``/etc``).
- ``..`` is refused (runtime paths never have it, see :mod:`secretsctl.paths`).

Each folder is opened once per run and its descriptor kept for every file placed in it; the
activation checks every folder it will use before it writes anything (all or nothing).
"""

from __future__ import annotations

import errno
import os
import stat

from secretsctl.errors import ActivationError
from secretsctl.fsutil import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    pass

WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
MAX_LINKS = 40  # the kernel's limit on symlinks followed in one lookup
_FOLLOWED = (errno.ENOTDIR, errno.ELOOP)  # O_NOFOLLOW|O_DIRECTORY met a symlink (or a file)
LINK_HINT = (
    "a symlink in a runtime path is followed only when root owns it; remove it, or configure "
    "the path it leads to"
)


class RootedDirs:
    """Descriptors of runtime directories under one root, each opened once and verified.

    Paths given are rooted (``RuntimePaths.runtime`` made them). Call :meth:`close` (or use
    ``with``) to release the descriptors.
    """

    def __init__(self, root: str = "/") -> None:
        self.root = root.rstrip("/") or "/"
        self._trusted = frozenset((0, os.geteuid()))
        self._root_fd: int | None = None
        self._fds: dict[str, int] = {}  # real path under the root ("" is the root) -> fd
        self._asked: dict[str, str] = {}  # path as asked, under the root -> its real path
        self._own: dict[str, int] = {}  # own directories (no symlink at the last component)

    # --- paths ------------------------------------------------------------------------------

    def _relative(self, path: str) -> str:
        """Return ``path`` under the root, as ``a/b`` ("" for the root itself)."""
        if self.root == "/":
            inner = path
        elif path == self.root or path.startswith(self.root + "/"):
            inner = path[len(self.root) :]
        else:
            raise ActivationError(f"internal error: {path} is not under the root {self.root}")
        parts = [part for part in inner.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ActivationError(f"refusing {path}: a runtime path must not have '..' parts")
        return "/".join(parts)

    def _shown(self, relative: str) -> str:
        """Name a path under the root for a message, as the user configured it (rooted)."""
        if self.root == "/":
            return "/" + relative
        return f"{self.root}/{relative}" if relative else self.root

    def _root(self, *, create: bool = False) -> int | None:
        if self._root_fd is None:
            # The root itself (--root DIR, or /) is the administrator's choice: not checked,
            # and made when missing, as before any folder under it.
            flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
            try:
                self._root_fd = os.open(self.root, flags)
            except FileNotFoundError:
                if not create:
                    return None
                os.makedirs(self.root, 0o755, exist_ok=True)
                self._root_fd = os.open(self.root, flags)
            self._fds[""] = self._root_fd
        return self._root_fd

    # --- walking ----------------------------------------------------------------------------

    def _walk(self, relative: str, *, create: bool, mode: int) -> int | None:
        """Open directory ``relative`` component by component; None when one is missing."""
        real = self._asked.get(relative)
        if real is not None:
            return self._fds[real]
        fd = self._root(create=create)
        if fd is None:
            return None
        root_fd = fd
        current = ""
        pending = relative.split("/")[::-1] if relative else []
        links = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":  # only from a link's target: the real parent, never above the root
                current = current.rpartition("/")[0]
                fd = self._fds[current]
                continue
            child = f"{current}/{name}" if current else name
            found = self._fds.get(child)
            if found is not None:
                current, fd = child, found
                continue
            try:
                found = os.open(name, WALK_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    return None
                links += 1  # bounds the retries when the entry keeps vanishing
                if links > MAX_LINKS:
                    raise
                with suppress(FileExistsError):
                    os.mkdir(name, mode, dir_fd=fd)
                pending.append(name)  # opened (and checked) on the next turn
                continue
            except OSError as exc:
                if exc.errno not in _FOLLOWED:
                    raise
                target = self._trusted_link(fd, name, child)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(
                        errno.ELOOP, os.strerror(errno.ELOOP), self._shown(child)
                    ) from None
                if target.startswith("/"):
                    current, fd = "", root_fd
                pending.extend(target.split("/")[::-1])
                continue
            self._fds[child] = found
            current, fd = child, found
        self._asked[relative] = current
        return fd

    def _trusted_link(self, dir_fd: int, name: str, relative: str) -> str:
        """Return the target of the symlink ``name``, refused unless a trusted user owns it."""
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISLNK(info.st_mode):
            shown = self._shown(relative)
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), shown)
        if info.st_uid not in self._trusted:
            who = "root" if os.geteuid() == 0 else f"root or uid {os.geteuid()}"
            raise ActivationError(
                f"refusing to follow the symlink {self._shown(relative)}: it is owned by uid "
                f"{info.st_uid}, not by {who}",
                hint=LINK_HINT,
            )
        return os.readlink(name, dir_fd=dir_fd)

    # --- the interface ----------------------------------------------------------------------

    def find(self, path: str) -> int | None:
        """Return a descriptor of directory ``path``, or None when some part does not exist.

        Trusted symlinks are followed (the last component too); an untrusted one raises
        :class:`ActivationError`. The descriptor is ``O_PATH``: use it as ``dir_fd``, or
        :func:`readable` for listing and syncing. It stays open until :meth:`close`.
        """
        return self._walk(self._relative(path), create=False, mode=0)

    def directory(self, path: str, *, mode: int = 0o755) -> int:
        """Return a descriptor of directory ``path``, creating missing parts (``mode``, umask).

        As :func:`os.makedirs` does, with the checks of :meth:`find`.
        """
        fd = self._walk(self._relative(path), create=True, mode=mode)
        assert fd is not None  # noqa: S101 - created
        return fd

    def parent(self, path: str, *, create: bool = True) -> tuple[int | None, str]:
        """Return the descriptor of the folder holding ``path``, and the last component's name.

        The folder is reached as :meth:`directory` does; without ``create``, a missing folder
        gives None.
        """
        relative = self._relative(path)
        folder, _, name = relative.rpartition("/")
        if not name:
            raise ActivationError(f"internal error: {path} has no parent folder")
        fd = self._walk(folder, create=create, mode=0o755)
        return fd, name

    def own_directory(self, path: str, *, create: bool, mode: int = 0o700) -> int | None:
        """Return a descriptor of secretsctl's own directory ``path``, which must be real.

        A symlink there is refused whoever owns it; its parents are checked as in
        :meth:`directory`. With ``create``, a missing directory is made with ``mode`` (as the
        umask allows); without it, a missing one gives None.
        """
        relative = self._relative(path)
        found = self._own.get(relative)
        if found is not None:
            return found
        parent_fd, name = self.parent(path, create=create)
        if parent_fd is None:
            return None
        try:
            fd = os.open(name, WALK_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            with suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=parent_fd)
            try:
                fd = os.open(name, WALK_FLAGS, dir_fd=parent_fd)
            except OSError as exc:
                self._refuse_link(exc, parent_fd, name, path)
                raise
        except OSError as exc:
            self._refuse_link(exc, parent_fd, name, path)
            raise
        self._own[relative] = fd
        return fd

    @staticmethod
    def _refuse_link(exc: OSError, parent_fd: int, name: str, path: str) -> None:
        if exc.errno not in _FOLLOWED:
            return
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except OSError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise ActivationError(
                f"refusing {path}: it is a symlink, and secretsctl puts its own files only in "
                "a real directory",
                hint="remove the symlink (secretsctl creates the directory itself)",
            ) from None

    def reopen_own(self, path: str) -> int:
        """Open an own directory again (after a mount on it, to reach the mount's root)."""
        relative = self._relative(path)
        old = self._own.pop(relative, None)
        if old is not None:
            os.close(old)
        fd = self.own_directory(path, create=False)
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return fd

    def close(self) -> None:
        """Close every descriptor opened."""
        for fd in [*self._fds.values(), *self._own.values()]:
            os.close(fd)
        self._fds.clear()
        self._asked.clear()
        self._own.clear()
        self._root_fd = None

    def __enter__(self) -> RootedDirs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def readable(fd: int) -> int:
    """Open the directory of an ``O_PATH`` descriptor for reading (listing, ``fsync``)."""
    return os.open(".", READ_DIR_FLAGS, dir_fd=fd)


def proc_path(fd: int, fallback: str) -> str:
    """Return ``/proc/self/fd/N``, or ``fallback`` when /proc is not mounted.

    That path names the very object of ``fd`` to a call that takes a path (``mount``,
    ``statfs``), so the directory checked is the one used.
    """
    magic = f"/proc/self/fd/{fd}"
    return magic if os.path.exists(magic) else fallback


class dirs_or_system:
    """Use a run's ``dirs``; without one (a caller outside a run), walk from / for one call.

    A class rather than a ``contextlib.contextmanager``: contextlib stays off the boot path.
    """

    __slots__ = ("_dirs", "_own")

    def __init__(self, dirs: RootedDirs | None) -> None:
        self._dirs = dirs
        self._own: RootedDirs | None = None

    def __enter__(self) -> RootedDirs:
        if self._dirs is not None:
            return self._dirs
        self._own = RootedDirs()
        return self._own

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._own.close()
