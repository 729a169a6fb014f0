"""The usual shape of a large ``secrets:`` block, one secret a line, read with str methods.

Large generated configurations write each secret on one line
(``name: {owner: alice, mode: '0440'}``). :func:`fast_block` finds such a block and reads it
without building YAML nodes; anything else, or anything that would be a problem, takes the
generic path (:class:`NotFast`).
"""

from __future__ import annotations

from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final, TypeAlias


class NotFast(Exception):
    """The configuration is not in the shape the fast path reads; read it the generic way."""


# One secret per line under `secrets:`, the shape of large generated configurations:
#   name: {owner: alice, group: users, mode: '0440', key: a/b}
# Names are relative paths of plain words; values are plain words, or words in single or double
# quotes (with no backslash, a double-quoted word escapes nothing), so no comma, colon, quote or
# escape hides inside one. Anything else takes the generic path.
# tests/property/test_fastblock.py keeps the regular expressions this reading replaced.
_WORD: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_NAME_BYTES: Final = (_WORD + ".-/\n").encode()
_VALUE_BYTES: Final = (_WORD + "./-").encode()
# Every name starts each of its parts with a word character and has no empty part.
_NAME_FLAWS: Final = ("\n\n", "\n.", "\n-", "\n/", "/\n", "//", "/.", "/-")
_FIELD_STARTS: Final = tuple(
    f"\n{field}: " for field in ("owner", "uid", "group", "gid", "mode", "key")
)
# A plain value is not empty and starts with a word character.
_VALUE_FLAWS: Final = ("\x00\n", "\x00.", "\x00-", "\x00/")
# (name, line, fields): the text between the braces, or None for `{}`; lines are 1-based.
FastEntry: TypeAlias = "tuple[str, int, str | None]"


class FastBlock(Record):
    """A ``secrets:`` block read by :func:`fast_block`."""

    line: int  # of the `secrets:` key
    entries: list[FastEntry]


# The names and the fields are checked all at once, each with a few str operations over
# their joined text: a check per line in Python would take twice as long as the regex did.
def _are_names(names: list[str]) -> bool:
    """Whether every name is a relative path of words (``db/password``, ``a.b-c``)."""
    joined = "\n" + "\n".join(names) + "\n"
    if not joined.isascii() or joined.encode().translate(None, _NAME_BYTES):
        return False
    return not any(flaw in joined for flaw in _NAME_FLAWS)


def _are_fields(insides: list[str]) -> bool:
    """Whether every text is ``field: value`` pairs joined by ``, `` (what the braces hold)."""
    joined = "\n" + "\n".join(insides).replace(", ", "\n") + "\n"  # a pair a line
    if not joined.isascii() or any(marker in joined for marker in "\x00\x01\x02\x03\x04"):
        return False
    for start in _FIELD_STARTS:
        joined = joined.replace(start, "\n\x00")  # \x00: a known field's name and `: `
    if any(flaw in joined for flaw in _VALUE_FLAWS):
        return False
    # \x01 and \x02: the single quotes around a value, \x03 and \x04 the double ones. Without
    # the value characters, every line must then read \x00, \x00\x01\x02 or \x00\x03\x04.
    joined = joined.replace("\x00'", "\x00\x01").replace("'\n", "\x02\n")
    joined = joined.replace('\x00"', "\x00\x03").replace('"\n', "\x04\n")
    shape = joined.encode().translate(None, _VALUE_BYTES)
    shape = shape.replace(b"\x00\x01\x02", b"\x00").replace(b"\x00\x03\x04", b"\x00")
    return shape == b"\n\x00" * (joined.count("\n") - 1) + b"\n"


def fast_block(text: str) -> tuple[str, FastBlock] | None:
    """Find a ``secrets:`` block of one-line entries; return the text without it, and it.

    The block's lines are blanked (so every other line keeps its number) and read here line by
    line with str methods, rather than as YAML nodes: a 10,000-secret configuration reads in a
    fraction of the time. Returns None when any line of the block has another shape.
    """
    if text.startswith("secrets:\n"):
        start = len("secrets:\n")
    else:
        at = text.find("\nsecrets:\n")
        if at < 0:
            return None
        start = at + len("\nsecrets:\n")
    key_line = text.count("\n", 0, start)  # the `secrets:` key's line, 1-based
    lines = text[start:].split("\n")
    entries: list[FastEntry] = []
    names: list[str] = []
    insides: list[str] = []
    end, size = len(text), len(lines) - 1  # of the block, and its count of newlines
    for index, body in enumerate(lines):
        # Any line starting with two spaces and a name, and ending with `}`, must be an entry.
        if body[:2] == "  " and body[-1:] == "}" and body[2] not in " #":
            name, brace, inside = body[2:-1].partition(": {")
            if not brace:
                return None
            names.append(name)
            if inside:
                insides.append(inside)
            entries.append((name, key_line + 1 + index, inside or None))
        elif body[:1] not in " #":
            # The block ends at the first line that starts with neither a space nor a comment.
            end, size = start + sum(map(len, lines[:index])) + index, index
            break
        elif body.lstrip(" ")[:1] not in ("", "#"):
            return None  # between entries: only blank lines and comments
    if (names and not _are_names(names)) or (insides and not _are_fields(insides)):
        return None
    blanked = text[:start] + "\n" * size + text[end:]
    return blanked, FastBlock(key_line, entries)
