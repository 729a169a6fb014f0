"""The base of the line-by-line YAML readers: a text's lines, the nesting depth, the fallback.

Two readers take the usual shape of a YAML file a line at a time and leave everything else to
libyaml: :mod:`._yaml_fast` for sops files and :mod:`secretsctl.config._yaml` for the
configuration. Both start from a :class:`LineReader` and raise :class:`Fallback` where the text
leaves the shape they read.
"""

from __future__ import annotations

from secretsctl.limits import MAX_NESTING_DEPTH


class Fallback(Exception):
    """The text is outside the shape the reader accepts; libyaml's path reads it."""


class LineReader:
    """The lines of a text, and how deep the reader is in its containers."""

    __slots__ = ("count", "depth", "lines")

    def __init__(self, text: str) -> None:
        # Tabs, CR, NEL, U+2028/9, BOMs, control characters and surrogates, and a last line
        # without its newline, all go to libyaml (isprintable is conservative: it also sends
        # some legal characters there).
        if not text.endswith("\n") or not text.replace("\n", "").isprintable():
            raise Fallback
        lines = text.split("\n")
        lines.pop()
        self.lines = lines
        self.count = len(lines)
        self.depth = 0

    def enter(self) -> None:
        """Open a container; past the nesting limit, libyaml's path reports where."""
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise Fallback
