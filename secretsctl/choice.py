"""Enumerations that are cheap to import and define: every boot-time command pays for them.

``class X(Choice)`` is an :class:`enum.Enum` to type checkers (exhaustive matches, literal
members), ``class X(IntChoice)`` an :class:`enum.IntEnum`. At run time they are built by a
small metaclass: importing :mod:`enum` costs ~3 ms at start-up (it pulls in functools,
collections, operator and types), and defining an enum class costs several times more than a
class made here.

Members behave as Python 3.11's: instances of their class (an IntChoice member is an int),
with ``name`` and ``value``; ``Cls(value)`` and ``Cls["NAME"]`` look them up (ValueError and
KeyError as enum raises them); iterating, ``len``, ``in``, ``reversed`` and ``__members__``
work on the class; ``repr``, ``str`` and ``format`` are enum's and IntEnum's; members compare
by identity (IntChoice: as ints); pickle and copy give the same member; an alias (a second name
for a value) is the first member, as in enum; a class with members cannot be subclassed.
Methods, properties, classmethods and staticmethods of the class body are not members, nor is
any name starting with ``_`` (enum would make ``_x`` a member). Members cannot be given
attributes or reassigned. Not provided: the functional API, ``auto``, ``_missing_`` and the
other ``_sunder_`` hooks, a ``__new__`` or ``__init__`` of the class body, members named
``name`` or ``value`` (each of these is a TypeError at class definition).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterator
    from enum import Enum as Choice
    from enum import IntEnum as IntChoice
    from typing import Any
else:
    _MappingProxy = type(type.__dict__)  # types.MappingProxyType, without importing types
    _RESERVED = ("name", "value")

    def _is_descriptor(value: object) -> bool:
        return (
            hasattr(value, "__get__") or hasattr(value, "__set__") or hasattr(value, "__delete__")
        )

    def _is_sunder(key: str) -> bool:
        return len(key) > 2 and key[0] == key[-1] == "_" and key[1] != "_" and key[-2] != "_"

    class _ChoiceType(type):
        def __new__(
            mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]
        ) -> _ChoiceType:
            for base in bases:
                if isinstance(base, _ChoiceType) and base._member_names_:
                    raise TypeError(f"<enum {name!r}> cannot extend {base!r}")
            values: dict[str, Any] = {}
            for key, value in namespace.items():
                if key[0] == "_":
                    if key in ("__new__", "__init__") or _is_sunder(key):
                        raise TypeError(f"{name}: {key} is not supported by secretsctl.choice")
                elif not _is_descriptor(value):
                    if key in _RESERVED:
                        raise TypeError(f"{name}: a member cannot be named {key!r}")
                    values[key] = value
            for key in values:
                del namespace[key]
            cls = super().__new__(mcls, name, bases, namespace)
            member_map: dict[str, Any] = {}
            member_names: list[str] = []
            by_value: dict[Any, Any] = {}
            integral = issubclass(cls, int)
            for key, value in values.items():
                if integral:
                    args = value if isinstance(value, tuple) else (value,)
                    member = int.__new__(cls, *args)
                    value = int(*args)
                else:
                    member = object.__new__(cls)
                member.__dict__.update(_name_=key, _value_=value)
                try:
                    member = by_value.setdefault(value, member)
                except TypeError:  # an unhashable value: found by equality, as enum does
                    member = next(
                        (known for known in member_map.values() if known._value_ == value), member
                    )
                if member._name_ == key:
                    member_names.append(key)
                member_map[key] = member
                type.__setattr__(cls, key, member)
            type.__setattr__(cls, "_member_names_", member_names)
            type.__setattr__(cls, "_member_map_", member_map)
            type.__setattr__(cls, "_value2member_map_", by_value)
            return cls

        def __call__(cls, value: object) -> Any:
            try:
                return cls._value2member_map_[value]
            except KeyError:
                pass
            except TypeError:
                for member in cls._member_map_.values():
                    if member._value_ == value:
                        return member
            if not cls._member_map_:
                raise TypeError(f"{cls!r} has no members defined")
            raise ValueError(f"{value!r} is not a valid {cls.__qualname__}")

        def __getitem__(cls, name: str) -> Any:
            return cls._member_map_[name]

        def __iter__(cls) -> Iterator[Any]:
            member_map = cls._member_map_
            return (member_map[name] for name in cls._member_names_)

        def __reversed__(cls) -> Iterator[Any]:
            member_map = cls._member_map_
            return (member_map[name] for name in reversed(cls._member_names_))

        def __len__(cls) -> int:
            return len(cls._member_names_)

        def __contains__(cls, member: object) -> bool:
            if not isinstance(member, Choice):
                raise TypeError(
                    f"unsupported operand type(s) for 'in': '{type(member).__qualname__}'"
                    f" and '{type(cls).__qualname__}'"
                )
            return isinstance(member, cls) and member._name_ in cls._member_map_

        @property
        def __members__(cls) -> Any:
            return _MappingProxy(cls._member_map_)

        def __bool__(cls) -> bool:
            return True  # a class with no members is still true, as any class

        def __repr__(cls) -> str:
            return f"<enum {cls.__name__!r}>"

        def __setattr__(cls, name: str, value: object) -> None:
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"cannot reassign member {name!r}")
            super().__setattr__(name, value)

        def __delattr__(cls, name: str) -> None:
            if name in cls.__dict__.get("_member_map_", ()):
                raise AttributeError(f"{cls.__name__!r} cannot delete member {name!r}.")
            super().__delattr__(name)

    class Choice(metaclass=_ChoiceType):
        """Base of the enumerations (an :class:`enum.Enum` to type checkers)."""

        @property
        def name(self) -> str:
            """The name of the member."""
            return self._name_

        @property
        def value(self) -> Any:
            """The value of the member."""
            return self._value_

        def __repr__(self) -> str:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

        def __str__(self) -> str:
            return f"{type(self).__name__}.{self._name_}"

        def __format__(self, format_spec: str) -> str:
            return str.__format__(str(self), format_spec)

        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError(f"cannot set attribute {name!r} of a {type(self).__name__} member")

        def __delattr__(self, name: str) -> None:
            raise AttributeError(
                f"cannot delete attribute {name!r} of a {type(self).__name__} member"
            )

        def __reduce_ex__(self, protocol: object) -> tuple[type, tuple[Any]]:
            return type(self), (self._value_,)

        def __copy__(self) -> Any:
            return self

        def __deepcopy__(self, memo: object) -> Any:
            return self

    class IntChoice(int, Choice):
        """Base of the integer enumerations (an :class:`enum.IntEnum` to type checkers)."""

        # As IntEnum: repr is the enum's, str and format the int's, hash and == the int's.
        __repr__ = Choice.__repr__
        __str__ = int.__repr__
        __format__ = int.__format__
        __reduce_ex__ = Choice.__reduce_ex__


__all__ = ["Choice", "IntChoice"]
