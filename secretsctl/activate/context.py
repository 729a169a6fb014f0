"""What every step of one activation run works with, and the lock that makes it one run.

:func:`locked_run` takes the run lock and yields the :class:`Context`: the rooted mount
point and symlink path, the owners applied, where links are recorded, the checked folder
walker every write goes through, and the user and group names looked up so far.
"""

from __future__ import annotations

import errno
import os

from secretsctl.activate import fsops, generations
from secretsctl.activate.diff import Owners
from secretsctl.activate.naming import Names
from secretsctl.activate.rooted import RootedDirs, readable
from secretsctl.errors import ActivationError
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.config.model import Manifest
    from secretsctl.paths import RuntimePaths


class Context(Record):
    """One run's places, owners and folder walker."""

    paths: RuntimePaths
    mount_point: str  # rooted
    symlink_path: str  # rooted
    chown: bool  # owners are applied (root, system mode)
    owners: Owners
    state_dir: str
    dirs: RootedDirs  # every folder written in is reached (and checked) through it
    names: Names


def _user_runtime_dir(manifest: Manifest) -> str | None:
    """Return $XDG_RUNTIME_DIR in user mode (where sops-nix's %r points), else None."""
    if not manifest.user_mode:
        return None
    found = os.environ.get("XDG_RUNTIME_DIR")
    return found if found and os.path.isabs(found) else None


def lock_file(manifest: Manifest, paths: RuntimePaths) -> str:
    """Return the lock serialising runs (under $XDG_RUNTIME_DIR in user mode)."""
    user = _user_runtime_dir(manifest)
    return paths.runtime(f"{user}/secretsctl.lock") if user else paths.lock_file


def state_dir(manifest: Manifest, paths: RuntimePaths) -> str:
    """Return where links are recorded: /run/secretsctl, under $XDG_RUNTIME_DIR in user mode."""
    user = _user_runtime_dir(manifest)
    return paths.runtime(f"{user}/secretsctl") if user else paths.state_dir


class locked_run:
    """Hold the run lock (not made by a dry run) and give the run's context, as ``with``.

    A class rather than a ``contextlib.contextmanager``: contextlib stays off the boot path.
    """

    def __init__(
        self,
        manifest: Manifest,
        paths: RuntimePaths,
        *,
        wait: bool,
        dry_run: bool,
        keys_gid: int | None,
        owners_known: bool = True,
    ) -> None:
        self._manifest = manifest
        self._paths = paths
        self._wait = wait
        self._dry_run = dry_run
        self._keys_gid = keys_gid
        self._owners_known = owners_known
        self._dirs: RootedDirs | None = None
        self._lock: generations.RunLock | None = None

    def __enter__(self) -> Context:
        manifest, paths, dry_run = self._manifest, self._paths, self._dry_run
        self._dirs = dirs = RootedDirs(paths.root)
        try:
            lock = generations.RunLock(
                lock_file(manifest, paths), wait=self._wait, create=not dry_run, dirs=dirs
            )
            self._lock = lock.__enter__()
            return _context(manifest, paths, dirs, self._keys_gid, dry_run, self._owners_known)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        lock, dirs, self._lock, self._dirs = self._lock, self._dirs, None, None
        try:
            if lock is not None:
                lock.__exit__(*exc)
        finally:
            if dirs is not None:
                dirs.__exit__(*exc)


def _context(
    manifest: Manifest,
    paths: RuntimePaths,
    dirs: RootedDirs,
    keys_gid: int | None,
    dry_run: bool,
    owners_known: bool,
) -> Context:
    names = Names()
    chown = os.geteuid() == 0 and not manifest.user_mode
    if chown:
        if keys_gid is None:
            try:
                keys_gid = fsops.keys_group_id()
            except ActivationError:
                # A dry run only compares directory owners; it must not fail on the group.
                if not dry_run:
                    raise
                keys_gid = 0
        owners = Owners(0, keys_gid, owners_known=owners_known)
    else:
        uid, gid = os.geteuid(), os.getegid()
        owners = Owners(uid, gid, (uid, gid, *names(uid, gid)))
    return Context(
        paths,
        paths.runtime(manifest.mount_point),
        paths.runtime(manifest.symlink_path),
        chown,
        owners,
        state_dir(manifest, paths),
        dirs,
        names,
    )


def open_mount_point(ctx: Context) -> int:
    """Open the mount point (its root, checked by the mount step) for listing and writing."""
    place = ctx.dirs.own_directory(ctx.mount_point, create=False)
    if place is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), ctx.mount_point)
    return readable(place)
