"""libyaml's tokens for a YAML text, after libyaml's event parser has validated it.

The first stage of the comment reader (:mod:`._yaml_comments`): validity is decided by
libyaml (ruamel's C extension) before anything else, with the nesting limit checked as its
events arrive, and one tolerance of yaml.v3's: a tab between full-line comments.
"""

from __future__ import annotations

import re
from typing import Any, Final

from secretsctl import limits
from secretsctl.errors import InputError
from secretsctl.sops.stores._yaml_load import (
    parse_error,
    too_deep_error,
)

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


def libyaml_tokens(text: str) -> list[Any]:
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
