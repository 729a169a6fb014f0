"""What an activation calls things: items by label and relative path, owners by name.

A secret lives at its name under the symlink path and a template under ``rendered/``;
:func:`kind_and_name` reads a relative path back, :func:`label` names an item in messages,
and :func:`spec_index` finds an item's configuration by kind and name. :class:`Names` looks
up user and group names of ids, once each.
"""

from __future__ import annotations

from secretsctl.render.model import ItemKind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.config.model import Manifest, SecretSpec, TemplateSpec

RENDERED = "rendered/"


class Names:
    """User and group names of ids, looked up once each."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], tuple[str, str]] = {}

    def __call__(self, uid: int, gid: int) -> tuple[str, str]:
        """Return the user name of ``uid`` and the group name of ``gid`` (the number if none)."""
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


def label(kind: ItemKind, name: str) -> str:
    """Name an item in a message: ``secret 'x'`` or ``template 'y'``."""
    return f"{'secret' if kind is ItemKind.SECRET else 'template'} '{name}'"


def kind_and_name(relative: str) -> tuple[ItemKind, str]:
    """Return the kind and name of the item at ``relative`` in a generation."""
    if relative.startswith(RENDERED):
        return ItemKind.TEMPLATE, relative[len(RENDERED) :]
    return ItemKind.SECRET, relative


def relative_path(kind: ItemKind, name: str) -> str:
    """Return where the item goes in a generation (the inverse of :func:`kind_and_name`)."""
    return name if kind is ItemKind.SECRET else RENDERED + name


def spec_index(
    manifest: Manifest,
) -> dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]]:
    """Map each configured item's kind and name to its position and configuration."""
    index: dict[tuple[ItemKind, str], tuple[int, SecretSpec | TemplateSpec]] = {}
    for position, secret in enumerate(manifest.secrets):
        index.setdefault((ItemKind.SECRET, secret.name), (position, secret))
    offset = len(manifest.secrets)
    for position, template in enumerate(manifest.templates):
        index.setdefault((ItemKind.TEMPLATE, template.name), (offset + position, template))
    return index


def inside(path: str, folder: str) -> bool:
    """Tell whether ``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")
