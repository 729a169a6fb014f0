"""The binary store: any file as one string leaf ``data``, encrypted into a JSON envelope.

The plaintext is never parsed or validated: its bytes become the ``data`` string (non-UTF-8
bytes carried with ``surrogateescape``) and are written back exactly. The encrypted form is
``{"data": "ENC[…]", "sops": {…}}``, read and written by the JSON store (sops's
``stores.json_binary.indent`` setting is the ``indent`` argument). The binary store writes no
crypt rule field; the codec asks :func:`secretsctl.sops.metadata.to_tree` for that.
"""

from __future__ import annotations

from typing import Any, Final

from secretsctl.sops.stores import dump_error, json_store
from secretsctl.sops.tree import Branch, Documents

DATA_KEY: Final = "data"
_NOT_BINARY_HINT: Final = (
    "This is likely not an encrypted binary file? If not, use --output-type to select the"
    " correct output type."
)


def load_plain(data: bytes) -> Documents:
    """Wrap the whole file, byte for byte, as the one leaf ``data``."""
    return [Branch([(DATA_KEY, data.decode("utf-8", "surrogateescape"))])]


def load_encrypted(data: bytes) -> tuple[Documents, Branch]:
    """Read the JSON envelope: the document (holding ``data``) and the ``sops`` tree."""
    return json_store.load_encrypted(data)


def has_metadata(documents: Documents) -> bool:
    """Whether the tree has a top-level ``sops`` key; a plaintext binary file never has one."""
    return json_store.has_metadata(documents)


def emit_plain(documents: Documents, indent: int | None = None) -> bytes:
    """Write the ``data`` string back as the raw bytes it came from (exit 4 if there is none)."""
    if len(documents) != 1:
        raise dump_error(
            "error emitting binary store: there must be exactly one tree branch",
            hint=_NOT_BINARY_HINT,
        )
    for key, value in documents[0]:
        if key == DATA_KEY:
            if value.__class__ is not str:
                raise dump_error(
                    "error emitting binary store: 'data' key in tree does not have a string value",
                    hint=_NOT_BINARY_HINT,
                )
            return bytes(value.encode("utf-8", "surrogateescape"))
    raise dump_error(
        "error emitting binary store: no binary data found in tree", hint=_NOT_BINARY_HINT
    )


def emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes:
    """Write the JSON envelope, formatted like the JSON store."""
    return json_store.emit_encrypted(documents, metadata, indent)


def emit_value(value: Any, indent: int | None = None) -> bytes:
    """Refuse, as sops does: a binary file has no structure to extract from (exit 4)."""
    raise dump_error(
        "Binary files are not structured and extracting a single value is not possible"
    )
