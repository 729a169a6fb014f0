"""Owner, group and mode: read at each level (defaults, one item) and merged over the defaults.

An item's ``owner``/``uid`` pair wins over the defaults' as a whole, and so does its
``group``/``gid`` pair; a mode not given anywhere is the default mode. Identical texts are read
once: uids, gids, modes and whole ownerships repeat across the secrets of a configuration.
"""

from __future__ import annotations

from secretsctl.config._yaml import SCALAR, Node
from secretsctl.config.model import (
    DEFAULT_MODE,
    Ownership,
)
from secretsctl.config.validate import MAX_ID
from secretsctl.config.values import ValueReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final, TypeAlias

OWNERSHIP_FIELDS: Final = ("owner", "uid", "group", "gid", "mode")
# An item's ownership and mode, as read and merged over the defaults.
ItemOwnership: TypeAlias = tuple[Ownership, int]


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
        self.common_cache: dict[object, ItemOwnership] = {}
        # Texts already read without a problem: uids, gids and modes repeat across secrets.
        self.id_cache: dict[str, int] = {}
        self.mode_cache: dict[str, int] = {}

    def ownership(self, fields: dict[str, Node], label: str) -> Level:
        """Read owner/uid, group/gid and mode of one level."""
        level = Level()
        level.owner, level.uid = self.account(fields, label, "owner", "uid", "a user name")
        level.group, level.gid = self.account(fields, label, "group", "gid", "a group name")
        mode = fields.get("mode")
        if mode is not None:
            level.mode = self.cached_mode(mode, label)
        return level

    def account(
        self, fields: dict[str, Node], label: str, name_field: str, id_field: str, what: str
    ) -> tuple[str | None, int | None]:
        """Read one account of a level, by name (owner, group) or by number (uid, gid)."""
        name, number = fields.get(name_field), fields.get(id_field)
        if name is not None and number is not None:
            self.fail(number, f"{label}.{id_field}", f"give {name_field} or {id_field}, not both")
        elif name is not None:
            hint = f" (use {id_field} for a number)"
            return self.string(name, f"{label}.{name_field}", what, hint), None
        elif number is not None:
            return None, self.account_id(number, label, id_field)
        return None, None

    def account_id(self, node: Node, label: str, field: str) -> int | None:
        """Read a uid or gid."""
        found = self.id_cache.get(node[1]) if node[0] == SCALAR else None
        if found is None:
            found = self.integer(node, f"{label}.{field}", MAX_ID)
            if found is not None:
                self.id_cache[node[1]] = found
        return found

    def cached_mode(self, node: Node, label: str) -> int | None:
        """Read a mode; a text read once without a problem is not read again."""
        found = self.mode_cache.get(node[1]) if node[0] == SCALAR else None
        if found is None:
            found = self.mode(node, f"{label}.mode")
            if found is not None:
                self.mode_cache[node[1]] = found
        return found

    def shared(
        self, owner: str | None, uid: int | None, group: str | None, gid: int | None
    ) -> Ownership:
        """Return the one :class:`Ownership` of these values (items share it)."""
        key = (owner, uid or 0, group, gid)
        found = self.ownerships.get(key)
        if found is None:
            found = self.ownerships[key] = Ownership(owner, uid or 0, group, gid)
        return found

    def merged_ownership(self, item: Level, fields: dict[str, Node], defaults: Level) -> Ownership:
        """Item values win pairwise (owner/uid, group/gid) over the defaults."""
        user = item if "owner" in fields or "uid" in fields else defaults
        group = item if "group" in fields or "gid" in fields else defaults
        return self.shared(user.owner, user.uid, group.group, group.gid)

    def common(self, fields: dict[str, Node], label: str, defaults: Level) -> ItemOwnership:
        """Read an item's owner, group and mode; identical texts are read once."""
        owner, uid, group, gid, mode = map(fields.get, OWNERSHIP_FIELDS)
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


NO_OWNERSHIP: Final = Level()


def level_mode(item: Level, defaults: Level) -> int:
    """Return an item's mode: its own, else the defaults', else the default mode."""
    if item.mode is not None:
        return item.mode
    return defaults.mode if defaults.mode is not None else DEFAULT_MODE
