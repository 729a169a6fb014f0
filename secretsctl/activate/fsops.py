"""The filesystem under the generations: a RAM-backed mount, exact modes, secure file creation.

Every runtime directory and file secretsctl creates gets its mode and owner set explicitly,
whatever the umask. Files are created ``O_CREAT|O_EXCL|O_NOFOLLOW`` with no permission at all,
get their final owner and mode on the descriptor (``fchown`` then ``fchmod``) before a single
byte is written, and are synced. Paths inside a generation are reached only through directory
descriptors (``openat``-style ``dir_fd=``) with ``O_NOFOLLOW``, so a symlink planted in the tree
is never followed. The mount point itself is reached through
:class:`~secretsctl.activate.rooted.RootedDirs` and mounted on by its descriptor.

The module reaches the operating system only through the module-level name ``os``, so a test
can put an instrumented layer in its place.
"""

from __future__ import annotations

import errno
import os
import stat

from secretsctl.activate.rooted import WALK_FLAGS, proc_path, readable
from secretsctl.errors import ActivationError
from secretsctl.fsutil import suppress, write_fully
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from secretsctl.activate.rooted import RootedDirs

RAMFS_MAGIC = 0x858458F6
TMPFS_MAGIC = 0x01021994
RAM_BACKED = {RAMFS_MAGIC: "ramfs", TMPFS_MAGIC: "tmpfs"}
RAM_TYPES = frozenset(RAM_BACKED.values())
_KNOWN_MAGIC = {
    0xEF53: "ext2/ext3/ext4",
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0x794C7630: "overlayfs",
    0x6969: "nfs",
    0xFF534D42: "cifs",
    0x2FC12FC1: "zfs",
    0x65735546: "fuse",
    0x4D44: "vfat",
    0xF2F52010: "f2fs",
    0x01021997: "9p",
    0x9FA0: "proc",
    0x62656572: "sysfs",
}

DIR_MODE = 0o751
_STAGED_LINK = "link"  # the fresh symlink's name in its private folder
MOUNT_MODE = 0o751

_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
MOUNT_FLAGS = _MS_NODEV | _MS_NOSUID | _MS_NOEXEC

CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def fs_name(magic: int) -> str:
    """Name a filesystem type for a message."""
    return RAM_BACKED.get(magic) or _KNOWN_MAGIC.get(magic) or f"type {magic:#x}"


def fs_magic(path: str) -> int:
    """Return ``statfs(path).f_type``, which ``os.statvfs`` does not expose."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # struct statfs starts with f_type, a long on every 32- and 64-bit Linux ABI but s390x.
    buffer = (ctypes.c_long * 64)()
    if libc.statfs(os.fsencode(path), buffer) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(buffer[0]) & 0xFFFFFFFF


def _unescape_mountinfo(field: str) -> str:
    r"""Undo the octal escapes (``\040`` for a space) of /proc/self/mountinfo."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = field.encode("utf-8", "surrogateescape")
    index = 0
    while index < len(raw):
        digits = raw[index + 1 : index + 4]
        if raw[index] == 0x5C and len(digits) == 3 and digits.isdigit():
            out.append(int(raw[index + 1 : index + 4], 8))
            index += 4
        else:
            out.append(raw[index])
            index += 1
    return out.decode("utf-8", "surrogateescape")


class MountEntry(Record):
    """One line of /proc/self/mountinfo: where, which filesystem, which options."""

    mount_point: str
    fs_type: str
    options: tuple[str, ...]
    device: str = ""  # "major:minor" of the filesystem


def _mount_table() -> list[MountEntry]:
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) < 10:
                continue
            separator = fields.index("-", 6)
            entries.append(
                MountEntry(
                    _unescape_mountinfo(fields[4]),
                    fields[separator + 1],
                    tuple(fields[5].split(",") + fields[separator + 3].split(",")),
                    fields[2],
                )
            )
    return entries


def mounts_at(path: str) -> list[MountEntry]:
    """Return the mounts stacked on ``path`` (resolved), bottom first, from mountinfo."""
    target = os.path.realpath(path)
    return [entry for entry in _mount_table() if entry.mount_point == target]


def filesystem_of(path: str) -> MountEntry | None:
    """Return the mount that holds ``path`` now, from mountinfo and the path's device.

    The device number tells a visible mount from one hidden under a later mount; of the
    entries for that device, the deepest mount point above the path is the one reached.
    """
    info = os.stat(path)
    device = f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"
    target = os.path.realpath(path)
    best: MountEntry | None = None
    for entry in _mount_table():
        if entry.device != device:
            continue
        root = entry.mount_point.rstrip("/") + "/"
        if (target == entry.mount_point or target.startswith(root)) and (
            best is None or len(entry.mount_point) >= len(best.mount_point)
        ):
            best = entry
    return best


def is_mount_point(path: str) -> bool:
    """Tell whether ``path`` is a mount point that is visible now (not mounted over)."""
    entry = filesystem_of(path)
    return entry is not None and entry.mount_point == os.path.realpath(path)


def _mount(
    source: str | None, target: str, fs_type: str | None, flags: int, data: str | None
) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    encode = os.fsencode
    if (
        libc.mount(
            encode(source) if source is not None else None,
            encode(target),
            encode(fs_type) if fs_type is not None else None,
            ctypes.c_ulong(flags),
            encode(data) if data is not None else None,
        )
        != 0
    ):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def require_ram_backed(path: str, *, why: str, shown: str | None = None) -> str:
    """Refuse a path whose filesystem (or its nearest existing ancestor's) is not tmpfs/ramfs.

    Return the filesystem type. The kernel's mount table decides; ``statfs`` names the
    filesystem in the refusal. ``shown`` names ``path`` in messages (when ``path`` is a
    descriptor's ``/proc/self/fd/N``).
    """
    probe = _nearest_existing(path)
    try:
        entry = filesystem_of(probe)
    except OSError as exc:
        raise ActivationError(
            f"failed to mount filesystem for secrets: cannot check the filesystem of "
            f"'{shown or probe}': {exc.strerror}"
        ) from None
    path = shown or path
    if entry is not None and entry.fs_type in RAM_TYPES:
        return entry.fs_type
    try:
        name = fs_name(fs_magic(probe))
    except OSError:
        name = entry.fs_type if entry else "an unknown filesystem"
    raise ActivationError(
        f"refusing to put secrets on {path}: it is on {name}, not on a "
        f"RAM-backed filesystem (tmpfs or ramfs); {why}",
        hint="use a mount point on a tmpfs or ramfs, for example under /dev/shm or "
        "$XDG_RUNTIME_DIR (with --root, a folder there); as root in system mode "
        "secretsctl mounts a ramfs itself",
    )


class MountOutcome(Record):
    """What :func:`mount_secret_fs` found or did."""

    fs_type: str  # "ramfs" or "tmpfs"
    mounted: bool  # a new mount was made on this run
    noswap: bool | None  # tmpfs only: whether the mount has noswap (None when reused or ramfs)
    remounted: bool = False  # an existing mount lacked nodev/nosuid/noexec and was fixed


def mount_secret_fs(
    mount_point: str,
    *,
    dirs: RootedDirs,
    use_tmpfs: bool,
    may_mount: bool,
    fallback_when_denied: bool,
    chown: bool,
    keys_gid: int,
) -> MountOutcome:
    """Make ``mount_point`` a RAM-backed filesystem, mode exactly 0751, owned ``0:keys``.

    With ``may_mount``, reuse a mount of the right type that already sits exactly there, else
    mount ramfs (or tmpfs with ``noswap``, retried without it on EINVAL, as kernels before 6.4
    reject it) with ``nodev,nosuid,noexec``. Without it (user mode, not root), or when the
    mount is refused and ``fallback_when_denied`` (``--root`` without the privilege to mount),
    the mount point's filesystem must already be tmpfs or ramfs.

    The mount point is reached through ``dirs``: it must be a real directory (a symlink there
    is refused), and the mount is made on the very directory checked, named by its descriptor
    (``/proc/self/fd/N``), so no link swapped in meanwhile can redirect it.
    """
    prefix = "failed to mount filesystem for secrets: "
    if not may_mount:
        require_ram_backed(mount_point, why="secretsctl mounts only as root in system mode")
    try:
        place = dirs.own_directory(mount_point, create=True, mode=0o700)
    except OSError as exc:
        raise ActivationError(
            f"{prefix}cannot create directory '{mount_point}': {exc.strerror}"
        ) from None
    assert place is not None  # noqa: S101 - created
    outcome: MountOutcome
    if may_mount:
        outcome = _mount_or_reuse(
            proc_path(place, mount_point), mount_point, use_tmpfs, fallback_when_denied, prefix
        )
        if outcome.mounted:
            # The descriptor names the directory under the new mount: reach the mount's root.
            place = _checked_mount_root(dirs, mount_point, outcome.fs_type, prefix)
    else:
        found = require_ram_backed(
            proc_path(place, mount_point),
            why="secretsctl mounts only as root in system mode",
            shown=mount_point,
        )
        outcome = MountOutcome(found, mounted=False, noswap=None)
    try:
        fd = readable(place)
    except OSError as exc:
        raise ActivationError(f"{prefix}cannot open '{mount_point}': {exc.strerror}") from None
    try:
        if chown:
            try:
                os.fchown(fd, 0, keys_gid)
            except OSError as exc:
                raise ActivationError(
                    f"{prefix}cannot change owner/group of '{mount_point}' to 0/{keys_gid}: "
                    f"{exc.strerror}"
                ) from None
        # An existing mount keeps whatever mode it was given; re-assert it (sops-nix does not).
        os.fchmod(fd, MOUNT_MODE)
    finally:
        os.close(fd)
    return outcome


def _checked_mount_root(dirs: RootedDirs, mount_point: str, fs_type: str, prefix: str) -> int:
    """Open the root of the mount just made; check (statfs's f_type) it is ``fs_type``."""
    try:
        place = dirs.reopen_own(mount_point)
        found_magic = fs_magic(proc_path(place, mount_point))
    except OSError as exc:
        raise ActivationError(
            f"{prefix}cannot get statfs for directory '{mount_point}': {exc.strerror}"
        ) from None
    if found_magic != (TMPFS_MAGIC if fs_type == "tmpfs" else RAMFS_MAGIC):
        raise ActivationError(
            f"{prefix}'{mount_point}' is {fs_name(found_magic)} after mounting {fs_type}"
        )
    return place


def _mount_or_reuse(
    target: str, mount_point: str, use_tmpfs: bool, fallback_when_denied: bool, prefix: str
) -> MountOutcome:
    """Mount on ``target`` (the mount point's descriptor path) unless a fit mount is there."""
    fs_type = "tmpfs" if use_tmpfs else "ramfs"
    try:
        entry = filesystem_of(target)
    except OSError as exc:
        raise ActivationError(
            f"{prefix}cannot check if directory '{mount_point}' is a mountpoint: {exc.strerror}"
        ) from None
    if (
        entry is not None
        and entry.mount_point == os.path.realpath(target)
        and entry.fs_type == fs_type
    ):
        return MountOutcome(
            fs_type,
            mounted=False,
            noswap=None,
            remounted=_secure_flags(target, mount_point, prefix),
        )
    options = "mode=0751,noswap" if use_tmpfs else "mode=0751"
    noswap: bool | None = True if use_tmpfs else None
    try:
        _mount("none", target, fs_type, MOUNT_FLAGS, options)
    except OSError as exc:
        if use_tmpfs and exc.errno == errno.EINVAL:
            try:
                _mount("none", target, fs_type, MOUNT_FLAGS, "mode=0751")
            except OSError as again:
                raise ActivationError(
                    f"{prefix}cannot mount (fallback without noswap failed): {again.strerror}"
                ) from None
            noswap = False
        elif exc.errno in (errno.EPERM, errno.EACCES) and fallback_when_denied:
            found = require_ram_backed(
                target, why=f"mounting {fs_type} was not permitted", shown=mount_point
            )
            return MountOutcome(found, mounted=False, noswap=None)
        else:
            raise ActivationError(f"{prefix}cannot mount: {exc.strerror}") from None
    return MountOutcome(fs_type, mounted=True, noswap=noswap)


def _secure_flags(target: str, mount_point: str, prefix: str) -> bool:
    """Add nodev/nosuid/noexec to a reused mount that lacks them; return whether it did."""
    wanted = os.ST_NODEV | os.ST_NOSUID | os.ST_NOEXEC
    flags = os.statvfs(target).f_flag
    if flags & wanted == wanted:
        return False
    keep = _MS_NOSUID if flags & os.ST_NOSUID else 0
    keep |= 0x1 if flags & os.ST_RDONLY else 0  # MS_RDONLY
    try:
        _mount(None, target, None, _MS_REMOUNT | _MS_BIND | MOUNT_FLAGS | keep, None)
    except OSError as exc:
        raise ActivationError(
            f"{prefix}cannot remount '{mount_point}' nodev,nosuid,noexec: {exc.strerror}"
        ) from None
    return True


def keys_group_id() -> int:
    """Return the GID of group ``keys``, else ``nogroup`` (sops-nix's lookupKeysGroup)."""
    import grp

    for name in ("keys", "nogroup"):
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    raise ActivationError("can't find group 'keys' nor 'nogroup'")


def make_private_dir_at(parent_fd: int, prefix: str) -> tuple[str, int]:
    """Create a new 0700 directory with a random name under ``parent_fd``.

    Return its name and an ``O_PATH`` descriptor of it (for the ``*at`` calls made inside).
    """
    for _ in range(100):
        name = prefix + os.urandom(6).hex()
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except FileExistsError:
            continue
        try:
            return name, os.open(name, WALK_FLAGS, dir_fd=parent_fd)
        except OSError:
            with suppress(OSError):
                os.rmdir(name, dir_fd=parent_fd)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name")


def is_directory_at(parent_fd: int, name: str) -> bool:
    """Tell whether ``name`` under ``parent_fd`` is a directory (not following a symlink)."""
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(info.st_mode)


def replace_with_symlink(
    parent_fd: int,
    name: str,
    target: str,
    staging: tuple[str, int],
    *,
    owner: tuple[int, int] | None = None,
    clear_way: Callable[[], None] | None = None,
) -> None:
    """Point ``name`` under ``parent_fd`` at ``target`` with one rename of a fresh symlink.

    The symlink is made in ``staging`` (a folder and its descriptor from
    :func:`make_private_dir_at`), given ``owner``; ``clear_way`` runs just before the
    rename (to remove a directory in the way). The folder is removed afterwards, whatever
    happens, and its descriptor closed.
    """
    folder, folder_fd = staging
    try:
        os.symlink(target, _STAGED_LINK, dir_fd=folder_fd)
        if owner is not None:
            os.chown(_STAGED_LINK, *owner, dir_fd=folder_fd, follow_symlinks=False)
        if clear_way is not None:
            clear_way()
        os.rename(_STAGED_LINK, name, src_dir_fd=folder_fd, dst_dir_fd=parent_fd)
    finally:
        with suppress(OSError):
            os.unlink(_STAGED_LINK, dir_fd=folder_fd)
        os.close(folder_fd)
        with suppress(OSError):
            os.rmdir(folder, dir_fd=parent_fd)


def open_dir(path: str, *, dir_fd: int | None = None) -> int:
    """Open a directory without following a symlink at its last component."""
    return os.open(path, DIR_FLAGS, dir_fd=dir_fd)


def make_dir(
    parent_fd: int, name: str, *, uid: int, gid: int, chown: bool, mode: int = DIR_MODE
) -> int:
    """Create ``name`` under ``parent_fd`` with exactly ``mode`` and owner; return its fd.

    The directory starts at 0700 and widens to its final mode only after its owner is set.
    """
    os.mkdir(name, 0o700, dir_fd=parent_fd)
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    try:
        if chown:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_file(
    dir_fd: int, name: str, data: bytes, *, uid: int, gid: int, mode: int, chown: bool
) -> None:
    """Create a new file holding ``data``, never readable beyond its final owner and mode.

    It is created with no permission bits at all, then given its owner (``fchown``) and its
    exact mode (``fchmod``) on the descriptor, and only then written and synced.
    """
    fd = os.open(name, CREATE_FLAGS, 0, dir_fd=dir_fd)
    try:
        if chown:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        write_fully(fd, data)
    finally:
        os.close(fd)


def replace_file(dir_fd: int, name: str, temporary: str, data: bytes, *, mode: int) -> None:
    """Replace ``name`` under ``dir_fd`` atomically, with ``mode`` and this process's owner.

    ``temporary`` is created with that mode, written, synced and renamed over ``name``; it is
    removed if anything fails.
    """
    try:
        create_file(dir_fd, temporary, data, uid=-1, gid=-1, mode=mode, chown=False)
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise


class TreeWriter:
    """Writes files under one new directory, creating nested directories on the way.

    Directories are ``0751`` owned ``dir_uid:dir_gid``; each directory is opened once and kept
    as a descriptor for the writes below it.
    """

    def __init__(self, root_fd: int, *, dir_uid: int, dir_gid: int, chown: bool) -> None:
        self._dirs: dict[str, int] = {"": root_fd}
        self._owned: list[int] = []
        self._dir_uid = dir_uid
        self._dir_gid = dir_gid
        self._chown = chown

    def directory(self, relative: str) -> int:
        """Return the descriptor of a directory of the tree, creating it (and its parents)."""
        fd = self._dirs.get(relative)
        if fd is not None:
            return fd
        parent, _, name = relative.rpartition("/")
        parent_fd = self.directory(parent)
        fd = make_dir(parent_fd, name, uid=self._dir_uid, gid=self._dir_gid, chown=self._chown)
        self._owned.append(fd)
        self._dirs[relative] = fd
        return fd

    def write(self, relative: str, data: bytes, *, uid: int, gid: int, mode: int) -> None:
        """Create the file at ``relative`` (``/``-separated) with its owner and mode."""
        folder, _, name = relative.rpartition("/")
        create_file(
            self.directory(folder), name, data, uid=uid, gid=gid, mode=mode, chown=self._chown
        )

    def symlink(self, relative: str, target: str, *, uid: int, gid: int) -> None:
        """Create a symbolic link at ``relative`` pointing at ``target``, owned ``uid:gid``."""
        folder, _, name = relative.rpartition("/")
        dir_fd = self.directory(folder)
        os.symlink(target, name, dir_fd=dir_fd)
        if self._chown:
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    def close(self) -> None:
        """Close every directory descriptor this writer opened."""
        for fd in self._owned:
            os.close(fd)
        self._owned.clear()
        self._dirs = {"": self._dirs[""]}


def remove_tree(parent_fd: int, name: str) -> bool:
    """Remove ``name`` under ``parent_fd`` recursively without following symlinks.

    Return False when there was nothing to remove.
    """
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        try:
            _remove_contents(fd)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent_fd)
    else:
        os.unlink(name, dir_fd=parent_fd)
    return True


def _remove_contents(dir_fd: int) -> None:
    with os.scandir(dir_fd) as listing:
        children = list(listing)
    for child in children:
        if child.is_dir(follow_symlinks=False):
            fd = os.open(child.name, DIR_FLAGS, dir_fd=dir_fd)
            try:
                _remove_contents(fd)
            finally:
                os.close(fd)
            os.rmdir(child.name, dir_fd=dir_fd)
        else:
            os.unlink(child.name, dir_fd=dir_fd)


class Entry(Record):
    """A non-directory found in a tree walk, and the directory descriptor it sits in."""

    relative: str
    dir_fd: int
    name: str
    is_file: bool  # a regular file (not a symlink, socket, fifo …), from the directory entry
    is_link: bool = False  # a symbolic link (a custom path inside the symlink path)


class FileInfo(Record):
    """Owner, mode and size of an entry, as ``lstat``/``fstat`` found them."""

    uid: int
    gid: int
    mode: int
    size: int


class DirInfo(Record):
    """A directory found in a tree walk."""

    relative: str
    uid: int
    gid: int
    mode: int


class TreeSnapshot:
    """Every entry of a directory tree, walked through descriptors without following links.

    The walk reads directories only; files are looked at when asked (:meth:`read`,
    :meth:`info`). It keeps its own descriptors (the caller may close ``root_fd``) until
    :meth:`close`.
    """

    def __init__(self, root_fd: int) -> None:
        self.entries: dict[str, Entry] = {}
        self.dirs: dict[str, DirInfo] = {}
        # A copy of the caller's descriptor: entries at the top are read through it later.
        self._fds: list[int] = [os.dup(root_fd)]
        info = os.fstat(root_fd)
        self.root = DirInfo("", info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
        try:
            self._walk(self._fds[0], "")
        except BaseException:
            self.close()
            raise

    def _walk(self, dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as listing:
            children = list(listing)
        entries = self.entries
        for child in children:
            relative = prefix + child.name
            if child.is_dir(follow_symlinks=False):
                info = child.stat(follow_symlinks=False)
                self.dirs[relative] = DirInfo(
                    relative, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)
                )
                fd = os.open(child.name, DIR_FLAGS, dir_fd=dir_fd)
                self._fds.append(fd)
                self._walk(fd, relative + "/")
            else:
                entries[relative] = Entry(
                    relative,
                    dir_fd,
                    child.name,
                    child.is_file(follow_symlinks=False),
                    child.is_symlink(),
                )

    @staticmethod
    def info(entry: Entry) -> FileInfo:
        """Return an entry's owner, mode and size (``lstat``, no link followed)."""
        st = os.stat(entry.name, dir_fd=entry.dir_fd, follow_symlinks=False)
        return FileInfo(st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_size)

    @staticmethod
    def read(entry: Entry) -> tuple[bytes, FileInfo]:
        """Return the bytes of a regular file of the tree, and its owner, mode and size."""
        fd = os.open(entry.name, READ_FLAGS, dir_fd=entry.dir_fd)
        try:
            st = os.fstat(fd)
            # Asking for one byte more than the size ends the common case in one read: a
            # short read of a regular file is its end.
            want = st.st_size + 1
            data = os.read(fd, want)
            if len(data) == want:
                chunks = [data]
                while chunk := os.read(fd, 65536):
                    chunks.append(chunk)
                data = b"".join(chunks)
        finally:
            os.close(fd)
        return data, FileInfo(st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), len(data))

    def files(self) -> Iterator[Entry]:
        """Yield every non-directory entry, in walk order."""
        yield from self.entries.values()

    def links(self) -> dict[str, str]:
        """Return the symbolic links of the tree: relative path → target."""
        return {
            rel: os.readlink(e.name, dir_fd=e.dir_fd)
            for rel, e in self.entries.items()
            if e.is_link
        }

    def close(self) -> None:
        """Release the directory descriptors of the walk."""
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> TreeSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
