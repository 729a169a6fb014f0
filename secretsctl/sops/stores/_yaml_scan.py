"""yaml.v3's scanner replayed over libyaml's tokens: comments, indentation, simple keys.

The second stage of the comment reader (:mod:`._yaml_comments`). It takes the lexing of each
token from libyaml's token list and re-walks the text between tokens with yaml.v3's comment
scanning, regenerating the structural tokens (block starts and ends, simple keys) with
yaml.v3's indentation and simple-key bookkeeping, so that each comment is read as a head, line
or foot comment in the same scanner state as yaml.v3 reads it.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, Final

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


class Scanner:
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
        elif typ in (T_FLOW_ENTRY, T_BLOCK_ENTRY, T_KEY):
            # `,` never opens a block; `-` and `?` open a block sequence or mapping.
            if typ != T_FLOW_ENTRY and self.flow_level == 0:
                self.roll_indent(
                    self.column, -1, T_BSS if typ == T_BLOCK_ENTRY else T_BMS, self.mark
                )
            self.remove_simple_key()
            self.simple_key_allowed = typ != T_KEY or self.flow_level == 0
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
