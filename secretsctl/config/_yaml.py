"""YAML for the configuration: a fast reader for the usual shape, libyaml for the rest.

Why: ``secretsctl render`` runs at boot and must beat ``sops decrypt`` over the whole run, and
importing ruamel's C parser alone costs ~20 ms. Configurations people write are simple: block
mappings, one-line scalars (plain or quoted), one-line flow lists and mappings
(``restart_units: [a.service]``, ``github_token: {}``), block lists, ``|`` blocks for inline
templates, and comments anywhere. :func:`read` parses exactly that shape line by line and
hands anything else (anchors, tags, folded or multi-line scalars, escapes, tabs, …) to
libyaml's event parser, which also reports syntax errors with their line and column.

Both readers give the same result (property-tested): a tree of nodes, each a tuple
``(kind, value, line, column, plain)``:

- ``SCALAR``: ``value`` is the text as read, ``plain`` tells whether it was written without
  quotes or block style (only plain scalars are typed: ``true``, ``12``, ``~``);
- ``MAP``: ``value`` is a :class:`YMap` from key text to ``(key node, value node)``;
- ``SEQ``: ``value`` is a list of nodes.

Lines and columns are 1-based, at the start of the node as libyaml marks it (the quote of a
quoted scalar, the ``|`` of a block scalar, the first key of a block mapping, the first ``-``
of a block list). An empty value (``key:`` and nothing) is a plain ``""`` at its key's
position.
"""

from __future__ import annotations

from secretsctl.limits import (
    MAX_NESTING_DEPTH,
    TOO_DEEP,
    TOO_MANY_ALIASES,
    alias_expansion_allowed,
)
from secretsctl.sops.stores._yaml_lines import Fallback as _Fallback
from secretsctl.sops.stores._yaml_lines import LineReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from typing import Any, Final, TypeAlias

SCALAR: Final = 0
MAP: Final = 1
SEQ: Final = 2

Node: TypeAlias = "tuple[int, Any, int, int, bool]"

_PLAIN_BAD_START: Final = frozenset("-?:,[]{}#&*!|>'\"%@` ")
_VALUE_SPECIAL_START: Final = _PLAIN_BAD_START
_FLOW_PLAIN_STOP: Final = frozenset(",[]{}")


# The patterns below are compiled on first use (re caches them): the boot path does without re.
def _flow_indicator() -> re.Pattern[str]:
    import re

    return re.compile(r"[,\[\]{}]")


# In flow context libyaml also ends a plain scalar at `?`.
def _flow_stop() -> re.Pattern[str]:
    import re

    return re.compile(r"[,?\[\]{}]")


def _flow_key_stop() -> re.Pattern[str]:
    import re

    return re.compile(r"[,?\[\]{}:]")


_KEY_STOP: Final = frozenset("#,[]{}")
_SEQUENCE_STOP: Final = frozenset("[]{}#'\":?")


# These two run once per line: str methods, not a regex (tests/property/test_yaml_lines.py
# keeps the regular expressions they replaced).
def _plain_key(body: str) -> tuple[str, str | None, int] | None:
    """Split a line (without its indent) that is a plain key: ``key:`` or ``key: rest``.

    Returns the key, the rest (None for nothing after the colon) and the rest's index; None
    when the line has another shape (a quoted key, a flow indicator, …): the slow way reads it.
    """
    colon = body.find(":")
    if colon <= 0:
        return None
    key = body[:colon]
    if key[-1] == " " or body[0] in _PLAIN_BAD_START or body[0].isspace():
        return None
    if not _KEY_STOP.isdisjoint(key):
        return None
    if colon + 1 == len(body):
        return key, None, 0
    if body[colon + 1] != " ":
        return None
    rest = body[colon + 2 :].lstrip(" ")
    return key, rest, len(body) - len(rest)


def _simple_sequence_items(rest: str) -> str | None:
    """Return the text in the brackets of a one-line flow list of plain scalars, else None.

    ``rest`` starts with ``[``: ``[a.service, b.service]``, then spaces or a comment.
    """
    close = rest.find("]")
    if close < 0:
        return None
    inside = rest[1:close]
    if not _SEQUENCE_STOP.isdisjoint(inside):
        return None
    tail = rest[close + 1 :]
    after = tail.lstrip(" ")
    return inside if not after or (after[0] == "#" and after is not tail) else None


class YMap(dict[str, tuple[Node, Node]]):
    """A mapping node's entries in order; ``duplicates`` lists the key nodes seen again."""

    duplicates: list[tuple[Node, Node]] | None = None  # (the repeated key, the first one)


class YamlSyntaxError(Exception):
    """The text is not YAML the configuration can use; ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class YamlLimitError(YamlSyntaxError):
    """The text passes a limit of :mod:`secretsctl.limits`: nesting or alias expansion."""


def read(text: str) -> Node | None:
    """Parse one YAML document; return its root node, or None when there is no document.

    Raises :class:`YamlSyntaxError` for invalid YAML and for features the configuration does
    not use (tags other than ``!!str``, several documents).
    """
    try:
        return _FastReader(text).root()
    except _Fallback:
        return compose(text)


# --- the fast reader ---------------------------------------------------------------------


def _single_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a single-quoted scalar opening at ``start``; return it and the index after it."""
    parts = []
    pos = start + 1
    while True:
        end = text.find("'", pos)
        if end < 0:
            raise _Fallback  # it goes on over several lines
        parts.append(text[pos:end])
        if text[end + 1 : end + 2] == "'":
            parts.append("'")
            pos = end + 2
            continue
        return "".join(parts), end + 1


def _double_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a double-quoted scalar without escapes opening at ``start``."""
    end = text.find('"', start + 1)
    if end < 0 or "\\" in text[start + 1 : end]:
        raise _Fallback
    return text[start + 1 : end], end + 1


def _simple_sequence(inside: str, line: int, column: int) -> Node:
    """Build the list node of :func:`_simple_sequence_items`; ``column`` is that of ``[``."""
    items: list[Node] = []
    if "," not in inside:
        text = inside.strip(" ")
        if text:
            if text[0] in _PLAIN_BAD_START:
                raise _Fallback
            items.append((SCALAR, text, line, column + 1 + inside.index(text[0]), True))
    else:
        cursor = column + 1
        for piece in inside.split(","):
            text = piece.strip(" ")
            if not text or text[0] in _PLAIN_BAD_START:
                raise _Fallback
            items.append((SCALAR, text, line, cursor + len(piece) - len(piece.lstrip(" ")), True))
            cursor += len(piece) + 1
    return (SEQ, items, line, column, False)


_PLAIN_IN_FLOW: Final = r"[^\s\-?:,\[\]{}#&*!|>'\"%@`](?:[^:,?\[\]{}#]*[^\s:,?\[\]{}#])?"
# One `key: value` of a flow mapping and the `,` or `}` after it; the value is a plain or
# quoted scalar without escapes, or a list of plain scalars.
_FLOW_ENTRY: Final = (
    rf""" *({_PLAIN_IN_FLOW}): +(?:"([^"\\]*)"|'((?:[^']|'')*)'|\[([^\[\]{{}}#'":?]*)\]"""
    rf"""|({_PLAIN_IN_FLOW})) *([,}}])"""
)


def _flow_entry() -> re.Pattern[str]:
    """Compile :data:`_FLOW_ENTRY` on first use: most configurations have no such mapping."""
    import re

    return re.compile(_FLOW_ENTRY)


def _simple_flow_mapping(text: str, line: int, column: int) -> Node | None:
    """Read a one-line flow mapping of simple entries (``{key: a, units: [b]}``), else None.

    ``column`` is that of the ``{``; a character at index ``i`` of ``text`` is at
    ``column + i``.
    """
    entries = YMap()
    node: Node = (MAP, entries, line, column, False)
    if text.startswith("{}"):
        _check_tail(text, 2)
        return node
    pos = 1
    match_entry = _flow_entry().match
    while True:
        match = match_entry(text, pos)
        if match is None:
            return None
        key, double, single, items, plain, close = match.groups()
        if key in entries:
            return None  # let libyaml's path report it with its line
        value: Node
        if double is not None:
            value = (SCALAR, double, line, column + match.start(2) - 1, False)
        elif single is not None:
            value = (SCALAR, single.replace("''", "'"), line, column + match.start(3) - 1, False)
        elif items is not None:
            value = _simple_sequence(items, line, column + match.start(4) - 1)
        else:
            value = (SCALAR, plain, line, column + match.start(5), True)
        entries[key] = ((SCALAR, key, line, column + match.start(1), True), value)
        pos = match.end()
        if close == "}":
            _check_tail(text, pos)
            return node


def _check_tail(text: str, pos: int) -> None:
    """After a complete value only spaces and a comment may follow on the line."""
    tail = text[pos:]
    if tail and (tail[0] != " " or tail.lstrip(" ")[:1] not in ("", "#")):
        raise _Fallback


class _FastReader(LineReader):
    __slots__ = ()

    def skip(self, pos: int) -> int:
        """Return the index of the next line that is neither blank nor a comment."""
        lines, count = self.lines, self.count
        while pos < count:
            body = lines[pos].lstrip(" ")
            if body and body[0] != "#":
                return pos
            pos += 1
        return pos

    def root(self) -> Node | None:
        # Document markers and directives (`---`, `...`, `%YAML`) never read as a key here.
        pos = self.skip(0)
        if pos >= self.count:
            return None
        if self.lines[pos][:1] == " ":
            raise _Fallback
        node, pos = self.mapping(pos, 0)
        if self.skip(pos) < self.count:
            raise _Fallback
        return node

    def mapping(self, pos: int, indent: int) -> tuple[Node, int]:
        self.enter()
        lines, count = self.lines, self.count
        entries = YMap()
        node: Node = (MAP, entries, pos + 1, indent + 1, False)
        plain_key = _plain_key
        while pos < count:
            line = lines[pos]
            body = line.lstrip(" ")
            if not body or body[0] == "#":
                pos += 1
                continue
            here = len(line) - len(body)
            if here != indent:
                if here < indent:
                    break
                raise _Fallback
            found = plain_key(body)
            if found is not None:
                text, rest, at = found
                key: Node = (SCALAR, text, pos + 1, here + 1, True)
                column = here + at + 1 if rest else 0
            else:
                key, after = self.key(body, pos, here)
                text = key[1]
                rest = body[after:].lstrip(" ")
                column = here + len(body) - len(rest) + 1
            # The common cases are inline: this loop runs once per line of the file.
            if not rest or rest[0] == "#":
                # A nested block mapping (the usual secret entry) is read right here.
                after = pos + 1
                while after < count:
                    ahead = lines[after]
                    ahead_body = ahead.lstrip(" ")
                    if ahead_body and ahead_body[0] != "#":
                        break
                    after += 1
                else:
                    ahead_body = ""
                deeper = len(lines[after]) - len(ahead_body) if ahead_body else -1
                if deeper > indent and ahead_body[0] != "-":
                    value, pos = self.mapping(after, deeper)
                else:
                    value, pos = self.nested(pos + 1, indent, key)
            elif rest[0] not in _VALUE_SPECIAL_START:
                cut = rest.find(" #")
                plain = (rest if cut < 0 else rest[:cut]).rstrip(" ")
                if ": " in plain or plain[-1] == ":":
                    raise _Fallback
                value = (SCALAR, plain, pos + 1, column, True)
                pos += 1
            elif rest[0] == '"' and (end := rest.find('"', 1)) > 0 and "\\" not in rest[:end]:
                if end + 1 < len(rest):
                    _check_tail(rest, end + 1)
                value = (SCALAR, rest[1:end], pos + 1, column, False)
                pos += 1
            elif rest[0] == "[" and (inside := _simple_sequence_items(rest)) is not None:
                item = inside.strip(" ")
                if item and "," not in inside and item[0] not in _PLAIN_BAD_START:
                    # One plain item, the usual `restart_units: [x.service]`.
                    start = column + 1 + inside.index(item[0])
                    value = (SEQ, [(SCALAR, item, pos + 1, start, True)], pos + 1, column, False)
                else:
                    value = _simple_sequence(inside, pos + 1, column)
                pos += 1
            else:
                value, pos = self.value(rest, pos, column, indent, True)
            if text in entries:
                if entries.duplicates is None:
                    entries.duplicates = []
                entries.duplicates.append((key, entries[text][0]))
            else:
                entries[text] = (key, value)
        self.depth -= 1
        return node, pos

    def key(self, body: str, pos: int, indent: int) -> tuple[Node, int]:
        """Read the key at the start of ``body``; return its node and the index after ``:``."""
        first = body[0]
        if first == '"':
            text, end = _double_quoted(body, 0)
            plain = False
        elif first == "'":
            text, end = _single_quoted(body, 0)
            plain = False
        else:
            if first in _PLAIN_BAD_START:
                raise _Fallback
            end = body.find(":")
            text = body[:end]
            if end < 0 or text[-1] == " " or " #" in text or _flow_indicator().search(text):
                raise _Fallback
            plain = True
        if body[end : end + 1] != ":" or body[end + 1 : end + 2] not in ("", " "):
            raise _Fallback
        return (SCALAR, text, pos + 1, indent + 1, plain), end + 1

    def nested(self, pos: int, indent: int, key: Node) -> tuple[Node, int]:
        """Read the block under ``key:``: a deeper mapping, a list, or nothing (null)."""
        start = self.skip(pos)
        if start >= self.count:
            return (SCALAR, "", key[2], key[3], True), pos
        line = self.lines[start]
        body = line.lstrip(" ")
        here = len(line) - len(body)
        is_item = body[:2] == "- " or body == "-"
        if here > indent:
            return self.sequence(start, here, False) if is_item else self.mapping(start, here)
        if here == indent and is_item:
            return self.sequence(start, indent, True)
        return (SCALAR, "", key[2], key[3], True), pos

    def sequence(self, pos: int, indent: int, indentless: bool) -> tuple[Node, int]:
        self.enter()
        lines = self.lines
        items: list[Node] = []
        node: Node = (SEQ, items, pos + 1, indent + 1, False)
        while True:
            pos = self.skip(pos)
            if pos >= self.count:
                break
            line = lines[pos]
            body = line.lstrip(" ")
            here = len(line) - len(body)
            if here < indent:
                break
            if here > indent:
                raise _Fallback
            if body[:2] != "- ":
                if indentless and body != "-":
                    break
                raise _Fallback
            item = body[2:].lstrip(" ")
            if not item or item[0] == "#" or item[:2] == "- " or item[0] == "|":
                raise _Fallback
            column = indent + len(body) - len(item) + 1
            value, pos = self.value(item, pos, column, indent, False)
            items.append(value)
        self.depth -= 1
        return node, pos

    def value(
        self, rest: str, pos: int, column: int, indent: int, block_ok: bool
    ) -> tuple[Node, int]:
        """Read a value written on its key's (or dash's) line; ``pos`` is that line."""
        line = pos + 1
        first = rest[0]
        if first == '"' or first == "'":
            text, end = (_double_quoted if first == '"' else _single_quoted)(rest, 0)
            _check_tail(rest, end)
            return (SCALAR, text, line, column, False), pos + 1
        if first == "[":
            inside = _simple_sequence_items(rest)
            if inside is not None:
                return _simple_sequence(inside, line, column), pos + 1
        if first == "{":
            found = _simple_flow_mapping(rest, line, column)
            if found is not None:
                return found, pos + 1
        if first == "[" or first == "{":
            node, end = _Flow(rest, line, column - 1).collection(0)
            _check_tail(rest, end)
            return node, pos + 1
        if first == "|" and block_ok:
            return self.literal(rest, pos, column, indent)
        if first in _PLAIN_BAD_START:
            raise _Fallback
        cut = rest.find(" #")
        text = (rest if cut < 0 else rest[:cut]).rstrip(" ")
        if ": " in text or text[-1] == ":":
            raise _Fallback
        return (SCALAR, text, line, column, True), pos + 1

    def literal(self, header: str, pos: int, column: int, indent: int) -> tuple[Node, int]:
        """Read a ``|``, ``|-`` or ``|+`` block scalar from the deeper lines after ``pos``."""
        chomp = header[1:2] if header[1:2] in ("-", "+") else ""
        _check_tail(header, 1 + len(chomp))
        lines, count = self.lines, self.count
        start = pos + 1
        if start >= count:
            raise _Fallback
        first = lines[start]
        content_indent = len(first) - len(first.lstrip(" "))
        if content_indent <= indent or content_indent == len(first):
            raise _Fallback  # empty, or leading blank lines (libyaml's indent detection)
        end = start
        last = start  # one past the last content line
        while end < count:
            text = lines[end]
            if text == "":
                end += 1
                continue
            here = len(text) - len(text.lstrip(" "))
            if here == len(text):
                raise _Fallback  # a line of spaces only
            if here < content_indent:
                if here > indent:
                    raise _Fallback
                break
            end += 1
            last = end
        body = "\n".join(text[content_indent:] for text in lines[start:last])
        if chomp == "-":
            value = body
        elif chomp == "+":
            value = body + "\n" * (1 + end - last)
        else:
            value = body + "\n"
        return (SCALAR, value, pos + 1, column, False), end


class _Flow:
    """One-line flow collections: ``[a, "b"]``, ``{k: v, units: [a]}``; scalars inside."""

    __slots__ = ("line", "offset", "text")

    def __init__(self, text: str, line: int, offset: int) -> None:
        self.text = text
        self.line = line
        self.offset = offset  # column of text[0], minus one

    def spaces(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] == " ":
            pos += 1
        return pos

    def collection(self, pos: int) -> tuple[Node, int]:
        is_map = self.text[pos] == "{"
        close = "}" if is_map else "]"
        column = self.offset + pos + 1
        entries = YMap()
        items: list[Node] = []
        pos = self.spaces(pos + 1)
        if self.text[pos : pos + 1] == close:
            node: Node = (
                (MAP, entries, self.line, column, False)
                if is_map
                else (SEQ, items, self.line, column, False)
            )
            return node, pos + 1
        while True:
            if is_map:
                key, pos = self.scalar(pos, True)
                if self.text[pos : pos + 2] != ": ":
                    raise _Fallback
                value, pos = self.item(self.spaces(pos + 2), False)
                if key[1] in entries:
                    raise _Fallback  # let libyaml's path report it with its line
                entries[key[1]] = (key, value)
            else:
                value, pos = self.item(pos, True)
                items.append(value)
            pos = self.spaces(pos)
            separator = self.text[pos : pos + 1]
            if separator == close:
                break
            if separator != ",":
                raise _Fallback
            pos = self.spaces(pos + 1)
            if self.text[pos : pos + 1] in ("", close):
                raise _Fallback  # a trailing comma
        node = (
            (MAP, entries, self.line, column, False)
            if is_map
            else (SEQ, items, self.line, column, False)
        )
        return node, pos + 1

    def item(self, pos: int, in_sequence: bool) -> tuple[Node, int]:
        if self.text[pos : pos + 1] == "[" and not in_sequence:
            return self.collection(pos)
        return self.scalar(pos, False)

    def scalar(self, pos: int, is_key: bool) -> tuple[Node, int]:
        text = self.text
        first = text[pos : pos + 1]
        column = self.offset + pos + 1
        if first == '"' or first == "'":
            value, end = (_double_quoted if first == '"' else _single_quoted)(text, pos)
            return (SCALAR, value, self.line, column, False), end
        if not first or first in _PLAIN_BAD_START:
            raise _Fallback
        stop = (_flow_key_stop() if is_key else _flow_stop()).search(text, pos)
        end = stop.start() if stop is not None else len(text)
        value = text[pos:end].rstrip(" ")
        if ":" in value or "#" in value:
            raise _Fallback
        end = pos + len(value)
        if is_key and text[end : end + 1] != ":":
            raise _Fallback
        return (SCALAR, value, self.line, column, True), end


# --- libyaml ------------------------------------------------------------------------------

_STR_TAGS: Final = frozenset(("tag:yaml.org,2002:str", "!"))


def compose(text: str) -> Node | None:
    """Parse with libyaml's events (ruamel's C extension) into the same nodes as the fast path."""
    from _ruamel_yaml import CParser
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _compose(CParser(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise YamlSyntaxError(
            message,
            mark.line + 1 if mark is not None else None,
            mark.column + 1 if mark is not None else None,
        ) from None
    except YAMLError as exc:
        # A reader error: a character YAML does not allow.
        position = getattr(exc, "position", None)
        if position is None:
            raise YamlSyntaxError("invalid YAML", None, None) from None
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        raise YamlSyntaxError("a character YAML does not allow", line, column) from None


def _compose(parser: Any) -> Node | None:
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )

    get = parser.get_event
    get()  # stream start
    event = get()
    if event.__class__ is StreamEndEvent:
        return None
    if event.__class__ is not DocumentStartEvent:  # pragma: no cover - libyaml's order
        raise YamlSyntaxError("unexpected YAML event", None, None)
    # An anchor's entry: (node, size, height) with aliases expanded; None while in progress.
    anchors: dict[str, tuple[Node, int, int] | None] = {}
    # Each frame: [container node, its pending key node or None, its anchor, the nodes
    # decoded before it, the deepest level before it]
    stack: list[list[Any]] = []
    # Nodes decoded directly and through aliases, and the deepest level since the innermost
    # open container began (the limits of secretsctl.limits).
    direct = aliased = deepest = 0
    root: Node | None = None
    while True:
        event = get()
        cls = event.__class__
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        node: Node
        if cls is ScalarEvent:
            tag = event.tag
            if tag is not None and tag not in _STR_TAGS:
                raise YamlSyntaxError("YAML tags are not supported", line, column)
            plain = not event.style and tag is None
            node = (SCALAR, event.value, line, column, plain)
            direct += 1
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1, 0)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            if event.tag is not None:
                raise YamlSyntaxError("YAML tags are not supported", line, column)
            if cls is MappingStartEvent:
                node = (MAP, YMap(), line, column, False)
            else:
                node = (SEQ, [], line, column, False)
            if len(stack) >= MAX_NESTING_DEPTH:
                raise YamlLimitError(TOO_DEEP, line, column)
            if event.anchor is not None:
                anchors[event.anchor] = None  # in progress: an alias to it would recurse
            stack.append([node, None, event.anchor, direct + aliased, deepest])
            deepest = len(stack)
            continue
        elif cls is AliasEvent:
            target = anchors.get(event.anchor)
            if target is None:
                raise YamlSyntaxError(
                    "an alias refers to an unknown anchor or to its own container", line, column
                )
            node, size, height = target
            if len(stack) + height > MAX_NESTING_DEPTH:
                raise YamlLimitError(TOO_DEEP, line, column)
            if not alias_expansion_allowed(direct, aliased + size):
                raise YamlLimitError(TOO_MANY_ALIASES, line, column)
            aliased += size
            deepest = max(deepest, len(stack) + height)
        else:  # the end of a mapping or a sequence
            level = len(stack)
            node, _, anchor, decoded_before, deepest_before = stack.pop()
            direct += 1
            if anchor is not None:
                anchors[anchor] = (node, direct + aliased - decoded_before, deepest - level + 1)
            deepest = max(deepest, deepest_before)
        if not stack:
            root = node
            break
        frame = stack[-1]
        container = frame[0]
        if container[0] == SEQ:
            container[1].append(node)
        elif frame[1] is None:
            if node[0] != SCALAR:
                raise YamlSyntaxError("a mapping or a list cannot be a key", node[2], node[3])
            frame[1] = node
        else:
            key = frame[1]
            frame[1] = None
            if node[0] == SCALAR and node[4] and node[1] == "" and cls is ScalarEvent:
                node = (SCALAR, "", key[2], key[3], True)
            entries = container[1]
            if key[1] in entries:
                if entries.duplicates is None:
                    entries.duplicates = []
                entries.duplicates.append((key, entries[key[1]][0]))
            else:
                entries[key[1]] = (key, node)
    get()  # document end
    event = get()
    if event.__class__ is not StreamEndEvent:
        mark = event.start_mark
        raise YamlSyntaxError(
            "the file holds more than one YAML document", mark.line + 1, mark.column + 1
        )
    return root
