"""YAML scalar typing as sops 3.11 sees it (``go.yaml.in/yaml/v3`` v3.0.4, ``resolve.go``).

A plain scalar becomes a bool, null, int, float, timestamp or string by yaml.v3's rules, which
differ from YAML 1.1 and 1.2 in places (``yes`` is a string, ``017`` is octal, ``08`` is a
float, ``1e400`` is a string, ``0b-101`` is -5). The same function tells the emitter whether a
string may be written plain.
"""

from __future__ import annotations

import binascii
import math

from secretsctl.sops.grammar import GoTime

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from typing import Any, Final

STR_TAG: Final = "!!str"
NULL_TAG: Final = "!!null"
BOOL_TAG: Final = "!!bool"
INT_TAG: Final = "!!int"
FLOAT_TAG: Final = "!!float"
TIMESTAMP_TAG: Final = "!!timestamp"
BINARY_TAG: Final = "!!binary"
MERGE_TAG: Final = "!!merge"
SEQ_TAG: Final = "!!seq"
MAP_TAG: Final = "!!map"
LONG_TAG_PREFIX: Final = "tag:yaml.org,2002:"

_RESOLVABLE: Final = frozenset({"", STR_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG, TIMESTAMP_TAG})

# The first character decides which forms a plain scalar may take (yaml.v3's resolveTable).
_HINTS: Final = (
    {c: "D" for c in "0123456789"}
    | {"+": "S", "-": "S", ".": "."}
    | {c: "M" for c in "yYnNtTfFoO~"}
)

_RESOLVE_MAP: Final[dict[str, tuple[str, Any]]] = {
    **{s: (BOOL_TAG, True) for s in ("true", "True", "TRUE")},
    **{s: (BOOL_TAG, False) for s in ("false", "False", "FALSE")},
    **{s: (NULL_TAG, None) for s in ("", "~", "null", "Null", "NULL")},
    **{s: (FLOAT_TAG, math.nan) for s in (".nan", ".NaN", ".NAN")},
    **{s: (FLOAT_TAG, math.inf) for s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{s: (FLOAT_TAG, -math.inf) for s in ("-.inf", "-.Inf", "-.INF")},
}


def _is_yaml_style_float(text: str) -> bool:
    """Whether ``text`` is ``[-+]?(\\.D+|D+(\\.D*)?)([eE][-+]?D+)?`` with ASCII digits D."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body.isascii():
        return False
    mantissa, has_exponent, exponent = body.replace("E", "e").partition("e")
    if has_exponent:
        exponent = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        if not exponent.isdigit():
            return False
    whole, has_point, fraction = mantissa.partition(".")
    if whole:
        return whole.isdigit() and (not fraction or fraction.isdigit())
    return bool(has_point) and fraction.isdigit()


# Go's ParseFloat for a value starting with '.': decimal digits, '_' only between digits.
def _dot_float() -> re.Pattern[str]:
    import re  # on first use only: the boot path does without re

    return re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?\Z")


_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
UINT64_MAX: Final = 2**64 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:x`` → ``!!x``; other tags unchanged."""
    if tag.startswith(LONG_TAG_PREFIX):
        return "!!" + tag[len(LONG_TAG_PREFIX) :]
    return tag


def _parse_uint(text: str, base: int) -> int | None:
    """Go ``strconv.ParseUint(text, base, 64)`` without underscores; None on any error."""
    if not text:
        return None
    if base == 0:
        base = 10
        if text[0] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base = {"b": 2, "o": 8, "x": 16}[prefix]
                text = text[2:]
            else:
                base = 8
                text = text[1:]
    value = 0
    for char in text:
        digit = _DIGITS.find(char.lower()) if char.isascii() else -1
        if digit < 0 or digit >= base:
            return None
        value = value * base + digit
    return value if value <= UINT64_MAX else None


def _parse_int(text: str, base: int) -> int | None:
    """Go ``strconv.ParseInt(text, base, 64)``; None on any error."""
    if not text:
        return None
    negative = text[0] == "-"
    body = text[1:] if text[0] in "+-" else text
    magnitude = _parse_uint(body, base)
    if magnitude is None:
        return None
    value = -magnitude if negative else magnitude
    return value if INT64_MIN <= value <= INT64_MAX else None


def _parse_decimal_float(text: str) -> float | None:
    """Go ``strconv.ParseFloat`` for a decimal literal already known to be well formed."""
    value = float(text)
    # Go reports overflow to infinity as a range error; underflow to zero is fine.
    return None if math.isinf(value) else value


def _digits_end(text: str, start: int, most: int) -> int:
    """Return the end of the run of at most ``most`` ASCII digits at ``start``."""
    end, stop = start, min(len(text), start + most)
    while end < stop and "0" <= text[end] <= "9":
        end += 1
    return end


def _ts_date(text: str) -> tuple[int, int, int, int] | None:
    """Year, month, day and end of ``YYYY-M-D`` (one or two digits each) at the start of text."""
    if len(text) < 8 or text[4] != "-" or _digits_end(text, 0, 4) != 4:
        return None
    month_end = _digits_end(text, 5, 2)
    if month_end == 5 or text[month_end : month_end + 1] != "-":
        return None
    day_end = _digits_end(text, month_end + 1, 2)
    if day_end == month_end + 1:
        return None
    return int(text[:4]), int(text[5:month_end]), int(text[month_end + 1 : day_end]), day_end


def _ts_clock(text: str) -> tuple[int, int, int, str, int] | None:
    """Hour, minute, second, fraction digits and end of ``H:M:S[.F]`` at the start of text.

    H, M and S have one or two digits; the fraction is ``""`` when absent.
    """
    hour_end = _digits_end(text, 0, 2)
    if hour_end == 0 or text[hour_end : hour_end + 1] != ":":
        return None
    minute_end = _digits_end(text, hour_end + 1, 2)
    if minute_end == hour_end + 1 or text[minute_end : minute_end + 1] != ":":
        return None
    end = _digits_end(text, minute_end + 1, 2)
    if end == minute_end + 1:
        return None
    clock = (
        int(text[:hour_end]),
        int(text[hour_end + 1 : minute_end]),
        int(text[minute_end + 1 : end]),
    )
    fraction = ""
    if text[end : end + 1] in (".", ","):
        fraction_end = _digits_end(text, end + 1, len(text))
        if fraction_end > end + 1:
            fraction, end = text[end + 1 : fraction_end], fraction_end
    return *clock, fraction, end


_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def parse_timestamp(text: str) -> GoTime | None:
    """yaml.v3 ``parseTimestamp``: Go ``time.Parse`` with the four layouts yaml.v3 allows.

    The layouts are ``2006-1-2T15:4:5.999999999Z07:00`` (``T`` or ``t``), ``2006-1-2
    15:4:5.999999999`` (one or more spaces, no zone, UTC) and ``2006-1-2``.
    """
    date = _ts_date(text)
    if date is None:
        return None
    year, month, day, date_end = date
    if not 1 <= month <= 12:
        return None
    rest = text[date_end:]
    hour = minute = second = nanos = offset = 0
    if rest:
        separator = rest[0]
        if separator == " ":
            rest = rest.lstrip(" ")
        elif separator in "Tt":
            rest = rest[1:]
        else:
            return None
        clock = _ts_clock(rest)
        if clock is None:
            return None
        hour, minute, second, fraction, clock_end = clock
        if hour >= 24 or minute >= 60 or second >= 60:
            return None
        if fraction:
            nanos = int(fraction[:9].ljust(9, "0"))
        rest = rest[clock_end:]
        if separator != " ":
            if rest == "Z":
                rest = ""
            elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
                digits = rest[1:3] + rest[4:6]
                if not (digits.isascii() and digits.isdigit()):
                    return None
                off_h, off_m = int(rest[1:3]), int(rest[4:6])
                if off_h > 24 or off_m > 60:
                    return None
                offset = (off_h * 60 + off_m) * (-1 if rest[0] == "-" else 1)
                rest = ""
            else:
                return None
        if rest:
            return None
    if day < 1 or day > _days_in(month, year):
        return None
    return GoTime.from_parts(year, month, day, hour, minute, second, nanos, offset, source=text)


class ResolveError(ValueError):
    """A tagged scalar that cannot take its tag (``!!int abc``); the message names tags only."""


def resolve(tag: str, value: str) -> tuple[str, Any]:
    """yaml.v3 ``resolve``: the short tag and the Go value a scalar decodes to.

    ``tag`` is the node's short tag, or ``""`` for an untagged plain scalar. Integers in
    (2^63, 2^64) stay Python ints (Go uint64); the codec refuses them later.
    """
    if tag not in _RESOLVABLE:
        return tag, value
    rtag, out = _resolve_untyped(tag, value)
    if tag in ("", rtag, STR_TAG):
        return rtag, out
    if tag == FLOAT_TAG and rtag == INT_TAG and INT64_MIN <= out <= INT64_MAX:
        return FLOAT_TAG, float(out)
    raise ResolveError(f"cannot decode {rtag} as a {tag}")


def _resolve_untyped(tag: str, value: str) -> tuple[str, Any]:
    hint = _HINTS.get(value[:1], "N" if not value else "")
    if not hint or tag == STR_TAG:
        return STR_TAG, value
    item = _RESOLVE_MAP.get(value)
    if item is not None:
        return item
    if hint == ".":
        # The digit test first: other values that start with '.' need no regex.
        if "0" <= value[1:2] <= "9" and _dot_float().match(value):
            parsed = _parse_decimal_float(value.replace("_", ""))
            if parsed is not None:
                return FLOAT_TAG, parsed
    elif hint in ("D", "S"):
        if tag in ("", TIMESTAMP_TAG):
            stamp = parse_timestamp(value)
            if stamp is not None:
                return TIMESTAMP_TAG, stamp
        plain = value.replace("_", "")
        number = _parse_int(plain, 0)
        if number is None:
            number = _parse_uint(plain, 0)
        if number is not None:
            return INT_TAG, number
        if _is_yaml_style_float(plain):
            parsed = _parse_decimal_float(plain)
            if parsed is not None:
                return FLOAT_TAG, parsed
        for prefix, base in (("0b", 2), ("0o", 8)):
            if plain.startswith(prefix):
                number = _parse_int(plain[2:], base)
                if number is None:
                    number = _parse_uint(plain[2:], base)
                if number is not None:
                    return INT_TAG, number
                break
            if plain.startswith("-" + prefix):
                number = _parse_int("-" + plain[3:], base)
                if number is not None:
                    return INT_TAG, number
                break
    return STR_TAG, value


def resolves_to_str(value: str) -> bool:
    """Whether an untagged plain scalar with this text reads back as a string."""
    hint = _HINTS.get(value[:1], "N" if not value else "")
    if not hint:
        return True
    return _resolve_untyped("", value)[0] == STR_TAG


def _base64_pattern() -> re.Pattern[str]:
    import re  # on first use only (!!binary): the boot path does without re

    return re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def decode_binary(text: str) -> str | None:
    """Go ``base64.StdEncoding.DecodeString`` (CR and LF ignored) as a surrogateescape str."""
    compact = text.replace("\r", "").replace("\n", "")
    if not compact.isascii() or not _base64_pattern().match(compact):
        return None
    return binascii.a2b_base64(compact).decode("utf-8", "surrogateescape")


def scalar_value(tag: str, value: str, quoted: bool) -> Any:
    """Decode a scalar node's value as yaml.v3 does, given its short tag and style.

    ``tag`` is ``""`` for an untagged node (or ``!``); ``quoted`` is true for single, double,
    literal and folded styles, which make an untagged scalar a string.
    """
    if tag == STR_TAG or (quoted and tag in ("", "!")):
        return value
    if tag == "!":
        tag = ""
    rtag, out = resolve(tag, value)
    if rtag == BINARY_TAG:
        decoded = decode_binary(out)
        if decoded is None:
            raise ResolveError("!!binary value contains invalid base64 data")
        return decoded
    return out
