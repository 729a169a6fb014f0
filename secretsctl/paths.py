"""Every runtime filesystem location, under one injectable root.

``RuntimePaths(root="/")`` is the real system. ``--root DIR`` (and every test) uses another
root: each runtime path of the manifest (mount point, symlink path, custom paths) and of
secretsctl itself (lock, state, NixOS list files) is then placed under ``DIR``. Inputs (the
configuration, sops files, key files) are never re-rooted.

A runtime path is absolute and has no ``..`` component: ``..`` could lead out of the root
(``/../../tmp/x`` under ``--root DIR`` is ``/tmp/x``) or out of the folder it seems to name
(``/run/secrets.d/../../etc/x``), so it is refused rather than resolved. Empty and ``.``
components are dropped.
"""

from __future__ import annotations

from secretsctl.errors import ManifestError
from secretsctl.record import Record

DEFAULT_CONFIG = "/etc/secretsctl/secretsctl.yaml"
PARENT_HINT = "write the path without '..' components (the folder it leads to, in full)"


def runtime_path_problem(path: str) -> str | None:
    """Say why ``path`` cannot be a runtime path (not absolute, a ``..`` part), else None."""
    if not path.startswith("/"):
        return "must be an absolute path"
    if "/../" in path or path.endswith("/.."):
        return "must not have '..' components (a runtime path may not climb out of its folder)"
    return None


def normal_runtime_path(path: str) -> str:
    """Return ``path`` without empty and ``.`` components (``//a/./b/`` is ``/a/b``)."""
    if "//" not in path and "/./" not in path and not path.endswith(("/", "/.")):
        return path
    return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))


class RuntimePaths(Record):
    """Where runtime files live; ``root`` prefixes every absolute runtime path."""

    root: str = "/"

    def runtime(self, path: str) -> str:
        """Place an absolute runtime path under the root.

        Raises :class:`ManifestError` for a path that is not absolute or has a ``..``
        component (the loaders refuse these first, naming the file, line and field).
        """
        message = runtime_path_problem(path)
        if message is not None:
            hint = PARENT_HINT if path.startswith("/") else None
            raise ManifestError(f"runtime path {path}: {message}", hint=hint)
        path = normal_runtime_path(path)
        root = self.root.rstrip("/")
        if not root:
            return path
        return root + path if path != "/" else root

    @property
    def lock_file(self) -> str:
        """The lock serialising activations; it holds no data."""
        return self.runtime("/run/secretsctl.lock")

    @property
    def state_dir(self) -> str:
        """Return where secretsctl keeps its own records (custom-path links), outside the tree."""
        return self.runtime("/run/secretsctl")

    @property
    def nixos_dir(self) -> str:
        """Where NixOS's switch-to-configuration reads the unit list files."""
        return self.runtime("/run/nixos")
