"""The live generation against the one about to go live: per item, names only, never values.

Contents are compared in memory. Each item is new, changed, unchanged or removed (a file of
the live tree that no item names any more); a change of owner, group or mode is reported
apart, as drift, and triggers no unit. Units of new and changed items
are collected secrets first, then templates, each unit once, where it first appeared.
The change-log lines are those of sops-nix, so its acceptance sequences still hold.
"""

from __future__ import annotations

from secretsctl.activate.naming import kind_and_name, label
from secretsctl.choice import Choice
from secretsctl.record import Record
from secretsctl.render.model import ItemKind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from secretsctl.activate.fsops import TreeSnapshot
    from secretsctl.render.model import PlannedFile


class ItemState(Choice):
    """How an item of the new generation relates to the live one."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"


class ItemChange(Record):
    """One item's verdict, with where it is read and who owns it, for display.

    For a removed item, owner, mode and size are the live file's. (An immutable named
    tuple rather than a dataclass: one is built per file, and a frozen dataclass costs four
    times as much to build, which shows at thousands of files.)
    """

    kind: ItemKind
    name: str
    relative_path: str  # inside a generation
    path: str  # where readers find it: its custom link, else <symlink path>/<relative path>
    state: ItemState
    owner: str  # user name, or the number
    group: str
    uid: int
    gid: int
    mode: int
    size: int
    drift: bool = False  # owner, group or mode differ from the live file (content aside)
    old_uid: int | None = None
    old_gid: int | None = None
    old_mode: int | None = None
    restart_units: tuple[str, ...] = ()
    reload_units: tuple[str, ...] = ()


class Diff(Record):
    """Every item's verdict, the units to act on, and whether the tree differs at all."""

    items: tuple[ItemChange, ...]
    has_live: bool  # a live tree existed to compare with
    restart_units: tuple[str, ...]
    reload_units: tuple[str, ...]
    unit_sources: tuple[tuple[str, str], ...]  # (unit, "secret 'x'") for the first naming item
    tree_changed: bool  # bytes, owners, modes, the set of files or directories differ
    links_made: tuple[str, ...] = ()  # links in the generation that are new or point elsewhere
    links_dropped: tuple[str, ...] = ()  # links of the live generation that go

    def by_state(self, kind: ItemKind, state: ItemState) -> list[str]:
        """Return the names of the items of ``kind`` in ``state``, sorted."""
        return sorted(i.name for i in self.items if i.kind is kind and i.state is state)

    @property
    def content_changed(self) -> bool:
        """Tell whether any item is new, changed or removed."""
        return any(i.state is not ItemState.UNCHANGED for i in self.items)

    def change_log(self, *, dry_run: bool) -> list[str]:
        """Return sops-nix's change-log lines, then the drift lines (only when there is drift).

        With no live tree (first activation) there is nothing to report, as in sops-nix.
        """
        if not self.has_live:
            return []
        lines = []
        for kind, noun in ((ItemKind.SECRET, "secret"), (ItemKind.TEMPLATE, "rendered secret")):
            for state, verb, dry_verb in (
                (ItemState.NEW, "adding", "would add"),
                (ItemState.CHANGED, "modifying", "would modify"),
                (ItemState.REMOVED, "removing", "would remove"),
            ):
                names = self.by_state(kind, state)
                if names:
                    lines.append(_line(dry_verb if dry_run else verb, noun, names))
        for kind, noun in ((ItemKind.SECRET, "secret"), (ItemKind.TEMPLATE, "rendered secret")):
            names = sorted(i.name for i in self.items if i.kind is kind and i.drift)
            if names:
                verb = "would change permissions of" if dry_run else "changing permissions of"
                lines.append(_line(verb, noun, names))
        return lines


def _line(verb: str, noun: str, names: list[str]) -> str:
    plural = "s" if len(names) != 1 else ""
    return f"{verb} {noun}{plural}: {', '.join(names)}"


def dedupe(units: Iterable[str]) -> tuple[str, ...]:
    """Drop repeated units, keeping each at its first position."""
    return tuple(dict.fromkeys(units))


def expected_dirs(files: Iterable[PlannedFile], links: Iterable[str] = ()) -> set[str]:
    """Return every directory (relative, ``/``-separated) the files' and links' paths need."""
    dirs: set[str] = set()
    for relative in (*(item.relative_path for item in files), *links):
        folder = relative.rpartition("/")[0]
        while folder and folder not in dirs:
            dirs.add(folder)
            folder = folder.rpartition("/")[0]
    return dirs


class Owners(Record):
    """Who the files and directories of a new generation really belong to.

    ``files`` is None when each file gets its planned owner; otherwise every file gets this
    (uid, gid, user name, group name), as when secretsctl cannot chown (not root, user mode).
    """

    dir_uid: int
    dir_gid: int
    files: tuple[int, int, str, str] | None = None
    dir_mode: int = 0o751
    # False when nobody was looked up (a dry activation with owners forced to 0:0): the
    # planned owners say nothing, so only a mode counts as drift.
    owners_known: bool = True


def compare(
    files: Sequence[PlannedFile],
    live: TreeSnapshot | None,
    *,
    owners: Owners,
    symlink_path: str,
    runtime: Callable[[str], str],
    names: Callable[[int, int], tuple[str, str]],
    links: Mapping[str, str] | None = None,
) -> Diff:
    """Compare the files about to be installed with the live tree (``None``: there is none).

    ``symlink_path`` and ``runtime`` (which roots a configured path) place each item for
    display; ``names`` gives the user and group names of a removed file's owner. ``links``
    (relative path → target) are the symbolic links the generation holds besides the files
    (custom paths inside the symlink path); they are no items, but a difference changes the
    tree, and each is reported as made or dropped.
    """
    links = links or {}
    live_links = live.links() if live is not None else {}
    items: list[ItemChange] = []
    changed = live is None
    planned = set()
    entries = live.entries if live is not None else {}
    forced = owners.files
    new_state, changed_state, unchanged = ItemState.NEW, ItemState.CHANGED, ItemState.UNCHANGED
    for item in files:
        relative = item.relative_path
        planned.add(relative)
        data = item.content.reveal()
        if forced is None:
            uid, gid, owner, group = item.uid, item.gid, item.owner_label, item.group_label
        else:
            uid, gid, owner, group = forced
        path = runtime(item.link_path) if item.link_path else f"{symlink_path}/{relative}"
        entry = entries.get(relative)
        if entry is None or not entry.is_file:
            state, drift, old = new_state, False, None
            changed = True
        else:
            old_data, old = live.read(entry)  # type: ignore[union-attr]
            if owners.owners_known:
                drift = (old.uid, old.gid, old.mode) != (uid, gid, item.mode)
            else:
                drift = old.mode != item.mode
            state = unchanged if old_data == data else changed_state
            if drift or state is changed_state:
                changed = True
        items.append(
            ItemChange(
                item.kind,
                item.name,
                relative,
                path,
                state,
                owner,
                group,
                uid,
                gid,
                item.mode,
                len(data),
                drift,
                old.uid if old else None,
                old.gid if old else None,
                old.mode if old else None,
                item.restart_units,
                item.reload_units,
            )
        )
    if live is not None:
        removed = sorted(
            rel
            for rel, entry in entries.items()
            # A link is no item: links_dropped names one that goes.
            if rel not in planned and not entry.is_link
        )
        if live_links != links:
            changed = True
        for relative in removed:
            changed = True
            info = live.info(entries[relative])
            kind, name = kind_and_name(relative)
            owner, group = names(info.uid, info.gid)
            items.append(
                ItemChange(
                    kind,
                    name,
                    relative,
                    f"{symlink_path}/{relative}",
                    ItemState.REMOVED,
                    owner,
                    group,
                    info.uid,
                    info.gid,
                    info.mode,
                    info.size,
                )
            )
        wanted = (owners.dir_uid, owners.dir_gid, owners.dir_mode)
        if set(live.dirs) != expected_dirs(files, links) or any(
            (d.uid, d.gid, d.mode) != wanted for d in (live.root, *live.dirs.values())
        ):
            changed = True
    restart, reload, sources = _units(items, live is not None)
    made = tuple(
        f"{symlink_path}/{rel}" for rel in sorted(links) if live_links.get(rel) != links[rel]
    )
    dropped = tuple(f"{symlink_path}/{rel}" for rel in sorted(live_links) if rel not in links)
    return Diff(tuple(items), live is not None, restart, reload, sources, changed, made, dropped)


def _units(
    items: list[ItemChange], has_live: bool
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Collect the units of new and changed items, secrets first, each unit once."""
    if not has_live:
        return (), (), ()
    restart: list[str] = []
    reload: list[str] = []
    sources: dict[str, str] = {}
    for kind in (ItemKind.SECRET, ItemKind.TEMPLATE):
        for item in items:
            if item.kind is not kind or item.state not in (ItemState.NEW, ItemState.CHANGED):
                continue
            restart.extend(item.restart_units)
            reload.extend(item.reload_units)
            for unit in (*item.restart_units, *item.reload_units):
                sources.setdefault(unit, label(kind, item.name))
    return dedupe(restart), dedupe(reload), tuple(sources.items())
