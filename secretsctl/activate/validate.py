"""The checks before a run writes anything: the plan itself, then the folders it writes in.

:func:`validate` reports every problem of a plan at once, by name: invalid names, two items
on one path, modes beyond the permission bits, invalid owners, custom link paths that clash
with each other or with the secrets' own folders. :func:`check_folders` walks to every
folder the run will write in and refuses an untrusted symlink on the way.
"""

from __future__ import annotations

import os

from secretsctl.activate.naming import inside, label
from secretsctl.activate.units import Delivery
from secretsctl.errors import ActivationError, ManifestError, ProblemsError, SecretsctlError
from secretsctl.fsutil import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from secretsctl.activate.context import Context
    from secretsctl.activate.links import LinkSpec
    from secretsctl.config.model import Manifest
    from secretsctl.paths import RuntimePaths
    from secretsctl.render.model import PlannedFile, RenderPlan

_BAD_PARTS = frozenset(("", ".", ".."))


def bad_name(name: str) -> bool:
    """Whether a name has an empty, "." or ".." component, or a NUL byte.

    An empty component is also a leading or trailing "/".
    Once per item, so str methods rather than a regex (tests/property/test_bad_name.py keeps
    the regex this replaced, whose ``$`` also matched before a final newline).
    """
    if "\x00" in name:
        return True
    parts = name.split("/")
    if name[-1:] == "\n":
        parts.append(parts.pop()[:-1])
    return not _BAD_PARTS.isdisjoint(parts)


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
    if inside(symlink_path, mount_point) or inside(mount_point, symlink_path):
        problem(
            f"the symlink path {manifest.symlink_path} and the mount point "
            f"{manifest.mount_point} must be apart (neither inside the other)"
        )
    seen: dict[str, PlannedFile] = {}
    links: dict[str, str] = {}
    inner: dict[str, str] = {}  # links inside the symlink path: relative path → label
    limit = 2**32 - 1
    for item in plan.files:
        kind, name, mode = item.kind, item.name, item.mode
        if bad_name(name):
            problem(
                f"{label(kind, name)} has an invalid name: it must be relative, "
                "without empty, '.' or '..' components"
            )
            continue
        relative = item.relative_path
        other = seen.setdefault(relative, item)
        if other is not item:
            problem(
                f"{label(kind, name)} and {label(other.kind, other.name)} would "
                f"both be written to {relative}"
            )
        if not 0 <= mode <= 0o777:
            problem(
                f"{label(kind, name)} has mode {mode:#o}: only permission bits "
                "(at most 0777) are allowed"
            )
        if not (0 <= item.uid < limit and 0 <= item.gid < limit):
            problem(f"{label(kind, name)} has an invalid owner {item.uid}:{item.gid}")
        if item.link_path is not None:
            item_label = label(kind, name)
            if not os.path.isabs(item.link_path):
                problem(f"{item_label} has a relative path {item.link_path}; it must be absolute")
                continue
            where = rooted(item.link_path, item_label)
            if where is None:
                continue
            if where == os.path.join(symlink_path, item.relative_path):
                continue  # the default place: nothing to link
            if where in links:
                problem(f"{item_label} and {links[where]} both link {item.link_path}")
            links[where] = item_label
            if where == symlink_path or (
                inside(where, mount_point) and _reserved_in_mount_point(where, mount_point)
            ):
                problem(
                    f"{item_label} has a path {item.link_path} where the secrets' own folders or "
                    "files go",
                    hint="a path in the mount point must not start with a number, a dot or "
                    "age-keys.txt (the generations and their work files)",
                )
            elif inside(where, symlink_path):
                inner[where[len(symlink_path) + 1 :]] = item_label
    folders = {f for rel in seen if "/" in rel for f in _folders(rel)}
    for relative, linker in inner.items():
        clash = seen.get(relative) or next((seen[f] for f in _folders(relative) if f in seen), None)
        if clash is not None or relative in folders:
            what = label(clash.kind, clash.name) if clash else "the other files"
            problem(f"{linker} links {relative} inside the symlink path, in the way of {what}")
    for relative, item in seen.items():
        folder = relative.rpartition("/")[0] if "/" in relative else ""
        while folder:
            if folder in seen:
                clash = seen[folder]
                problem(
                    f"{label(item.kind, item.name)} needs a directory {folder} where "
                    f"{label(clash.kind, clash.name)} is a file"
                )
                break
            folder = folder.rpartition("/")[0]
    if problems:
        raise ProblemsError(problems)


def check_folders(ctx: Context, wanted: Iterable[LinkSpec], deliver: Delivery) -> None:
    """Check every folder the run writes in, before it writes anything (all or nothing).

    A symlink at the mount point or the state folder, or a symlink not owned by root on the
    way to any folder (of the symlink path, of a custom link, NixOS's list files) raises
    :class:`ActivationError`. Other problems (a file where a folder belongs) are left to the
    step that meets them. The descriptors opened stay in ``ctx.dirs`` for the writes.
    """
    dirs = ctx.dirs
    for own in (ctx.mount_point, ctx.state_dir):
        with suppress(OSError):
            dirs.own_directory(own, create=False)
    for path in (ctx.symlink_path, *(spec.path for spec in wanted)):
        with suppress(OSError):
            dirs.parent(path, create=False)
    if deliver is Delivery.LIST_FILES:
        with suppress(OSError):
            dirs.find(ctx.paths.nixos_dir)
