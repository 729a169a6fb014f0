"""Encrypted value syntax, value types, and Go's number and time formatting.

``ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`` is parsed and written here, and
every conversion between a typed leaf and the bytes that sops encrypts and hashes (its
``ToBytes``) lives here, so the cipher, the MAC and the stores agree byte for byte.
"""

from __future__ import annotations

import binascii
import math

from secretsctl.errors import EncryptionError, ValueDecryptionError
from secretsctl.sops.tree import Comment

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from typing import Any, Final

ENC_PREFIX: Final = "ENC[AES256_GCM,data:"


# Go's `encre`: anchored at the start only, greedy groups, `.` does not cross newlines.
def _enc_pattern() -> re.Pattern[str]:
    import re  # on first use only: the boot path does without re

    return re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


TYPE_STR: Final = "str"
TYPE_INT: Final = "int"
TYPE_FLOAT: Final = "float"
TYPE_BOOL: Final = "bool"
TYPE_TIME: Final = "time"
TYPE_COMMENT: Final = "comment"

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class GoTime:
    """A timestamp as Go's ``time.Time`` carries it through sops.

    ``text`` is Go's ``MarshalText`` form (RFC 3339 with nanoseconds, trailing zeros trimmed,
    ``Z`` for a zero offset): the bytes sops encrypts, hashes and emits. ``source`` is the text
    it was read from, for metadata fields that are strings in sops.
    """

    __slots__ = ("source", "text")

    def __init__(self, text: str, source: str | None = None) -> None:
        self.text = text
        self.source = text if source is None else source

    @classmethod
    def from_parts(
        cls,
        year: int,
        month: int,
        day: int,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        nanosecond: int = 0,
        offset_minutes: int = 0,
        source: str | None = None,
    ) -> GoTime:
        """Build the canonical text from broken-down fields (the offset in minutes east)."""
        text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        if nanosecond:
            text += "." + f"{nanosecond:09d}".rstrip("0")
        return cls(text + format_offset(offset_minutes), source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.text == self.text

    def __hash__(self) -> int:
        return hash((GoTime, self.text))

    def __repr__(self) -> str:
        return "GoTime(<redacted>)"


def format_offset(offset_minutes: int) -> str:
    """Format a zone offset as Go's ``Z07:00``: ``Z`` for zero, else ``±hh:mm``."""
    if offset_minutes == 0:
        return "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def rfc3339_parts(text: str) -> tuple[str, str, str, str, str, str, str, str] | None:
    """Split ``YYYY-MM-DDTHH:MM:SS[.F](Z|±HH:MM)`` into its fields, or None if it is not one.

    The fields are year, month, day, hour, minute, second, the fraction's digits (``""`` if
    none) and the zone (``Z`` or ``±HH:MM``). A digit is any Unicode decimal digit, as for
    the ``\\d`` of the regex this replaced; ``int`` reads them all.
    """
    if (
        len(text) < 20
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or not (
            text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
        ).isdecimal()
    ):
        return None
    rest = text[19:]
    if rest[-1] == "Z":
        zone = "Z"
    elif (
        len(rest) >= 6
        and rest[-6] in "+-"
        and rest[-3] == ":"
        and (rest[-5:-3] + rest[-2:]).isdecimal()
    ):
        zone = rest[-6:]
    else:
        return None
    fraction = rest[1 : -len(zone)]
    if len(rest) > len(zone) and (rest[0] not in ".," or not fraction.isdecimal()):
        return None
    return text[:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19], fraction, zone


_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month - 1]


def parse_rfc3339(text: str) -> GoTime:
    """Parse RFC 3339 as Go's ``time.Parse(time.RFC3339, …)`` does; ``ValueError`` if not."""
    parts = rfc3339_parts(text)
    if parts is None:
        raise ValueError("not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in parts[:6])
    fraction, zone = parts[6:]
    if not _valid_date(year, month, day) or hour > 23 or minute > 59 or second > 59:
        raise ValueError("timestamp field out of range")
    offset = 0
    if zone != "Z":
        # Go's general parser allows offsets up to 24 hours and 60 minutes ("some people do").
        off_h, off_m = int(zone[1:3]), int(zone[4:])
        if off_h > 24 or off_m > 60:
            raise ValueError("zone offset out of range")
        offset = (off_h * 60 + off_m) * (1 if zone[0] == "+" else -1)
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return GoTime.from_parts(year, month, day, hour, minute, second, nanos, offset, source=text)


def mac_aad(lastmodified: str) -> str:
    """Return the MAC's AAD: ``lastmodified`` re-formatted as Go RFC 3339 (no fraction)."""
    text = parse_rfc3339(lastmodified).text
    return text[:19] + text[19:].lstrip(".0123456789")


# --- floats -------------------------------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and Go's decimal point ``dp``.

    The value is ``0.<digits> * 10**dp``. Zero has no digits and ``dp == 0``.
    """
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    leading_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    dp = len(whole) + int(exponent or 0) - leading_zeros
    digits = digits.rstrip("0")
    if not digits:
        return "", 0
    return digits, dp


def _format_fixed(negative: bool, digits: str, dp: int) -> str:
    if dp > 0:
        whole = (digits[:dp]).ljust(dp, "0")
        frac = digits[dp:]
    else:
        whole = "0"
        frac = "0" * -dp + digits
    text = whole + ("." + frac if frac else "")
    return ("-" if negative else "") + text


def _format_exponent(negative: bool, digits: str, dp: int) -> str:
    if not digits:
        digits, exp = "0", 0
    else:
        exp = dp - 1
    text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return ("-" if negative else "") + f"{text}e{sign}{abs(exp):02d}"


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def format_float_f(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    special = _special(value)
    if special is not None:
        return special
    digits, dp = _shortest_digits(value)
    return _format_fixed(math.copysign(1.0, value) < 0, digits, dp)


def format_float_g(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'g', -1, 64)``, as yaml.v3 writes floats (before ``.inf``)."""
    special = _special(value)
    if special is not None:
        return special
    digits, dp = _shortest_digits(value)
    negative = math.copysign(1.0, value) < 0
    # With the shortest precision Go switches to %e below 1e-4 and from 1e6 on.
    if digits and not -4 <= dp - 1 < 6:
        return _format_exponent(negative, digits, dp)
    return _format_fixed(negative, digits, dp)


def format_float_json(value: float) -> str:
    """Go ``encoding/json`` for a float64: %f, or %e (``e-7`` cleaned) outside [1e-6, 1e21)."""
    if math.isnan(value) or math.isinf(value):
        raise EncryptionError("json: unsupported value: NaN or infinity cannot be written to JSON")
    magnitude = abs(value)
    negative = math.copysign(1.0, value) < 0
    digits, dp = _shortest_digits(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _format_exponent(negative, digits, dp)
        if text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return _format_fixed(negative, digits, dp)


# --- typed values <-> plaintext bytes --------------------------------------------------------


def to_bytes(value: Any) -> bytes:
    """Return sops's ``ToBytes``: the bytes a leaf adds to the MAC (and encrypts to)."""
    cls = value.__class__
    if cls is str:
        return value.encode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
    if cls is bool:
        return b"True" if value else b"False"
    if cls is int:
        return str(value).encode()
    if cls is float:
        return format_float_f(value).encode()
    if cls is GoTime:
        return value.text.encode()  # type: ignore[no-any-return]
    if cls is Comment:
        return value.text.encode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
    if cls is bytes:
        return value  # type: ignore[no-any-return]
    raise EncryptionError(f"Value to encrypt has unsupported type {type(value).__name__}")


def type_and_bytes(value: Any) -> tuple[str, bytes]:
    """Return the ``type:`` tag and the plaintext bytes that ``value`` encrypts to."""
    cls = value.__class__
    if cls is str:
        return TYPE_STR, value.encode("utf-8", "surrogateescape")
    if cls is bool:
        return TYPE_BOOL, (b"True" if value else b"False")
    if cls is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise EncryptionError(
                "Cannot walk value, unknown type: uint64 (integer out of int64 range)"
            )
        return TYPE_INT, str(value).encode()
    if cls is float:
        return TYPE_FLOAT, format_float_f(value).encode()
    if cls is GoTime:
        text = value.text
        # Go's MarshalText refuses offsets of 24 hours or more (YAML reads `+24:00` fine).
        if text[-1] != "Z" and int(text[-5:-3]) >= 24:
            raise EncryptionError("a timestamp's zone offset is 24 hours or more")
        return TYPE_TIME, text.encode()
    if cls is Comment:
        return TYPE_COMMENT, value.text.encode("utf-8", "surrogateescape")
    raise EncryptionError(f"Value to encrypt has unsupported type {type(value).__name__}")


def is_go_int(text: str) -> bool:
    """Whether ``text`` is an optional sign and ASCII digits only (Go ``Atoi``'s syntax)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


def _float_pattern() -> re.Pattern[str]:
    import re  # on first use only: the boot path does without re

    return re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


_FLOAT_SPECIAL: Final = {
    "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
    "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
    "nan": math.nan,
}  # fmt: skip
_BOOLS: Final = {
    "1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False,
}  # fmt: skip


def parse_go_float(text: str) -> float:
    """Go ``strconv.ParseFloat(text, 64)`` for decimal, hex and special forms."""
    if _float_pattern().match(text):
        return float(text)
    special = _FLOAT_SPECIAL.get(text.lower())
    if special is not None:
        return special
    body = text.lstrip("+-")
    if body[:2] in ("0x", "0X") and "_" not in text:
        return float.fromhex(text)
    raise ValueError("invalid float")


def from_plaintext(type_tag: str, plaintext: bytes) -> Any:
    """Turn decrypted bytes back into a typed leaf, as ``Cipher.Decrypt`` does.

    Raises :class:`ValueDecryptionError` naming the type, never the value.
    """
    if type_tag == TYPE_STR:
        return plaintext.decode("utf-8", "surrogateescape")
    text = plaintext.decode("utf-8", "surrogateescape")
    try:
        if type_tag == TYPE_INT:
            if not is_go_int(text) or not INT64_MIN <= int(text) <= INT64_MAX:
                raise ValueError
            return int(text)
        if type_tag == TYPE_FLOAT:
            return parse_go_float(text)
        if type_tag == TYPE_BOOL:
            return _BOOLS[text]
        if type_tag == TYPE_TIME:
            return parse_rfc3339(text)
        if type_tag == TYPE_COMMENT:
            return Comment(text)
    except (ValueError, KeyError, OverflowError):
        raise ValueDecryptionError(
            f"a value of type {type_tag} does not parse as one after decryption"
        ) from None
    raise ValueDecryptionError(f"Unknown datatype: {type_tag}")


# --- ENC[…] --------------------------------------------------------------------------------


def _b64decode(field: str, text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueDecryptionError(f"Error base64-decoding {field}") from None


def parse_enc(value: str) -> tuple[bytes, bytes, bytes, str]:
    """Split an ``ENC[…]`` string into ``(data, iv, tag, type)``."""
    # Base64 has no ',' and the type no ']', so a well-formed value splits exactly like Go's
    # greedy regex would match it; anything else takes the regex itself.
    parts = value[20:-1].split(",") if value[-1:] == "]" and "\n" not in value else ()
    if (
        len(parts) == 4
        and value.startswith(ENC_PREFIX)
        and parts[0]
        and parts[1][:3] == "iv:"
        and parts[2][:4] == "tag:"
        and parts[3][:5] == "type:"
        and len(parts[1]) > 3
        and len(parts[2]) > 4
        and len(parts[3]) > 5
    ):
        data, iv, tag, type_tag = parts[0], parts[1][3:], parts[2][4:], parts[3][5:]
    else:
        match = _enc_pattern().match(value)
        if match is None:
            raise ValueDecryptionError("a value does not match sops' data format ENC[AES256_GCM,…]")
        data, iv, tag, type_tag = match.groups()
    a2b = binascii.a2b_base64
    try:
        return (
            a2b(data, strict_mode=True),
            a2b(iv, strict_mode=True),
            a2b(tag, strict_mode=True),
            type_tag,
        )
    except (binascii.Error, ValueError):
        # Name the first field that does not decode, as sops does.
        for field, text in (("data", data), ("iv", iv), ("tag", tag)):
            _b64decode(field, text)
        raise


def format_enc(data: bytes, iv: bytes, tag: bytes, type_tag: str) -> str:
    """Write an ``ENC[…]`` string with standard, padded base64."""
    b64 = binascii.b2a_base64
    return (
        f"ENC[AES256_GCM,data:{b64(data, newline=False).decode()},"
        f"iv:{b64(iv, newline=False).decode()},tag:{b64(tag, newline=False).decode()},"
        f"type:{type_tag}]"
    )
