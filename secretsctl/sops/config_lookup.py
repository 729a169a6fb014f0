"""Finding ``.sops.yaml`` as sops 3.11 does, without importing the rule parser.

Every ``decrypt`` looks for the file (its ``stores:`` section sets the output indentation), so
the search costs a few ``stat`` calls and imports nothing heavy.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final

CONFIG_NAME: Final = ".sops.yaml"
ALTERNATE_NAME: Final = ".sops.yml"
MAX_DEPTH: Final = 100


def find_config(cwd: str, explicit: str | None = None) -> tuple[str | None, str | None]:
    """Locate ``.sops.yaml`` from ``cwd`` upward (up to 100 levels), or take ``explicit``.

    Returns the path, or None, and a warning when only a ``.sops.yml`` was seen (sops ignores
    that name).
    """
    if explicit:
        return explicit, None
    alternate: str | None = None
    folder = cwd
    for _ in range(MAX_DEPTH):
        candidate = os.path.join(folder, CONFIG_NAME)
        if os.path.exists(candidate):
            warning = None
            if alternate is not None:
                warning = f"ignoring {alternate}: the config file must be called {CONFIG_NAME}"
            return candidate, warning
        other = os.path.join(folder, ALTERNATE_NAME)
        if alternate is None and os.path.exists(other):
            alternate = other
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if alternate is not None:
        return None, f"ignoring {alternate}: the config file must be called {CONFIG_NAME}"
    return None, None
