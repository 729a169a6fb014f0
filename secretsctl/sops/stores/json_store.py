r"""The JSON store: sops 3.11's ``stores/json`` reader and writer, byte for byte.

Reading follows sops's token decoder: key order and duplicate keys are kept, every number is
a float64 (3.11 semantics: ``42`` is ``type:float``, integers above 2^53 lose precision),
``null`` stays ``None``, and the top level must be an object. Strings decode as Go decodes
them: invalid UTF-8 and unpaired surrogate escapes become U+FFFD.

Writing follows sops's two steps, compact text then ``json.Indent``, in one pass: a tab per
level by default (``indent=N`` gives N spaces, ``0`` none), ``": "`` after keys, Go's
``encoding/json`` string escaping (HTML characters, U+2028/U+2029, control characters, invalid
UTF-8 as ``\ufffd``), Go's float64 formatting and a final newline. Comments are dropped, as
sops's JSON encoder skips them.

Deliberate deviations from sops (both on malformed input only): text after the top-level
object is refused instead of ignored, and a file cut off right after a top-level key (or its
colon) is refused instead of silently losing that key and the rest of the file.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from secretsctl.errors import (
    ExitCode,
    InputError,
    InputLimitError,
    MetadataError,
    MetadataNotFoundError,
)
from secretsctl.limits import MAX_NESTING_DEPTH, TOO_DEEP
from secretsctl.sops.grammar import GoTime, format_float_json
from secretsctl.sops.metadata import METADATA_KEY, NilList
from secretsctl.sops.stores import dump_error
from secretsctl.sops.tree import Branch, Comment, Documents, Seq

# --- reading -------------------------------------------------------------------------------


class _NumberOutOfRange(ValueError):
    """A number literal that does not fit a float64 (Go refuses it; Python would give inf)."""


class _NotJson(ValueError):
    """``NaN``/``Infinity``: Python's json module accepts them, Go's does not."""


class _TooDeep(Exception):
    """Nesting past :data:`~secretsctl.limits.MAX_NESTING_DEPTH`."""


_INF: Final = float("inf")


def _go_float(literal: str) -> float:
    value = float(literal)
    if value == _INF or value == -_INF:
        raise _NumberOutOfRange
    return value


def _reject_constant(_literal: str) -> Any:
    raise _NotJson


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=Branch,
    parse_float=_go_float,
    parse_int=_go_float,
    parse_constant=_reject_constant,
    strict=True,
)
_WHITESPACE: Final = " \t\n\r"
# A \u escape of a surrogate: Python keeps a lone one, Go turns it into U+FFFD.
_SURROGATE_ESCAPE_RE: Final = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATES_RE: Final = re.compile("[\ud800-\udfff]")
_LEADING_NAMES: Final = {
    "[": "an array",
    '"': "a string",
    "t": "a boolean",
    "f": "a boolean",
    "n": "null",
    "-": "a number",
}


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line} column {column}"


def _parse_object(data: bytes, context: str, exit_code: ExitCode) -> Branch:
    """Parse a whole file that must hold one JSON object; lists become :class:`Seq`."""
    try:
        text = data.decode("utf-8")
        lossy = "\\u" in text and _SURROGATE_ESCAPE_RE.search(text) is not None
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        lossy = True

    def fail(message: str) -> InputError:
        return InputError(f"{context}: {message}", exit_code=exit_code)

    start = 0
    end_of_text = len(text)
    while start < end_of_text and text[start] in _WHITESPACE:
        start += 1
    if start == end_of_text:
        raise fail("EOF (the file is empty)")
    first = text[start]
    if first != "{":
        if first.isdigit() or first in _LEADING_NAMES:
            found = _LEADING_NAMES.get(first, "a number")
            raise fail(f"Expected JSON object start, got {found} instead")
        raise fail(f"invalid character looking for beginning of value at {_position(text, start)}")
    try:
        branch, end = _DECODER.raw_decode(text, start)
        _adopt_branch(branch, lossy, 1)
    except json.JSONDecodeError as exc:
        # exc.msg is one of the decoder's fixed phrases; it never quotes the document.
        raise fail(f"{exc.msg.removesuffix(' at')} at {_position(text, exc.pos)}") from None
    except _NumberOutOfRange:
        raise fail("a number is out of range for a 64-bit float") from None
    except _NotJson:
        raise fail("NaN and Infinity are not JSON values") from None
    except _TooDeep:
        raise InputLimitError(f"{context}: {TOO_DEEP}") from None
    except RecursionError:
        # The decoder recursed past Python's limit, itself beyond the nesting limit.
        raise InputLimitError(f"{context}: {TOO_DEEP}") from None
    while end < end_of_text and text[end] in _WHITESPACE:
        end += 1
    if end != end_of_text:
        raise fail(f"unexpected data after the top-level object at {_position(text, end)}")
    return branch  # type: ignore[no-any-return]


def _fix_text(text: str) -> str:
    return _SURROGATES_RE.sub("\ufffd", text) if _SURROGATES_RE.search(text) else text


def _adopt_branch(branch: Branch, lossy: bool, level: int) -> None:
    """Turn the decoder's lists into :class:`Seq` and, if needed, mend invalid text.

    ``level`` is the branch's nesting level, checked against the limit.
    """
    if level > MAX_NESTING_DEPTH:
        raise _TooDeep
    for index, (key, value) in enumerate(branch):
        cls = value.__class__
        if cls is list:
            branch[index] = (_fix_text(key) if lossy else key, _adopt_list(value, lossy, level + 1))
            continue
        if cls is Branch:
            _adopt_branch(value, lossy, level + 1)
        elif lossy and cls is str:
            value = _fix_text(value)
        if lossy:
            branch[index] = (_fix_text(key), value)


def _adopt_list(items: list[Any], lossy: bool, level: int) -> Seq:
    if level > MAX_NESTING_DEPTH:
        raise _TooDeep
    seq = Seq(items)
    for index, value in enumerate(seq):
        cls = value.__class__
        if cls is list:
            seq[index] = _adopt_list(value, lossy, level + 1)
        elif cls is Branch:
            _adopt_branch(value, lossy, level + 1)
        elif lossy and cls is str:
            seq[index] = _fix_text(value)
    return seq


def load_plain(data: bytes) -> Documents:
    """Parse a plaintext JSON file into its one document.

    Raises :class:`InputError` (exit 2) naming the line and column, never the content.
    """
    context = "Could not unmarshal input data"
    return [_parse_object(data, context, ExitCode.COULD_NOT_READ_INPUT_FILE)]


def load_encrypted(data: bytes) -> tuple[Documents, Branch]:
    """Parse a sops-encrypted JSON file: the document without ``sops``, and the ``sops`` tree.

    As in sops, a parse error here exits 1 (the class is still :class:`InputError`), and a
    missing or ``null`` ``sops`` entry is :class:`MetadataNotFoundError`.
    """
    branch = _parse_object(data, "Error unmarshalling input json", ExitCode.GENERIC)
    return split_metadata(branch)


def split_metadata(branch: Branch) -> tuple[Documents, Branch]:
    """Remove every top-level ``sops`` entry and return the document and the last one's tree."""
    metadata: Any = None
    document = Branch()
    for key, value in branch:
        if key == METADATA_KEY:
            metadata = value
        else:
            document.append((key, value))
    if metadata is None:
        raise MetadataNotFoundError("sops metadata not found")
    if not isinstance(metadata, Branch):
        raise MetadataError("sops metadata must be a JSON object")
    # Go decodes shamir_threshold into an int; our reader made every number a float.
    for index, (key, value) in enumerate(metadata):
        if key == "shamir_threshold" and value.__class__ is float and value.is_integer():
            metadata[index] = (key, int(value))
    return [document], metadata


def has_metadata(documents: Documents) -> bool:
    """Whether a plaintext tree has a top-level ``sops`` key (sops refuses it: exit 203)."""
    return any(key == METADATA_KEY for document in documents[:1] for key, _ in document)


# --- writing -------------------------------------------------------------------------------


_ESCAPES: Final[dict[int, str]] = {
    **{c: f"\\u{c:04x}" for c in range(0x20)},
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    # Lone surrogates are bytes that were not UTF-8 (surrogateescape): Go writes U+FFFD.
    **{c: "\\ufffd" for c in range(0xD800, 0xE000)},
}
_NEEDS_ESCAPE_RE: Final = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def quote(text: str) -> str:
    """Encode a string as Go's ``encoding/json`` does, HTML characters escaped."""
    if _NEEDS_ESCAPE_RE.search(text) is None:
        return '"' + text + '"'
    return '"' + text.translate(_ESCAPES) + '"'


def _scalar(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return quote(value)
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    if cls is float:
        if value != value or value in (_INF, -_INF):
            raise dump_error("json: unsupported value: NaN or infinity cannot be written to JSON")
        return format_float_json(value)
    if cls is int:
        return str(value)
    if cls is GoTime:
        return quote(value.text)
    raise dump_error(f"json: unsupported value of type {type(value).__name__}")


def _write(value: Any, depth: int, indent: str, out: list[str]) -> None:
    """Append ``value`` as ``json.Indent`` would lay out sops's compact text."""
    cls = value.__class__
    if cls is Branch:
        items = [(k, v) for k, v in value if k.__class__ is not Comment]
        if not items:
            out.append("{}")
            return
        inner = "\n" + indent * (depth + 1)
        out.append("{")
        for number, (key, child) in enumerate(items):
            out.append(inner if number == 0 else "," + inner)
            if key.__class__ is not str:
                raise dump_error("json: a mapping key is not a string")
            out.append(quote(key))
            out.append(": ")
            _write(child, depth + 1, indent, out)
        out.append("\n" + indent * depth + "}")
    elif cls is NilList:
        out.append("null")
    elif cls is Comment:
        # A comment selected by --extract: json.Marshal of sops's Comment struct.
        inner = "\n" + indent * (depth + 1)
        out.append("{" + inner + '"Value": ' + quote(value.text) + "\n" + indent * depth + "}")
    elif cls is Seq or cls is list:
        elements = [v for v in value if v.__class__ is not Comment]
        if not elements:
            out.append("[]")
            return
        inner = "\n" + indent * (depth + 1)
        out.append("[")
        for number, child in enumerate(elements):
            out.append(inner if number == 0 else "," + inner)
            _write(child, depth + 1, indent, out)
        out.append("\n" + indent * depth + "]")
    else:
        out.append(_scalar(value))


def indent_string(indent: int | None) -> str:
    """Return the indentation unit for sops's ``indent``: a tab by default, else N spaces."""
    if indent is None or indent == -1:
        return "\t"
    if indent < -1:
        raise dump_error("JSON Indentation parameter smaller than -1 is not accepted")
    return " " * indent


def _render(value: Any, indent: int | None) -> str:
    out: list[str] = []
    try:
        _write(value, 0, indent_string(indent), out)
    except RecursionError:
        raise dump_error("the document is nested too deeply to write") from None
    return "".join(out)


def _first(documents: Documents) -> Branch:
    if not documents:
        raise dump_error("there is no document to write")
    return documents[0]


def emit_plain(documents: Documents, indent: int | None = None) -> bytes:
    """Write the first document as sops writes a plaintext JSON file."""
    text = _render(_first(documents), indent) + "\n"
    return text.encode("utf-8", "surrogateescape")


def emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes:
    """Write the first document with ``metadata`` appended as its ``sops`` object."""
    branch = Branch(_first(documents))
    branch.append((METADATA_KEY, metadata))
    return (_render(branch, indent) + "\n").encode("utf-8", "surrogateescape")


def emit_value(value: Any, indent: int | None = None) -> bytes:
    """Write one value as sops's ``EmitValue`` does: indented, with no final newline."""
    return _render(value, indent).encode("utf-8", "surrogateescape")


def encode_compact(value: Any) -> bytes:
    """Encode a value as Go's ``json.Marshal`` does (compact), for other stores' values."""
    out: list[str] = []
    _write_compact(value, out)
    return "".join(out).encode("utf-8", "surrogateescape")


def _write_compact(value: Any, out: list[str]) -> None:
    cls = value.__class__
    if cls is NilList:
        out.append("null")
    elif cls is Seq or cls is list:
        out.append("[")
        for number, child in enumerate(value):
            if number:
                out.append(",")
            if child.__class__ is Comment:
                out.append('{"Value":' + quote(child.text) + "}")
            else:
                _write_compact(child, out)
        out.append("]")
    elif cls is Branch:
        # json.Marshal of a sops TreeBranch: a list of {"Key": …, "Value": …} structs.
        out.append("[")
        for number, (key, child) in enumerate(value):
            if number:
                out.append(",")
            out.append('{"Key":')
            if key.__class__ is Comment:
                out.append('{"Value":' + quote(key.text) + "}")
            else:
                out.append(quote(key))
            out.append(',"Value":')
            _write_compact(child, out)
            out.append("}")
        out.append("]")
    else:
        out.append(_scalar(value))
