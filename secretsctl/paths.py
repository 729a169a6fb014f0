"""Every runtime filesystem location, under one injectable root.

``RuntimePaths(root="/")`` is the real system. ``--root DIR`` (and every test) uses another
root: each runtime path of the manifest (mount point, symlink path, custom paths) and of
secretsctl itself (lock, state, NixOS list files) is then placed under ``DIR``. Inputs (the
configuration, sops files, key files) are never re-rooted.
"""

from __future__ import annotations

import os

from secretsctl.record import Record

DEFAULT_CONFIG = "/etc/secretsctl/secretsctl.yaml"


class RuntimePaths(Record):
    """Where runtime files live; ``root`` prefixes every absolute runtime path."""

    root: str = "/"

    def runtime(self, path: str) -> str:
        """Place an absolute runtime path under the root."""
        if self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))

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
