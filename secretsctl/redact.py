"""Types that keep secret material out of reprs, logs and exceptions."""

from __future__ import annotations

from _operator import _compare_digest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Generic, TypeVar
else:

    class Generic:
        """At run time a plain base: ``Secret[bytes]`` matters to the type checker only."""

        def __class_getitem__(cls, _parameter: object) -> type:
            return object

    TypeVar = str

T = TypeVar("T")

REDACTED = "<redacted>"


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in time that depends on their length only.

    CPython's own constant-time comparison, which ``hmac.compare_digest`` is when it cannot
    use OpenSSL's: importing :mod:`hmac` loads OpenSSL through ``_hashlib`` (~3 ms at boot).
    """
    return _compare_digest(a, b)


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
