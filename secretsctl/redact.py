"""Types that keep secret material out of reprs, logs and exceptions."""

from __future__ import annotations

from _operator import _compare_digest
from typing import Generic, TypeVar

T = TypeVar("T")

REDACTED = "<redacted>"


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in time that depends on their length only.

    ``hmac.compare_digest`` (which cryptography's ``bytes_eq`` calls) is OpenSSL's
    ``CRYPTO_memcmp`` through ``_hashlib`` when that loads, and otherwise CPython's own
    constant-time loop, ``_operator._compare_digest``, used here: loading ``_hashlib``
    (OpenSSL) costs ~2 ms of every decrypt at boot.
    """
    return bool(_compare_digest(a, b))


class Secret(Generic[T]):
    """A secret value. ``repr`` and ``str`` never show it; :meth:`reveal` returns it.

    ``==`` compares in constant time for bytes and strings, so a test or a caller cannot turn a
    comparison into a timing oracle by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        """Return the value. Call this only where the value is meant to leave."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self._value, other._value
        if isinstance(mine, str) and isinstance(theirs, str):
            return constant_time_equal(mine.encode(), theirs.encode())
        if isinstance(mine, bytes) and isinstance(theirs, bytes):
            return constant_time_equal(mine, theirs)
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
