"""Custom links: which an item's ``path`` asks for, and bringing them in line after a switch.

A link inside the symlink path is written into the new generation with its files (it
switches with them); one outside it is made after the switch, recorded in the state file
first, and a recorded link no item wants any more is removed (only if secretsctl made it).
"""

from __future__ import annotations

import os

from secretsctl.activate import links
from secretsctl.activate.links import LinkSpec
from secretsctl.activate.naming import inside, label, relative_path, spec_index
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from secretsctl.activate.context import Context
    from secretsctl.activate.fsops import TreeSnapshot
    from secretsctl.activate.links import State
    from secretsctl.config.model import Manifest
    from secretsctl.render.model import PlannedFile


def _all_links(ctx: Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return every custom link (its path rooted), but those at an item's default place."""
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
        specs.append(LinkSpec(path, target, uid, gid, label(item.kind, item.name)))
    return specs


def spec_generation_links(
    symlink_path: str, runtime: Callable[[str], str], manifest: Manifest
) -> dict[str, str]:
    """Return the configuration's links inside the (rooted) symlink path: relative → target."""
    start = len(symlink_path) + 1
    found = {}
    for (kind, name), (_, spec) in spec_index(manifest).items():
        if spec.path is None:
            continue
        target = f"{symlink_path}/{relative_path(kind, name)}"
        path = os.path.normpath(runtime(spec.path))
        if path != os.path.normpath(target) and inside(path, symlink_path):
            found[path[start:]] = target
    return found


def known_links(tree: TreeSnapshot, wanted: Mapping[str, str]) -> frozenset[str]:
    """Return the links of ``tree`` that are in ``wanted`` with the same target."""
    return frozenset(
        relative for relative, target in tree.links().items() if wanted.get(relative) == target
    )


def wanted_links(ctx: Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return the custom links made after the switch: those outside the symlink path."""
    return [s for s in _all_links(ctx, files) if not inside(s.path, ctx.symlink_path)]


def generation_links(ctx: Context, files: Iterable[PlannedFile]) -> list[LinkSpec]:
    """Return the custom links inside the symlink path, ``path`` relative to it.

    sops-nix makes them through the symlink path once it is switched, so they land in the
    new generation; they are written into it with its files instead, so they switch with it.
    """
    start = len(ctx.symlink_path) + 1
    return [
        s._replace(path=s.path[start:])
        for s in _all_links(ctx, files)
        if inside(s.path, ctx.symlink_path)
    ]


def save_state(ctx: Context, path: str, state: State, warnings: list[str]) -> None:
    """Record the links and generations in ``path``; a failure is a warning."""
    try:
        links.save_state(path, state, ctx.dirs)
    except OSError as exc:
        warnings.append(f"cannot record custom links in {path}: {exc.strerror}")


class Synced(Record):
    """What :func:`sync_links` did."""

    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: frozenset[str] = frozenset()  # wanted links that could not be made
    kept: frozenset[str] = frozenset()  # stale links that could not be removed (still ours)


def sync_links(
    ctx: Context, state: State, wanted: list[LinkSpec], warnings: list[str], errors: list[str]
) -> Synced:
    """Make the ``wanted`` links and remove the stale recorded ones; failures go to ``errors``."""
    if not wanted and not state.links:
        return Synced()
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
    return Synced(tuple(created), tuple(removed), frozenset(failed), frozenset(kept))
