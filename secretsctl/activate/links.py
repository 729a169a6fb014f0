"""Custom ``path`` links, and the record secretsctl keeps of them.

A secret with a custom ``path`` gets a symlink there to ``<symlink path>/<name>`` (through the
stable link, so it follows every switch). The link is made in a fresh 0700 directory beside
its final place, ``lchown``-ed to the secret's owner and renamed into place, so it never exists
with another owner. Links are made after the switch.

The links of the live generation are recorded in a state file under the state directory,
outside the generations, with the owners and modes of the files of each kept generation (what
a rollback checks). After a switch, a recorded link that is no longer wanted is removed, but
only while it is still a symlink to the target recorded for it; anything else is left alone
with a warning.
"""

from __future__ import annotations

import errno
import os
import stat

from secretsctl.activate import fsops
from secretsctl.activate.rooted import dirs_or_system, readable
from secretsctl.errors import ActivationError
from secretsctl.fsutil import suppress
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from secretsctl.activate.rooted import RootedDirs

LINK_PREFIX = ".secretsctl-link-"
STATE_VERSION = 1


class LinkSpec(Record):
    """A symlink to make at ``path`` (absolute, rooted), pointing at ``target``."""

    path: str
    target: str
    uid: int
    gid: int
    label: str  # "secret 'x'" or "template 'y'", for messages


def link_is_current(spec: LinkSpec, *, chown: bool, dirs: RootedDirs | None = None) -> bool:
    """Tell whether ``spec.path`` already is the wanted symlink with the wanted owner."""
    with dirs_or_system(dirs) as walker:
        try:
            parent_fd, name = walker.parent(spec.path, create=False)
            if parent_fd is None:
                return False
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if not stat.S_ISLNK(info.st_mode):
                return False
            if os.readlink(name, dir_fd=parent_fd) != spec.target:
                return False
        except OSError:
            return False
    return not chown or (info.st_uid, info.st_gid) == (spec.uid, spec.gid)


def install_link(spec: LinkSpec, *, chown: bool, dirs: RootedDirs | None = None) -> bool:
    """Make ``spec.path`` the wanted symlink; return False when it already was.

    A file or symlink in the way is replaced by the rename itself; an empty directory is
    removed first; a directory with content is an error. The folder is reached (and made, as
    ``makedirs`` would) through ``dirs``: an untrusted symlink on the way is refused.
    """
    with dirs_or_system(dirs) as walker:
        if link_is_current(spec, chown=chown, dirs=walker):
            return False
        parent_fd, name = walker.parent(spec.path)
        assert parent_fd is not None  # noqa: S101 - created

        def clear_way() -> None:
            if fsops.is_directory_at(parent_fd, name):
                try:
                    os.rmdir(name, dir_fd=parent_fd)
                except OSError as exc:
                    raise OSError(
                        exc.errno, f"cannot override {spec.path}: {exc.strerror}"
                    ) from None

        fsops.replace_with_symlink(
            parent_fd,
            name,
            spec.target,
            fsops.make_private_dir_at(parent_fd, LINK_PREFIX),
            owner=(spec.uid, spec.gid) if chown else None,
            clear_way=clear_way,
        )
    return True


def remove_link(path: str, dirs: RootedDirs | None = None) -> None:
    """Remove the link at ``path`` (a stale one), its folder reached through ``dirs``."""
    with dirs_or_system(dirs) as walker:
        parent_fd, name = walker.parent(path, create=False)
        if parent_fd is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        os.unlink(name, dir_fd=parent_fd)


def clean_link_leftovers(parents: Iterable[str], dirs: RootedDirs | None = None) -> None:
    """Remove temporary link directories an interrupted run left in these directories."""
    with dirs_or_system(dirs) as walker:
        for parent in set(parents):
            try:
                parent_fd = walker.find(parent)
                if parent_fd is None:
                    continue
                listing_fd = readable(parent_fd)
                try:
                    with os.scandir(listing_fd) as listing:
                        stale = [
                            entry.name
                            for entry in listing
                            if entry.name.startswith(LINK_PREFIX)
                            and entry.is_dir(follow_symlinks=False)
                        ]
                finally:
                    os.close(listing_fd)
            except (OSError, ActivationError):  # a recorded folder now behind a planted link
                continue
            for name in stale:
                fsops.remove_tree(parent_fd, name)


def stale_links(
    recorded: Mapping[str, str], wanted: Iterable[str], dirs: RootedDirs | None = None
) -> tuple[list[str], list[str]]:
    """Split recorded links no longer wanted into removable ones and ones to leave alone.

    A link is removable only while it is still a symlink to its recorded target.
    """
    keep = set(wanted)
    removable: list[str] = []
    foreign: list[str] = []
    with dirs_or_system(dirs) as walker:
        for path, target in sorted(recorded.items()):
            if path in keep:
                continue
            try:
                parent_fd, name = walker.parent(path, create=False)
                if parent_fd is None:
                    continue
                info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            except (OSError, ActivationError):  # ActivationError: now behind a planted link
                foreign.append(path)
                continue
            try:
                ours = stat.S_ISLNK(info.st_mode) and os.readlink(name, dir_fd=parent_fd) == target
            except OSError:
                ours = False
            (removable if ours else foreign).append(path)
    return removable, foreign


class State:
    """What secretsctl remembers about one mount point between runs (no values).

    ``links``: link path -> target; ``generations``: number -> relative path -> (uid, gid,
    mode) of each file written.
    """

    __slots__ = ("generations", "links")

    def __init__(
        self,
        links: dict[str, str] | None = None,
        generations: dict[int, dict[str, tuple[int, int, int]]] | None = None,
    ) -> None:
        self.links = links if links is not None else {}
        self.generations = generations if generations is not None else {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (self.links, self.generations) == (other.links, other.generations)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"State(links={self.links!r}, generations={sorted(self.generations)!r})"


def state_file(state_dir: str, mount_point: str) -> str:
    """Return the state file of a mount point (systemd-escaped path, ``.json``)."""
    escaped = []
    for char in mount_point.strip("/") or "-":
        if char == "/":
            escaped.append("-")
        elif char.isascii() and (char.isalnum() or char in ":_."):
            escaped.append(char)
        else:
            escaped.extend(f"\\x{byte:02x}" for byte in char.encode())
    return os.path.join(state_dir, "".join(escaped) + ".json")


def load_state(path: str, dirs: RootedDirs | None = None) -> tuple[State, str | None]:
    """Read a state file; a missing file is an empty state, a bad one a warning.

    Its folder must be a real directory (reached through ``dirs``); a symlink there raises
    :class:`~secretsctl.errors.ActivationError`.
    """
    try:
        with dirs_or_system(dirs) as walker:
            folder_fd = walker.own_directory(os.path.dirname(path), create=False)
            if folder_fd is None:
                return State(), None
            fd = os.open(os.path.basename(path), fsops.READ_FLAGS, dir_fd=folder_fd)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
    except (FileNotFoundError, NotADirectoryError):
        return State(), None
    except OSError as exc:
        return State(), f"ignoring the unreadable state file {path}: {exc.strerror}"
    import json  # only now: most systems have no state file, and json costs at boot

    try:
        raw: Any = json.loads(data)
    except ValueError as exc:
        return State(), f"ignoring the unreadable state file {path}: {exc}"
    try:
        if raw.get("version") != STATE_VERSION:
            return State(), f"ignoring the state file {path}: unknown version"
        links = {str(k): str(v) for k, v in raw.get("links", {}).items()}
        generations = {
            int(number): {
                str(rel): (int(owner[0]), int(owner[1]), int(owner[2]))
                for rel, owner in files.items()
            }
            for number, files in raw.get("generations", {}).items()
        }
    except (AttributeError, TypeError, ValueError, IndexError):
        return State(), f"ignoring the malformed state file {path}"
    return State(links, generations), None


def clean_state_leftover(path: str, dirs: RootedDirs | None = None) -> None:
    """Remove the temporary file an interrupted :func:`save_state` left."""
    with dirs_or_system(dirs) as walker:
        folder_fd = walker.own_directory(os.path.dirname(path), create=False)
        if folder_fd is not None:
            with suppress(FileNotFoundError, NotADirectoryError):
                os.unlink(os.path.basename(path) + ".tmp", dir_fd=folder_fd)


def save_state(path: str, state: State, dirs: RootedDirs | None = None) -> None:
    """Replace the state file atomically (0600 in a 0700 directory, which must be real)."""
    import json

    document = {
        "version": STATE_VERSION,
        "links": state.links,
        "generations": {
            str(number): {rel: list(owner) for rel, owner in files.items()}
            for number, files in sorted(state.generations.items())
        },
    }
    data = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    name = os.path.basename(path)
    # One fixed name: runs are serialised by the lock, and a crash's leftover is replaced.
    temporary = f"{name}.tmp"
    with dirs_or_system(dirs) as walker:
        folder_fd = walker.own_directory(os.path.dirname(path), create=True, mode=0o700)
        assert folder_fd is not None  # noqa: S101 - created
        os.chmod(".", 0o700, dir_fd=folder_fd)
        with suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        fsops.replace_file(folder_fd, name, temporary, data, mode=0o600)
