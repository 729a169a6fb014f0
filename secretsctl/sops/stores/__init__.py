"""Stores: how each file format holds a sops tree (YAML, JSON, dotenv, INI, binary).

Every store module offers the same functions:

- ``load_plain(data: bytes) -> Documents``: parse a plaintext file into documents;
- ``load_encrypted(data: bytes) -> tuple[Documents, Branch]``: parse an encrypted file into
  its documents (the ``sops`` entry removed from each) and the metadata tree of the first;
- ``emit_plain(documents: Documents, indent: int | None = None) -> bytes``;
- ``emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes``;
- ``emit_value(value: object) -> bytes``: one value, as ``--extract`` prints a non-string.

Parse errors are :class:`~secretsctl.errors.InputError` with a line (and column where the
parser knows it) and never a value.
"""

from __future__ import annotations

import enum
import importlib
from types import ModuleType


class Format(enum.Enum):
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
    def store(self) -> ModuleType:
        """The store module, imported on first use."""
        module = "json_store" if self is Format.JSON else self.value
        return importlib.import_module(f"secretsctl.sops.stores.{module}")
