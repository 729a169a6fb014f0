"""Installing a render plan as a new generation, rolling back, and reporting the live one.

``apply`` runs, under one exclusive lock:

1. checks of the plan itself (names, clashes, modes, link paths), all reported together;
2. in a dry run, steps 5 and 9 only, from the live tree: nothing at all is written (no mount,
   no directory, no symlink, no state), except NixOS's dry-activation list files when that
   delivery is chosen;
3. the RAM-backed mount (or the check that the mount point already is RAM-backed);
4. removal of an unfinished generation N+1 left by an interrupted run;
5. the comparison of the plan, in memory, with the live generation;
6. when anything differs (bytes, owners, modes, the set of files or directories): generation
   N+1, each file created with its final owner and mode before it is written, secrets first,
   then templates under ``rendered/``, one fsync of the generation directory; then the atomic
   switch of the symlink path. Any failure up to the switch removes N+1 and leaves the live
   generation serving. When nothing differs, no generation is made and N stays live:
   the generation number does not advance;
7. custom ``path`` links, and removal of stale recorded ones;
8. pruning by ``keep_generations``;
9. unit restarts and reloads for the items whose bytes changed.

Failures after the switch (links, pruning, units) do not undo it: they are returned in
``ApplyResult.errors`` and the new generation stays live.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import TYPE_CHECKING, Any

from secretsctl.activate import fsops, generations
from secretsctl.activate.diff import ItemChange, ItemState, Owners, compare
from secretsctl.activate.rooted import RootedDirs, readable
from secretsctl.activate.units import Delivery
from secretsctl.errors import (
    ActivationError,
    ExitCode,
    ManifestError,
    ProblemsError,
    SecretsctlError,
)
from secretsctl.record import Record
from secretsctl.render.model import ItemKind, PlannedFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from secretsctl.activate.diff import Diff
    from secretsctl.activate.fsops import MountOutcome, TreeSnapshot
    from secretsctl.activate.links import LinkSpec, State
    from secretsctl.activate.status import StatusFile, StatusResult
    from secretsctl.config.model import Manifest, SecretSpec, TemplateSpec
    from secretsctl.paths import RuntimePaths
    from secretsctl.redact import Secret
    from secretsctl.render.model import RenderPlan

RENDERED = "rendered/"
# An empty, "." or ".." component (so also a leading or trailing "/"), or a NUL byte.
_BAD_NAME = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|\x00")


class ApplyResult(Record):
    """What a run did, or would do. Names, owners, modes and sizes only, never a value."""

    dry_run: bool
    generation: int | None  # live after the run (dry run: what would be live)
    previous: int | None  # live before the run
    created: bool  # a new generation was (would be) made; False when nothing differed
    items: tuple[ItemChange, ...]  # planned items in plan order, then removed ones
    log_lines: tuple[str, ...]  # change log, drift and stale-link lines
    restart_units: tuple[str, ...]
    reload_units: tuple[str, ...]
    delivery: Delivery
    delivered: bool = False  # units were handed to systemctl or written to list files
    list_files: tuple[str, ...] = ()
    links_created: tuple[str, ...] = ()  # made or replaced (dry run: would be)
    links_removed: tuple[str, ...] = ()  # stale links removed (dry run: would be)
    pruned: tuple[int, ...] = ()  # generations deleted (dry run: would be)
    mount: MountOutcome | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # failures after the switch; the new generation stays live

    @property
    def ok(self) -> bool:
        """Tell whether every step succeeded."""
        return not self.errors

    @property
    def changed(self) -> bool:
        """Tell whether any item is new, changed or removed, or has drifted."""
        return any(i.state is not ItemState.UNCHANGED or i.drift for i in self.items)

    def unit_lines(self) -> list[str]:
        """Return sops-nix's ``would restart <unit>`` / ``would reload <unit>`` lines."""
        return [f"would restart {u}" for u in self.restart_units] + [
            f"would reload {u}" for u in self.reload_units
        ]


class _Context(Record):
    paths: RuntimePaths
    mount_point: str  # rooted
    symlink_path: str  # rooted
    chown: bool  # owners are applied (root, system mode)
    owners: Owners
    state_dir: str
    dirs: RootedDirs  # every folder written in is reached (and checked) through it


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


class _Names:
    """User and group names of ids, looked up once each."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], tuple[str, str]] = {}

    def __call__(self, uid: int, gid: int) -> tuple[str, str]:
        found = self._cache.get((uid, gid))
        if found is None:
            import grp
            import pwd

            try:
                user = pwd.getpwuid(uid).pw_name
            except KeyError:
                user = str(uid)
            try:
                group = grp.getgrgid(gid).gr_name
            except KeyError:
                group = str(gid)
            found = self._cache[(uid, gid)] = (user, group)
        return found


def _context(
    manifest: Manifest,
    paths: RuntimePaths,
    dirs: RootedDirs,
    keys_gid: int | None,
    dry_run: bool,
    names: _Names,
    owners_known: bool = True,
) -> _Context:
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
    return _Context(
        paths,
        paths.runtime(manifest.mount_point),
        paths.runtime(manifest.symlink_path),
        chown,
        owners,
        state_dir(manifest, paths),
        dirs,
    )


def _label(kind: ItemKind, name: str) -> str:
    return f"{'secret' if kind is ItemKind.SECRET else 'template'} '{name}'"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _reserved_in_mount_point(where: str, mount_point: str) -> bool:
    """Whether a link path in the mount point is the mount point or a name it keeps for itself.

    sops-nix allows custom paths in the mount point (its own Go test links ``secrets.d/test2``);
    numbers are generations, dot names are work files, age-keys.txt is the drop-in's key file.
    """
    if where == mount_point:
        return True
    first = where[len(mount_point.rstrip("/")) + 1 :].split("/", 1)[0]
    return first.isdigit() or first.startswith(".") or first == "age-keys.txt"


def _folders(relative: str) -> list[str]:
    """Every folder above a relative path: ``a/b/c`` → ``a/b``, ``a``."""
    parts = relative.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def validate(plan: RenderPlan, manifest: Manifest, paths: RuntimePaths) -> None:
    """Check the plan can be installed as it is; raise every problem at once, by name."""
    if plan.check_only:
        raise ActivationError(
            "internal error: a plan built for checking holds no content and cannot be installed"
        )
    problems: list[SecretsctlError] = []

    def problem(message: str, hint: str | None = None) -> None:
        problems.append(ActivationError(message, hint=hint))

    def rooted(path: str, what: str) -> str | None:
        """Place a runtime path under the root; a refused one (``..``) is a problem."""
        try:
            return paths.runtime(path)
        except ManifestError as error:
            problems.append(ManifestError(f"{what}: {error.message}", hint=error.hint))
            return None

    if not os.path.isabs(manifest.mount_point) or not os.path.isabs(manifest.symlink_path):
        problem("the mount point and the symlink path must be absolute paths")
        raise ProblemsError(problems)
    mount_point = rooted(manifest.mount_point, "the mount point")
    symlink_path = rooted(manifest.symlink_path, "the symlink path")
    if mount_point is None or symlink_path is None:
        raise ProblemsError(problems)
    if _inside(symlink_path, mount_point) or _inside(mount_point, symlink_path):
        problem(
            f"the symlink path {manifest.symlink_path} and the mount point "
            f"{manifest.mount_point} must be apart (neither inside the other)"
        )
    seen: dict[str, PlannedFile] = {}
    links: dict[str, str] = {}
    inner: dict[str, str] = {}  # links inside the symlink path: relative path → label
    limit = 2**32 - 1
    for item in plan.files:
        if _BAD_NAME.search(item.name):
            problem(
                f"{_label(item.kind, item.name)} has an invalid name: it must be relative, "
                "without empty, '.' or '..' components"
            )
            continue
        relative = item.relative_path
        other = seen.setdefault(relative, item)
        if other is not item:
            problem(
                f"{_label(item.kind, item.name)} and {_label(other.kind, other.name)} would "
                f"both be written to {relative}"
            )
        if not 0 <= item.mode <= 0o777:
            problem(
                f"{_label(item.kind, item.name)} has mode {item.mode:#o}: only permission bits "
                "(at most 0777) are allowed"
            )
        if not (0 <= item.uid < limit and 0 <= item.gid < limit):
            problem(f"{_label(item.kind, item.name)} has an invalid owner {item.uid}:{item.gid}")
        if item.link_path is not None:
            label = _label(item.kind, item.name)
            if not os.path.isabs(item.link_path):
                problem(f"{label} has a relative path {item.link_path}; it must be absolute")
                continue
            where = rooted(item.link_path, label)
            if where is None:
                continue
            if where == os.path.join(symlink_path, item.relative_path):
                continue  # the default place: nothing to link
            if where in links:
                problem(f"{label} and {links[where]} both link {item.link_path}")
            links[where] = label
            if where == symlink_path or (
                _inside(where, mount_point) and _reserved_in_mount_point(where, mount_point)
            ):
                problem(
                    f"{label} has a path {item.link_path} where the secrets' own folders or "
                    "files go",
                    hint="a path in the mount point must not start with a number, a dot or "
                    "age-keys.txt (the generations and their work files)",
                )
            elif _inside(where, symlink_path):
                inner[where[len(symlink_path) + 1 :]] = label
    folders = {f for rel in seen for f in _folders(rel)}
    for relative, label in inner.items():
        clash = seen.get(relative) or next((seen[f] for f in _folders(relative) if f in seen), None)
        if clash is not None or relative in folders:
            what = _label(clash.kind, clash.name) if clash else "the other files"
            problem(f"{label} links {relative} inside the symlink path, in the way of {what}")
    for relative, item in seen.items():
        folder = relative.rpartition("/")[0]
        while folder:
            if folder in seen:
                clash = seen[folder]
                problem(
                    f"{_label(item.kind, item.name)} needs a directory {folder} where "
                    f"{_label(clash.kind, clash.name)} is a file"
                )
                break
            folder = folder.rpartition("/")[0]
    if problems:
        raise ProblemsError(problems)


def check_folders(ctx: _Context, wanted: Iterable[LinkSpec], deliver: Delivery) -> None:
    """Check every folder the run writes in, before it writes anything (all or nothing).

    A symlink at the mount point or the state folder, or a symlink not owned by root on the
    way to any folder (of the symlink path, of a custom link, NixOS's list files) raises
    :class:`ActivationError`. Other problems (a file where a folder belongs) are left to the
    step that meets them. The descriptors opened stay in ``ctx.dirs`` for the writes.
    """
    dirs = ctx.dirs
    for own in (ctx.mount_point, ctx.state_dir):
        with contextlib.suppress(OSError):
            dirs.own_directory(own, create=False)
    for path in (ctx.symlink_path, *(spec.path for spec in wanted)):
        with contextlib.suppress(OSError):
            dirs.parent(path, create=False)
    if deliver is Delivery.LIST_FILES:
        with contextlib.suppress(OSError):
            dirs.find(ctx.paths.nixos_dir)


def _open_live(symlink_path: str) -> TreeSnapshot | None:
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


def _open_generation(ctx: _Context, number: int) -> TreeSnapshot | None:
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


def _diff(
    ctx: _Context,
    files: Sequence[PlannedFile],
    names: _Names,
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
            live = _open_live(ctx.symlink_path)
    try:
        return compare(
            files,
            live,
            owners=ctx.owners,
            symlink_path=ctx.symlink_path,
            runtime=ctx.paths.runtime,
            names=names,
            links={s.path: s.target for s in _generation_links(ctx, files)},
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


def _all_links(ctx: _Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return every custom link (its path rooted), but those at an item's default place."""
    from secretsctl.activate.links import LinkSpec

    specs = []
    forced = ctx.owners.files
    for item in files:
        if item.link_path is None:
            continue
        target = f"{ctx.symlink_path}/{item.relative_path}"
        path = os.path.normpath(ctx.paths.runtime(item.link_path))
        if path == os.path.normpath(target):
            continue
        uid, gid = (item.uid, item.gid) if forced is None else forced[:2]
        specs.append(LinkSpec(path, target, uid, gid, _label(item.kind, item.name)))
    return specs


def _spec_generation_links(
    symlink_path: str, runtime: Callable[[str], str], manifest: Manifest
) -> dict[str, str]:
    """Return the configuration's links inside the (rooted) symlink path: relative → target."""
    start = len(symlink_path) + 1
    found = {}
    for (kind, name), (_, spec) in _spec_index(manifest).items():
        if spec.path is None:
            continue
        relative = name if kind is ItemKind.SECRET else RENDERED + name
        target = f"{symlink_path}/{relative}"
        path = os.path.normpath(runtime(spec.path))
        if path != os.path.normpath(target) and _inside(path, symlink_path):
            found[path[start:]] = target
    return found


def _known_links(tree: TreeSnapshot, links: Mapping[str, str]) -> frozenset[str]:
    """Return the links of ``tree`` that are in ``links`` with the same target."""
    return frozenset(
        relative for relative, target in tree.links().items() if links.get(relative) == target
    )


def _wanted_links(ctx: _Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return the custom links made after the switch: those outside the symlink path."""
    return [s for s in _all_links(ctx, files) if not _inside(s.path, ctx.symlink_path)]


def _generation_links(ctx: _Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return the custom links inside the symlink path, ``path`` relative to it.

    sops-nix makes them through the symlink path once it is switched, so they land in the
    new generation; they are written into it with its files instead, so they switch with it.
    """
    start = len(ctx.symlink_path) + 1
    return [
        s._replace(path=s.path[start:])
        for s in _all_links(ctx, files)
        if _inside(s.path, ctx.symlink_path)
    ]


def _decide_units(
    diff: Diff, deliver: Delivery, systemctl: str, check_units: bool
) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Return the units to deliver and the warnings (unknown or invalid units)."""
    from secretsctl.activate import units

    if not (diff.restart_units or diff.reload_units):
        return (), (), []
    warnings = []
    sources = dict(diff.unit_sources)
    named = list(dict.fromkeys([*diff.restart_units, *diff.reload_units]))
    skip = {u for u in named if not units.valid_unit_name(u)}
    warnings += [
        f"ignoring '{u}' named by {sources.get(u, 'an item')}: not a unit name" for u in skip
    ]
    named = [u for u in named if u not in skip]
    if check_units and deliver is not Delivery.NONE and named:
        check = units.load_states(named, systemctl=systemctl)
        if check.no_systemd:
            # Known before anything is delivered: one line, not a failed restart per unit.
            warnings.append(
                f"systemd is not running here, so {', '.join(named)}"
                f" {'is' if len(named) == 1 else 'are'} not restarted or reloaded (hint: pass"
                " --delivery none where no service manager runs, as in a container)"
            )
            return (), (), warnings
        if check.error:
            warnings.append(f"cannot check that the units exist: {check.error}")
        for unit in check.missing:
            warnings.append(f"unit '{unit}' named by {sources.get(unit, 'an item')} does not exist")
            skip.add(unit)
    return (
        tuple(u for u in diff.restart_units if u not in skip),
        tuple(u for u in diff.reload_units if u not in skip),
        warnings,
    )


def _deliver(
    ctx: _Context,
    restart: tuple[str, ...],
    reload: tuple[str, ...],
    deliver: Delivery,
    systemctl: str,
    *,
    dry_run: bool,
) -> tuple[bool, tuple[str, ...], list[str]]:
    """Hand the units over; return (delivered, list files written, errors)."""
    from secretsctl.activate import units

    if not (restart or reload) or deliver is Delivery.NONE:
        return False, (), []
    if deliver is Delivery.LIST_FILES:
        try:
            written = units.append_list_files(
                ctx.paths.nixos_dir, restart, reload, dry_run=dry_run, dirs=ctx.dirs
            )
        except OSError as exc:
            return False, (), [f"cannot write the unit list files: {exc.strerror}"]
        return bool(written), written, []
    if dry_run:
        return False, (), []
    errors = units.run_systemctl(restart, reload, systemctl=systemctl)
    return not errors, (), errors


def _existing_generations(mount_point: str) -> list[int]:
    try:
        fd = fsops.open_dir(mount_point)
    except OSError:
        return []
    try:
        return generations.list_generations(fd)
    finally:
        os.close(fd)


def _log(diff: Diff, manifest: Manifest, *, dry_run: bool) -> list[str]:
    if manifest.user_mode or not manifest.log_secret_changes:
        return []
    return diff.change_log(dry_run=dry_run)


def _in_write_order(files: Sequence[PlannedFile]) -> list[PlannedFile]:
    """Secrets first, then templates, each in plan order."""
    return [f for f in files if f.kind is ItemKind.SECRET] + [
        f for f in files if f.kind is not ItemKind.SECRET
    ]


def apply(
    plan: RenderPlan,
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
    may_mount: bool | None = None,
    owners_known: bool = True,
    always_new_generation: bool = False,
    age_keys: Secret[bytes] | None = None,
) -> ApplyResult:
    """Install ``plan`` as the live generation (or, with ``dry_run``, say what that would do).

    ``force`` replaces a real file or directory at the symlink path (else refused).
    ``wait=False`` fails at once (exit 11, naming the holder's PID) when another run holds
    the lock. ``keys_gid`` overrides the ``keys`` group lookup (0 for sops-nix's
    ``-ignore-passwd``). ``may_mount`` defaults to "root, in system mode"; without it the mount
    point must already be on tmpfs or ramfs. In user mode nothing is chowned or mounted and
    no unit is told, as in sops-nix. ``systemctl`` is the program run for unit checks and
    restarts. ``owners_known=False``: the plan's owners were not looked up (a dry activation
    forces 0:0), so an owner differing from the live file's is not reported as drift.
    ``always_new_generation`` writes generation N+1 even when nothing changed, as sops-nix
    does (its tests and pruning count on it); secretsctl's own default keeps N then.
    ``age_keys`` replaces ``<mount point>/age-keys.txt`` (mode 0600, the caller's) before the
    generation is written, as sops-nix writes its combined key file; never in a dry run.
    """
    validate(plan, manifest, paths)
    if manifest.user_mode:
        deliver = Delivery.NONE
    names = _Names()
    with (
        RootedDirs(paths.root) as dirs,
        generations.RunLock(lock_file(manifest, paths), wait=wait, create=not dry_run, dirs=dirs),
    ):
        ctx = _context(manifest, paths, dirs, keys_gid, dry_run, names, owners_known)
        if may_mount is None:
            may_mount = ctx.chown
        wanted = _wanted_links(ctx, plan.files)
        check_folders(ctx, wanted, deliver)
        live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
        generations.refuse_non_symlink(live, force=force)
        files = _in_write_order(plan.files)
        if dry_run:
            return _apply_dry(
                plan, files, manifest, ctx, live, deliver, systemctl, check_units, may_mount, names
            )
        mount = fsops.mount_secret_fs(
            ctx.mount_point,
            dirs=dirs,
            use_tmpfs=manifest.use_tmpfs,
            may_mount=may_mount,
            fallback_when_denied=paths.root not in ("", "/"),
            chown=ctx.chown,
            keys_gid=ctx.owners.dir_gid,
        )
        mount_fd = _open_mount_point(ctx)
        try:
            # Read again: a fresh mount hides whatever generation was there before.
            live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
            warnings = list(plan.warnings)
            generations.clean_switch_leftovers(ctx.symlink_path, dirs)
            following = (live.generation or 0) + 1
            if generations.remove_leftover(mount_fd, following):
                warnings.append(f"removed generation {following}, left unlinked by an earlier run")
            diff = _diff(ctx, files, names, live, warnings)
            if age_keys is not None:
                _write_age_keys(ctx, mount_fd, age_keys)
            created = diff.tree_changed or live.generation is None or always_new_generation
            number = following if created else live.generation
            assert number is not None  # noqa: S101 - created when there is no live generation

            def write() -> None:
                _write_generation(ctx, mount_fd, number, files)

            return _install(
                manifest=manifest,
                ctx=ctx,
                mount_fd=mount_fd,
                live=live,
                diff=diff,
                number=number,
                write=write if created else None,
                # Owners and modes as written, for rollback's check (none kept with keep 1).
                record=(
                    {f.relative_path: _owner_mode(ctx, f) for f in files}
                    if manifest.keep_generations != 1
                    else None
                ),
                wanted=wanted,
                deliver=deliver,
                systemctl=systemctl,
                check_units=check_units,
                force=force,
                mount=mount,
                warnings=warnings,
            )
        finally:
            os.close(mount_fd)


def _write_age_keys(ctx: _Context, mount_fd: int, data: Secret[bytes]) -> None:
    """Replace the mount point's age-keys.txt: a new 0600 file, synced, renamed over it."""
    from secretsctl.keys.sopsnix_keyfile import NAME

    temporary = f".{NAME}.{os.urandom(6).hex()}.tmp"
    try:
        fsops.create_file(
            mount_fd, temporary, data.reveal(), uid=-1, gid=-1, mode=0o600, chown=False
        )
        os.rename(temporary, NAME, src_dir_fd=mount_fd, dst_dir_fd=mount_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=mount_fd)
        raise ActivationError(
            f"cannot create '{ctx.mount_point}/{NAME}': {exc.strerror}", hint=_space_hint(exc)
        ) from None
    fsops.fsync_dir_fd(mount_fd)


def _open_mount_point(ctx: _Context) -> int:
    """Open the mount point (its root, checked by the mount step) for listing and writing."""
    place = ctx.dirs.own_directory(ctx.mount_point, create=False)
    if place is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), ctx.mount_point)
    return readable(place)


def _owner_mode(ctx: _Context, item: PlannedFile) -> tuple[int, int, int]:
    forced = ctx.owners.files
    if forced is None:
        return item.uid, item.gid, item.mode
    return forced[0], forced[1], item.mode


def _apply_dry(
    plan: RenderPlan,
    files: Sequence[PlannedFile],
    manifest: Manifest,
    ctx: _Context,
    live: generations.LiveLink,
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
    may_mount: bool,
    names: _Names,
) -> ApplyResult:
    from secretsctl.activate import links

    warnings = list(plan.warnings)
    if live.kind == "other":
        what = "directory" if live.is_dir else "file"
        warnings.append(f"would replace the {what} at {live.path} with the link")
    if not may_mount:
        fsops.require_ram_backed(
            ctx.mount_point, why="secretsctl mounts only as root in system mode"
        )
    diff = _diff(ctx, files, names, live, warnings)
    created = diff.tree_changed or live.generation is None
    number = (live.generation or 0) + 1 if created else live.generation
    assert number is not None  # noqa: S101 - created when there is no live generation
    restart, reload, unit_warnings = _decide_units(diff, deliver, systemctl, check_units)
    warnings += unit_warnings
    state, note = links.load_state(links.state_file(ctx.state_dir, manifest.mount_point), ctx.dirs)
    if note:
        warnings.append(note)
    kept = [*_existing_generations(ctx.mount_point), number]
    return _dry_run_result(
        manifest,
        ctx,
        diff,
        _wanted_links(ctx, plan.files),
        state.links,
        deliver=deliver,
        systemctl=systemctl,
        restart=restart,
        reload=reload,
        generation=number,
        previous=live.generation,
        created=created,
        pruned=generations.would_prune(kept, number, manifest.keep_generations),
        warnings=warnings,
    )


def _dry_run_result(
    manifest: Manifest,
    ctx: _Context,
    diff: Diff,
    wanted: Sequence[LinkSpec],
    recorded_links: Mapping[str, str],
    *,
    deliver: Delivery,
    systemctl: str,
    restart: tuple[str, ...],
    reload: tuple[str, ...],
    generation: int,
    previous: int | None,
    created: bool,
    pruned: tuple[int, ...],
    warnings: list[str],
) -> ApplyResult:
    """Say what a run (or a rollback) would do, from its diff and units; write nothing."""
    from secretsctl.activate import links

    list_files: tuple[str, ...] = ()
    errors: list[str] = []
    if deliver is Delivery.LIST_FILES:
        _, list_files, errors = _deliver(ctx, restart, reload, deliver, systemctl, dry_run=True)
    removable, foreign = links.stale_links(recorded_links, (s.path for s in wanted), ctx.dirs)
    warnings += [f"would leave {p} in place: it is not a link secretsctl made" for p in foreign]
    log = _log(diff, manifest, dry_run=True) + [f"would remove stale link: {p}" for p in removable]
    return ApplyResult(
        dry_run=True,
        generation=generation,
        previous=previous,
        created=created,
        items=diff.items,
        log_lines=tuple(log),
        restart_units=restart,
        reload_units=reload,
        delivery=deliver,
        delivered=bool(list_files),
        list_files=list_files,
        links_created=tuple(
            s.path for s in wanted if not links.link_is_current(s, chown=ctx.chown, dirs=ctx.dirs)
        ),
        links_removed=tuple(removable),
        pruned=pruned,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )


def _write_generation(
    ctx: _Context, mount_fd: int, number: int, files: Sequence[PlannedFile]
) -> None:
    """Write generation ``number`` completely, or remove what was written and raise."""
    owners = ctx.owners
    try:
        gen_fd, _ = generations.prepare_generation(
            mount_fd, number, keys_gid=owners.dir_gid, chown=ctx.chown
        )
    except OSError as exc:
        _discard(mount_fd, number)
        raise ActivationError(
            f"failed to prepare new secrets directory: {ctx.mount_point}/{number}: {exc.strerror}"
        ) from None
    writer = fsops.TreeWriter(
        gen_fd, dir_uid=owners.dir_uid, dir_gid=owners.dir_gid, chown=ctx.chown
    )
    forced = owners.files
    complete = False
    current = ""
    try:
        for item in files:
            current = item.relative_path
            uid, gid = (item.uid, item.gid) if forced is None else forced[:2]
            writer.write(current, item.content.reveal(), uid=uid, gid=gid, mode=item.mode)
        for link in _generation_links(ctx, files):
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
            _discard(mount_fd, number)


def _space_hint(exc: OSError) -> str | None:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the secrets filesystem is full; the live generation was left as it was"
    return None


def _discard(mount_fd: int, number: int) -> None:
    """Remove an unlinked generation after a failure; the next run retries if this fails."""
    with contextlib.suppress(OSError):
        generations.remove_leftover(mount_fd, number)


class _Synced(Record):
    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: frozenset[str] = frozenset()  # wanted links that could not be made
    kept: frozenset[str] = frozenset()  # stale links that could not be removed (still ours)


def _install(
    *,
    manifest: Manifest,
    ctx: _Context,
    mount_fd: int,
    live: generations.LiveLink,
    diff: Diff,
    number: int,
    write: Callable[[], None] | None,
    record: dict[str, tuple[int, int, int]] | None,
    wanted: list[LinkSpec],
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
    force: bool,
    mount: MountOutcome | None,
    warnings: list[str],
    prune: bool = True,
) -> ApplyResult:
    """Make ``number`` live (writing it first when ``write`` is given), then links, prune, units."""
    from secretsctl.activate import links

    state_path = links.state_file(ctx.state_dir, manifest.mount_point)
    links.clean_state_leftover(state_path, ctx.dirs)
    state, note = links.load_state(state_path, ctx.dirs)
    if note:
        warnings.append(note)
    saved = (dict(state.links), set(state.generations))
    switching = number != live.generation or live.kind != "symlink"
    if write is not None:
        write()
    if switching:
        if record is not None and write is not None:
            state.generations[number] = record
        # Recorded before the switch, so a link made after it is never unaccounted for.
        state.links = {**state.links, **{s.path: s.target for s in wanted}}
        if (state.links, set(state.generations)) != saved:
            _save_state(ctx, state_path, state, warnings)
            saved = (dict(state.links), set(state.generations))
        try:
            generations.switch_symlink(
                ctx.symlink_path,
                f"{ctx.mount_point}/{number}",
                replace_other=force and live.kind == "other",
                dirs=ctx.dirs,
            )
        except ActivationError:
            if write is not None:
                _discard(mount_fd, number)
            raise
    errors: list[str] = []
    synced = _sync_links(ctx, state, wanted, warnings, errors)
    previous_links = state.links
    state.links = {s.path: s.target for s in wanted if s.path not in synced.failed}
    state.links.update({p: previous_links[p] for p in synced.kept})
    pruned: tuple[int, ...] = ()
    if prune:
        try:
            pruned = generations.prune(mount_fd, number, manifest.keep_generations)
        except OSError as exc:
            errors.append(f"cannot prune old secrets generations: {exc.strerror}")
    if state.generations:
        kept = set(generations.list_generations(mount_fd))
        for stale in [n for n in state.generations if n not in kept]:
            del state.generations[stale]
    if (state.links, set(state.generations)) != saved:
        _save_state(ctx, state_path, state, warnings)
    restart, reload, unit_warnings = _decide_units(diff, deliver, systemctl, check_units)
    warnings += unit_warnings
    delivered, list_files, unit_errors = _deliver(
        ctx, restart, reload, deliver, systemctl, dry_run=False
    )
    errors += unit_errors
    log = _log(diff, manifest, dry_run=False)
    log += [f"removing stale link: {p}" for p in synced.removed]
    return ApplyResult(
        dry_run=False,
        generation=number,
        previous=live.generation,
        created=write is not None,
        items=diff.items,
        log_lines=tuple(log),
        restart_units=restart,
        reload_units=reload,
        delivery=deliver,
        delivered=delivered,
        list_files=list_files,
        links_created=synced.created,
        links_removed=synced.removed,
        pruned=pruned,
        mount=mount,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )


def _save_state(ctx: _Context, path: str, state: State, warnings: list[str]) -> None:
    from secretsctl.activate import links

    try:
        links.save_state(path, state, ctx.dirs)
    except OSError as exc:
        warnings.append(f"cannot record custom links in {path}: {exc.strerror}")


def _sync_links(
    ctx: _Context, state: State, wanted: list[LinkSpec], warnings: list[str], errors: list[str]
) -> _Synced:
    from secretsctl.activate import links

    if not wanted and not state.links:
        return _Synced()
    links.clean_link_leftovers(
        (os.path.dirname(p) for p in [*state.links, *(s.path for s in wanted)]), ctx.dirs
    )
    created, failed = [], set()
    for spec in wanted:
        try:
            if links.install_link(spec, chown=ctx.chown, dirs=ctx.dirs):
                created.append(spec.path)
        except OSError as exc:
            failed.add(spec.path)
            kind = spec.label.split()[0]
            errors.append(
                f"failed to prepare symlinks to secret store: failed to symlink {kind} "
                f"'{spec.path}': {exc.strerror}"
            )
    removable, foreign = links.stale_links(state.links, (s.path for s in wanted), ctx.dirs)
    removed, kept = [], set()
    for path in removable:
        try:
            links.remove_link(path, ctx.dirs)
            removed.append(path)
        except OSError as exc:
            kept.add(path)
            errors.append(f"cannot remove the stale link {path}: {exc.strerror}")
    warnings += [f"left {p} in place: it is not a link secretsctl made" for p in foreign]
    return _Synced(tuple(created), tuple(removed), frozenset(failed), frozenset(kept))


# --- rollback -------------------------------------------------------------------------------


def _spec_index(
    manifest: Manifest,
) -> dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]]:
    index: dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]] = {}
    for position, secret in enumerate(manifest.secrets):
        index.setdefault((ItemKind.SECRET, secret.name), (position, secret))
    offset = len(manifest.secrets)
    for position, template in enumerate(manifest.templates):
        index.setdefault((ItemKind.TEMPLATE, template.name), (offset + position, template))
    return index


def _kind_and_name(relative: str) -> tuple[ItemKind, str]:
    if relative.startswith(RENDERED):
        return ItemKind.TEMPLATE, relative[len(RENDERED) :]
    return ItemKind.SECRET, relative


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
    names = _Names()
    with (
        RootedDirs(paths.root) as dirs,
        generations.RunLock(lock_file(manifest, paths), wait=wait, create=not dry_run, dirs=dirs),
    ):
        ctx = _context(manifest, paths, dirs, keys_gid, dry_run, names)
        check_folders(ctx, (), deliver)
        live = generations.read_live(ctx.symlink_path, ctx.mount_point, ctx.dirs)
        if live.generation is None:
            raise ActivationError(
                f"nothing to roll back: {ctx.symlink_path} does not point at a generation "
                f"of {ctx.mount_point}",
                exit_code=ExitCode.NO_ROLLBACK_TARGET,
            )
        try:
            mount_fd = _open_mount_point(ctx)
        except OSError as exc:
            raise ActivationError(
                f"nothing to roll back: cannot open {ctx.mount_point}: {exc.strerror}",
                exit_code=ExitCode.NO_ROLLBACK_TARGET,
            ) from None
        try:
            return _rollback(
                manifest,
                ctx,
                mount_fd,
                live,
                dry_run,
                force,
                deliver,
                systemctl,
                check_units,
                names,
            )
        finally:
            os.close(mount_fd)


def _rollback(
    manifest: Manifest,
    ctx: _Context,
    mount_fd: int,
    live: generations.LiveLink,
    dry_run: bool,
    force: bool,
    deliver: Delivery,
    systemctl: str,
    check_units: bool,
    names: _Names,
) -> ApplyResult:
    from secretsctl.activate import links

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
        _spec_index(manifest),
        state.generations.get(target),
        warnings,
        names,
        _spec_generation_links(ctx.symlink_path, ctx.paths.runtime, manifest),
    )
    diff = _diff(ctx, files, names, live, warnings)
    wanted = _wanted_links(ctx, files)
    check_folders(ctx, wanted, deliver)
    if not dry_run:
        return _install(
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
    restart, reload, unit_warnings = _decide_units(diff, deliver, systemctl, check_units)
    return _dry_run_result(
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
        warnings=warnings + unit_warnings,
    )


def _read_generation(
    mount_fd: int,
    number: int,
    index: dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]],
    record: dict[str, tuple[int, int, int]] | None,
    warnings: list[str],
    names: _Names,
    links: Mapping[str, str],
) -> list[PlannedFile]:
    """Read a kept generation back as planned files, in configuration order, after checks.

    ``links`` are the links inside the symlink path the configuration makes (relative path →
    target): they are neither files nor a sign of tampering.
    """
    from secretsctl.redact import Secret

    def order(relative: str) -> tuple[int, str]:
        found = index.get(_kind_and_name(relative))
        return (found[0] if found else len(index), relative)

    try:
        target_fd = fsops.open_dir(str(number), dir_fd=mount_fd)
    except OSError as exc:
        raise ActivationError(f"cannot roll back to generation {number}: {exc.strerror}") from None
    try:
        with fsops.TreeSnapshot(target_fd) as tree:
            known = _known_links(tree, links)
            _verify_generation(tree, number, record, warnings, known)
            files = []
            entries = [e for e in tree.files() if e.relative not in known]
            for entry in sorted(entries, key=lambda e: order(e.relative)):
                kind, name = _kind_and_name(entry.relative)
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
            return _in_write_order(files)
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


# --- status ---------------------------------------------------------------------------------


def status(manifest: Manifest, paths: RuntimePaths) -> StatusResult:
    """Describe the live generation (see :func:`secretsctl.activate.status.status`)."""
    from secretsctl.activate.status import status as describe

    return describe(manifest, paths)


def __getattr__(name: str) -> Any:
    # The status types live apart: they are never needed on the boot path.
    if name in ("StatusFile", "StatusResult"):
        from secretsctl.activate import status as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApplyResult",
    "Delivery",
    "ItemChange",
    "ItemState",
    "StatusFile",
    "StatusResult",
    "apply",
    "rollback",
    "status",
    "validate",
]
