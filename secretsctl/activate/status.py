"""What is live now: the files of the live generation beside their configuration.

Read-only: nothing is written and no lock is taken. Not on the boot path: nothing there
imports this module.
"""

from __future__ import annotations

import os

from secretsctl.activate import generations
from secretsctl.activate.linking import known_links, spec_generation_links
from secretsctl.activate.live import existing_generations, open_live
from secretsctl.activate.naming import Names, kind_and_name, label, spec_index
from secretsctl.activate.rooted import RootedDirs
from secretsctl.record import Record
from secretsctl.render.model import ItemKind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.config.model import Manifest, Ownership
    from secretsctl.paths import RuntimePaths


class StatusFile(Record):
    """One file of the live generation, as it is, beside its configuration."""

    kind: ItemKind
    name: str
    relative_path: str
    regular: bool
    uid: int
    gid: int
    owner: str
    group: str
    mode: int
    size: int
    configured: bool  # an item of the configuration names it
    configured_mode: int | None = None


class StatusResult(Record):
    """The live generation and its files, with a warning for each file looser than configured."""

    symlink_path: str
    target: str | None
    generation: int | None
    generations: tuple[int, ...]  # every generation directory on the mount point
    files: tuple[StatusFile, ...]
    warnings: tuple[str, ...]


def _resolve(ownership: Ownership) -> tuple[int | None, int | None]:
    """Return the configured uid and gid (None where a name does not resolve)."""
    import grp
    import pwd

    uid: int | None = ownership.uid
    primary: int | None = None
    if ownership.owner is not None:
        try:
            entry = pwd.getpwnam(ownership.owner)
            uid, primary = entry.pw_uid, entry.pw_gid
        except KeyError:
            uid = None
    gid: int | None
    if ownership.group is not None:
        try:
            gid = grp.getgrnam(ownership.group).gr_gid
        except KeyError:
            gid = None
    elif ownership.gid is not None:
        gid = ownership.gid
    elif ownership.owner is not None:
        gid = primary
    else:
        gid = 0
    return uid, gid


def status(manifest: Manifest, paths: RuntimePaths) -> StatusResult:
    """Describe the live generation: every file with owner, group and mode, and warnings.

    A file gets a warning when its mode has a bit its configuration does not, or (when owners
    are applied: root, system mode) when its owner or group is not the configured one.
    Nothing is written and no lock is taken.
    """
    names = Names()
    mount_point = paths.runtime(manifest.mount_point)
    symlink_path = paths.runtime(manifest.symlink_path)
    with RootedDirs(paths.root) as dirs:
        live = generations.read_live(symlink_path, mount_point, dirs)
    kept = tuple(existing_generations(mount_point))
    snapshot = open_live(symlink_path) if live.kind == "symlink" else None
    if snapshot is None:
        why = {
            "absent": f"{symlink_path} does not exist: nothing is installed",
            "other": f"{symlink_path} is not a symlink",
            "symlink": f"{symlink_path} points at {live.target}, which does not exist",
        }[live.kind]
        return StatusResult(symlink_path, live.target, None, kept, (), (why,))
    warnings = []
    if live.generation is None:
        warnings.append(
            f"{symlink_path} points at {live.target}, not a generation of {mount_point}"
        )
    specs = {key: found[1] for key, found in spec_index(manifest).items()}
    owners_apply = os.geteuid() == 0 and not manifest.user_mode
    files = []
    with snapshot:
        # Links inside the symlink path the configuration makes are no files of their own.
        known = known_links(snapshot, spec_generation_links(symlink_path, paths.runtime, manifest))
        entries = [e for e in snapshot.files() if e.relative not in known]
        for entry in sorted(entries, key=lambda e: e.relative):
            kind, name = kind_and_name(entry.relative)
            spec = specs.get((kind, name))
            item = label(kind, name)
            info = snapshot.info(entry)
            owner, group = names(info.uid, info.gid)
            if spec is None:
                warnings.append(f"{item} is in the live generation but not in the configuration")
            if not entry.is_file:
                warnings.append(f"{item} is not a regular file")
            if spec is not None and info.mode & ~spec.mode:
                warnings.append(
                    f"{item} has mode {info.mode:04o}, more permissive than its configured "
                    f"{spec.mode:04o}"
                )
            if spec is not None and owners_apply:
                uid, gid = _resolve(spec.ownership)
                if uid is not None and uid != info.uid:
                    warnings.append(
                        f"{item} is owned by {owner}, configured {names(uid, info.gid)[0]}"
                    )
                if gid is not None and gid != info.gid:
                    warnings.append(
                        f"{item} has group {group}, configured {names(info.uid, gid)[1]}"
                    )
            files.append(
                StatusFile(
                    kind,
                    name,
                    entry.relative,
                    entry.is_file,
                    info.uid,
                    info.gid,
                    owner,
                    group,
                    info.mode,
                    info.size,
                    spec is not None,
                    spec.mode if spec is not None else None,
                )
            )
    present = {(f.kind, f.name) for f in files}
    warnings += [
        f"{label(*key)} is configured but not in the live generation"
        for key in specs
        if key not in present
    ]
    return StatusResult(
        symlink_path, live.target, live.generation, kept, tuple(files), tuple(warnings)
    )
