"""Typed immutable records that are cheap to define: every boot-time command pays for them.

``class X(Record)`` with annotated fields is a :class:`typing.NamedTuple` to type checkers.
At run time it is a tuple subclass built as :func:`collections.namedtuple` builds one (the
same ``_fields``, ``_field_defaults``, ``_make``, ``_replace``, ``_asdict``, field
properties, ``__match_args__``), in one class creation: a frozen dataclass costs ~0.8 ms to
define (and importing :mod:`dataclasses` ~6 ms); ``typing.NamedTuple`` turns every string
annotation (``from __future__ import annotations``) into a compiled ``ForwardRef``; and
``namedtuple`` compiles a ``__new__`` per class and builds a class to subclass. Here one
``__new__`` is compiled per number of fields and given each record's argument names.
A record equals only a record of the same type (never a plain tuple, nor a record of another
type with the same fields): by its fields, or by the ``__eq__`` its class defines. It hashes
as the tuple of its fields unless its class defines ``__hash__``, and is updated with
``_replace``. A field that must not show in a repr (plaintext documents) is left out by a
``__repr__`` built with :func:`repr_without`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import CodeType
    from typing import Any
    from typing import NamedTuple as Record
else:
    from _collections import _tuplegetter

    _tuple_new = tuple.__new__
    _new_codes: dict[int, CodeType] = {}

    def _new_code(count: int) -> CodeType:
        # The code of ``__new__(_cls, _0, ..., _n)``, compiled once per field count; each
        # record's copy takes its own argument names (keywords match on them).
        code = _new_codes.get(count)
        if code is None:
            names = "".join(f"_{i}, " for i in range(count))
            namespace: dict[str, Any] = {}
            # The source holds only generated names (no input), as namedtuple's does.
            source = f"def __new__(_cls, {names}): return _tuple_new(_cls, ({names}))"
            exec(source, namespace)  # noqa: S102
            code = _new_codes[count] = namespace["__new__"].__code__
        return code

    def _make(cls: type, iterable: Iterable[Any]) -> Any:
        result = _tuple_new(cls, iterable)
        if len(result) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
        return result

    def _replace(self: Any, /, **changes: Any) -> Any:
        result = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def _repr(self: Any) -> str:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True)
        )
        return f"{self.__class__.__name__}({shown})"

    def _asdict(self: Any) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def _getnewargs(self: Any) -> tuple[Any, ...]:
        return tuple(self)

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
            defaults = tuple(namespace.pop(f) for f in fields if f in namespace)
            new = _FunctionType(
                _new_code(len(fields)).replace(co_varnames=("_cls", *fields)),
                {"_tuple_new": _tuple_new},
                "__new__",
                defaults or None,
            )
            new.__qualname__ = f"{namespace.get('__qualname__', name)}.__new__"
            for index, field in enumerate(fields):
                namespace[field] = _tuplegetter(index, f"Alias for field number {index}")
            namespace["__new__"] = new
            namespace["__slots__"] = ()
            namespace["_fields"] = namespace["__match_args__"] = fields
            with_default = fields[len(fields) - len(defaults) :]
            namespace["_field_defaults"] = dict(zip(with_default, defaults, strict=True))
            namespace["_make"] = classmethod(_make)
            namespace["_replace"] = _replace
            namespace["_asdict"] = _asdict
            namespace["__getnewargs__"] = _getnewargs
            namespace.setdefault("__repr__", _repr)
            namespace["__eq__"] = _same_type_only(namespace.get("__eq__", tuple.__eq__))
            namespace.setdefault("__ne__", _not_equal)
            # The C tuple hash: equal records hash alike, and dict lookups stay fast.
            namespace.setdefault("__hash__", tuple.__hash__)
            return type(name, (tuple,), namespace)

    _FunctionType = type(_make)

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
