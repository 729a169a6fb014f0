"""Owner, group and mode: read at each level (defaults, one item) and merged over the defaults.

An item's ``owner``/``uid`` pair wins over the defaults' as a whole, and so does its
``group``/``gid`` pair; a mode not given anywhere is the default mode. Identical texts are read
once: uids, gids, modes and whole ownerships repeat across the secrets of a configuration.
"""

from __future__ import annotations

from typing import Final

from secretsctl.config._yaml import SCALAR, Node
from secretsctl.config.fastblock import NotFast
from secretsctl.config.model import (
    DEFAULT_MODE,
    Ownership,
)
from secretsctl.config.validate import MAX_ID
from secretsctl.config.values import ValueReader, plain_type


class Level:
    """Owner, group and mode as one level (defaults, or one item) writes them."""

    __slots__ = ("gid", "group", "mode", "owner", "uid")

    def __init__(self) -> None:
        self.owner: str | None = None
        self.uid: int | None = None
        self.group: str | None = None
        self.gid: int | None = None
        self.mode: int | None = None


class OwnershipReader(ValueReader):
    """A :class:`ValueReader` that also reads and merges ownership and mode."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.ownerships: dict[tuple[str | None, int, str | None, int | None], Ownership] = {}
        self.common_cache: dict[object, tuple[Ownership, int]] = {}
        # Texts already read without a problem: uids, gids and modes repeat across secrets.
        self.id_cache: dict[str, int] = {}
        self.mode_cache: dict[str, int] = {}

    def ownership(self, fields: dict[str, Node], label: str) -> Level:
        """Read owner/uid, group/gid and mode of one level."""
        level = Level()
        owner, uid, group, gid = (fields.get(name) for name in ("owner", "uid", "group", "gid"))
        if owner is not None and uid is not None:
            self.fail(uid, f"{label}.uid", "give owner or uid, not both")
        elif owner is not None:
            level.owner = self.string(
                owner, f"{label}.owner", "a user name", " (use uid for a number)"
            )
        elif uid is not None:
            level.uid = self.account_id(uid, label, "uid")
        if group is not None and gid is not None:
            self.fail(gid, f"{label}.gid", "give group or gid, not both")
        elif group is not None:
            level.group = self.string(
                group, f"{label}.group", "a group name", " (use gid for a number)"
            )
        elif gid is not None:
            level.gid = self.account_id(gid, label, "gid")
        mode = fields.get("mode")
        if mode is not None:
            found = self.mode_cache.get(mode[1]) if mode[0] == SCALAR else None
            if found is None:
                found = self.mode(mode, f"{label}.mode")
                if found is not None:
                    self.mode_cache[mode[1]] = found
            level.mode = found
        return level

    def account_id(self, node: Node, label: str, field: str) -> int | None:
        """Read a uid or gid."""
        found = self.id_cache.get(node[1]) if node[0] == SCALAR else None
        if found is None:
            found = self.integer(node, f"{label}.{field}", MAX_ID)
            if found is not None:
                self.id_cache[node[1]] = found
        return found

    def merged_ownership(self, item: Level, fields: dict[str, Node], defaults: Level) -> Ownership:
        """Item values win pairwise (owner/uid, group/gid) over the defaults."""
        if "owner" in fields or "uid" in fields:
            owner, uid = item.owner, item.uid
        else:
            owner, uid = defaults.owner, defaults.uid
        if "group" in fields or "gid" in fields:
            group, gid = item.group, item.gid
        else:
            group, gid = defaults.group, defaults.gid
        key = (owner, uid or 0, group, gid)
        found = self.ownerships.get(key)
        if found is None:
            found = self.ownerships[key] = Ownership(
                owner=owner, uid=uid or 0, group=group, gid=gid
            )
        return found

    def common(self, fields: dict[str, Node], label: str, defaults: Level) -> tuple[Ownership, int]:
        """Read an item's owner, group and mode; identical texts are read once."""
        get = fields.get
        owner, uid, group, gid, mode = (
            get("owner"),
            get("uid"),
            get("group"),
            get("gid"),
            get("mode"),
        )
        signature: object = (
            owner and (owner[1], owner[4]),
            uid and (uid[1], uid[4]),
            group and (group[1], group[4]),
            gid and (gid[1], gid[4]),
            mode and (mode[1], mode[4]),
        )
        try:
            found = self.common_cache.get(signature)
        except TypeError:  # a mapping or a list where a scalar belongs: no caching
            signature = None
            found = None
        if found is not None:
            return found
        before = len(self.problems)
        item = self.ownership(fields, label) if fields else NO_OWNERSHIP
        result = self.merged_ownership(item, fields, defaults), level_mode(item, defaults)
        if signature is not None and len(self.problems) == before:
            self.common_cache[signature] = result
        return result

    def fast_ownership(
        self, fields: dict[str, Node], label: str, defaults: Level
    ) -> tuple[Ownership, int]:
        """:meth:`common` for fields that are all scalars, without its intermediate steps."""
        get = fields.get
        owner_node, uid_node, group_node, gid_node, mode_node = (
            get("owner"),
            get("uid"),
            get("group"),
            get("gid"),
            get("mode"),
        )
        owner: str | None
        uid: int | None
        if owner_node is not None:
            if uid_node is not None or (owner_node[4] and plain_type(owner_node[1]) is not None):
                raise NotFast
            owner, uid = owner_node[1], None
        elif uid_node is not None:
            owner, uid = None, self.id_cache.get(uid_node[1])
            if uid is None:
                uid = self.account_id(uid_node, label, "uid")
                if uid is None:
                    raise NotFast
        else:
            owner, uid = defaults.owner, defaults.uid
        group: str | None
        gid: int | None
        if group_node is not None:
            if gid_node is not None or (group_node[4] and plain_type(group_node[1]) is not None):
                raise NotFast
            group, gid = group_node[1], None
        elif gid_node is not None:
            group, gid = None, self.id_cache.get(gid_node[1])
            if gid is None:
                gid = self.account_id(gid_node, label, "gid")
                if gid is None:
                    raise NotFast
        else:
            group, gid = defaults.group, defaults.gid
        if mode_node is not None:
            mode = self.mode_cache.get(mode_node[1])
            if mode is None:
                found = self.mode(mode_node, f"{label}.mode")
                if found is None:
                    raise NotFast
                mode = self.mode_cache[mode_node[1]] = found
        else:
            mode = defaults.mode if defaults.mode is not None else DEFAULT_MODE
        key = (owner, uid or 0, group, gid)
        ownership = self.ownerships.get(key)
        if ownership is None:
            ownership = self.ownerships[key] = Ownership(owner, uid or 0, group, gid)
        return ownership, mode


NO_OWNERSHIP: Final = Level()


def level_mode(item: Level, defaults: Level) -> int:
    """Return an item's mode: its own, else the defaults', else the default mode."""
    if item.mode is not None:
        return item.mode
    return defaults.mode if defaults.mode is not None else DEFAULT_MODE
