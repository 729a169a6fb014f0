"""Choice and IntChoice behave as enum.Enum and enum.IntEnum, without importing enum at boot."""

from __future__ import annotations

import copy
import enum
import operator
import pickle
import subprocess
import sys
import types
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.activate.diff import ItemState
from secretsctl.activate.units import Delivery
from secretsctl.choice import Choice, IntChoice
from secretsctl.config.model import TemplateEngine
from secretsctl.errors import ExitCode
from secretsctl.keys.sources import LocationStatus
from secretsctl.render.model import ItemKind
from secretsctl.sops.stores import Format
from tests.conftest import NOT_AT_BOOT, REPO

# Enum gives the names "mro", "name" and "value" special meanings; Choice refuses the last two.
_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True),
    st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd")), min_size=1, max_size=6).filter(
        str.isidentifier
    ),
).filter(lambda s: s not in ("mro", "name", "value"))

# A small pool makes aliases (1, 1.0 and True are one value to enum) and found probes likely.
_POOL = st.sampled_from([0, 1, 1.0, True, False, "a", "", (1, 2), None, b"x", -3])
_OBJECT_VALUES = st.one_of(
    _POOL,
    st.integers(),
    st.text(max_size=5),
    st.floats(allow_nan=False),
    st.tuples(st.integers(), st.text(max_size=2)),
    st.frozensets(st.integers(), max_size=2),
    st.lists(st.integers(min_value=0, max_value=2), max_size=2),  # unhashable
)
_INT_VALUES = st.one_of(
    st.sampled_from([0, 1, True, False, -1, 2**70]),
    st.integers(),
    st.integers(min_value=-9, max_value=99).map(str),  # IntEnum converts with int()
)


def _members(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_NAMES, values, min_size=1, max_size=8)


def _pair(class_name: str, members: dict[str, Any], integral: bool) -> tuple[Any, Any]:
    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace.update(members)

        def doubled(self: Any) -> str:
            return self.name * 2

        namespace["doubled"] = doubled
        namespace["shout"] = property(lambda self: self.name.upper())
        namespace["first"] = classmethod(lambda cls: next(iter(cls)))
        namespace["constant"] = staticmethod(lambda: 42)

    stdlib = types.new_class(class_name, (enum.IntEnum if integral else enum.Enum,), None, body)
    ours = types.new_class(class_name, (IntChoice if integral else Choice,), None, body)
    return stdlib, ours


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    """What a call gives: ("ok", a member's name or the result) or ("error", its type, message)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # enum's 3.11 `in` warning
        try:
            result = call(*args)
        except Exception as error:
            return "error", (type(error), str(error))
    return "ok", result.name if isinstance(result, (enum.Enum, Choice)) else result


def _roundtrip(cls: type, member: Any, how: Any) -> Any:
    # Pickle finds a class by module and qualified name: the class is published meanwhile.
    globals()[cls.__qualname__] = cls
    try:
        return how(member)
    finally:
        del globals()[cls.__qualname__]


def _same_behaviour(stdlib: Any, ours: Any, probes: list[Any], integral: bool) -> None:
    assert repr(ours) == repr(stdlib)
    assert len(ours) == len(stdlib)
    assert bool(ours) is True
    assert [m.name for m in ours] == [m.name for m in stdlib]
    assert [m.name for m in reversed(ours)] == [m.name for m in reversed(stdlib)]
    assert list(ours.__members__) == list(stdlib.__members__)
    assert [m.name for m in ours.__members__.values()] == [
        m.name for m in stdlib.__members__.values()
    ]
    with pytest.raises(TypeError):
        ours.__members__["X"] = None
    for name, theirs in stdlib.__members__.items():
        member = ours[name]
        assert getattr(ours, name) is member
        assert isinstance(member, ours)
        assert isinstance(member, int) is integral
        assert member.name == theirs.name
        assert member.value == theirs.value
        assert type(member.value) is type(theirs.value)
        assert repr(member) == repr(theirs)
        assert str(member) == str(theirs)
        assert f"{member}" == f"{theirs}"
        for spec in ("", ">20", "^9") + (("05d", "x", "+") if integral else ()):
            assert format(member, spec) == format(theirs, spec)
        assert bool(member) is bool(theirs)
        assert (member == member.value) is (theirs == theirs.value)
        if integral:
            assert hash(member) == hash(theirs) == hash(member.value)
        assert ours(member.value) is member
        assert member in ours
        assert member.doubled() == theirs.doubled()
        assert member.shout == theirs.shout
        assert member.first().name == theirs.first().name
        assert ours.first() is member.first()
        assert member.constant() == ours.constant() == 42
        assert _roundtrip(ours, member, lambda m: pickle.loads(pickle.dumps(m))) is member
        assert copy.copy(member) is member
        assert copy.deepcopy(member) is member
        with pytest.raises(AttributeError):
            member.name = "other"
        with pytest.raises(AttributeError):
            member.value = "other"
        with pytest.raises(AttributeError):
            setattr(ours, name, None)
        with pytest.raises(AttributeError):
            delattr(ours, name)
    members = list(ours.__members__.values())
    theirs_all = list(stdlib.__members__.values())
    for i, a in enumerate(members):
        for j, b in enumerate(members):
            assert (a == b) is (theirs_all[i] == theirs_all[j])
            assert (a is b) is (theirs_all[i] is theirs_all[j])
    hashable = [v for v in (m.value for m in members) if v.__hash__ is not None]
    assert len(set(members)) == len(set(theirs_all))
    assert len(set(members) | set(hashable)) == len(set(theirs_all) | set(hashable))
    for probe in probes:
        assert _outcome(ours, probe) == _outcome(stdlib, probe), probe
        assert _outcome(operator.contains, ours, probe) == (
            "error",
            (
                TypeError,
                f"unsupported operand type(s) for 'in': '{type(probe).__qualname__}'"
                f" and '{type(ours).__qualname__}'",
            ),
        )
        assert _outcome(operator.contains, stdlib, probe)[0] == "error"
    for key in ["NOT_A_MEMBER_NAME", *(str(p) for p in probes)]:
        assert _outcome(operator.getitem, ours, key) == _outcome(operator.getitem, stdlib, key)
    with pytest.raises(TypeError, match="cannot extend"):
        types.new_class("Sub", (ours,))
    with pytest.raises(TypeError, match="cannot extend"):
        types.new_class("Sub", (stdlib,))


@given(_members(_OBJECT_VALUES), st.lists(_OBJECT_VALUES, max_size=4))
def test_choice_behaves_as_enum(members: dict[str, Any], probes: list[Any]) -> None:
    stdlib, ours = _pair("GenChoice", members, integral=False)
    _same_behaviour(stdlib, ours, probes, integral=False)


@given(_members(_INT_VALUES), st.lists(st.one_of(_INT_VALUES, _OBJECT_VALUES), max_size=4))
def test_int_choice_behaves_as_int_enum(members: dict[str, Any], probes: list[Any]) -> None:
    stdlib, ours = _pair("GenIntChoice", members, integral=True)
    _same_behaviour(stdlib, ours, probes, integral=True)


def test_a_member_of_another_class_is_not_in() -> None:
    assert Format.YAML not in ItemKind
    assert ExitCode.OK not in ItemState
    assert ItemKind.SECRET not in TemplateEngine


def test_int_choice_formats_and_compares_as_an_int() -> None:
    assert str(ExitCode.MAC_MISMATCH) == "51"
    assert f"{ExitCode.MAC_MISMATCH}" == "51"
    assert f"{ExitCode.MAC_MISMATCH:04d}" == "0051"
    assert repr(ExitCode.MAC_MISMATCH) == "<ExitCode.MAC_MISMATCH: 51>"
    assert ExitCode.MAC_MISMATCH == 51
    assert ExitCode(51) is ExitCode.MAC_MISMATCH
    assert {51: "mac"}[ExitCode.MAC_MISMATCH] == "mac"


def test_choice_formats_as_enum_and_never_equals_its_value() -> None:
    assert str(Format.YAML) == f"{Format.YAML}" == "Format.YAML"
    assert repr(Format.YAML) == "<Format.YAML: 'yaml'>"
    assert Format.YAML != "yaml"
    with pytest.raises(ValueError, match=r"^'toml' is not a valid Format$"):
        Format("toml")
    with pytest.raises(KeyError):
        Format["yaml"]


def test_the_secretsctl_choices() -> None:
    assert Format.for_path("x.yml") is Format.YAML
    assert Format.for_path("x") is Format.BINARY
    assert Format.JSON.store is sys.modules["secretsctl.sops.stores.json_store"]
    assert [d.value for d in Delivery] == ["systemctl", "list-files", "none"]
    assert LocationStatus("not set") is LocationStatus.NOT_SET
    assert [k.name for k in ItemKind] == ["SECRET", "TEMPLATE"]
    assert ItemState["REMOVED"].value == "removed"
    assert TemplateEngine("placeholder") is TemplateEngine.PLACEHOLDER


def test_a_name_starting_with_an_underscore_is_not_a_member() -> None:
    # Unlike enum, which makes `_x` a member (but not `__x__` or a mangled `__x`).
    ours = types.new_class("Private", (Choice,), None, lambda ns: ns.update(A=1, _cache=2))
    assert list(ours.__members__) == ["A"]
    assert ours._cache == 2  # type: ignore[attr-defined]


def test_members_take_no_new_attributes() -> None:
    with pytest.raises(AttributeError):
        Format.YAML.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del ExitCode.OK.name


def test_unsupported_definitions_are_refused() -> None:
    for body in (
        {"name": 1},
        {"value": 1},
        {"_missing_": classmethod(lambda cls, value: None)},
        {"_order_": "A"},
        {"__init__": lambda self, *args: None},
    ):
        with pytest.raises(TypeError):
            types.new_class("Refused", (Choice,), None, lambda ns, body=body: ns.update(body))


def test_a_choice_without_members_can_be_extended() -> None:
    def greeting(self: Any) -> str:
        return f"hello {self.value}"

    base = types.new_class("Base", (Choice,), None, lambda ns: ns.update(greet=greeting))
    child = types.new_class("Child", (base,), None, lambda ns: ns.update(A="a"))
    assert child.A.greet() == "hello a"
    assert isinstance(child.A, base)
    with pytest.raises(TypeError, match="no members"):
        base("a")


# The modules that define the boot path's enumerations.
_BOOT_MODULES = (
    "secretsctl.choice",
    "secretsctl.errors",
    "secretsctl.sops.stores",
    "secretsctl.render.model",
    "secretsctl.activate.diff",
    "secretsctl.keys.sources",
    "secretsctl.config.model",
    "secretsctl.activate.units",
)


def test_the_choice_modules_import_no_enum() -> None:
    code = (
        "import sys\n"
        f"before = {{m for m in {NOT_AT_BOOT!r} if m in sys.modules}}\n"
        f"for name in {_BOOT_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in {NOT_AT_BOOT!r} if m in sys.modules and m not in before))\n"
        "print(sorted(before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.splitlines() == ["[]", "[]"]
