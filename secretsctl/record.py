"""Typed immutable records that are cheap to define: every boot-time command pays for them.

``class X(Record)`` with annotated fields is a :class:`typing.NamedTuple` to type checkers.
At run time it is a plain :func:`collections.namedtuple`: a frozen dataclass costs ~0.8 ms
to define (and importing :mod:`dataclasses` ~6 ms), and ``typing.NamedTuple`` turns every
string annotation (``from __future__ import annotations``) into a compiled ``ForwardRef``;
a namedtuple costs ~0.1 ms. A record equals only a record of the same type (never a plain
tuple, nor a record of another type with the same fields): by its fields, or by the
``__eq__`` its class defines. It hashes as the tuple of its fields unless its class defines
``__hash__``, and is updated with ``_replace``. A field that must not show in a repr
(plaintext documents) is left out by a ``__repr__`` built with :func:`repr_without`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any
    from typing import NamedTuple as Record
else:
    import collections
    from collections.abc import Callable

    def _same_type_only(same_type_eq: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        # Records are tuples, and tuple equality ignores the type: A(1) == B(1) and
        # A(1) == (1,) would both hold. To any other tuple a record answers False, not
        # NotImplemented, else Python would retry the comparison as tuple == tuple.
        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is self.__class__:
                return same_type_eq(self, other)
            return False if isinstance(other, tuple) else NotImplemented

        return __eq__

    def _not_equal(self: Any, other: Any) -> Any:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    class _RecordMeta(type):
        def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
            if not bases:
                return super().__new__(cls, name, bases, namespace)
            fields = tuple(namespace.pop("__annotations__", {}))
            defaults = [namespace.pop(f) for f in fields if f in namespace]
            base = collections.namedtuple(
                name, fields, defaults=defaults, module=namespace.get("__module__")
            )
            namespace["__slots__"] = ()
            namespace["__eq__"] = _same_type_only(namespace.get("__eq__", tuple.__eq__))
            namespace.setdefault("__ne__", _not_equal)
            # The C tuple hash: equal records hash alike, and dict lookups stay fast.
            namespace.setdefault("__hash__", tuple.__hash__)
            return type(name, (base,), namespace)

    class Record(metaclass=_RecordMeta):
        """Base of the typed records."""


def repr_without(record: Any, *hidden: str) -> str:
    """Return the record's repr with the ``hidden`` fields shown as ``...``."""
    shown = ", ".join(
        f"{name}=..." if name in hidden else f"{name}={value!r}"
        for name, value in zip(record._fields, record, strict=True)
    )
    return f"{type(record).__name__}({shown})"


__all__ = ["Record", "repr_without"]
