"""The YAML store: sops 3.11's YAML files, read and written byte for byte as sops does.

Reading uses libyaml (ruamel's C extension) and yaml.v3's scalar typing; comments are placed
in the tree where sops's yaml.v3 nodes put them. Writing reproduces the yaml.v3 v3.0.4 encoder
as sops drives it (indent 4 by default, ``sops`` block last in every document, documents
separated by ``---``). See docs/format.md.

Nothing here is imported before a YAML file is actually read or written; ruamel is imported
only by the loaders.
"""

from __future__ import annotations

from secretsctl.errors import (
    ExitCode,
    InputError,
    InputLimitError,
    MetadataNotFoundError,
    SecretsctlError,
)
from secretsctl.sops.tree import Branch, Documents

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

_METADATA_KEY = "sops"


def _parse(data: bytes, first_checks: str) -> list[Branch]:
    from secretsctl.sops.stores import _yaml_load

    text = _yaml_load.decode_text(data)
    from secretsctl.sops.stores import _yaml_fast

    fast = _yaml_fast.parse(text)
    if fast is not None:
        return fast
    try:
        if "#" in text:
            from secretsctl.sops.stores import _yaml_comments

            documents = _yaml_comments.compose(text, first_checks)
        else:
            documents = _yaml_load.compose_events(text, first_checks)
    except RecursionError:
        raise InputError("yaml: the document is nested too deeply") from None
    return _yaml_load.documents_to_branches(documents, first_checks)


def load_plain(data: bytes) -> Documents:
    """Parse a plaintext YAML file into one :class:`Branch` per document.

    Raises :class:`InputError` for syntax errors, duplicate keys, a document that is a sequence
    or a value, and (exit 92) an empty file.
    """
    from secretsctl.sops.stores import _yaml_load

    if not data:
        raise _yaml_load.empty_file_error()
    documents = _parse(data, "plain")
    if not documents:
        # yaml.v3 reports a file with no document at all (only comments or blanks) as EOF.
        raise InputError("Error unmarshalling file: EOF")
    return documents


def load_encrypted(data: bytes) -> tuple[Documents, Branch]:
    """Parse a sops-encrypted YAML file: its documents without ``sops``, and that metadata.

    The metadata comes from the first document only; every document loses its top-level
    ``sops`` item. Raises :class:`MetadataNotFoundError` when the first document has no metadata.
    """
    from secretsctl.sops.stores import _yaml_load

    try:
        documents = _parse(data, "encrypted") if data else []
    except InputLimitError:
        raise
    except InputError as exc:
        # sops exits 1 for an encrypted file that does not parse (2 is for plaintext).
        raise InputError(exc.message, hint=exc.hint, exit_code=ExitCode.GENERIC) from None
    if not documents:
        raise MetadataNotFoundError("sops metadata not found")
    metadata: Any = None
    found = 0
    for key, value in documents[0]:
        if key == _METADATA_KEY and key.__class__ is str:
            found += 1
            metadata = value
    if found > 1:
        raise _yaml_load.structure_error("the sops metadata is defined more than once")
    if metadata is None:
        raise MetadataNotFoundError("sops metadata not found")
    if not isinstance(metadata, Branch):
        raise _yaml_load.structure_error("the sops metadata is not a mapping")
    for document in documents:
        document[:] = [
            item for item in document if not (item[0].__class__ is str and item[0] == _METADATA_KEY)
        ]
    return documents, metadata


def _indent(indent: int | None) -> int:
    if indent is None or indent == 0:
        return 4
    if indent < 0:
        raise SecretsctlError(
            "Error dumping file: YAML Negative indentation not accepted",
            exit_code=ExitCode.ERROR_DUMPING_TREE,
        )
    return indent


def _emit(function: Any, *args: Any) -> str:
    try:
        return function(*args)  # type: ignore[no-any-return]
    except RecursionError:
        raise SecretsctlError(
            "Error dumping file: the tree is nested too deeply",
            exit_code=ExitCode.ERROR_DUMPING_TREE,
        ) from None


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def emit_plain(documents: Documents, indent: int | None = None) -> bytes:
    """Write documents as sops's EmitPlainFile does (yaml.v3 encoder, indent 4 by default)."""
    from secretsctl.sops.stores._yaml_emit import emit_documents

    return _to_bytes(_emit(emit_documents, list(documents), _indent(indent)))


def emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes:
    """Write an encrypted file: every document gets the ``sops`` block as its last item.

    One deliberate difference from sops: an unencrypted float -0.0 is written ``-0.0``, not
    ``-0`` (which reads back as an int and breaks the MAC, so sops cannot open its own file).
    """
    from secretsctl.sops.stores._yaml_emit import emit_documents

    with_metadata = [Branch([*document, (_METADATA_KEY, metadata)]) for document in documents]
    return _to_bytes(_emit(emit_documents, with_metadata, _indent(indent), True))


def emit_value(value: object, indent: int | None = None) -> bytes:
    """Write one value as sops's EmitValue does for ``--extract`` (``42`` and a newline, …).

    ``indent`` is accepted for a uniform store interface and ignored: sops marshals the value
    with yaml.v3's defaults (indent 4) whatever ``--indent`` says.
    """
    from secretsctl.sops.stores._yaml_emit import emit_single_value

    return _to_bytes(_emit(emit_single_value, value))


def has_metadata(documents: Documents) -> bool:
    """Whether the first document has a top-level ``sops`` key (sops refuses it: exit 203)."""
    return any(key == "sops" for document in documents[:1] for key, _ in document)
