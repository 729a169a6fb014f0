"""A reader for the plain block YAML that yaml.v3 (and so sops) writes.

Why: ``secretsctl decrypt`` must beat ``sops decrypt`` on a 1,000-key file, and importing
ruamel's C parser alone costs ~15 ms of that budget. sops files are yaml.v3 output: block
mappings and sequences, one scalar per line, ``enc: |`` literal blocks, and full-line
``#ENC[…]`` comments before keys. This reader accepts exactly that shape and nothing else;
:func:`parse` returns None for anything outside it (comments anywhere but before a key that
follows a one-line entry or opens a mapping, flow collections other than ``[]``/``{}``,
anchors, tags, escapes, folded or indented block scalars, tabs, CR, duplicate or non-string
keys, multi-line plain scalars …), and the caller falls back to the libyaml loader, which
places every comment as yaml.v3 does. Tests check that whatever this reader accepts, it reads
exactly as the libyaml loader does.
"""

from __future__ import annotations

from secretsctl.sops.stores._yaml_lines import Fallback as _Fallback
from secretsctl.sops.stores._yaml_lines import LineReader
from secretsctl.sops.stores._yaml_resolve import resolves_to_str, scalar_value
from secretsctl.sops.tree import Branch, Comment, Seq

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Final

_PLAIN_BAD_START: Final = frozenset("&*!|>%@`[]{},?:#'\"")
_KEY_BAD_START: Final = _PLAIN_BAD_START | {"<", "-"}


def split_key(text: str) -> tuple[str, str | None] | None:
    """Split ``key:`` or ``key: value`` into the key as written and the value (None if none).

    A plain key starts with a character that cannot open another construct and holds no ':'
    or '#'; a double-quoted key has no escapes. The value starts with a non-space and holds no
    line feed. Anything else is None.
    """
    if text[:1] == '"':
        colon = text.find('"', 1) + 1
        if colon == 0 or text.find("\\", 1, colon) >= 0 or text[colon : colon + 1] != ":":
            return None
    else:
        colon = text.find(":")
        if (
            colon < 1
            or text[0] in _KEY_BAD_START
            or text[0].isspace()
            or text.find("#", 0, colon) >= 0
        ):
            return None
    if colon + 1 == len(text):
        return text[:colon], None
    value = text[colon + 2 :]
    if text[colon + 1] != " " or value[:1].isspace() or not value or "\n" in value:
        return None
    return text[:colon], value


def parse(text: str) -> list[Branch] | None:
    """Return the documents of ``text``, or None when the full loader must read it."""
    try:
        return _Reader(text).documents()
    except _Fallback:
        return None


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class _Reader(LineReader):
    __slots__ = ()

    def documents(self) -> list[Branch]:
        documents = []
        pos = 0
        while True:
            if pos >= self.count or self.lines[pos] in ("", "---"):
                raise _Fallback
            branch, pos = self.mapping(pos, 0)
            documents.append(branch)
            if pos == self.count:
                return documents
            if self.lines[pos] != "---":
                raise _Fallback
            pos += 1

    def key(self, text: str) -> tuple[str, str | None]:
        split = split_key(text)
        if split is None:
            raise _Fallback
        key, rest = split
        if key[0] == '"':
            key = key[1:-1]
        elif key.endswith(" ") or not resolves_to_str(key):
            raise _Fallback
        return key, rest

    def mapping(self, pos: int, indent: int) -> tuple[Branch, int]:
        self.enter()
        lines, count = self.lines, self.count
        branch = Branch()
        seen: set[str] = set()
        # Whether a comment here certainly heads the next key: at the mapping's start, or
        # after a one-line scalar entry (after a nested or literal block, yaml.v3's placement
        # depends on more than this reader looks at).
        comment_ok = True
        while pos < count:
            line = lines[pos]
            body = line.lstrip(" ")
            here = len(line) - len(body)
            if here < indent or line == "---":
                break
            if here > indent or not body or (body[0] == "-" and body[:2] in ("- ", "-")):
                raise _Fallback
            if body[0] == "#":
                if not comment_ok:
                    raise _Fallback
                pos = self.head_comments(pos, indent, branch)
                continue
            key, rest = self.key(body)
            if key in seen:
                raise _Fallback
            seen.add(key)
            pos += 1
            if rest is None:
                value, pos = self.nested(pos, indent)
                comment_ok = False
            else:
                value, pos = self.value(rest, pos, indent)
                comment_ok = rest[0] not in "|[{"
            branch.append((key, value))
        self.depth -= 1
        return branch, pos

    def head_comments(self, pos: int, indent: int, branch: Branch) -> int:
        """Add a run of comment lines that head the key after them; return the key's line."""
        lines, count = self.lines, self.count
        start = pos
        while pos < count and lines[pos][indent : indent + 1] == "#":
            if _indent_of(lines[pos]) != indent:
                raise _Fallback
            pos += 1
        if pos >= count:
            raise _Fallback
        following = lines[pos]
        if _indent_of(following) != indent or following[indent : indent + 1] in ("", "-", "#"):
            raise _Fallback
        branch.extend((Comment(line[indent + 1 :]), None) for line in lines[start:pos])
        return pos

    def nested(self, pos: int, indent: int) -> tuple[Any, int]:
        """Read the block under ``key:``: a deeper mapping or sequence, or nothing (null)."""
        if pos >= self.count:
            return None, pos
        line = self.lines[pos]
        here = _indent_of(line)
        if not line or line == "---" or here < indent:
            return None, pos
        if here == indent:
            if line[here:][:2] in ("- ", "-"):
                raise _Fallback  # an indentless sequence: yaml.v3 never writes one
            return None, pos
        if line[here:][:2] == "- ":
            return self.sequence(pos, here)
        return self.mapping(pos, here)

    def sequence(self, pos: int, indent: int, compact: bool = False) -> tuple[Seq, int]:
        """Read a block sequence whose dashes are at ``indent``.

        ``compact``: its first entry is on line ``pos`` after the dashes of the entries that
        hold it (``- - x``); those count as spaces. The line is not copied per level, so a
        long line of dashes costs its length once, not once per level.
        """
        self.enter()
        lines, count = self.lines, self.count
        seq = Seq()
        while pos < count:
            line = lines[pos]
            if compact:
                here, compact = indent, False
            else:
                here = len(line) - len(line.lstrip(" "))
            if here < indent or line == "---":
                break
            if here > indent or not line.startswith("- ", here):
                raise _Fallback
            inner = indent + 2
            value: Any
            if line.startswith("- ", inner):
                value, pos = self.sequence(pos, inner, True)
            elif split_key(line[inner:]) is not None:
                lines[pos] = " " * inner + line[inner:]
                value, pos = self.mapping(pos, inner)
            else:
                value, pos = self.value(line[inner:], pos + 1, indent)
            seq.append(value)
        self.depth -= 1
        return seq, pos

    def value(self, text: str, pos: int, indent: int) -> tuple[Any, int]:
        """Read a value written on the line of its key or dash; ``pos`` is the next line."""
        first = text[0]
        if first == "E" and text[-1] == "]" and text.startswith("ENC[") and " " not in text:
            return text, pos
        if first == '"':
            if len(text) < 2 or text[-1] != '"' or "\\" in text or '"' in text[1:-1]:
                raise _Fallback
            return text[1:-1], pos
        if first == "'":
            inner = text[1:-1]
            if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
                raise _Fallback
            return inner.replace("''", "'"), pos
        if first == "|":
            return self.literal(text, pos, indent)
        if text == "[]":
            return Seq(), pos
        if text == "{}":
            return Branch(), pos
        if (
            first in _PLAIN_BAD_START
            or (first == "-" and text[1:2] in ("", " "))
            or ": " in text
            or " #" in text
            or text[-1] in ": "
        ):
            raise _Fallback
        if pos < self.count and _indent_of(self.lines[pos]) > indent and self.lines[pos]:
            raise _Fallback  # a continuation line of a multi-line plain scalar
        return scalar_value("", text, False), pos

    def literal(self, header: str, pos: int, indent: int) -> tuple[str, int]:
        """Read a ``|``, ``|-`` or ``|+`` block scalar from the deeper lines that follow."""
        if header not in ("|", "|-", "|+"):
            raise _Fallback
        lines, count = self.lines, self.count
        start = pos
        content_indent = -1
        while pos < count:
            line = lines[pos]
            if line == "":
                pos += 1
                continue
            here = _indent_of(line)
            if content_indent < 0:
                if here <= indent or pos != start:
                    break  # no content, or leading empty lines (yaml.v3 adds an indicator)
                content_indent = here
            elif here < content_indent:
                break
            if here == len(line):
                raise _Fallback  # a line of spaces only
            pos += 1
        if content_indent < 0:
            raise _Fallback
        end = pos
        while end > start and lines[end - 1] == "":
            end -= 1
        trailing = pos - end
        body = "\n".join(line[content_indent:] for line in lines[start:end])
        if header == "|-":
            return body, pos
        if header == "|+":
            return body + "\n" + "\n" * trailing, pos
        return body + "\n", pos
