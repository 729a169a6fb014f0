"""yaml.v3's node composer (decode.go's parser): events to nodes, moving foot comments.

The fourth stage of the comment reader (:mod:`._yaml_comments`).
"""

from __future__ import annotations

from secretsctl.sops.stores._yaml_load import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    structure_error,
)
from secretsctl.sops.stores._yaml_parse import (
    E_ALIAS,
    E_DOC_END,
    E_DOC_START,
    E_MAP_END,
    E_MAP_START,
    E_SCALAR,
    E_SEQ_END,
    E_SEQ_START,
    E_STREAM_END,
    E_STREAM_START,
    QUOTED_STYLES,
    STYLE_FLOW,
    STYLE_TAGGED,
    Event,
    Parser,
)
from secretsctl.sops.stores._yaml_resolve import (
    MAP_TAG,
    MERGE_TAG,
    SEQ_TAG,
    STR_TAG,
    resolve,
    short_tag,
)
from secretsctl.sops.stores._yaml_scan import ReplayError

# --- nodes (decode.go's parser) ------------------------------------------------------------


class Node:
    """A yaml.v3 node: kind, tag, value, style, comments, position and children."""

    __slots__ = ("alias", "column", "content", "foot", "head", "kind", "line", "line_comment",
                 "style", "tag", "value")  # fmt: skip

    def __init__(self, kind: int, tag: str, value: str, style: int, event: Event) -> None:
        self.kind = kind
        self.tag = tag
        self.value = value
        self.style = style
        self.line = event.start[1] + 1
        self.column = event.start[2] + 1
        self.head = event.head
        self.line_comment = event.line
        self.foot = event.foot
        self.content: list[Node] = []
        self.alias: Node | None = None

    def short_tag(self) -> str:
        """yaml.v3 ``Node.ShortTag``."""
        if self.indicated_string():
            return STR_TAG
        if self.tag in ("", "!"):
            if self.kind == MAPPING:
                return MAP_TAG
            if self.kind == SEQUENCE:
                return SEQ_TAG
            if self.kind == ALIAS:
                return self.alias.short_tag() if self.alias is not None else ""
            if self.kind == SCALAR:
                return resolve("", self.value)[0]
            return ""
        return short_tag(self.tag)

    def indicated_string(self) -> bool:
        """yaml.v3 ``Node.indicatedString``: explicitly a string by tag or quoting."""
        return self.kind == SCALAR and (
            short_tag(self.tag) == STR_TAG
            or (self.tag in ("", "!") and bool(self.style & QUOTED_STYLES))
        )


class Composer:
    """yaml.v3's node composer: events to nodes, with its moves of foot comments."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self.event: Event | None = None
        self.anchors: dict[str, Node] = {}
        # The ids of anchored nodes, and (size, height) of each once complete (for the limits).
        self.anchored: set[int] = set()
        self.expanded: dict[int, tuple[int, int]] = {}
        self.started = False

    def peek(self) -> int:
        if self.event is None:
            event = self.parser.parse()
            if event is None:
                raise ReplayError("ran past the end of the stream")
            self.event = event
        return self.event.typ

    def expect(self, typ: int) -> None:
        if self.peek() != typ:
            raise ReplayError("unexpected event")
        self.event = None

    def parse(self) -> Node | None:
        if not self.started:
            self.expect(E_STREAM_START)
            self.started = True
        typ = self.peek()
        if typ == E_SCALAR:
            return self.scalar()
        if typ == E_ALIAS:
            return self.alias()
        if typ == E_MAP_START:
            return self.mapping()
        if typ == E_SEQ_START:
            return self.sequence()
        if typ == E_DOC_START:
            return self.document()
        if typ == E_STREAM_END:
            return None
        raise ReplayError("unexpected event")

    def node(self, kind: int, default_tag: str, tag: str, value: str) -> Node:
        event = self.event
        assert event is not None  # noqa: S101 - peeked by the caller
        style = 0
        if tag and tag != "!":
            tag = short_tag(tag)
            style = STYLE_TAGGED
        elif default_tag:
            tag = default_tag
        elif kind == SCALAR:
            tag = resolve("", value)[0]
        else:
            tag = ""
        return Node(kind, tag, value, style, event)

    def document(self) -> Node:
        node = self.node(0, "", "", "")
        self.expect(E_DOC_START)
        child = self.parse()
        if child is None:
            raise ReplayError("document without content")
        node.content.append(child)
        if self.peek() == E_DOC_END:
            assert self.event is not None  # noqa: S101
            node.foot = self.event.foot
        self.expect(E_DOC_END)
        return node

    def alias(self) -> Node:
        assert self.event is not None  # noqa: S101
        node = self.node(ALIAS, "", "", self.event.anchor or "")
        target = self.anchors.get(node.value)
        if target is None:
            raise structure_error("unknown anchor referenced", node.line)
        node.alias = target
        self.expect(E_ALIAS)
        return node

    def set_anchor(self, node: Node, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = node
            self.anchored.add(id(node))

    def scalar(self) -> Node:
        event = self.event
        assert event is not None  # noqa: S101
        style = event.style
        default_tag = ""
        if style == 0:
            if event.value == "<<":
                default_tag = MERGE_TAG
        else:
            default_tag = STR_TAG
        node = self.node(SCALAR, default_tag, event.tag, event.value)
        node.style |= style
        self.set_anchor(node, event.anchor)
        self.expect(E_SCALAR)
        return node

    def collection(self, kind: int, default_tag: str, start: int) -> tuple[Node, bool]:
        """Open a sequence or mapping node; return it and whether it is in block style."""
        event = self.event
        assert event is not None  # noqa: S101
        node = self.node(kind, default_tag, event.tag, "")
        node.style |= event.style & STYLE_FLOW
        self.set_anchor(node, event.anchor)
        self.expect(start)
        return node, not event.style & STYLE_FLOW

    def end_comments(self, node: Node) -> None:
        """Give ``node`` the line and foot comments of its end event."""
        end = self.event
        assert end is not None  # noqa: S101
        node.line_comment = end.line
        node.foot = end.foot

    def sequence(self) -> Node:
        node, _ = self.collection(SEQUENCE, SEQ_TAG, E_SEQ_START)
        while self.peek() != E_SEQ_END:
            child = self.parse()
            assert child is not None  # noqa: S101
            node.content.append(child)
        self.end_comments(node)
        self.expect(E_SEQ_END)
        return node

    def mapping(self) -> Node:
        node, block = self.collection(MAPPING, MAP_TAG, E_MAP_START)
        content = node.content
        while self.peek() != E_MAP_END:
            key = self.parse()
            assert key is not None  # noqa: S101
            content.append(key)
            if block and key.foot and len(content) > 2:
                # A foot comment seen before a key belongs to the previous pair when dedented.
                content[-3].foot = key.foot
                key.foot = ""
            value = self.parse()
            assert value is not None  # noqa: S101
            content.append(value)
            if not key.foot and value.foot:
                key.foot = value.foot
                value.foot = ""
        self.end_comments(node)
        if block and node.foot and len(content) > 1:
            content[-2].foot = node.foot
            node.foot = ""
        self.expect(E_MAP_END)
        return node
