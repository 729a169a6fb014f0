r"""The dotenv store: sops 3.11's ``stores/dotenv`` reader and writer, byte for byte.

The format is sops's own, not a shell's: lines split on ``\n`` only (a CR stays in the
value), empty lines dropped, ``#`` starts a comment line, and otherwise the key is everything
before the first ``=`` and the value everything after it, untrimmed and unquoted (``export X``
is a key). The two characters ``\n`` in a value mean a newline. Every value is a string.

The metadata is stored as ``sops_<flattened key>=<value>`` lines, sorted, after the data
(:func:`secretsctl.sops.metadata.flatten`). Any key starting with ``sops_`` is metadata, so a
plaintext file with one is refused on encryption: the codec calls :func:`has_metadata`.
"""

from __future__ import annotations

import math

from secretsctl.errors import ExitCode, InputError, MetadataNotFoundError
from secretsctl.sops.grammar import GoTime, format_float_g, mac_aad
from secretsctl.sops.metadata import flatten, unflatten
from secretsctl.sops.stores import dump_error
from secretsctl.sops.tree import Branch, Comment, Documents, Seq

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Final

SOPS_PREFIX: Final = "sops_"
_ESCAPED_NEWLINE: Final = "\\n"


def load_plain(data: bytes) -> Documents:
    """Parse a plaintext dotenv file into one flat document of strings and comments.

    Raises :class:`InputError` (exit 2) for a line without ``=``, naming the line number only.
    """
    branch = Branch()
    append = branch.append
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        line = raw.decode("utf-8", "surrogateescape")
        if line[0] == "#":
            append((Comment(line[1:]), None))
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise InputError(f"invalid dotenv input line {number}: it has no `=`")
        append((key, value.replace("\\n", "\n")))
    return [branch]


def has_metadata(documents: Documents) -> bool:
    """Whether a plaintext tree has a ``sops_`` key, which sops refuses to encrypt (exit 203)."""
    return any(
        key.__class__ is str and key.startswith(SOPS_PREFIX)
        for document in documents[:1]
        for key, _ in document
    )


def load_encrypted(data: bytes) -> tuple[Documents, Branch]:
    """Split an encrypted dotenv file into its document and its unflattened metadata tree."""
    document = Branch()
    flat: dict[str, str] = {}
    try:
        plain = load_plain(data)[0]
    except InputError as exc:
        raise InputError(exc.message, hint=exc.hint, exit_code=ExitCode.GENERIC) from None
    for key, value in plain:
        if key.__class__ is str and key.startswith(SOPS_PREFIX):
            # sops decodes \n in the whole file and then once more in the metadata.
            flat[key[len(SOPS_PREFIX) :]] = value.replace("\\n", "\n")
        else:
            document.append((key, value))
    if not flat:
        raise MetadataNotFoundError("sops metadata not found")
    return [document], unflatten(list(flat.items()))


def value_to_string(value: Any) -> str:
    """Format a non-string value as sops's ``ValToString`` does (dotenv and INI)."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is float:
        if math.isnan(value) or math.isinf(value):
            return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        text = format_float_g(value).upper()
        if "." not in text and "E" not in text:
            text += ".0"
        return text
    if cls is bool:
        return "true" if value else "false"
    if cls is GoTime:
        return mac_aad(value.text)
    if value is None:
        return "<nil>"
    return go_sprint(value)


def go_sprint(value: Any) -> str:
    """Go's ``fmt.Sprintf("%v", v)`` for the leaf and container types of a sops tree."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is bool:
        return "true" if value else "false"
    if cls is float:
        special = {math.inf: "+Inf", -math.inf: "-Inf"}.get(value)
        if special is not None:
            return special
        return "NaN" if math.isnan(value) else format_float_g(value)
    if cls is int:
        return str(value)
    if value is None:
        return "<nil>"
    if cls is Comment:
        return "{" + str(value.text) + "}"
    if cls is GoTime:
        return str(value.text)
    if cls is Branch:
        return "[" + " ".join("{" + go_sprint(k) + " " + go_sprint(v) + "}" for k, v in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)


def _lines(branch: Branch) -> list[str]:
    lines = []
    for key, value in branch:
        if isinstance(value, Branch | Seq):
            where = f"; offending key {key}" if key.__class__ is str else ""
            raise dump_error(f"cannot use complex value in dotenv file{where}")
        if key.__class__ is Comment:
            lines.append(f"#{key.text}\n")
        else:
            name = key if key.__class__ is str else go_sprint(key)
            if value.__class__ is str:
                text = value.replace("\n", _ESCAPED_NEWLINE)
            else:
                text = value_to_string(value)
            lines.append(name + "=" + text + "\n")
    return lines


def _first(documents: Documents) -> Branch:
    if not documents:
        raise dump_error("there is no document to write")
    return documents[0]


def emit_plain(documents: Documents, indent: int | None = None) -> bytes:
    """Write the first document as sops writes a dotenv file (``indent`` is ignored)."""
    return "".join(_lines(_first(documents))).encode("utf-8", "surrogateescape")


def emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes:
    """Write the document, then the metadata as sorted ``sops_<flattened key>`` lines."""
    lines = _lines(_first(documents))
    for flat_key, text in flatten(metadata):
        lines.append(SOPS_PREFIX + flat_key + "=" + text.replace("\n", _ESCAPED_NEWLINE) + "\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def emit_value(value: Any, indent: int | None = None) -> bytes:
    """Write one value as sops's dotenv ``EmitValue`` does: strings only, else exit 4."""
    if value.__class__ is str:
        return bytes(value.encode("utf-8", "surrogateescape"))
    raise dump_error("the dotenv store only supports emitting strings")
