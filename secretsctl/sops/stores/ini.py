r"""The INI store: sops 3.11's ``stores/ini`` with the parser and writer of ``gopkg.in/ini.v1``.

The tree has two levels, section → key → string. Keys before the first section header belong
to the section ``DEFAULT``, which is always the first item of a parsed file (empty when the file
starts with a header). Section names may repeat; each occurrence stays a separate item.

Reading reproduces ini.v1 (``LoadOptions{AllowNonUniqueSections: true}``):

- whitespace around keys and values is trimmed (Go's ``unicode.IsSpace``); ``=`` and ``:``
  both separate a key from its value, the first one found wins;
- ``;`` or ``#`` in an unquoted value starts an inline comment; a value wrapped in one pair of
  ``"`` or ``'`` loses them; values in triple double quotes or backquotes may span lines; a
  value ending in ``\`` continues on the next line; ``"…"`` or backquoted keys may hold
  ``=`` and ``:``; a key ``-`` is numbered ``#1``, ``#2``, … within its section;
- a key that repeats inside one section keeps its first position and takes the last value;
- comment lines attach to the next key or section header, as does a comment after a header.

sops then puts a section's comment first in its branch and a key's comment right after the
key, with the leading ``;``/``#`` characters and spaces removed. Writing goes the other way:
comments above their section or key as ``; text``, ``=`` aligned on the longest key of each
section (in bytes), quotes added where ini.v1 adds them, and a blank line between sections.

The metadata is a ``[sops]`` section of flattened keys (:func:`secretsctl.sops.metadata.flatten`).
sops writes it in Go's random map order; this writer sorts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from secretsctl.errors import ExitCode, InputError, MetadataNotFoundError
from secretsctl.sops.metadata import METADATA_KEY, flatten, unflatten
from secretsctl.sops.stores import dump_error
from secretsctl.sops.stores.dotenv import value_to_string
from secretsctl.sops.stores.json_store import encode_compact
from secretsctl.sops.tree import Branch, Comment, Documents

DEFAULT_SECTION: Final = "DEFAULT"
# Go's unicode.IsSpace, which ini.v1 trims with; Python's str.isspace differs (e.g. U+001C).
_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DELIMITERS: Final = "=:"
_ESCAPED_NEWLINE: Final = "\\n"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _find_any(text: str, chars: str) -> int:
    positions = [p for p in (text.find(c) for c in chars) if p != -1]
    return min(positions) if positions else -1


@dataclass
class _Key:
    value: str
    comment: str = ""


@dataclass
class _Section:
    name: str
    comment: str = ""
    keys: dict[str, _Key] = field(default_factory=dict)

    def new_key(self, name: str, value: str) -> _Key:
        """ini.v1 ``Section.NewKey`` without shadows: a repeated name updates the first key."""
        key = self.keys.get(name)
        if key is None:
            key = self.keys[name] = _Key(value)
        else:
            key.value = value
        return key


# --- reading -------------------------------------------------------------------------------


class _Parser:
    """ini.v1's line parser, error messages reduced to line numbers."""

    def __init__(self, text: str, exit_code: ExitCode) -> None:
        parts = text.split("\n")
        self.lines = [part + "\n" for part in parts[:-1]]
        self.lines.append(parts[-1])
        self.next_line = 0
        self.eof = False
        self.comment = ""
        self.exit_code = exit_code

    def fail(self, message: str) -> InputError:
        return InputError(
            f"Could not unmarshal input data: {message} (line {self.next_line})",
            exit_code=self.exit_code,
        )

    def read_line(self) -> str:
        if self.next_line >= len(self.lines):
            self.eof = True
            return ""
        line = self.lines[self.next_line]
        self.next_line += 1
        if self.next_line == len(self.lines):
            self.eof = True
        return line

    def parse(self) -> list[_Section]:
        section = _Section(DEFAULT_SECTION)
        sections = [section]
        counter = 1
        while not self.eof:
            line = self.read_line().lstrip(_GO_SPACE)
            if not line:
                continue
            if line[0] in "#;":
                self.comment += line
                continue
            if line[0] == "[":
                close = line.rfind("]")
                if close == -1:
                    raise self.fail("unclosed section")
                name = line[1:close]
                if not name:
                    raise self.fail("empty section name")
                section = _Section(name)
                sections.append(section)
                rest = line[close + 1 :]
                start = _find_any(rest, "#;")
                if start != -1:
                    self.comment += rest[start:]
                section.comment = self.comment.strip(_GO_SPACE)
                self.comment = ""
                counter = 1
                continue
            name, offset = self.key_name(line)
            if name == "-":
                name = f"#{counter}"
                counter += 1
            value = self.value(line[offset:])
            if not name:
                raise self.fail("error creating new key: empty key name")
            key = section.new_key(name, value)
            key.comment = self.comment.strip(_GO_SPACE)
            self.comment = ""
        return sections

    def key_name(self, line: str) -> tuple[str, int]:
        quote = ""
        if line[0] == '"':
            quote = '"""' if _byte_len(line) > 6 and line.startswith('"""') else '"'
        elif line[0] == "`":
            quote = "`"
        if quote:
            start = len(quote)
            end = line.find(quote, start)
            if end == -1:
                raise self.fail("missing closing key quote")
            delimiter = _find_any(line[end + start :], _DELIMITERS)
            if delimiter < 0:
                raise self.fail("key-value delimiter not found")
            return line[start:end].strip(_GO_SPACE), end + delimiter + start + 1
        delimiter = _find_any(line, _DELIMITERS)
        if delimiter < 0:
            raise self.fail("key-value delimiter not found")
        if delimiter == 0:
            raise self.fail("empty key name")
        return line[:delimiter].strip(_GO_SPACE), delimiter + 1

    def value(self, raw: str) -> str:
        line = raw.lstrip(_GO_SPACE)
        if not line:
            return ""
        quote = ""
        if line.startswith('"""') and _byte_len(line) > 3:
            quote = '"""'
        elif line[0] == "`":
            quote = "`"
        if quote:
            start = len(quote)
            end = line.rfind(quote, start)
            if end == -1:
                return self.multiline(line[start:], quote)
            return line[start:end]
        line = line.strip(_GO_SPACE)
        if line[-1] == "\\":
            return self.continuation(line[:-1])
        comment_at = _find_any(line, "#;")
        if comment_at != -1:
            self.comment += line[comment_at:]
            line = line[:comment_at].strip(_GO_SPACE)
        if (
            len(line) >= 2
            and line[0] == line[-1]
            and line[0] in "'\""
            and (line.find(line[0], 1) == len(line) - 1)
        ):
            line = line[1:-1]
        return line

    def multiline(self, value: str, quote: str) -> str:
        while True:
            line = self.read_line()
            end = line.rfind(quote)
            if end != -1:
                value += line[:end]
                comment_at = _find_any(line[end:], "#;")
                if comment_at != -1:
                    self.comment += line[end + comment_at :].strip(_GO_SPACE)
                return value
            value += line
            if self.eof:
                raise self.fail("missing closing value quote")

    def continuation(self, value: str) -> str:
        while True:
            line = self.read_line().strip(_GO_SPACE)
            if not line:
                return value
            value += line
            if value[-1] != "\\":
                return value
            value = value[:-1]


def _parse(data: bytes, exit_code: ExitCode) -> list[_Section]:
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        data = data[2:]
    elif data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return _Parser(data.decode("utf-8", "surrogateescape"), exit_code).parse()


def _strip_comment_char(text: str) -> str:
    if text.startswith(";"):
        return text.lstrip("; ")
    if text.startswith("#"):
        return text.lstrip("# ")
    return text


def _to_tree(sections: list[_Section]) -> Branch:
    tree = Branch()
    for section in sections:
        items = Branch()
        if section.comment:
            items.append((Comment(_strip_comment_char(section.comment)), None))
        for name, key in section.keys.items():
            items.append((name, key.value))
            if key.comment:
                items.append((Comment(_strip_comment_char(key.comment)), None))
        tree.append((section.name, items))
    return tree


def load_plain(data: bytes) -> Documents:
    """Parse a plaintext INI file into one document of sections.

    Raises :class:`InputError` (exit 2) naming the line, never its content.
    """
    return [_to_tree(_parse(data, ExitCode.COULD_NOT_READ_INPUT_FILE))]


def has_metadata(documents: Documents) -> bool:
    """Whether a plaintext tree has a ``[sops]`` section, which sops refuses (exit 203)."""
    return any(key == METADATA_KEY for document in documents[:1] for key, _ in document)


def load_encrypted(data: bytes) -> tuple[Documents, Branch]:
    """Split an encrypted INI file into its sections and the unflattened ``[sops]`` tree.

    As in sops, a parse error here exits 1 (the class is still :class:`InputError`).
    """
    sections = _parse(data, ExitCode.GENERIC)
    metadata = next((s for s in sections if s.name == METADATA_KEY), None)
    if metadata is None:
        raise MetadataNotFoundError("sops metadata not found")
    flat = [
        (name, key.value.replace(_ESCAPED_NEWLINE, "\n")) for name, key in metadata.keys.items()
    ]
    tree = _to_tree([s for s in sections if s.name != METADATA_KEY])
    return [tree], unflatten(flat)


# --- writing -------------------------------------------------------------------------------


def _sections_from_tree(documents: Documents) -> list[_Section]:
    """Turn documents into sections as sops's ``encodeTree`` does (items: keys, comments)."""
    sections = []
    for document in documents:
        for name, value in document:
            if name.__class__ is Comment:
                continue
            if name.__class__ is not str:
                raise dump_error("Error marshaling to ini: a section name is not a string")
            if not name:
                raise dump_error(
                    "Error marshaling to ini: Error encoding section: empty section name"
                )
            if value.__class__ is not Branch:
                raise dump_error(
                    "Error marshaling to ini: Error encoding section: Section values should"
                    " always be TreeBranches"
                )
            section = _Section(name)
            items = list(value)
            if items and items[0][0].__class__ is Comment:
                section.comment = items.pop(0)[0].text
            last: _Key | None = None
            for key, child in items:
                if key.__class__ is Comment:
                    if last is not None:
                        last.comment = key.text
                    continue
                if key.__class__ is not str:
                    raise dump_error("Error marshaling to ini: a key is not a string")
                if not key:
                    raise dump_error(
                        "Error marshaling to ini: Error encoding key: error creating new key:"
                        " empty key name"
                    )
                last = section.new_key(key, value_to_string(child))
            sections.append(section)
    return sections


def _comment_lines(comment: str, trim_plain: bool) -> list[str]:
    lines = []
    for line in comment.split("\n"):
        if not line:
            # ini.v1 indexes line[0] here and panics (sops exits 2); write an empty comment.
            lines.append(";\n")
        elif line[0] not in "#;":
            lines.append("; " + (line.strip(_GO_SPACE) if trim_plain else line) + "\n")
        else:
            lines.append(line[0] + " " + line[1:].strip(_GO_SPACE) + "\n")
    return lines


def _quoted_key(name: str) -> str:
    if '"' in name or _find_any(name, _DELIMITERS) != -1:
        return "`" + name + "`"
    if "`" in name:
        return '"""' + name + '"""'
    return name


def _quoted_value(value: str) -> str:
    if "\n" in value or "`" in value:
        return '"""' + value + '"""'
    if "#" in value or ";" in value:
        return "`" + value + "`"
    if value.strip(_GO_SPACE) != value:
        return '"' + value + '"'
    return value


def _write(sections: list[_Section]) -> bytes:
    """ini.v1 ``File.WriteTo`` with its defaults: pretty alignment, blank line between sections."""
    out: list[str] = []
    last = len(sections) - 1
    for index, section in enumerate(sections):
        if section.comment:
            out.extend(_comment_lines(section.comment, trim_plain=False))
        if index > 0 or section.name.upper() != DEFAULT_SECTION:
            out.append("[" + section.name + "]\n")
        elif not section.keys:
            continue
        names = [(_quoted_key(name), name) for name in section.keys]
        width = max((_byte_len(quoted) for quoted, _ in names), default=0)
        for quoted, name in names:
            key = section.keys[name]
            if key.comment:
                out.extend(_comment_lines(key.comment, trim_plain=True))
            padding = " " * (width - _byte_len(quoted))
            out.append(quoted + padding + " = " + _quoted_value(key.value) + "\n")
        if index != last:
            out.append("\n")
    return "".join(out).encode("utf-8", "surrogateescape")


def emit_plain(documents: Documents, indent: int | None = None) -> bytes:
    """Write the sections as sops writes a plaintext INI file (``indent`` is ignored)."""
    return _write(_sections_from_tree(documents))


def emit_encrypted(documents: Documents, metadata: Branch, indent: int | None = None) -> bytes:
    """Write the sections, then ``[sops]`` with the flattened metadata in sorted key order."""
    sections = _sections_from_tree(documents)
    sops = _Section(METADATA_KEY)
    for name, text in flatten(metadata):
        sops.new_key(name, text.replace("\n", _ESCAPED_NEWLINE))
    sections.append(sops)
    return _write(sections)


def emit_value(value: Any, indent: int | None = None) -> bytes:
    """Write one value as sops's INI ``EmitValue`` does: compact Go ``json.Marshal``."""
    return encode_compact(value)
