"""Types that keep secret material out of reprs, logs and exceptions."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

REDACTED = "<redacted>"


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in time that depends on their length only.

    The public ``hmac.compare_digest`` (OpenSSL's ``CRYPTO_memcmp``), not a private module
    of CPython's: imported here, when a comparison is made, because loading OpenSSL through
    ``_hashlib`` costs ~3 ms that runs which compare nothing should not pay.
    """
    from hmac import compare_digest

    return compare_digest(a, b)


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
