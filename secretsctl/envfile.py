r"""The one env-file dialect: systemd's ``EnvironmentFile=``, written and read.

:func:`quote` writes a value so that systemd reads it back exactly: inside double quotes,
``\``, ``"``, the backquote and ``$`` are escaped with a backslash (systemd drops the backslash
before exactly these four), and everything else is written as it is, newlines included
(systemd keeps a newline inside double quotes; only a backslash before a newline would join
lines). systemd expands no variables in an ``EnvironmentFile=``; ``$`` is escaped anyway so
that the same line also means the same thing to a POSIX shell that sources it.

:func:`parse` reads a file as systemd's ``load_env_file`` (``src/basic/env-file.c``) does:
``KEY=value`` lines, ``#`` and ``;`` comments, unquoted values with backslash escapes and
trailing whitespace dropped, single quotes taken literally, double quotes with the escapes
above, quoted and unquoted pieces concatenated, the last assignment of a key winning. Values
that are not valid UTF-8 are ignored, as systemd does; for systemd that includes the Unicode
noncharacters (U+FDD0 to U+FDEF, and the last two code points of every plane).
"""

from __future__ import annotations

import re
from typing import Final

from secretsctl.errors import SecretsctlError

__all__ = ["EnvFileError", "parse", "quote"]

_ESCAPED: Final = frozenset('"\\`$')
_NEWLINE: Final = "\n\r"
_WHITESPACE: Final = " \t\n\r"
_COMMENTS: Final = "#;"
_QUOTE_TABLE: Final = str.maketrans({c: "\\" + c for c in _ESCAPED})
# systemd's unichar_is_valid refuses these besides surrogates; a value holding one is dropped.
_NONCHARACTERS: Final = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)


class EnvFileError(SecretsctlError):
    """A value cannot be written to an environment file (the message never quotes it)."""


def quote(value: str) -> str:
    """Return ``value`` as a double-quoted systemd ``EnvironmentFile=`` value.

    Raises :class:`EnvFileError` for a NUL character (an environment value cannot hold one)
    and for text that is not valid UTF-8 (systemd ignores such a line).
    """
    if "\0" in value:
        raise EnvFileError("the value holds a NUL character, which no environment value can")
    if not _systemd_text(value):
        raise EnvFileError(
            "the value is not valid UTF-8 text (or holds a Unicode noncharacter), which systemd"
            " refuses in an environment file"
        )
    return '"' + value.translate(_QUOTE_TABLE) + '"'


def _systemd_text(text: str) -> bool:
    """Tell whether systemd takes ``text`` as valid UTF-8 (no surrogate, no noncharacter)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return _NONCHARACTERS.search(text) is None


def parse(text: str) -> dict[str, str]:
    """Read an environment file as systemd does; return the variables in order of assignment.

    ``text`` holds the file decoded with ``surrogateescape``; a value (or key) with bytes that
    are not UTF-8 is skipped, as systemd skips it.
    """
    result: dict[str, str] = {}
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_trailing: int | None = None  # index where trailing whitespace of the key starts
    value_trailing: int | None = None

    def push() -> None:
        name = "".join(key[:key_trailing] if key_trailing is not None else key)
        text_value = "".join(value)
        if not (_systemd_text(name) and _systemd_text(text_value)):
            return
        result.pop(name, None)
        result[name] = text_value

    for char in text:
        if char == "\0":
            break  # systemd reads a C string: it ends at the first NUL
        if state == "pre_key":
            if char in _COMMENTS:
                state = "comment"
            elif char not in _WHITESPACE:
                state = "key"
                key = [char]
                key_trailing = None
        elif state == "key":
            if char in _NEWLINE:
                state = "pre_key"
                key = []
            elif char == "=":
                state = "pre_value"
                value = []
                value_trailing = None
            else:
                if char not in _WHITESPACE:
                    key_trailing = None
                elif key_trailing is None:
                    key_trailing = len(key)
                key.append(char)
        elif state == "pre_value":
            if char in _NEWLINE:
                push()
                state = "pre_key"
                key = []
            elif char == "'":
                state = "single"
            elif char == '"':
                state = "double"
            elif char == "\\":
                state = "value_escape"
            elif char not in _WHITESPACE:
                state = "value"
                value.append(char)
        elif state == "value":
            if char in _NEWLINE:
                if value_trailing is not None:
                    del value[value_trailing:]
                push()
                state = "pre_key"
                key = []
            elif char == "\\":
                state = "value_escape"
                value_trailing = None
            else:
                if char not in _WHITESPACE:
                    value_trailing = None
                elif value_trailing is None:
                    value_trailing = len(value)
                value.append(char)
        elif state == "value_escape":
            state = "value"
            if char not in _NEWLINE:
                value.append(char)
        elif state == "single":
            if char == "'":
                state = "pre_value"
            else:
                value.append(char)
        elif state == "double":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_escape"
            else:
                value.append(char)
        elif state == "double_escape":
            state = "double"
            if char in _ESCAPED:
                value.append(char)
            elif char != "\n":
                value.append("\\")
                value.append(char)
        elif state == "comment":
            if char == "\\":
                state = "comment_escape"
            elif char in _NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":
            state = "pre_key" if char in _NEWLINE else "comment"
    if state in ("pre_value", "value", "value_escape", "single", "double", "double_escape"):
        if state == "value" and value_trailing is not None:
            del value[value_trailing:]
        push()
    return result
