"""YAML with comments: where yaml.v3 (and so sops) attaches every comment.

libyaml drops comments, and yaml.v3 attaches them with logic spread over its scanner (which
decides whether a comment is a head, line or foot comment and which token it follows), its
parser (which hands the pending comments to the next event) and its node composer (which moves
foot comments between keys). The placement depends on scanner state at the moment a comment is
read: the current indentation, the last tokens produced, how far the parser lags behind.

This module replays that: it takes libyaml's tokens for the file (the same tokens yaml.v3's
scanner produces), re-walks the text between them with yaml.v3's comment scanning, regenerates
the structural tokens (block starts and ends, simple keys) with yaml.v3's indentation and
simple-key bookkeeping, runs yaml.v3's parser state machine over that token queue with the
same look-ahead, and composes yaml.v3 nodes. :func:`compose` then turns the nodes into the
sops tree the way sops's ``appendYamlNodeToTreeBranch``/``nodeToTreeValue`` do.

Validity is decided by libyaml's own event parser first, so the replay only ever sees files
that parse.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, Final

from secretsctl import limits
from secretsctl.errors import InputError
from secretsctl.sops.stores._yaml_load import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    Strict,
    first_document_checks,
    merge_value_ok,
    parse_error,
    structure_error,
    too_deep_error,
    too_many_aliases_error,
)
from secretsctl.sops.stores._yaml_resolve import (
    MAP_TAG,
    MERGE_TAG,
    NULL_TAG,
    SEQ_TAG,
    STR_TAG,
    ResolveError,
    resolve,
    scalar_value,
    short_tag,
)
from secretsctl.sops.tree import Branch, Comment, Seq

# Token types.
T_STREAM_START: Final = 1
T_STREAM_END: Final = 2
T_VERSION: Final = 3
T_TAG_DIRECTIVE: Final = 4
T_DOC_START: Final = 5
T_DOC_END: Final = 6
T_BSS: Final = 7
T_BMS: Final = 8
T_BLOCK_END: Final = 9
T_FSS: Final = 10
T_FSE: Final = 11
T_FMS: Final = 12
T_FME: Final = 13
T_BLOCK_ENTRY: Final = 14
T_FLOW_ENTRY: Final = 15
T_KEY: Final = 16
T_VALUE: Final = 17
T_ALIAS: Final = 18
T_ANCHOR: Final = 19
T_TAG: Final = 20
T_SCALAR: Final = 21

_TOKEN_TYPES: Final = {
    "StreamStartToken": T_STREAM_START,
    "StreamEndToken": T_STREAM_END,
    "DirectiveToken": T_VERSION,
    "DocumentStartToken": T_DOC_START,
    "DocumentEndToken": T_DOC_END,
    "BlockSequenceStartToken": T_BSS,
    "BlockMappingStartToken": T_BMS,
    "BlockEndToken": T_BLOCK_END,
    "FlowSequenceStartToken": T_FSS,
    "FlowSequenceEndToken": T_FSE,
    "FlowMappingStartToken": T_FMS,
    "FlowMappingEndToken": T_FME,
    "BlockEntryToken": T_BLOCK_ENTRY,
    "FlowEntryToken": T_FLOW_ENTRY,
    "KeyToken": T_KEY,
    "ValueToken": T_VALUE,
    "AliasToken": T_ALIAS,
    "AnchorToken": T_ANCHOR,
    "TagToken": T_TAG,
    "ScalarToken": T_SCALAR,
}

# Event types.
E_STREAM_START: Final = 1
E_STREAM_END: Final = 2
E_DOC_START: Final = 3
E_DOC_END: Final = 4
E_ALIAS: Final = 5
E_SCALAR: Final = 6
E_SEQ_START: Final = 7
E_SEQ_END: Final = 8
E_MAP_START: Final = 9
E_MAP_END: Final = 10

# Scalar styles (yaml.v3 node styles).
STYLE_TAGGED: Final = 1
STYLE_DOUBLE: Final = 2
STYLE_SINGLE: Final = 4
STYLE_LITERAL: Final = 8
STYLE_FOLDED: Final = 16
STYLE_FLOW: Final = 32
_QUOTED_STYLES: Final = STYLE_DOUBLE | STYLE_SINGLE | STYLE_LITERAL | STYLE_FOLDED
_TOKEN_STYLES: Final = {"'": STYLE_SINGLE, '"': STYLE_DOUBLE, "|": STYLE_LITERAL, ">": STYLE_FOLDED}

_BREAK_CHARS: Final = "\r\n\x85\u2028\u2029"
_BLANK_OR_BREAK: Final = " \t\r\n\x85\u2028\u2029"
_LINE_BREAK_RE: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

Mark = tuple[int, int, int]  # (index, line, column)
_ZERO: Final[Mark] = (0, 0, 0)


class _Tok:
    __slots__ = ("end", "src", "start", "typ")

    def __init__(self, typ: int, start: Mark, end: Mark, src: Any = None) -> None:
        self.typ = typ
        self.start = start
        self.end = end
        self.src = src


class _Cmt:
    __slots__ = ("end_mark", "foot", "head", "line", "scan_mark", "start_mark", "token_mark")

    def __init__(
        self,
        scan_mark: Mark,
        token_mark: Mark,
        start_mark: Mark,
        end_mark: Mark,
        head: str = "",
        line: str = "",
        foot: str = "",
    ) -> None:
        self.scan_mark = scan_mark
        self.token_mark = token_mark
        self.start_mark = start_mark
        self.end_mark = end_mark
        self.head = head
        self.line = line
        self.foot = foot

    def clear(self) -> None:
        self.scan_mark = self.token_mark = self.start_mark = self.end_mark = _ZERO
        self.head = self.line = self.foot = ""


class _SimpleKey:
    __slots__ = ("mark", "possible", "required", "token_number")

    def __init__(self, possible: bool, required: bool, token_number: int, mark: Mark) -> None:
        self.possible = possible
        self.required = required
        self.token_number = token_number
        self.mark = mark


class ReplayError(Exception):
    """The replay lost track of libyaml's tokens: a bug here, never a property of the input."""


class _Scanner:
    """yaml.v3's scanner, with the lexing of each token taken from libyaml's token list."""

    def __init__(self, text: str, raw_tokens: list[Any]) -> None:
        self.text = text
        self.length = len(text)
        starts = [0]
        starts.extend(m.end() for m in _LINE_BREAK_RE.finditer(text))
        self.line_starts = starts
        self.main = [
            (typ, tok)
            for tok in raw_tokens
            if (typ := _TOKEN_TYPES[type(tok).__name__]) not in (T_BMS, T_BSS, T_BLOCK_END)
            and not (typ == T_KEY and tok.start_mark.index == tok.end_mark.index)
        ]
        self.next_main = 0
        self.pos = 0
        self.line = 0
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.flow_level = 0
        self.simple_keys: list[_SimpleKey] = []
        self.simple_keys_by_tok: dict[int, int] = {}
        self.simple_key_allowed = False
        self.stream_start_produced = False
        self.tokens: list[_Tok] = []
        self.tokens_head = 0
        self.token_available = False
        self.comments: list[_Cmt] = []
        self.comments_head = 0

    # -- positions --

    def mark_at(self, index: int) -> Mark:
        line = bisect.bisect_right(self.line_starts, index) - 1
        return (index, line, index - self.line_starts[line])

    @property
    def mark(self) -> Mark:
        return (self.pos, self.line, self.column)

    def char(self, index: int) -> str:
        return self.text[index] if index < self.length else "\x00"

    def set_pos(self, index: int) -> None:
        self.pos, self.line, self.column = self.mark_at(index)

    def newlines(self) -> int:
        """yaml.v3's ``parser.newlines``: line breaks consumed since the last non-blank."""
        text = self.text
        index = self.pos - 1
        count = 0
        while index >= 0:
            char = text[index]
            if char in _BREAK_CHARS:
                # CRLF is one break for yaml.v3's skip_line.
                if not (char == "\r" and text[index + 1 : index + 2] == "\n"):
                    count += 1
            elif char not in " \t":
                break
            index -= 1
        return count

    def skip(self) -> None:
        self.pos += 1
        self.column += 1

    def skip_line(self) -> None:
        char = self.char(self.pos)
        if char in _BREAK_CHARS:
            self.pos += 2 if char == "\r" and self.char(self.pos + 1) == "\n" else 1
            self.column = 0
            self.line += 1

    # -- token queue, as the parser sees it --

    def peek_token(self) -> _Tok:
        if not self.token_available:
            self.fetch_more_tokens()
        token = self.tokens[self.tokens_head]
        self.unfold_comments(token)
        return token

    def skip_token(self) -> None:
        self.token_available = False
        self.tokens_head += 1

    def fetch_more_tokens(self) -> None:
        while True:
            if self.tokens_head < len(self.tokens) - 2:
                index = self.simple_keys_by_tok.get(self.tokens_head)
                if index is None or not self.simple_key_is_valid(self.simple_keys[index]):
                    break
            self.fetch_next_token()
        self.token_available = True

    # Comment hand-over to the parser (yaml_parser_unfold_comments).
    head_comment = ""
    line_comment = ""
    foot_comment = ""
    stem_comment = ""

    def unfold_comments(self, token: _Tok) -> None:
        comments = self.comments
        index = token.start[0]
        while (
            self.comments_head < len(comments)
            and index >= comments[self.comments_head].token_mark[0]
        ):
            comment = comments[self.comments_head]
            if comment.head:
                if token.typ == T_BLOCK_END:
                    # No heads on ends: keep it for a following token.
                    break
                self.head_comment = (
                    self.head_comment + "\n" + comment.head if self.head_comment else comment.head
                )
            if comment.foot:
                self.foot_comment = (
                    self.foot_comment + "\n" + comment.foot if self.foot_comment else comment.foot
                )
            if comment.line:
                self.line_comment = (
                    self.line_comment + "\n" + comment.line if self.line_comment else comment.line
                )
            comment.clear()
            self.comments_head += 1

    # -- simple keys and indentation --

    def simple_key_is_valid(self, key: _SimpleKey) -> bool:
        if not key.possible:
            return False
        if key.mark[1] < self.line or key.mark[0] + 1024 < self.pos:
            key.possible = False
            return False
        return True

    def save_simple_key(self) -> None:
        required = self.flow_level == 0 and self.indent == self.column
        if self.simple_key_allowed:
            key = _SimpleKey(True, required, len(self.tokens), self.mark)
            self.remove_simple_key()
            self.simple_keys[-1] = key
            self.simple_keys_by_tok[key.token_number] = len(self.simple_keys) - 1

    def remove_simple_key(self) -> None:
        key = self.simple_keys[-1]
        if key.possible:
            key.possible = False
            self.simple_keys_by_tok.pop(key.token_number, None)

    def roll_indent(self, column: int, number: int, typ: int, mark: Mark) -> None:
        if self.flow_level > 0:
            return
        if self.indent < column:
            self.indents.append(self.indent)
            self.indent = column
            token = _Tok(typ, mark, mark)
            if number == -1:
                self.tokens.append(token)
            else:
                self.tokens.insert(number, token)

    def unroll_indent(self, column: int, scan_mark: Mark) -> None:
        if self.flow_level > 0:
            return
        block_mark = (scan_mark[0] - 1, scan_mark[1], scan_mark[2])
        comments = self.comments
        while self.indent > column:
            stop_index = block_mark[0]
            for i in range(len(comments) - 1, -1, -1):
                comment = comments[i]
                if comment.end_mark[0] < stop_index:
                    break
                if comment.start_mark[2] == self.indent + 1:
                    block_mark = comment.start_mark
                stop_index = comment.scan_mark[0]
            self.tokens.append(_Tok(T_BLOCK_END, block_mark, block_mark))
            self.indent = self.indents.pop()

    # -- fetching --

    def take_main(self) -> tuple[int, Any]:
        if self.next_main >= len(self.main):
            return T_STREAM_END, None
        item = self.main[self.next_main]
        self.next_main += 1
        return item

    def fetch_next_token(self) -> None:
        if not self.stream_start_produced:
            self.indent = -1
            self.simple_keys.append(_SimpleKey(False, False, 0, _ZERO))
            self.simple_key_allowed = True
            self.stream_start_produced = True
            self.take_main()
            self.tokens.append(_Tok(T_STREAM_START, self.mark, self.mark))
            return
        scan_mark = self.mark
        self.scan_to_next_token()
        self.unroll_indent(self.column, scan_mark)
        if self.pos >= self.length:
            self.fetch_stream_end()
            return
        typ, src = self.take_main()
        if src is not None and src.start_mark.index != self.pos:
            raise ReplayError("token position mismatch")
        if typ == T_VERSION:
            self.fetch_directive(src)
            return
        if typ in (T_DOC_START, T_DOC_END):
            self.unroll_indent(-1, self.mark)
            self.remove_simple_key()
            self.simple_key_allowed = False
            start = self.mark
            self.set_pos(self.pos + 3)
            self.tokens.append(_Tok(typ, start, self.mark, src))
            return
        char = self.text[self.pos]
        comment_mark = self.mark
        if self.tokens and (
            (self.flow_level == 0 and char == ":") or (self.flow_level > 0 and char == ",")
        ):
            comment_mark = self.tokens[-1].start
        self.dispatch(typ, src)
        if self.tokens[-1].typ != T_BLOCK_ENTRY:
            self.scan_line_comment(comment_mark)

    def dispatch(self, typ: int, src: Any) -> None:
        start = self.mark
        if typ in (T_FSS, T_FMS):
            self.save_simple_key()
            self.simple_keys.append(_SimpleKey(False, False, len(self.tokens), self.mark))
            self.flow_level += 1
            self.simple_key_allowed = True
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ in (T_FSE, T_FME):
            self.remove_simple_key()
            if self.flow_level > 0:
                self.flow_level -= 1
                last = self.simple_keys.pop()
                self.simple_keys_by_tok.pop(last.token_number, None)
            self.simple_key_allowed = False
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ == T_FLOW_ENTRY:
            self.remove_simple_key()
            self.simple_key_allowed = True
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ == T_BLOCK_ENTRY:
            if self.flow_level == 0:
                self.roll_indent(self.column, -1, T_BSS, self.mark)
            self.remove_simple_key()
            self.simple_key_allowed = True
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ == T_KEY:
            if self.flow_level == 0:
                self.roll_indent(self.column, -1, T_BMS, self.mark)
            self.remove_simple_key()
            self.simple_key_allowed = self.flow_level == 0
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ == T_VALUE:
            key = self.simple_keys[-1]
            if self.simple_key_is_valid(key):
                self.tokens.insert(key.token_number, _Tok(T_KEY, key.mark, key.mark))
                self.roll_indent(key.mark[2], key.token_number, T_BMS, key.mark)
                key.possible = False
                self.simple_keys_by_tok.pop(key.token_number, None)
                self.simple_key_allowed = False
            else:
                if self.flow_level == 0:
                    self.roll_indent(self.column, -1, T_BMS, self.mark)
                self.simple_key_allowed = self.flow_level == 0
            self.skip()
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ in (T_ALIAS, T_ANCHOR, T_TAG):
            self.save_simple_key()
            self.simple_key_allowed = False
            self.set_pos(src.end_mark.index)
            self.tokens.append(_Tok(typ, start, self.mark, src))
        elif typ == T_SCALAR:
            style = src.style
            if style in ("|", ">"):
                self.remove_simple_key()
                self.simple_key_allowed = True
                self.scan_block_scalar(start)
                self.tokens.append(_Tok(typ, start, self.mark_at(src.end_mark.index), src))
            elif style in ("'", '"'):
                self.save_simple_key()
                self.simple_key_allowed = False
                self.set_pos(src.end_mark.index)
                self.tokens.append(_Tok(typ, start, self.mark, src))
            else:
                self.save_simple_key()
                self.simple_key_allowed = False
                end = src.end_mark.index
                index = end
                text = self.text
                while index < self.length and text[index] in _BLANK_OR_BREAK:
                    index += 1
                if any(char in _BREAK_CHARS for char in text[end:index]):
                    self.simple_key_allowed = True
                self.set_pos(index)
                self.tokens.append(_Tok(typ, start, self.mark_at(end), src))
        else:  # pragma: no cover - libyaml produced an unexpected token
            raise ReplayError("unexpected token")

    def fetch_directive(self, src: Any) -> None:
        self.unroll_indent(-1, self.mark)
        self.remove_simple_key()
        self.simple_key_allowed = False
        start = self.mark
        index = src.end_mark.index
        text = self.text
        while index < self.length and text[index] in " \t":
            index += 1
        if index < self.length and text[index] == "#":
            while index < self.length and text[index] not in _BREAK_CHARS:
                index += 1
        if index < self.length and text[index] in _BREAK_CHARS:
            index += 2 if text.startswith("\r\n", index) else 1
        self.set_pos(index)
        typ = T_VERSION if src.name == "YAML" else T_TAG_DIRECTIVE
        self.tokens.append(_Tok(typ, start, self.mark_at(src.end_mark.index), src))

    def fetch_stream_end(self) -> None:
        if self.column != 0:
            self.column = 0
            self.line += 1
        self.unroll_indent(-1, self.mark)
        self.remove_simple_key()
        self.simple_key_allowed = False
        self.take_main()
        self.tokens.append(_Tok(T_STREAM_END, self.mark, self.mark))

    def scan_block_scalar(self, start: Mark) -> None:
        """Advance over a block scalar as yaml.v3 does (only the position matters here)."""
        text = self.text
        self.skip()  # '|' or '>'
        increment = 0
        for _ in range(2):
            char = self.char(self.pos)
            if char in "+-":
                self.skip()
            elif char in "123456789":
                increment = int(char)
                self.skip()
        while self.char(self.pos) in " \t":
            self.skip()
        if self.char(self.pos) == "#":
            self.scan_line_comment(start)
            while self.char(self.pos) not in _BREAK_CHARS + "\x00":
                self.skip()
        self.skip_line()
        indent = 0
        if increment:
            indent = self.indent + increment if self.indent >= 0 else increment
        indent = self.block_scalar_breaks(indent)
        while self.column == indent and self.pos < self.length:
            while self.pos < self.length and text[self.pos] not in _BREAK_CHARS:
                self.pos += 1
                self.column += 1
            self.skip_line()
            indent = self.block_scalar_breaks(indent)

    def block_scalar_breaks(self, indent: int) -> int:
        max_indent = 0
        while True:
            while (indent == 0 or self.column < indent) and self.char(self.pos) == " ":
                self.skip()
            max_indent = max(max_indent, self.column)
            if self.char(self.pos) not in _BREAK_CHARS or self.pos >= self.length:
                break
            self.skip_line()
        if indent == 0:
            indent = max(max_indent, self.indent + 1, 1)
        return indent

    # -- comments --

    def scan_to_next_token(self) -> None:
        text = self.text
        # Fast path: only blanks and line breaks before the next token (no comment, no BOM).
        upcoming = self.main[self.next_main][1] if self.next_main < len(self.main) else None
        target = upcoming.start_mark.index if upcoming is not None else self.length
        pos = self.pos
        if (
            target >= pos
            and text.find("#", pos, target) < 0
            and text.find("\ufeff", pos, target) < 0
        ):
            if self.flow_level == 0 and _LINE_BREAK_RE.search(text, pos, target):
                self.simple_key_allowed = True
            if upcoming is not None:
                mark = upcoming.start_mark
                self.pos, self.line, self.column = target, mark.line, mark.column
            else:
                self.set_pos(target)
            self.check_entry_line_comment()
            return
        scan_mark = self.mark
        while True:
            if self.column == 0 and self.char(self.pos) == "\ufeff":
                self.skip()
            while True:
                char = self.char(self.pos)
                if char == " " or (
                    char == "\t" and (self.flow_level > 0 or not self.simple_key_allowed)
                ):
                    self.skip()
                else:
                    break
            self.check_entry_line_comment()
            if self.char(self.pos) == "#":
                self.scan_comments(scan_mark)
            if self.pos < self.length and text[self.pos] in _BREAK_CHARS:
                self.skip_line()
                if self.flow_level == 0:
                    self.simple_key_allowed = True
            else:
                break

    def check_entry_line_comment(self) -> None:
        """Turn a line comment into a head comment when a first "-" entry follows it.

        yaml.v3's example: ``- # The comment`` then ``  - Some data`` on the next line.
        """
        tokens = self.tokens
        if self.comments and len(tokens) > 1:
            comment = self.comments[-1]
            if (
                comment.line
                and tokens[-2].typ == T_BSS
                and tokens[-1].typ == T_BLOCK_ENTRY
                and self.char(self.pos) not in _BREAK_CHARS
            ):
                comment.head = comment.line
                comment.line = ""
                if comment.start_mark[1] == self.line - 1:
                    comment.token_mark = self.mark

    def read_comment_line(self, seen: int, text: str) -> str:
        """Consume up to ``seen`` (blank lines, spaces), then the comment up to its line break."""
        source = self.text
        while True:
            char = self.char(self.pos)
            if char in _BREAK_CHARS or char == "\x00":
                if self.pos >= seen or char == "\x00":
                    break
                self.skip_line()
            elif self.pos >= seen:
                end = self.pos
                while end < self.length and source[end] not in _BREAK_CHARS:
                    end += 1
                text += source[self.pos : end]
                self.column += end - self.pos
                self.pos = end
                break
            else:
                self.skip()
        return text

    def scan_line_comment(self, token_mark: Mark) -> None:
        if self.newlines() > 0:
            return
        text = ""
        start_mark = _ZERO
        for peek in range(512):
            char = self.char(self.pos + peek)
            if char in " \t":
                continue
            if char == "#":
                seen = self.pos + peek
                while self.pos < seen:
                    self.skip()
                start_mark = self.mark
                text = self.read_comment_line(seen, "")
            break
        if text:
            self.comments.append(_Cmt(_ZERO, token_mark, start_mark, _ZERO, line=text))

    def scan_comments(self, scan_mark: Mark) -> None:
        tokens = self.tokens
        token = tokens[-1]
        if token.typ == T_FLOW_ENTRY and len(tokens) > 1:
            token = tokens[-2]
        token_mark = token.start
        start_mark = _ZERO
        next_indent = max(self.indent, 0)
        recent_empty = False
        newlines = self.newlines()
        first_empty = newlines <= 1
        line = self.line
        column = self.column
        text = ""
        foot_line = -1
        if scan_mark[1] > 0:
            foot_line = self.line - newlines + 1
            if newlines == 0 and self.column > 1:
                foot_line += 1
        comments = self.comments
        peek = 0
        while peek < 512:
            index = self.pos + peek
            char = self.char(index)
            column += 1
            if char in " \t":
                peek += 1
                continue
            close_flow = self.flow_level > 0 and char in "]}"
            is_break = char in _BREAK_CHARS
            if close_flow or is_break or char == "\x00":
                if close_flow or not recent_empty:
                    if close_flow or (
                        first_empty
                        and (
                            (start_mark[1] == foot_line and token.typ != T_VALUE)
                            or start_mark[2] - 1 < next_indent
                        )
                    ):
                        if text:
                            if start_mark[2] - 1 < next_indent:
                                token_mark = start_mark
                            end = (index, line, column)
                            comments.append(_Cmt(scan_mark, token_mark, start_mark, end, foot=text))
                            scan_mark = end
                            token_mark = scan_mark
                            text = ""
                    elif text and char != "\x00":
                        text += "\n"
                if not is_break:
                    break
                first_empty = False
                recent_empty = True
                column = 0
                line += 1
                peek += 1
                continue
            if text and column - 1 < next_indent and column != start_mark[2]:
                end = (index, line, column)
                comments.append(_Cmt(scan_mark, token_mark, start_mark, end, foot=text))
                scan_mark = end
                token_mark = scan_mark
                text = ""
            if char != "#":
                break
            if not text:
                start_mark = (index, line, column)
            else:
                text += "\n"
            recent_empty = False
            text = self.read_comment_line(index, text)
            # yaml.v3 restarts its look-ahead at 0, and its loop increment makes it 1.
            peek = 1
            column = 0
            line = self.line
            next_indent = max(self.indent, 0)
        if text:
            end = (self.pos + peek - 1, line, column)
            comments.append(_Cmt(scan_mark, start_mark, start_mark, end, head=text))


# --- the parser (parserc.go), over the replayed token queue ---------------------------------


class _Event:
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


class _Parser:
    """yaml.v3's parser state machine (``yaml_parser_parse``), comments included."""

    def __init__(self, scanner: _Scanner) -> None:
        self.s = scanner
        self.state = P_STREAM_START
        self.states: list[int] = []
        self.tag_directives: list[tuple[str, str]] = []
        self.done = False

    def set_event_comments(self, event: _Event) -> None:
        s = self.s
        event.head = s.head_comment
        event.line = s.line_comment
        event.foot = s.foot_comment
        s.head_comment = s.line_comment = s.foot_comment = s.stem_comment = ""

    def pop_state(self) -> None:
        self.state = self.states.pop()

    def parse(self) -> _Event | None:
        if self.done or self.state == P_END:
            return None
        event = self.dispatch()
        if event.typ == E_STREAM_END:
            self.done = True
        return event

    def dispatch(self) -> _Event:
        state = self.state
        if state == P_STREAM_START:
            token = self.s.peek_token()
            self.state = P_IMPLICIT_DOC_START
            self.s.skip_token()
            return _Event(E_STREAM_START, token.start)
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
            return self.block_mapping_value()
        if state in (P_FLOW_SEQ_FIRST, P_FLOW_SEQ_ENTRY):
            return self.flow_sequence_entry(state == P_FLOW_SEQ_FIRST)
        if state == P_FLOW_SEQ_MAP_KEY:
            return self.flow_sequence_entry_mapping_key()
        if state == P_FLOW_SEQ_MAP_VALUE:
            return self.flow_sequence_entry_mapping_value()
        if state == P_FLOW_SEQ_MAP_END:
            token = self.s.peek_token()
            self.state = P_FLOW_SEQ_ENTRY
            return _Event(E_MAP_END, token.start)
        if state in (P_FLOW_MAP_FIRST_KEY, P_FLOW_MAP_KEY):
            return self.flow_mapping_key(state == P_FLOW_MAP_FIRST_KEY)
        if state in (P_FLOW_MAP_VALUE, P_FLOW_MAP_EMPTY_VALUE):
            return self.flow_mapping_value(state == P_FLOW_MAP_EMPTY_VALUE)
        raise ReplayError("invalid parser state")

    def document_start(self, implicit: bool) -> _Event:
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
            event = _Event(E_DOC_START, token.start)
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
            return _Event(E_DOC_START, start)
        self.state = P_END
        s.skip_token()
        return _Event(E_STREAM_END, token.start)

    def document_end(self) -> _Event:
        s = self.s
        token = s.peek_token()
        start = token.start
        if token.typ == T_DOC_END:
            s.skip_token()
        self.tag_directives = []
        self.state = P_DOC_START
        event = _Event(E_DOC_END, start)
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

    def empty_scalar(self, mark: Mark) -> _Event:
        event = _Event(E_SCALAR, mark)
        event.implicit = True
        return event

    def parse_node(self, block: bool, indentless_sequence: bool) -> _Event:
        s = self.s
        token = s.peek_token()
        if token.typ == T_ALIAS:
            self.pop_state()
            event = _Event(E_ALIAS, token.start)
            event.anchor = token.src.value
            self.set_event_comments(event)
            s.skip_token()
            return event
        start = token.start
        anchor: str | None = None
        tag_token: Any = None
        if token.typ == T_ANCHOR:
            anchor = token.src.value
            s.skip_token()
            token = s.peek_token()
            if token.typ == T_TAG:
                tag_token = token.src.value
                s.skip_token()
                token = s.peek_token()
        elif token.typ == T_TAG:
            tag_token = token.src.value
            s.skip_token()
            token = s.peek_token()
            if token.typ == T_ANCHOR:
                anchor = token.src.value
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
            event = _Event(E_SEQ_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            return event
        if typ == T_SCALAR:
            src = token.src
            style = _TOKEN_STYLES.get(src.style or "", 0)
            event = _Event(E_SCALAR, start)
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
            event = _Event(E_SEQ_START if typ == T_FSS else E_MAP_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            event.style = STYLE_FLOW
            self.set_event_comments(event)
            return event
        if block and typ in (T_BSS, T_BMS):
            self.state = P_BLOCK_SEQ_FIRST if typ == T_BSS else P_BLOCK_MAP_FIRST_KEY
            event = _Event(E_SEQ_START if typ == T_BSS else E_MAP_START, start)
            event.anchor, event.tag, event.implicit = anchor, tag, implicit
            if s.stem_comment:
                event.head = s.stem_comment
                s.stem_comment = ""
            return event
        if anchor is not None or tag:
            self.pop_state()
            event = _Event(E_SCALAR, start)
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

    def block_sequence_entry(self, first: bool) -> _Event:
        s = self.s
        if first:
            s.peek_token()
            s.skip_token()
        token = s.peek_token()
        if token.typ == T_BLOCK_ENTRY:
            mark = token.end
            prior = len(s.head_comment)
            s.skip_token()
            self.split_stem_comment(prior)
            token = s.peek_token()
            if token.typ not in (T_BLOCK_ENTRY, T_BLOCK_END):
                self.states.append(P_BLOCK_SEQ_ENTRY)
                return self.parse_node(True, False)
            self.state = P_BLOCK_SEQ_ENTRY
            return self.empty_scalar(mark)
        if token.typ == T_BLOCK_END:
            self.pop_state()
            s.skip_token()
            return _Event(E_SEQ_END, token.start)
        raise ReplayError("did not find expected '-' indicator")

    def indentless_sequence_entry(self) -> _Event:
        s = self.s
        token = s.peek_token()
        if token.typ == T_BLOCK_ENTRY:
            mark = token.end
            prior = len(s.head_comment)
            s.skip_token()
            self.split_stem_comment(prior)
            token = s.peek_token()
            if token.typ not in (T_BLOCK_ENTRY, T_KEY, T_VALUE, T_BLOCK_END):
                self.states.append(P_INDENTLESS_SEQ_ENTRY)
                return self.parse_node(True, False)
            self.state = P_INDENTLESS_SEQ_ENTRY
            return self.empty_scalar(mark)
        self.pop_state()
        return _Event(E_SEQ_END, token.start)

    def block_mapping_key(self, first: bool) -> _Event:
        s = self.s
        if first:
            s.peek_token()
            s.skip_token()
        token = s.peek_token()
        if token.typ == T_KEY:
            mark = token.end
            s.skip_token()
            token = s.peek_token()
            if token.typ not in (T_KEY, T_VALUE, T_BLOCK_END):
                self.states.append(P_BLOCK_MAP_VALUE)
                return self.parse_node(True, True)
            self.state = P_BLOCK_MAP_VALUE
            return self.empty_scalar(mark)
        if token.typ == T_BLOCK_END:
            self.pop_state()
            event = _Event(E_MAP_END, token.start)
            self.set_event_comments(event)
            s.skip_token()
            return event
        raise ReplayError("did not find expected key")

    def block_mapping_value(self) -> _Event:
        s = self.s
        token = s.peek_token()
        if token.typ == T_VALUE:
            mark = token.end
            s.skip_token()
            token = s.peek_token()
            if token.typ not in (T_KEY, T_VALUE, T_BLOCK_END):
                self.states.append(P_BLOCK_MAP_KEY)
                return self.parse_node(True, True)
            self.state = P_BLOCK_MAP_KEY
            return self.empty_scalar(mark)
        self.state = P_BLOCK_MAP_KEY
        return self.empty_scalar(token.start)

    def flow_sequence_entry(self, first: bool) -> _Event:
        s = self.s
        if first:
            s.peek_token()
            s.skip_token()
        token = s.peek_token()
        if token.typ != T_FSE:
            if not first:
                if token.typ != T_FLOW_ENTRY:
                    raise ReplayError("did not find expected ',' or ']'")
                s.skip_token()
                token = s.peek_token()
            if token.typ == T_KEY:
                self.state = P_FLOW_SEQ_MAP_KEY
                event = _Event(E_MAP_START, token.start)
                event.implicit = True
                event.style = STYLE_FLOW
                s.skip_token()
                return event
            if token.typ != T_FSE:
                self.states.append(P_FLOW_SEQ_ENTRY)
                return self.parse_node(False, False)
        self.pop_state()
        event = _Event(E_SEQ_END, token.start)
        self.set_event_comments(event)
        s.skip_token()
        return event

    def flow_sequence_entry_mapping_key(self) -> _Event:
        s = self.s
        token = s.peek_token()
        if token.typ not in (T_VALUE, T_FLOW_ENTRY, T_FSE):
            self.states.append(P_FLOW_SEQ_MAP_VALUE)
            return self.parse_node(False, False)
        mark = token.end
        s.skip_token()
        self.state = P_FLOW_SEQ_MAP_VALUE
        return self.empty_scalar(mark)

    def flow_sequence_entry_mapping_value(self) -> _Event:
        s = self.s
        token = s.peek_token()
        if token.typ == T_VALUE:
            s.skip_token()
            token = s.peek_token()
            if token.typ not in (T_FLOW_ENTRY, T_FSE):
                self.states.append(P_FLOW_SEQ_MAP_END)
                return self.parse_node(False, False)
        self.state = P_FLOW_SEQ_MAP_END
        return self.empty_scalar(token.start)

    def flow_mapping_key(self, first: bool) -> _Event:
        s = self.s
        if first:
            s.peek_token()
            s.skip_token()
        token = s.peek_token()
        if token.typ != T_FME:
            if not first:
                if token.typ != T_FLOW_ENTRY:
                    raise ReplayError("did not find expected ',' or '}'")
                s.skip_token()
                token = s.peek_token()
            if token.typ == T_KEY:
                s.skip_token()
                token = s.peek_token()
                if token.typ not in (T_VALUE, T_FLOW_ENTRY, T_FME):
                    self.states.append(P_FLOW_MAP_VALUE)
                    return self.parse_node(False, False)
                self.state = P_FLOW_MAP_VALUE
                return self.empty_scalar(token.start)
            if token.typ != T_FME:
                self.states.append(P_FLOW_MAP_EMPTY_VALUE)
                return self.parse_node(False, False)
        self.pop_state()
        event = _Event(E_MAP_END, token.start)
        self.set_event_comments(event)
        s.skip_token()
        return event

    def flow_mapping_value(self, empty: bool) -> _Event:
        s = self.s
        token = s.peek_token()
        if empty:
            self.state = P_FLOW_MAP_KEY
            return self.empty_scalar(token.start)
        if token.typ == T_VALUE:
            s.skip_token()
            token = s.peek_token()
            if token.typ not in (T_FLOW_ENTRY, T_FME):
                self.states.append(P_FLOW_MAP_KEY)
                return self.parse_node(False, False)
        self.state = P_FLOW_MAP_KEY
        return self.empty_scalar(token.start)


# --- nodes (decode.go's parser) ------------------------------------------------------------


class Node:
    """A yaml.v3 node: kind, tag, value, style, comments, position and children."""

    __slots__ = ("alias", "column", "content", "foot", "head", "kind", "line", "line_comment",
                 "style", "tag", "value")  # fmt: skip

    def __init__(self, kind: int, tag: str, value: str, style: int, event: _Event) -> None:
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
            or (self.tag in ("", "!") and bool(self.style & _QUOTED_STYLES))
        )


class _Composer:
    """yaml.v3's node composer: events to nodes, with its moves of foot comments."""

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser
        self.event: _Event | None = None
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

    def sequence(self) -> Node:
        event = self.event
        assert event is not None  # noqa: S101
        node = self.node(SEQUENCE, SEQ_TAG, event.tag, "")
        node.style |= event.style & STYLE_FLOW
        self.set_anchor(node, event.anchor)
        self.expect(E_SEQ_START)
        while self.peek() != E_SEQ_END:
            child = self.parse()
            assert child is not None  # noqa: S101
            node.content.append(child)
        end = self.event
        assert end is not None  # noqa: S101
        node.line_comment = end.line
        node.foot = end.foot
        self.expect(E_SEQ_END)
        return node

    def mapping(self) -> Node:
        event = self.event
        assert event is not None  # noqa: S101
        node = self.node(MAPPING, MAP_TAG, event.tag, "")
        block = not event.style & STYLE_FLOW
        node.style |= event.style & STYLE_FLOW
        self.set_anchor(node, event.anchor)
        self.expect(E_MAP_START)
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
        end = self.event
        assert end is not None  # noqa: S101
        node.line_comment = end.line
        node.foot = end.foot
        if block and node.foot and len(content) > 1:
            content[-2].foot = node.foot
            node.foot = ""
        self.expect(E_MAP_END)
        return node


# --- nodes to the sops tree (stores/yaml/store.go) -----------------------------------------


def _comment_items(comment: str) -> list[Comment]:
    return [Comment(line[1:]) for line in comment.split("\n") if line]


class _Converter:
    """sops's appendYamlNodeToTreeBranch/nodeToTreeValue over yaml.v3 nodes."""

    def __init__(self, strict: Strict | None) -> None:
        self.strict = strict
        self.active: set[int] = set()

    def decode_scalar(self, node: Node) -> Any:
        tag = "" if node.tag == "!" else node.tag
        quoted = bool(node.style & _QUOTED_STYLES)
        try:
            if node.indicated_string():
                return node.value
            return scalar_value(tag, node.value, quoted)
        except ResolveError as exc:
            if self.strict is not None:
                raise structure_error(str(exc), node.line) from None
            return None

    def decode_key(self, node: Node) -> Any:
        """``key.Decode(&keyValue)``: the generic decoding of any node."""
        if node.kind == ALIAS and node.alias is not None:
            if id(node.alias) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(node.alias))
            try:
                return self.decode_key(node.alias)
            finally:
                self.active.discard(id(node.alias))
        if node.kind == SCALAR:
            return self.decode_scalar(node)
        if node.kind == MAPPING:
            return self.branch(node, Branch(), True)
        if node.kind == SEQUENCE:
            return Seq(self.decode_key(child) for child in node.content)
        return None

    def value(self, node: Node, comments_handled: bool, depth: int = 0) -> Any:
        kind = node.kind
        if kind == SEQUENCE:
            result = Seq()
            if not comments_handled:
                result.extend(_comment_items(node.head))
                result.extend(_comment_items(node.line_comment))
            for item in node.content:
                result.extend(_comment_items(item.head))
                result.extend(_comment_items(item.line_comment))
                result.append(self.value(item, True, depth + 1))
                result.extend(_comment_items(item.foot))
            if not comments_handled:
                result.extend(_comment_items(node.foot))
            return result
        if kind == MAPPING:
            return self.branch(node, Branch(), comments_handled, depth + 1)
        if kind == SCALAR:
            return self.decode_scalar(node)
        if kind == ALIAS:
            target = node.alias
            if target is None:
                return None
            if id(target) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(target))
            try:
                return self.value(target, False, depth + 1)
            finally:
                self.active.discard(id(target))
        return None

    def branch(self, node: Node, branch: Branch, comments_handled: bool, depth: int = 0) -> Branch:
        if not comments_handled:
            branch.extend((c, None) for c in _comment_items(node.head))
            branch.extend((c, None) for c in _comment_items(node.line_comment))
        kind = node.kind
        if kind == 0:
            for child in node.content:
                self.branch(child, branch, False, depth)
        elif kind == SEQUENCE:
            raise structure_error("YAML documents that are sequences are not supported")
        elif kind == MAPPING:
            content = node.content
            for i in range(0, len(content) - 1, 2):
                key, value = content[i], content[i + 1]
                branch.extend((c, None) for c in _comment_items(key.head))
                branch.extend((c, None) for c in _comment_items(key.line_comment))
                handle_value_comments = value.kind in (SCALAR, ALIAS)
                if handle_value_comments:
                    branch.extend((c, None) for c in _comment_items(value.head))
                    branch.extend((c, None) for c in _comment_items(value.line_comment))
                key_value = self.decode_key(key)
                branch.append((key_value, self.value(value, handle_value_comments, depth)))
                if handle_value_comments:
                    branch.extend((c, None) for c in _comment_items(value.foot))
                branch.extend((c, None) for c in _comment_items(key.foot))
        elif kind == SCALAR:
            if node.short_tag() != NULL_TAG:
                raise structure_error("YAML documents that are values are not supported")
            # sops returns here, before the node's foot comment.
            return branch
        elif kind == ALIAS and node.alias is not None:
            if id(node.alias) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(node.alias))
            self.branch(node.alias, branch, False, depth + 1)
            self.active.discard(id(node.alias))
        if not comments_handled:
            branch.extend((c, None) for c in _comment_items(node.foot))
        return branch


class _Limits:
    """The nesting and alias limits (:mod:`secretsctl.limits`) over one document's nodes.

    Nodes are visited in document order and counted as :mod:`._yaml_load` counts events, so
    both loaders refuse the same documents; this runs before anything expands an alias.
    """

    __slots__ = ("aliased", "anchored", "direct", "expanded")

    def __init__(self, composer: _Composer) -> None:
        self.anchored = composer.anchored
        self.expanded = composer.expanded
        self.direct = 0
        self.aliased = 0

    def visit(self, node: Node, level: int) -> tuple[int, int]:
        """Check ``node`` under ``level`` open containers; return its size and height."""
        kind = node.kind
        if kind == ALIAS:
            found = self.expanded.get(id(node.alias)) if node.alias is not None else None
            if found is None:
                return 0, 0  # an alias to its own container: the converter refuses it
            size, height = found
            if level + height > limits.MAX_NESTING_DEPTH:
                raise too_deep_error(node.line)
            if not limits.alias_expansion_allowed(self.direct, self.aliased + size):
                raise too_many_aliases_error(node.line)
            self.aliased += size
            return size, height
        size, height = 1, 0
        if kind in (MAPPING, SEQUENCE):
            if level >= limits.MAX_NESTING_DEPTH:
                raise too_deep_error(node.line)
            for child in node.content:
                child_size, child_height = self.visit(child, level + 1)
                size += child_size
                height = max(height, child_height)
            height += 1
        self.direct += 1
        if id(node) in self.anchored:
            self.expanded[id(node)] = (size, height)
        return size, height


def _check_strict(node: Node, strict: Strict, root: bool, active: set[int]) -> None:
    """yaml.v3's checks when decoding into ``map[string]interface{}`` (see _yaml_load)."""
    kind = node.kind
    if kind == ALIAS:
        target = node.alias
        if target is None:
            return
        if id(target) in active:
            raise structure_error("anchor value contains itself", node.line)
        active.add(id(target))
        _check_strict(target, strict, root, active)
        active.discard(id(target))
        return
    if kind == SCALAR:
        try:
            if not node.indicated_string():
                scalar_value(
                    "" if node.tag == "!" else node.tag,
                    node.value,
                    bool(node.style & _QUOTED_STYLES),
                )
        except ResolveError as exc:
            raise structure_error(str(exc), node.line) from None
        return
    if kind == SEQUENCE:
        for child in node.content:
            _check_strict(child, strict, False, active)
        return
    if kind != MAPPING:
        return
    content = node.content
    seen: dict[tuple[int, str], int] = {}
    for i in range(0, len(content) - 1, 2):
        key = content[i]
        first = seen.get((key.kind, key.value))
        if first is not None:
            raise structure_error(f"mapping key already defined at line {first}", key.line)
        seen[(key.kind, key.value)] = key.line
    for i in range(0, len(content) - 1, 2):
        key, value = content[i], content[i + 1]
        if (
            key.kind == SCALAR
            and key.value == "<<"
            and (key.tag in ("", "!") or short_tag(key.tag) == MERGE_TAG)
        ):
            _check_merge_node(value, key.line, False, set())
            _check_strict(value, strict, False, active)
            continue
        resolved_key = key.alias if key.kind == ALIAS else key
        if resolved_key is not None and resolved_key.kind in (MAPPING, SEQUENCE):
            raise structure_error(
                "invalid map key: a mapping or sequence is used as a key", key.line
            )
        _check_strict(key, strict, False, active)
        _check_strict(value, strict, False, active)


def _target(node: Node) -> Node | None:
    return node.alias if node.kind == ALIAS else node


def _merge_error(line: int) -> InputError:
    return structure_error("map merge requires map or sequence of maps as the value", line)


def _check_merge_node(value: Node, line: int, nested: bool, active: set[int]) -> None:
    """Check that a merge value is a mapping or a sequence of mappings.

    With ``nested``, the merged mappings' own merge keys are checked too (sops's struct
    decoding of an encrypted file merges them recursively).
    """
    target = _target(value)
    if target is None:
        return
    merged = [_target(child) for child in target.content] if target.kind == SEQUENCE else [target]
    items = [Branch() if m is not None and m.kind == MAPPING else None for m in merged]
    if value.kind == ALIAS:
        kind, items = ALIAS, (Branch() if target.kind == MAPPING else None)  # type: ignore[assignment]
    else:
        kind = target.kind
    if not merge_value_ok(items, kind):
        raise _merge_error(line)
    if nested:
        for mapping in merged:
            if mapping is not None and id(mapping) not in active:
                active.add(id(mapping))
                _check_root_keys(mapping, active)


def _check_root_keys(root: Node, active: set[int]) -> None:
    """Check what sops's struct decoding checks in an encrypted file's first document."""
    content = root.content
    for i in range(0, len(content) - 1, 2):
        key, value = content[i], content[i + 1]
        if (
            key.kind == SCALAR
            and key.value == "<<"
            and (key.tag in ("", "!") or short_tag(key.tag) == MERGE_TAG)
        ):
            _check_merge_node(value, key.line, True, active)
            continue
        target = _target(key)
        if target is not None and target.kind in (MAPPING, SEQUENCE):
            raise structure_error("a mapping or sequence is used as a key", key.line)


_COMMENT_LINE_RE: Final = re.compile(r"[ \t]*#")
# A comment that yaml.v3 reads with its comment scanner (not as a line comment): alone on its
# line, or after indicators that take no line comment (a "-" entry, a "---" start).
_SCANNED_COMMENT_RE: Final = re.compile(r"[ \t]*(?:---[ \t]+)?(?:-[ \t]+)*#")
_BLANK_LINE_RE: Final = re.compile(r"[ \t]*\Z")


def _tolerated_tab(text: str, index: int) -> bool:
    """Whether yaml.v3 accepts this tab where libyaml stopped: inside a run of comment lines.

    yaml.v3 reads a run of full-line comments in one go and skips any blank (tabs included)
    between them, while libyaml (no comment scanning) refuses a tab at the start of a line.
    """
    lines = text.splitlines()
    line_no = text.count("\n", 0, index)
    if line_no >= len(lines):
        return False
    current = lines[line_no]
    column = index - (text.rfind("\n", 0, index) + 1)
    if current[:column].strip(" \t"):
        return False
    previous = next((ln for ln in reversed(lines[:line_no]) if not _BLANK_LINE_RE.match(ln)), "")
    if not _SCANNED_COMMENT_RE.match(previous):
        return False
    if _COMMENT_LINE_RE.match(current):
        return True
    following = next((ln for ln in lines[line_no + 1 :] if not _BLANK_LINE_RE.match(ln)), "")
    return bool(_BLANK_LINE_RE.match(current)) and bool(_COMMENT_LINE_RE.match(following))


def _libyaml_tokens(text: str) -> list[Any]:
    """Validate with libyaml's event parser, then return its tokens."""
    from _ruamel_yaml import CParser
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import (
        MappingEndEvent,
        MappingStartEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    opening = (MappingStartEvent, SequenceStartEvent)
    closing = (MappingEndEvent, SequenceEndEvent)
    parse_text = text
    for _attempt in range(256):
        try:
            validator = CParser(parse_text)
            depth = 0
            while validator.check_event():
                event = validator.get_event()
                if event.__class__ in opening:
                    depth += 1
                    if depth > limits.MAX_NESTING_DEPTH:
                        # Before libyaml goes deeper: its time per token grows with depth.
                        raise too_deep_error(event.start_mark.line + 1)
                elif event.__class__ in closing:
                    depth -= 1
            lexer = CParser(parse_text)
            tokens = []
            while lexer.check_token():
                tokens.append(lexer.get_token())
            return tokens
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            index = mark.index if mark is not None else -1
            if (
                exc.problem == "found character that cannot start any token"
                and 0 <= index < len(parse_text)
                and parse_text[index] == "\t"
                and _tolerated_tab(parse_text, index)
            ):
                # A space has the same width for the replay, and libyaml accepts it.
                parse_text = parse_text[:index] + " " + parse_text[index + 1 :]
                continue
            raise parse_error(exc, text) from None
        except YAMLError as exc:
            raise parse_error(exc, text) from None
    raise InputError("yaml: too many tab characters in comment lines")


def compose(text: str, first_checks: str | None) -> list[tuple[Any, int, int]]:
    """Parse every document with comments; return (root value, root kind, root line) each.

    The root value of a mapping document is its :class:`Branch` with the document's head and
    foot comments; other roots are returned as plain values for the caller's checks.
    """
    tokens = _libyaml_tokens(text)
    composer = _Composer(_Parser(_Scanner(text, tokens)))
    documents: list[tuple[Any, int, int]] = []
    while True:
        document = composer.parse()
        if document is None:
            return documents
        root = document.content[0]
        _Limits(composer).visit(root, 0)
        strict = first_document_checks(first_checks) if not documents else None
        if strict is not None and strict.root_only:
            if root.kind == MAPPING:
                _check_root_keys(root, {id(root)})
            strict = None
        if strict is not None:
            if root.kind == MAPPING:
                _check_strict(root, strict, True, set())
            elif root.kind == SEQUENCE:
                raise structure_error(
                    "cannot unmarshal !!seq into map[string]interface {}", root.line
                )
            elif root.kind == SCALAR and root.short_tag() != NULL_TAG:
                raise structure_error(
                    "cannot unmarshal a scalar into map[string]interface {}", root.line
                )
        converter = _Converter(strict)
        kind = root.kind if root.kind != ALIAS else SCALAR
        if kind == MAPPING:
            documents.append((converter.branch(document, Branch(), False), MAPPING, root.line))
        elif kind == SEQUENCE:
            documents.append((None, SEQUENCE, root.line))
        else:
            value = None if root.short_tag() == NULL_TAG else converter.decode_scalar(root)
            if value is None:
                documents.append((converter.branch(document, Branch(), False), MAPPING, root.line))
            else:
                documents.append((value, SCALAR, root.line))
