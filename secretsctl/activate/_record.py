"""Typed immutable records that are cheap to define: activation runs at boot.

``class X(Record)`` with annotated fields is a :class:`typing.NamedTuple` to type checkers.
At run time it is a plain :func:`collections.namedtuple`: ``typing.NamedTuple`` turns every
string annotation (``from __future__ import annotations``) into a compiled ``ForwardRef``,
about 0.1 ms a field, several milliseconds per module at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    import collections

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
            return type(name, (base,), namespace)

    class Record(metaclass=_RecordMeta):
        """Base of the typed records."""


__all__ = ["Record"]
