"""The usual shape of a large ``secrets:`` block, one secret a line, read with one regex a line.

Large generated configurations write each secret on one line
(``name: {owner: alice, mode: '0440'}``). :func:`fast_block` finds such a block and reads it
without building YAML nodes; anything else, or anything that would be a problem, takes the
generic path (:class:`NotFast`).
"""

from __future__ import annotations

import re

from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final, TypeAlias


class NotFast(Exception):
    """The configuration is not in the shape the fast path reads; read it the generic way."""


# One secret per line under `secrets:`, the shape of large generated configurations:
#   name: {owner: alice, group: users, mode: '0440', key: a/b}
# Names are relative paths of plain words; values are plain words or single-quoted words, so
# no comma, colon, quote or escape hides inside one. Anything else takes the generic path.
_FAST_NAME: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*"
_FAST_VALUE: Final = r"[A-Za-z0-9_][A-Za-z0-9_./-]*|'[A-Za-z0-9_./-]*'"
_FAST_FIELD: Final = rf"(?:owner|uid|group|gid|mode|key): (?:{_FAST_VALUE})"
_FAST_ENTRY: Final = re.compile(
    rf"  ({_FAST_NAME}): \{{((?:{_FAST_FIELD})(?:, {_FAST_FIELD})*)?\}}\Z"
)
# (name, line, [(field, text, column, plain)]); lines and columns are 1-based.
FastEntry: TypeAlias = tuple[str, int, list[tuple[str, str, int, bool]]]


class FastBlock(Record):
    """A ``secrets:`` block read by :func:`fast_block`."""

    line: int  # of the `secrets:` key
    entries: list[FastEntry]


def fast_block(text: str) -> tuple[str, FastBlock] | None:
    """Find a ``secrets:`` block of one-line entries; return the text without it, and it.

    The block's lines are blanked (so every other line keeps its number) and read here with
    one regular expression each, rather than as YAML nodes: a 10,000-secret configuration
    reads in a quarter of the time. Returns None when any line of the block has another
    shape.
    """
    if text.startswith("secrets:\n"):
        key_index = 0
    else:
        at = text.find("\nsecrets:\n")
        if at < 0:
            return None
        key_index = text.count("\n", 0, at + 1)
    lines = text.split("\n")
    first = key_index + 1
    end = len(lines)
    entries: list[FastEntry] = []
    match_entry = _FAST_ENTRY.match
    for index in range(first, len(lines)):
        line = lines[index]
        if not line:
            continue
        if line[0] != " ":
            if line[0] == "#":
                continue
            end = index
            break
        match = match_entry(line)
        if match is None:
            if line.lstrip(" ")[:1] in ("", "#"):
                continue
            return None
        name, inner = match.groups()
        pieces = []
        if inner:
            offset = match.start(2) + 1  # the 1-based column of the first field
            for piece in inner.split(", "):
                field_name, _, value = piece.partition(": ")
                column = offset + len(field_name) + 2
                if value[0] == "'":
                    pieces.append((field_name, value[1:-1], column, False))
                else:
                    pieces.append((field_name, value, column, True))
                offset += len(piece) + 2
        entries.append((name, index + 1, pieces))
    blanked = "\n".join(lines[:first] + [""] * (end - first) + lines[end:])
    return blanked, FastBlock(key_index + 1, entries)
