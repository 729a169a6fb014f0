"""yaml.v3's parser state machine (parserc.go) over the replayed token queue, comments included.

The third stage of the comment reader (:mod:`._yaml_comments`): tokens of
:class:`~._yaml_scan.Scanner` to events, with the same look-ahead as yaml.v3, so the pending
comments go to the same events.
"""

from __future__ import annotations

from typing import Any, Final

from secretsctl.sops.stores._yaml_scan import (
    T_ALIAS,
    T_ANCHOR,
    T_BLOCK_END,
    T_BLOCK_ENTRY,
    T_BMS,
    T_BSS,
    T_DOC_END,
    T_DOC_START,
    T_FLOW_ENTRY,
    T_FME,
    T_FMS,
    T_FSE,
    T_FSS,
    T_KEY,
    T_SCALAR,
    T_STREAM_END,
    T_TAG,
    T_TAG_DIRECTIVE,
    T_VALUE,
    T_VERSION,
    Mark,
    ReplayError,
    Scanner,
)

# Event types.
(
    E_STREAM_START, E_STREAM_END, E_DOC_START, E_DOC_END, E_ALIAS, E_SCALAR, E_SEQ_START,
    E_SEQ_END, E_MAP_START, E_MAP_END,
) = range(1, 11)  # fmt: skip

# Scalar styles (yaml.v3 node styles).
STYLE_TAGGED: Final = 1
STYLE_DOUBLE: Final = 2
STYLE_SINGLE: Final = 4
STYLE_LITERAL: Final = 8
STYLE_FOLDED: Final = 16
STYLE_FLOW: Final = 32
QUOTED_STYLES: Final = STYLE_DOUBLE | STYLE_SINGLE | STYLE_LITERAL | STYLE_FOLDED
_TOKEN_STYLES: Final = {"'": STYLE_SINGLE, '"': STYLE_DOUBLE, "|": STYLE_LITERAL, ">": STYLE_FOLDED}


# --- the parser (parserc.go), over the replayed token queue ---------------------------------


class Event:
    __slots__ = (
        "anchor", "foot", "head", "implicit", "line", "quoted_implicit", "start", "style", "tag",
        "typ", "value",
    )  # fmt: skip

    def __init__(self, typ: int, start: Mark) -> None:
        self.typ = typ
        self.start = start
        self.anchor: str | None = None
        self.tag = ""
        self.value = ""
        self.implicit = False
        self.quoted_implicit = False
        self.style = 0
        self.head = ""
        self.line = ""
        self.foot = ""


_DEFAULT_TAGS: Final = (("!", "!"), ("!!", "tag:yaml.org,2002:"))

# Parser states.
(
    P_STREAM_START, P_IMPLICIT_DOC_START, P_DOC_START, P_DOC_CONTENT, P_DOC_END, P_BLOCK_NODE,
    P_BLOCK_SEQ_FIRST, P_BLOCK_SEQ_ENTRY, P_INDENTLESS_SEQ_ENTRY, P_BLOCK_MAP_FIRST_KEY,
    P_BLOCK_MAP_KEY, P_BLOCK_MAP_VALUE, P_FLOW_SEQ_FIRST, P_FLOW_SEQ_ENTRY,
    P_FLOW_SEQ_MAP_KEY, P_FLOW_SEQ_MAP_VALUE, P_FLOW_SEQ_MAP_END, P_FLOW_MAP_FIRST_KEY,
    P_FLOW_MAP_KEY, P_FLOW_MAP_VALUE, P_FLOW_MAP_EMPTY_VALUE, P_END,
) = range(22)  # fmt: skip


class Parser:
    """yaml.v3's parser state machine (``yaml_parser_parse``), comments included."""

    def __init__(self, scanner: Scanner) -> None:
        self.s = scanner
        self.state = P_STREAM_START
        self.states: list[int] = []
        self.tag_directives: list[tuple[str, str]] = []
        self.done = False

    def set_event_comments(self, event: Event) -> None:
        s = self.s
        event.head = s.head_comment
        event.line = s.line_comment
        event.foot = s.foot_comment
        s.head_comment = s.line_comment = s.foot_comment = s.stem_comment = ""

    def pop_state(self) -> None:
        self.state = self.states.pop()

    def parse(self) -> Event | None:
        if self.done or self.state == P_END:
            return None
        event = self.dispatch()
        if event.typ == E_STREAM_END:
            self.done = True
        return event

    def dispatch(self) -> Event:
        state = self.state
        if state == P_STREAM_START:
            token = self.s.peek_token()
            self.state = P_IMPLICIT_DOC_START
            self.s.skip_token()
            return Event(E_STREAM_START, token.start)
        if state == P_IMPLICIT_DOC_START:
            return self.document_start(True)
        if state == P_DOC_START:
            return self.document_start(False)
        if state == P_DOC_CONTENT:
            token = self.s.peek_token()
            if token.typ in (T_VERSION, T_TAG_DIRECTIVE, T_DOC_START, T_DOC_END, T_STREAM_END):
                self.pop_state()
                return self.empty_scalar(token.start)
            return self.parse_node(True, False)
        if state == P_DOC_END:
            return self.document_end()
        if state == P_BLOCK_NODE:
            return self.parse_node(True, False)
        if state in (P_BLOCK_SEQ_FIRST, P_BLOCK_SEQ_ENTRY):
            return self.block_sequence_entry(state == P_BLOCK_SEQ_FIRST)
        if state == P_INDENTLESS_SEQ_ENTRY:
            return self.indentless_sequence_entry()
        if state in (P_BLOCK_MAP_FIRST_KEY, P_BLOCK_MAP_KEY):
            return self.block_mapping_key(state == P_BLOCK_MAP_FIRST_KEY)
        if state == P_BLOCK_MAP_VALUE:
            return self.mapping_value((T_KEY, T_VALUE, T_BLOCK_END), P_BLOCK_MAP_KEY, True)
        if state in (P_FLOW_SEQ_FIRST, P_FLOW_SEQ_ENTRY):
            return self.flow_sequence_entry(state == P_FLOW_SEQ_FIRST)
        if state == P_FLOW_SEQ_MAP_KEY:
            return self.flow_sequence_entry_mapping_key()
        if state == P_FLOW_SEQ_MAP_VALUE:
            return self.mapping_value((T_FLOW_ENTRY, T_FSE), P_FLOW_SEQ_MAP_END, False)
        if state == P_FLOW_SEQ_MAP_END:
            token = self.s.peek_token()
            self.state = P_FLOW_SEQ_ENTRY
            return Event(E_MAP_END, token.start)
        if state in (P_FLOW_MAP_FIRST_KEY, P_FLOW_MAP_KEY):
            return self.flow_mapping_key(state == P_FLOW_MAP_FIRST_KEY)
        if state == P_FLOW_MAP_VALUE:
            return self.mapping_value((T_FLOW_ENTRY, T_FME), P_FLOW_MAP_KEY, False)
        if state == P_FLOW_MAP_EMPTY_VALUE:
            self.state = P_FLOW_MAP_KEY
            return self.empty_scalar(self.s.peek_token().start)
        raise ReplayError("invalid parser state")

    def document_start(self, implicit: bool) -> Event:
        s = self.s
        token = s.peek_token()
        if not implicit:
            while token.typ == T_DOC_END:
                s.skip_token()
                token = s.peek_token()
        if implicit and token.typ not in (T_VERSION, T_TAG_DIRECTIVE, T_DOC_START, T_STREAM_END):
            self.process_directives()
            self.states.append(P_DOC_END)
            self.state = P_BLOCK_NODE
            head = ""
            pending = s.head_comment
            if pending:
                # The part before the last empty line heads the document; the rest stays.
                for i in range(len(pending) - 1, 0, -1):
                    if pending[i] == "\n":
                        if i == len(pending) - 1:
                            head, s.head_comment = pending[:i], pending[i + 1 :]
                            break
                        if pending[i - 1] == "\n":
                            head, s.head_comment = pending[: i - 1], pending[i + 1 :]
                            break
            event = Event(E_DOC_START, token.start)
            event.head = head
            return event
        if token.typ != T_STREAM_END:
            start = token.start
            self.process_directives()
            token = s.peek_token()
            if token.typ != T_DOC_START:
                raise ReplayError("expected document start")
            self.states.append(P_DOC_END)
            self.state = P_DOC_CONTENT
            s.skip_token()
            return Event(E_DOC_START, start)
        self.state = P_END
        s.skip_token()
        return Event(E_STREAM_END, token.start)

    def document_end(self) -> Event:
        s = self.s
        token = s.peek_token()
        start = token.start
        if token.typ == T_DOC_END:
            s.skip_token()
        self.tag_directives = []
        self.state = P_DOC_START
        event = Event(E_DOC_END, start)
        self.set_event_comments(event)
        if event.head and not event.foot:
            event.foot, event.head = event.head, ""
        return event

    def process_directives(self) -> None:
        s = self.s
        token = s.peek_token()
        while token.typ in (T_VERSION, T_TAG_DIRECTIVE):
            if token.typ == T_TAG_DIRECTIVE:
                handle, prefix = token.src.value
                self.tag_directives.append((handle, prefix))
            s.skip_token()
            token = s.peek_token()
        for handle, prefix in _DEFAULT_TAGS:
            if all(existing != handle for existing, _ in self.tag_directives):
                self.tag_directives.append((handle, prefix))

    def empty_scalar(self, mark: Mark) -> Event:
        event = Event(E_SCALAR, mark)
        event.implicit = True
        return event

    def parse_node(self, block: bool, indentless_sequence: bool) -> Event:
        s = self.s
        token = s.peek_token()
        if token.typ == T_ALIAS:
            self.pop_state()
            event = Event(E_ALIAS, token.start)
            event.anchor = token.src.value
            self.set_event_comments(event)
            s.skip_token()
            return event
        start = token.start
        anchor: str | None = None
        tag_token: Any = None
        # An anchor and a tag, each at most once, in either order.
        while (token.typ == T_ANCHOR and anchor is None) or (
            token.typ == T_TAG and tag_token is None
        ):
            if token.typ == T_ANCHOR:
                anchor = token.src.value
            else:
                tag_token = token.src.value
            s.skip_token()
            token = s.peek_token()
        tag = ""
        if tag_token is not None:
            handle, suffix = tag_token
            if not handle:
                tag = suffix or ""
            else:
                for known, prefix in self.tag_directives:
                    if known == handle:
                        tag = prefix + (suffix or "")
                        break
        implicit = not tag
        typ = token.typ
        if indentless_sequence and typ == T_BLOCK_ENTRY:
            self.state = P_INDENTLESS_SEQ_ENTRY
            event = Event(E_SEQ_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            return event
        if typ == T_SCALAR:
            src = token.src
            style = _TOKEN_STYLES.get(src.style or "", 0)
            event = Event(E_SCALAR, start)
            if (not tag and style == 0) or tag == "!":
                event.implicit = True
            elif not tag:
                event.quoted_implicit = True
            self.pop_state()
            event.anchor, event.tag, event.value, event.style = anchor, tag, src.value, style
            self.set_event_comments(event)
            s.skip_token()
            return event
        if typ in (T_FSS, T_FMS):
            self.state = P_FLOW_SEQ_FIRST if typ == T_FSS else P_FLOW_MAP_FIRST_KEY
            event = Event(E_SEQ_START if typ == T_FSS else E_MAP_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            event.style = STYLE_FLOW
            self.set_event_comments(event)
            return event
        if block and typ in (T_BSS, T_BMS):
            self.state = P_BLOCK_SEQ_FIRST if typ == T_BSS else P_BLOCK_MAP_FIRST_KEY
            event = Event(E_SEQ_START if typ == T_BSS else E_MAP_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            if s.stem_comment:
                event.head = s.stem_comment
                s.stem_comment = ""
            return event
        if anchor is not None or tag:
            self.pop_state()
            event = Event(E_SCALAR, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            return event
        raise ReplayError("did not find expected node content")

    def split_stem_comment(self, stem_len: int) -> None:
        if stem_len == 0:
            return
        s = self.s
        token = s.peek_token()
        if token.typ not in (T_BSS, T_BMS):
            return
        s.stem_comment = s.head_comment[:stem_len]
        s.head_comment = s.head_comment[stem_len + 1 :]

    def entry_token(self, first: bool) -> Any:
        """Peek at the token of a collection's next entry; the first skips the start token."""
        s = self.s
        if first:
            s.peek_token()
            s.skip_token()
        return s.peek_token()

    def node_or_empty(
        self,
        stops: tuple[int, ...],
        then: int,
        block: bool,
        indentless_sequence: bool,
        mark: Mark | None = None,
    ) -> Event:
        """Parse the node the next token starts, then go on in state ``then``.

        When that token is one of ``stops`` the node is an empty scalar, at ``mark`` or else
        at that token.
        """
        token = self.s.peek_token()
        if token.typ not in stops:
            self.states.append(then)
            return self.parse_node(block, indentless_sequence)
        self.state = then
        return self.empty_scalar(token.start if mark is None else mark)

    def collection_end(self, typ: int, token: Any) -> Event:
        """End a mapping or sequence at ``token``, taking the pending comments."""
        self.pop_state()
        event = Event(typ, token.start)
        self.set_event_comments(event)
        self.s.skip_token()
        return event

    def skip_block_entry(self, token: Any) -> Mark:
        """Skip a ``-`` indicator, splitting off the comment that heads a block under it."""
        s = self.s
        prior = len(s.head_comment)
        s.skip_token()
        self.split_stem_comment(prior)
        end: Mark = token.end
        return end

    def flow_entry_token(self, first: bool, end: int) -> Any:
        """Peek at a flow collection's next entry, past the ``,`` before it (unless first)."""
        token = self.entry_token(first)
        if not first and token.typ != end:
            if token.typ != T_FLOW_ENTRY:
                close = "]" if end == T_FSE else "}"
                raise ReplayError(f"did not find expected ',' or '{close}'")
            self.s.skip_token()
            token = self.s.peek_token()
        return token

    def block_sequence_entry(self, first: bool) -> Event:
        token = self.entry_token(first)
        if token.typ == T_BLOCK_ENTRY:
            mark = self.skip_block_entry(token)
            return self.node_or_empty(
                (T_BLOCK_ENTRY, T_BLOCK_END), P_BLOCK_SEQ_ENTRY, True, False, mark
            )
        if token.typ == T_BLOCK_END:
            self.pop_state()
            self.s.skip_token()
            return Event(E_SEQ_END, token.start)
        raise ReplayError("did not find expected '-' indicator")

    def indentless_sequence_entry(self) -> Event:
        token = self.s.peek_token()
        if token.typ == T_BLOCK_ENTRY:
            mark = self.skip_block_entry(token)
            return self.node_or_empty(
                (T_BLOCK_ENTRY, T_KEY, T_VALUE, T_BLOCK_END),
                P_INDENTLESS_SEQ_ENTRY,
                True,
                False,
                mark,
            )
        self.pop_state()
        return Event(E_SEQ_END, token.start)

    def block_mapping_key(self, first: bool) -> Event:
        token = self.entry_token(first)
        if token.typ == T_KEY:
            self.s.skip_token()
            return self.node_or_empty(
                (T_KEY, T_VALUE, T_BLOCK_END), P_BLOCK_MAP_VALUE, True, True, token.end
            )
        if token.typ == T_BLOCK_END:
            return self.collection_end(E_MAP_END, token)
        raise ReplayError("did not find expected key")

    def mapping_value(self, stops: tuple[int, ...], then: int, block: bool) -> Event:
        """Parse the value after a key (an empty scalar when there is none)."""
        token = self.s.peek_token()
        if token.typ == T_VALUE:
            self.s.skip_token()
            return self.node_or_empty(stops, then, block, block, token.end if block else None)
        self.state = then
        return self.empty_scalar(token.start)

    def flow_sequence_entry(self, first: bool) -> Event:
        token = self.flow_entry_token(first, T_FSE)
        if token.typ == T_KEY:
            self.state = P_FLOW_SEQ_MAP_KEY
            event = Event(E_MAP_START, token.start)
            event.implicit = True
            event.style = STYLE_FLOW
            self.s.skip_token()
            return event
        if token.typ == T_FSE:
            return self.collection_end(E_SEQ_END, token)
        self.states.append(P_FLOW_SEQ_ENTRY)
        return self.parse_node(False, False)

    def flow_sequence_entry_mapping_key(self) -> Event:
        s = self.s
        token = s.peek_token()
        if token.typ not in (T_VALUE, T_FLOW_ENTRY, T_FSE):
            self.states.append(P_FLOW_SEQ_MAP_VALUE)
            return self.parse_node(False, False)
        mark = token.end
        s.skip_token()
        self.state = P_FLOW_SEQ_MAP_VALUE
        return self.empty_scalar(mark)

    def flow_mapping_key(self, first: bool) -> Event:
        token = self.flow_entry_token(first, T_FME)
        if token.typ == T_KEY:
            self.s.skip_token()
            return self.node_or_empty(
                (T_VALUE, T_FLOW_ENTRY, T_FME), P_FLOW_MAP_VALUE, False, False
            )
        if token.typ == T_FME:
            return self.collection_end(E_MAP_END, token)
        self.states.append(P_FLOW_MAP_EMPTY_VALUE)
        return self.parse_node(False, False)
