"""Stores: how each file format holds a sops tree (YAML, JSON, dotenv, INI, binary).

Every store module provides the :class:`Store` interface as module-level functions, and
:attr:`Format.store` imports the one a format needs, on first use, so that reading a YAML file
imports no other store. Parse errors are :class:`~secretsctl.errors.InputError` with a line
(and column where the parser knows it) and never a value; a tree a store cannot write is
:func:`dump_error` (exit 4).
"""

from __future__ import annotations

import sys

from secretsctl.choice import Choice
from secretsctl.errors import ExitCode, SecretsctlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Protocol

    from secretsctl.sops.tree import Branch, Documents

    # Only for the type checker: defining a Protocol costs start-up time on the boot path.
    class Store(Protocol):
        """What a store module provides."""

        def load_plain(self, data: bytes) -> Documents:
            """Parse a plaintext file into documents."""

        def load_encrypted(self, data: bytes) -> tuple[Documents, Branch]:
            """Parse an encrypted file: its documents and the first one's metadata tree.

            The ``sops`` entry is removed from each document.
            """

        def has_metadata(self, documents: Documents) -> bool:
            """Whether a plaintext tree already holds sops metadata (encryption refuses it)."""

        def emit_plain(self, documents: Documents, indent: int | None = None) -> bytes:
            """Write documents as a plaintext file."""

        def emit_encrypted(
            self, documents: Documents, metadata: Branch, indent: int | None = None
        ) -> bytes:
            """Write documents and the metadata tree as an encrypted file."""

        def emit_value(self, value: Any, indent: int | None = None) -> bytes:
            """Write one value, as ``--extract`` prints a non-string."""

    from secretsctl.sops.stores import binary, dotenv, ini, json_store, yaml

    # The type checker's proof that every store module provides the interface.
    _STORES: tuple[Store, ...] = (yaml, json_store, dotenv, ini, binary)


class Format(Choice):
    """A sops store, named as ``--input-type``/``--output-type`` name it."""

    YAML = "yaml"
    JSON = "json"
    DOTENV = "dotenv"
    INI = "ini"
    BINARY = "binary"

    @classmethod
    def for_path(cls, path: str) -> Format:
        """Pick the store as sops does, from the extension (case-sensitive); else binary."""
        for suffix, fmt in (
            (".yaml", cls.YAML),
            (".yml", cls.YAML),
            (".json", cls.JSON),
            (".env", cls.DOTENV),
            (".ini", cls.INI),
        ):
            if path.endswith(suffix):
                return fmt
        return cls.BINARY

    @property
    def store(self) -> Store:
        """The store module, imported on first use."""
        name = f"secretsctl.sops.stores.{'json_store' if self is Format.JSON else self.value}"
        # __import__, not importlib.import_module: importing importlib costs the boot path.
        __import__(name)
        return sys.modules[name]


def dump_error(message: str, *, hint: str | None = None) -> SecretsctlError:
    """Build the error for a tree a store cannot write (sops's ErrorDumpingTree, exit 4)."""
    return SecretsctlError(message, hint=hint, exit_code=ExitCode.ERROR_DUMPING_TREE)
