r"""Byte-exact YAML output of sops 3.11 (its store driving the yaml.v3 v3.0.4 encoder).

sops turns a tree into yaml.v3 nodes (comments become head and foot comments of keys, items and
containers), every scalar is marshalled through ``Node.Encode`` (which picks its style), and
the encoder's emitter writes the text. This module reproduces the three steps: ``_Events``
walks the tree as sops and ``encoder.node`` do and produces emitter events; ``_Emitter`` is the
emitter's state machine (block collections, empty flow collections, scalar styles, comments,
indentation), written for the events sops produces.

Scalar styles follow ``yaml_emitter_analyze_scalar``/``select_scalar_style``: plain when the
text reads back as the same string, double-quoted for strings that would resolve to another
type or are YAML 1.1 booleans, single-quoted when plain is impossible, a literal block for
text with ``\\n``, double-quoted with escapes for anything else.
"""

from __future__ import annotations

import math

from secretsctl.sops.grammar import GoTime, format_float_g
from secretsctl.sops.stores._yaml_resolve import resolves_to_str
from secretsctl.sops.tree import Branch, Comment

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from typing import Any, Final

# Event kinds.
_DOC_START: Final = 0
_DOC_END: Final = 1
_MAP_START: Final = 2
_MAP_END: Final = 3
_SEQ_START: Final = 4
_SEQ_END: Final = 5
_SCALAR: Final = 6

# Scalar styles.
_PLAIN: Final = 1
_SINGLE: Final = 2
_DOUBLE: Final = 3
_LITERAL: Final = 4

# Emitter states (only those the events below can reach).
_S_FIRST_DOC: Final = 1
_S_DOC_START: Final = 2
_S_DOC_CONTENT: Final = 3
_S_DOC_END: Final = 4
_S_FLOW_SEQ_FIRST: Final = 5
_S_FLOW_MAP_FIRST: Final = 6
_S_BLOCK_SEQ_FIRST: Final = 7
_S_BLOCK_SEQ_ITEM: Final = 8
_S_BLOCK_MAP_FIRST_KEY: Final = 9
_S_BLOCK_MAP_KEY: Final = 10
_S_BLOCK_MAP_SIMPLE_VALUE: Final = 11
_S_BLOCK_MAP_VALUE: Final = 12

_BREAKS: Final = "\r\n\x85\u2028\u2029"
_BINARY_TAG: Final = ("!!", "binary")
_MERGE_TAG: Final = ("!!", "merge")


class _Event:
    # ``rendered``: the exact text of a one-line scalar whose style does not depend on where it
    # is written (printable ASCII without tags), for the emitter's fast path.
    __slots__ = ("foot", "head", "kind", "line", "rendered", "style", "tag", "tail", "value")

    def __init__(
        self,
        kind: int,
        value: str = "",
        style: int = _PLAIN,
        tag: tuple[str, str] | None = None,
        head: str = "",
        foot: str = "",
        tail: str = "",
    ) -> None:
        self.kind = kind
        self.value = value
        self.style = style
        self.tag = tag
        self.head = head
        self.line = ""
        self.foot = foot
        self.tail = tail
        self.rendered: str | None = None


# --- scalar analysis -----------------------------------------------------------------------


class _Analysis:
    """The result of ``yaml_emitter_analyze_scalar``."""

    __slots__ = ("block_allowed", "block_plain", "flow_plain", "multiline", "single_allowed")

    def __init__(
        self, multiline: bool, flow_plain: bool, block_plain: bool, single: bool, block: bool
    ) -> None:
        self.multiline = multiline
        self.flow_plain = flow_plain
        self.block_plain = block_plain
        self.single_allowed = single
        self.block_allowed = block


_EMPTY_ANALYSIS: Final = _Analysis(False, False, True, True, False)
_START_INDICATORS: Final = frozenset("#,[]{}&*!|>'\"%@`")
_INNER_FLOW_INDICATORS: Final = frozenset(",?[]{}:")


def _is_simple(value: str) -> bool:
    """Whether ``value`` is printable ASCII without leading or trailing space.

    The overwhelmingly common case.
    """
    return (
        value != ""
        and value[0] != " "
        and value[-1] != " "
        and value.isascii()
        and value.isprintable()
    )


def _is_printable(code: int) -> bool:
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


def _analyze(value: str) -> _Analysis:
    if not value:
        return _EMPTY_ANALYSIS
    if _is_simple(value):
        block_ind = _block_indicators(value)
        return _Analysis(False, not _flow_indicators(value, block_ind), not block_ind, True, True)
    return _analyze_slow(value)


def _block_indicators(value: str) -> bool:
    """For printable one-line ASCII: whether plain style is impossible in block context."""
    first, second = value[:1], value[1:2]
    return (
        first in _START_INDICATORS
        or value[:3] in ("---", "...")
        or (first in ("-", "?", ":") and second in ("", " "))
        or ": " in value
        or " #" in value
        or (len(value) > 1 and value[-1] == ":")
    )


def _flow_indicators(value: str, block_ind: bool) -> bool:
    """For printable one-line ASCII: whether plain style is impossible in flow context."""
    return block_ind or value[:1] in ("?", ":") or not _INNER_FLOW_INDICATORS.isdisjoint(value[1:])


def _analyze_slow(value: str) -> _Analysis:
    block_ind = flow_ind = line_breaks = special = tabs = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    if value[:3] in ("---", "..."):
        block_ind = flow_ind = True
    preceded_by_ws = True
    last = len(value) - 1
    for i, char in enumerate(value):
        followed_by_ws = i == last or value[i + 1] in " \t\r\n\x85\u2028\u2029"
        if i == 0:
            if char in "#,[]{}&*!|>'\"%@`":
                flow_ind = block_ind = True
            elif char in "?:":
                flow_ind = True
                if followed_by_ws:
                    block_ind = True
            elif char == "-" and followed_by_ws:
                flow_ind = block_ind = True
        elif char in ",?[]{}":
            flow_ind = True
        elif char == ":":
            flow_ind = True
            if followed_by_ws:
                block_ind = True
        elif char == "#" and preceded_by_ws:
            flow_ind = block_ind = True
        if char == "\t":
            tabs = True
        elif not _is_printable(ord(char)):
            special = True
        if char == " ":
            leading_space = leading_space or i == 0
            trailing_space = i == last
            break_space = break_space or previous_break
            previous_space, previous_break = True, False
        elif char in _BREAKS:
            line_breaks = True
            leading_break = leading_break or i == 0
            trailing_break = i == last
            space_break = space_break or previous_space
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded_by_ws = char in " \t\r\n\x85\u2028\u2029\x00"
    flow_plain = block_plain = single = block = True
    if leading_space or leading_break or trailing_space or trailing_break:
        flow_plain = block_plain = False
    if trailing_space:
        block = False
    if break_space:
        flow_plain = block_plain = single = False
    if space_break or tabs or special:
        flow_plain = block_plain = single = False
    if space_break or special:
        block = False
    if line_breaks:
        flow_plain = block_plain = False
    if flow_ind:
        flow_plain = False
    if block_ind:
        block_plain = False
    return _Analysis(line_breaks, flow_plain, block_plain, single, block)


# --- tree -> events (sops appendTreeBranch/appendSequence + yaml.v3 encoder.node) ----------

_OLD_BOOLS: Final = frozenset(
    ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
     "n", "N", "no", "No", "NO", "off", "Off", "OFF")
)  # fmt: skip


def _is_valid_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _raw_bytes(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _encode_base64(data: bytes) -> str:
    """Encode as yaml.v3's ``encodeBase64``: lines of 70, each ending in LF if several."""
    import base64

    text = base64.b64encode(data).decode("ascii")
    if len(text) // 70 + 1 <= 1:
        return text
    return "".join(text[i : i + 70] + "\n" for i in range(0, len(text), 70))


def _string_event(value: str) -> _Event:
    """Present a string as ``Node.Encode`` then ``encoder.node`` do (stringv's style choice)."""
    if _is_simple(value):
        # Printable ASCII on one line: its final style is known now, in any block context.
        if value == "<<":
            return _Event(_SCALAR, value, _PLAIN, _MERGE_TAG)
        if resolves_to_str(value) and value not in _OLD_BOOLS and not _is_base60(value):
            event = _Event(_SCALAR, value, _PLAIN)
            if _block_indicators(value):
                event.rendered = "'" + value.replace("'", "''") + "'"
            else:
                event.rendered = value
            return event
        event = _Event(_SCALAR, value, _DOUBLE)
        event.rendered = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return event
    if not _is_valid_utf8(value):
        text = _encode_base64(_raw_bytes(value))
        return _Event(_SCALAR, text, _LITERAL if "\n" in text else _PLAIN, _BINARY_TAG)
    if "\n" in value:
        return _Event(_SCALAR, value, _LITERAL)
    if resolves_to_str(value) and value not in _OLD_BOOLS and not _is_base60(value):
        return _Event(_SCALAR, value, _PLAIN)
    return _Event(_SCALAR, value, _DOUBLE)


def _is_base60(value: str) -> bool:
    """Whether ``value`` is a YAML 1.1 sexagesimal number (``190:20:30.15``).

    That is ``[-+]?D[D_]*(:[0-5]?D)+(\\.[D_]*)?`` with ASCII digits D.
    """
    if ":" not in value or not value.isascii():
        return False
    whole, _, rest = (value[1:] if value[0] in ("+", "-") else value).partition(":")
    sexagesimal, _, fraction = rest.partition(".")
    fraction = fraction.replace("_", "")
    return (
        whole[:1].isdigit()
        and whole.replace("_", "").isdigit()
        and all(
            part.isdigit() and (len(part) == 1 or (len(part) == 2 and part[0] <= "5"))
            for part in sexagesimal.split(":")
        )
        and (not fraction or fraction.isdigit())
    )


def _plain_event(text: str) -> _Event:
    event = _Event(_SCALAR, text)
    event.rendered = text
    return event


def _scalar_event(value: Any) -> _Event:
    cls = value.__class__
    if cls is str:
        return _string_event(value)
    if cls is bool:
        return _plain_event("true" if value else "false")
    if cls is int:
        return _plain_event(str(value))
    if cls is float:
        if math.isnan(value):
            return _plain_event(".nan")
        if math.isinf(value):
            return _plain_event(".inf" if value > 0 else "-.inf")
        return _plain_event(format_float_g(value))
    if value is None:
        return _plain_event("null")
    if cls is GoTime:
        return _plain_event(value.text)
    if cls is bytes:
        # Raw bytes are a Go string: text when valid UTF-8, !!binary otherwise.
        return _string_event(value.decode("utf-8", "surrogateescape"))
    if isinstance(value, str):
        return _string_event(str(value))
    if isinstance(value, bool):
        return _plain_event("true" if value else "false")
    if isinstance(value, int):
        return _plain_event(str(int(value)))
    if isinstance(value, float):
        return _scalar_event(float(value))
    raise TypeError(f"cannot write a value of type {type(value).__name__} as YAML")


def _join_comments(comments: list[str]) -> str:
    return "#" + "\n#".join(comments)


class _Events:
    """Build the emitter events of one document from a sops tree.

    ``signed_zero`` writes a float -0.0 as ``-0.0`` instead of yaml.v3's ``-0``, which reads
    back as the int 0: in an encrypted file such a value is unencrypted and part of the MAC
    (as ``-0``), so sops's own ``-0`` makes the file fail its MAC check.
    """

    def __init__(self, signed_zero: bool = False) -> None:
        self.out: list[_Event] = []
        self.signed_zero = signed_zero

    def value(self, value: Any, head: str = "", tail: str = "") -> _Event | None:
        """Append the events of ``value``; return its last event (where a foot attaches)."""
        if isinstance(value, Branch):
            return self.mapping(value, head, tail)
        if isinstance(value, list):
            return self.sequence(value, head)
        if isinstance(value, Comment):
            # sops marshals a stray Comment as its struct: {value: <text>}.
            return self.mapping(Branch([("value", value.text)]), head, tail)
        if self.signed_zero and value.__class__ is float and value == 0 and str(value)[0] == "-":
            event = _plain_event("-0.0")
        else:
            event = _scalar_event(value)
        event.head = head
        event.tail = tail
        self.out.append(event)
        return event

    def mapping(self, branch: Branch, head: str = "", tail: str = "") -> _Event:
        out = self.out
        start = _Event(_MAP_START, tail=tail)
        out.append(start)
        comments: list[str] = []
        beginning = True
        key_foot = ""
        for key, val in branch:
            if key.__class__ is Comment:
                comments.append(key.text)
                continue
            key_head = ""
            if comments:
                if beginning:
                    start.head = _join_comments(comments)
                else:
                    key_head = _join_comments(comments)
                comments = []
            beginning = False
            key_event = _scalar_event(key)
            key_event.head = key_head
            key_event.tail = key_foot
            key_foot = ""
            out.append(key_event)
            self.value(val)
        if comments:
            if beginning:
                start.head = _join_comments(comments)
            else:
                key_foot = _join_comments(comments)
        if head:
            # The container's own leading comments follow the ones its parent gave it.
            start.head = head + "\n" + start.head if start.head else head
        end = _Event(_MAP_END, tail=key_foot)
        out.append(end)
        return end

    def sequence(self, items: list[Any], head: str = "") -> _Event:
        out = self.out
        start = _Event(_SEQ_START)
        out.append(start)
        comments: list[str] = []
        beginning = True
        last: _Event | None = None
        for item in items:
            if item.__class__ is Comment:
                comments.append(item.text)
                continue
            item_head = ""
            if comments:
                if beginning:
                    start.head = _join_comments(comments)
                else:
                    item_head = _join_comments(comments)
                comments = []
            beginning = False
            last = self.value(item, item_head)
        if comments:
            if beginning or last is None:
                start.head = _join_comments(comments)
            else:
                # The item's FootComment: on the scalar itself, or on its container's end event.
                joined = _join_comments(comments)
                last.foot = last.foot + "\n" + joined if last.foot else joined
        if head:
            start.head = head + "\n" + start.head if start.head else head
        end = _Event(_SEQ_END)
        out.append(end)
        return end


# --- the emitter ---------------------------------------------------------------------------

_DQ_ESCAPES: Final = {
    0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f", 0x0D: "r",
    0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L", 0x2029: "P",
}  # fmt: skip
# Characters written as escapes in double quotes (compiled on first use: the negated Unicode
# class costs milliseconds, and most files never need it).
_DQ_NEEDS_ESCAPE: Final = (
    "[^\n -~\u00a0-\ud7ff\ue000-\ufeff\uff00-\ufffd]"  # not printable
    '|[\n"\\\\\ufeff\u2028\u2029\x85]'  # breaks, quote, backslash, byte-order mark
)


def _dq_needs_escape_pattern() -> re.Pattern[str]:
    import re  # on first use only: the boot path does without re

    return re.compile(_DQ_NEEDS_ESCAPE)


def _escape_char(char: str) -> str:
    code = ord(char)
    short = _DQ_ESCAPES.get(code)
    if short is not None:
        return "\\" + short
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _escape_match(match: re.Match[str]) -> str:
    return _escape_char(match.group())


class _Emitter:
    """yaml.v3's emitter state machine for the event streams sops produces."""

    def __init__(self, events: list[_Event], best_indent: int) -> None:
        self.events = events
        self.pos = 0
        self.best_indent = best_indent if 2 <= best_indent <= 9 else 2
        self.buf: list[str] = []
        self.state = _S_FIRST_DOC
        self.states: list[int] = []
        self.indent = -1
        self.indents: list[int] = []
        self.flow_level = 0
        self.line = 0
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.open_ended = False
        self.foot_indent = -1
        self.simple_key_context = False
        self.head_comment = ""
        self.line_comment = ""
        self.foot_comment = ""
        self.tail_comment = ""
        self.key_line_comment = ""
        self.analysis: _Analysis = _EMPTY_ANALYSIS
        self.scalar_style = _PLAIN

    # -- output primitives --

    def put(self, text: str) -> None:
        self.buf.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.buf.append("\n")
        self.column = 0
        self.line += 1
        self.indention = True

    def write_break(self, char: str) -> None:
        if char == "\n":
            self.put_break()
        else:
            self.buf.append(char)
            self.column = 0
            self.line += 1
            self.indention = True

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.put_break()
        if self.foot_indent == indent:
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True
        self.foot_indent = -1

    def write_indicator(
        self, indicator: str, need_whitespace: bool, is_whitespace: bool, is_indention: bool
    ) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(indicator)
        self.whitespace = is_whitespace
        self.indention = self.indention and is_indention
        self.open_ended = False

    def write_comment(self, comment: str) -> None:
        breaks = False
        pound = False
        start = 0
        length = len(comment)
        i = 0
        while i < length:
            char = comment[i]
            if char in _BREAKS:
                if start < i:
                    self.put(comment[start:i])
                self.write_break(char)
                breaks, pound = True, False
                i += 1
                start = i
                continue
            if breaks:
                self.write_indent()
            if not pound:
                if char != "#":
                    self.put("# ")
                pound = True
            self.indention = False
            breaks = False
            i += 1
        if start < length:
            self.put(comment[start:])
            self.indention = False
        if not breaks:
            self.put_break()
        self.whitespace = True

    # -- comments --

    def process_head_comment(self) -> None:
        if self.tail_comment:
            self.write_indent()
            self.write_comment(self.tail_comment)
            self.tail_comment = ""
            self.foot_indent = max(self.indent, 0)
        if not self.head_comment:
            return
        self.write_indent()
        self.write_comment(self.head_comment)
        self.head_comment = ""

    def process_line_comment(self, linebreak: bool = False) -> None:
        if not self.line_comment:
            if linebreak:
                self.put_break()
            return
        if not self.whitespace:
            self.put(" ")
        self.write_comment(self.line_comment)
        self.line_comment = ""

    def process_foot_comment(self) -> None:
        if not self.foot_comment:
            return
        self.write_indent()
        self.write_comment(self.foot_comment)
        self.foot_comment = ""
        self.foot_indent = max(self.indent, 0)

    # -- driver --

    def run(self) -> str:
        events = self.events
        count = len(events)
        buf = self.buf
        while self.pos < count:
            event = events[self.pos]
            if self.state == _S_BLOCK_MAP_KEY and event.rendered is not None:
                following = events[self.pos + 1]
                if (
                    following.rendered is not None
                    and not (event.head or event.tail or following.head or following.tail)
                    and not (following.foot or event.foot)
                    and not (self.head_comment or self.line_comment or self.foot_comment)
                    and not (self.tail_comment or self.key_line_comment)
                    and len(event.value) <= 128
                ):
                    # A one-line key and value: what block_mapping_key, emit_scalar and
                    # block_mapping_value write for them, without the state changes that
                    # cancel out.
                    indent = self.indent
                    if (
                        not self.indention
                        or self.column > indent
                        or (self.column == indent and not self.whitespace)
                    ):
                        buf.append("\n")
                        self.column = 0
                        self.line += 1
                    if self.foot_indent == indent:
                        buf.append("\n")
                        self.column = 0
                        self.line += 1
                    text = " " * (indent - self.column) + event.rendered + ": " + following.rendered
                    buf.append(text)
                    self.column += len(text)
                    self.whitespace = False
                    self.indention = False
                    self.open_ended = False
                    self.foot_indent = -1
                    self.pos += 2
                    continue
            self.analyze(event)
            self.dispatch(event)
            self.pos += 1
        return "".join(buf)

    def analyze(self, event: _Event) -> None:
        if event.head:
            self.head_comment = event.head
        if event.line:
            self.line_comment = event.line
        if event.foot:
            self.foot_comment = event.foot
        if event.tail:
            self.tail_comment = event.tail
        if event.kind == _SCALAR:
            self.analysis = _analyze(event.value)

    def peek(self, offset: int = 1) -> _Event | None:
        index = self.pos + offset
        return self.events[index] if index < len(self.events) else None

    def dispatch(self, event: _Event) -> None:
        state = self.state
        if state == _S_BLOCK_MAP_KEY:
            self.block_mapping_key(event, False)
        elif state == _S_BLOCK_MAP_SIMPLE_VALUE:
            self.block_mapping_value(event, True)
        elif state == _S_BLOCK_SEQ_ITEM:
            self.block_sequence_item(event, False)
        elif state == _S_BLOCK_MAP_FIRST_KEY:
            self.block_mapping_key(event, True)
        elif state == _S_BLOCK_MAP_VALUE:
            self.block_mapping_value(event, False)
        elif state == _S_BLOCK_SEQ_FIRST:
            self.block_sequence_item(event, True)
        elif state == _S_FLOW_SEQ_FIRST:
            self.flow_sequence_item(event)
        elif state == _S_FLOW_MAP_FIRST:
            self.flow_mapping_key(event)
        elif state in (_S_FIRST_DOC, _S_DOC_START):
            self.document_start(event, state == _S_FIRST_DOC)
        elif state == _S_DOC_CONTENT:
            self.document_content(event)
        elif state == _S_DOC_END:
            self.document_end(event)
        else:  # pragma: no cover - the event builders never produce other streams
            raise AssertionError("unexpected emitter state")

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = self.best_indent if flow else 0
        elif not indentless:
            if self.states and self.states[-1] == _S_BLOCK_SEQ_ITEM:
                self.indent += 2
            else:
                best = self.best_indent
                self.indent = best * ((self.indent + best) // best)

    def pop_state(self) -> None:
        self.state = self.states.pop()

    # -- documents --

    def document_start(self, event: _Event, first: bool) -> None:
        if event.kind != _DOC_START:
            raise AssertionError("expected DOCUMENT-START")
        if not first:
            self.write_indent()
            self.write_indicator("---", True, False, False)
            self.write_indent()
        if self.head_comment:
            self.process_head_comment()
            self.put_break()
        self.state = _S_DOC_CONTENT

    def document_content(self, event: _Event) -> None:
        self.states.append(_S_DOC_END)
        self.process_head_comment()
        self.emit_node(event, root=True, simple_key=False)
        self.process_line_comment()
        self.process_foot_comment()

    def document_end(self, event: _Event) -> None:
        if event.kind != _DOC_END:
            raise AssertionError("expected DOCUMENT-END")
        self.foot_indent = 0
        self.process_foot_comment()
        self.foot_indent = -1
        self.write_indent()
        self.state = _S_DOC_START

    # -- collections --

    def flow_sequence_item(self, event: _Event) -> None:
        # Only empty sequences are written in flow style.
        self.write_indicator("[", True, True, False)
        self.increase_indent(True, False)
        if event.kind != _SEQ_END:
            raise AssertionError("only empty flow sequences are supported")
        self.indent = self.indents.pop()
        if self.column == 0:
            self.write_indent()
        self.write_indicator("]", False, False, False)
        self.process_line_comment()
        self.process_foot_comment()
        self.pop_state()

    def flow_mapping_key(self, event: _Event) -> None:
        self.write_indicator("{", True, True, False)
        self.increase_indent(True, False)
        if event.kind != _MAP_END:
            raise AssertionError("only empty flow mappings are supported")
        self.process_head_comment()
        self.indent = self.indents.pop()
        self.write_indicator("}", False, False, False)
        self.process_line_comment()
        self.process_foot_comment()
        self.pop_state()

    def block_sequence_item(self, event: _Event, first: bool) -> None:
        if first:
            self.increase_indent(False, False)
        if event.kind == _SEQ_END:
            self.indent = self.indents.pop()
            self.pop_state()
            return
        self.process_head_comment()
        self.write_indent()
        self.write_indicator("-", True, False, True)
        self.states.append(_S_BLOCK_SEQ_ITEM)
        self.emit_node(event, root=False, simple_key=False)
        self.process_line_comment()
        self.process_foot_comment()

    def block_mapping_key(self, event: _Event, first: bool) -> None:
        if first:
            self.increase_indent(False, False)
        self.process_head_comment()
        if event.kind == _MAP_END:
            self.indent = self.indents.pop()
            self.pop_state()
            return
        self.write_indent()
        if self.line_comment:
            self.key_line_comment = self.line_comment
            self.line_comment = ""
        if self.check_simple_key(event):
            self.states.append(_S_BLOCK_MAP_SIMPLE_VALUE)
            self.emit_node(event, root=False, simple_key=True)
            return
        self.write_indicator("?", True, False, True)
        self.states.append(_S_BLOCK_MAP_VALUE)
        self.emit_node(event, root=False, simple_key=False)

    def block_mapping_value(self, event: _Event, simple: bool) -> None:
        if simple:
            self.write_indicator(":", False, False, False)
        else:
            self.write_indent()
            self.write_indicator(":", True, False, True)
        if self.key_line_comment:
            if event.kind == _SCALAR:
                if not self.line_comment:
                    self.line_comment = self.key_line_comment
                    self.key_line_comment = ""
            elif event.kind in (_MAP_START, _SEQ_START):
                self.line_comment, self.key_line_comment = self.key_line_comment, self.line_comment
                self.process_line_comment()
                self.line_comment, self.key_line_comment = self.key_line_comment, self.line_comment
        self.states.append(_S_BLOCK_MAP_KEY)
        self.emit_node(event, root=False, simple_key=False)
        self.process_line_comment()
        self.process_foot_comment()

    def check_simple_key(self, event: _Event) -> bool:
        kind = event.kind
        length = 0
        if kind == _SCALAR:
            if self.analysis.multiline:
                return False
            if event.tag is not None:
                length += len(event.tag[0]) + len(event.tag[1])
            value = event.value
            length += len(value) if len(value) <= 32 else len(_raw_bytes(value))
        elif kind == _SEQ_START:
            if not self.next_is(_SEQ_END):
                return False
        elif kind == _MAP_START:
            if not self.next_is(_MAP_END):
                return False
        else:
            return False
        return length <= 128

    def next_is(self, kind: int) -> bool:
        following = self.peek()
        return following is not None and following.kind == kind

    # -- nodes --

    def emit_node(self, event: _Event, root: bool, simple_key: bool) -> None:
        self.simple_key_context = simple_key
        kind = event.kind
        if kind == _SCALAR:
            self.emit_scalar(event, root)
        elif kind == _SEQ_START:
            if self.flow_level or self.next_is(_SEQ_END):
                self.state = _S_FLOW_SEQ_FIRST
            else:
                self.state = _S_BLOCK_SEQ_FIRST
        elif kind == _MAP_START:
            if self.flow_level or self.next_is(_MAP_END):
                self.state = _S_FLOW_MAP_FIRST
            else:
                self.state = _S_BLOCK_MAP_FIRST_KEY
        else:  # pragma: no cover
            raise AssertionError("expected a node event")

    def select_style(self, event: _Event) -> int:
        analysis = self.analysis
        style = event.style
        if self.simple_key_context and analysis.multiline:
            style = _DOUBLE
        if style == _PLAIN:
            if not analysis.block_plain:
                style = _SINGLE
            if not event.value and self.simple_key_context:
                style = _SINGLE
        if style == _SINGLE and not analysis.single_allowed:
            style = _DOUBLE
        if style == _LITERAL and (not analysis.block_allowed or self.simple_key_context):
            style = _DOUBLE
        return style

    def emit_scalar(self, event: _Event, root: bool) -> None:
        style = self.select_style(event)
        if event.tag is not None:
            # yaml_emitter_write_tag_handle, then the suffix.
            if not self.whitespace:
                self.put(" ")
            self.put(event.tag[0] + event.tag[1])
            self.whitespace = False
            self.indention = False
        self.increase_indent(True, False)
        value = event.value
        if style == _PLAIN:
            if value and not self.whitespace:
                self.put(" ")
            if value:
                self.put(value)
                self.whitespace = False
            self.indention = False
            if root:
                self.open_ended = True
        elif style == _DOUBLE:
            self.write_double_quoted(value)
        elif style == _SINGLE:
            self.write_single_quoted(value)
        else:
            self.write_literal(value)
        self.indent = self.indents.pop()
        self.pop_state()

    def write_single_quoted(self, value: str) -> None:
        self.write_indicator("'", True, False, False)
        if not any(char in _BREAKS for char in value):
            if value:
                self.put(value.replace("'", "''"))
                self.indention = False
        else:
            breaks = False
            for char in value:
                if char == " ":
                    self.put(" ")
                elif char in _BREAKS:
                    if not breaks and char == "\n":
                        self.put_break()
                    self.write_break(char)
                    breaks = True
                    continue
                else:
                    if breaks:
                        self.write_indent()
                    self.put("''" if char == "'" else char)
                    self.indention = False
                breaks = False
        self.write_indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def write_double_quoted(self, value: str) -> None:
        self.write_indicator('"', True, False, False)
        if value.startswith("\ufeff"):
            # yaml.v3's is_bom looks at the first character of the value, not the current one,
            # so a leading BOM escapes every character.
            self.put("".join(_escape_char(char) for char in value))
        elif value:
            self.put(_dq_needs_escape_pattern().sub(_escape_match, value))
        self.write_indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def write_literal(self, value: str) -> None:
        self.write_indicator("|", True, False, False)
        # yaml_emitter_write_block_scalar_hints
        if value[0] == " " or value[0] in _BREAKS:
            self.write_indicator(str(self.best_indent), False, False, False)
        self.open_ended = False
        chomp = ""
        if not value or value[-1] not in _BREAKS:
            chomp = "-"
        elif len(value) == 1 or value[-2] in _BREAKS:
            chomp = "+"
            self.open_ended = True
        if chomp:
            self.write_indicator(chomp, False, False, False)
        self.process_line_comment(linebreak=True)
        self.whitespace = True
        breaks = True
        start = 0
        length = len(value)
        i = 0
        while i < length:
            char = value[i]
            if char in _BREAKS:
                if start < i:
                    self.put(value[start:i])
                self.write_break(char)
                breaks = True
                i += 1
                start = i
                continue
            if breaks:
                self.write_indent()
                breaks = False
            self.indention = False
            i += 1
        if start < length:
            self.put(value[start:])


def emit_documents(documents: list[Branch], indent: int, signed_zero: bool = False) -> str:
    """Write ``documents`` as the yaml.v3 Encoder does for sops's EmitPlainFile.

    ``signed_zero``: see :class:`_Events` (used for encrypted files only).
    """
    if not documents:
        return ""
    builder = _Events(signed_zero)
    out = builder.out
    for document in documents:
        out.append(_Event(_DOC_START))
        builder.mapping(document)
        out.append(_Event(_DOC_END))
    return _Emitter(out, indent).run()


def emit_single_value(value: Any) -> str:
    """``yaml.Marshal`` of the node sops builds for one value (its EmitValue)."""
    builder = _Events()
    builder.out.append(_Event(_DOC_START))
    builder.value(value)
    builder.out.append(_Event(_DOC_END))
    return _Emitter(builder.out, 4).run()
