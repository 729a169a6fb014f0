"""Records: immutable, typed, cheap, and never showing a hidden field in a repr."""

from __future__ import annotations

import collections
import copy
import operator
import pickle
from keyword import iskeyword
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.config.model import Origin, Ownership, SecretSpec, TemplateSpec
from secretsctl.record import Record, repr_without
from secretsctl.redact import Secret
from secretsctl.render.model import ItemKind, PlannedFile
from secretsctl.sops.codec import Decrypted
from secretsctl.sops.metadata import Metadata
from secretsctl.sops.stores import Format


class Point(Record):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.x + self.y


def test_defaults_keywords_methods_and_replace() -> None:
    point = Point(1)
    assert (point.x, point.y, point.tags, point.total) == (1, 0, (), 1)
    assert Point(x=1, y=2) == Point(1, 2)
    moved = point._replace(y=5)
    assert moved.total == 6
    assert point.y == 0
    assert Point._fields == ("x", "y", "tags")
    assert not hasattr(point, "__dict__")


def test_records_are_immutable() -> None:
    point = Point(1)
    with pytest.raises(AttributeError):
        point.x = 2  # type: ignore[misc]


def test_missing_field_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_repr_without_hides_the_named_fields() -> None:
    assert repr_without(Point(1, 2), "y") == "Point(x=1, y=..., tags=())"


def test_origin_equality_ignores_field_positions() -> None:
    with_fields = Origin("f", 1, 2, "p", {"a": (1, 1)})
    assert with_fields == Origin("f", 1, 2, "p")
    assert hash(with_fields) == hash(Origin("f", 1, 2, "p"))
    assert with_fields != Origin("f", 1, 3, "p")
    assert Origin("f").fields == {}
    assert Origin("f").of("mode") == "f: mode"


def test_specs_compare_by_value() -> None:
    spec = SecretSpec(name="a", sops_file="/s", mode=0o440, restart_units=("x",))
    assert spec == SecretSpec("a", "/s", mode=0o440, restart_units=("x",))
    assert spec._replace(ownership=Ownership(owner="b")).ownership.owner == "b"
    assert {Ownership(owner="a"): 1}[Ownership(owner="a")] == 1


def test_template_text_is_not_in_the_repr() -> None:
    text = "{{ marker_in_template_source }}"
    assert "marker_in_template_source" not in repr(TemplateSpec(name="t", text=text))


def test_decrypted_documents_are_not_in_the_repr() -> None:
    plaintext = "plaintext-marker-0123456789"
    decrypted = Decrypted(
        [{"k": plaintext}],  # type: ignore[arg-type]
        Metadata((), "2024-01-01T00:00:00Z", "mac"),
        Format.YAML,
        Secret(b"k" * 32),
    )
    assert plaintext not in repr(decrypted), "a decrypted value shows in the repr"
    assert "documents=..." in repr(decrypted)


def test_planned_file_repr_hides_the_content() -> None:
    planned = PlannedFile(ItemKind.SECRET, "a", Secret(b"content-marker"), 0, 0, 0o400, "0", "0")
    assert "content-marker" not in repr(planned)
    assert planned.relative_path == "a"


class Twin(Record):
    """Point's fields under another name: equal fields, another type."""

    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


_Fields = tuple[int, int, tuple[str, ...]]
_fields = st.tuples(st.integers(), st.integers(), st.lists(st.text(max_size=3)).map(tuple))


def _unequal_both_ways(left: object, right: object) -> bool:
    """``==`` and ``!=`` both say unequal, whichever side is asked first."""
    return not any(map(operator.eq, (left, right), (right, left))) and all(
        map(operator.ne, (left, right), (right, left))
    )


@given(_fields)
def test_records_of_another_type_or_plain_tuples_are_unequal(fields: _Fields) -> None:
    point = Point(*fields)
    assert _unequal_both_ways(point, Twin(*fields))
    assert _unequal_both_ways(point, fields)
    assert len({point, Twin(*fields), fields}) == 3


@given(_fields)
def test_records_of_one_type_with_equal_fields_are_equal_and_hash_alike(fields: _Fields) -> None:
    first, second = Point(*fields), Point(*fields)
    assert first == second
    assert not operator.ne(first, second)
    assert hash(first) == hash(second)
    assert {first: 1}[second] == 1


def test_a_record_with_its_own_equality_stays_type_aware() -> None:
    origin = Origin("f", 1, 2, "p")
    assert _unequal_both_ways(origin, tuple(origin))
    assert origin == Origin("f", 1, 2, "p", {"a": (1, 1)})


def test_other_objects_still_decide_their_own_equality() -> None:
    assert Point(1) == mock.ANY
    assert operator.eq(mock.ANY, Point(1))
    assert Point(1) != object()


_names = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: not iskeyword(n)),
    min_size=0,
    max_size=12,
    unique=True,
)


@given(_names, st.data())
def test_a_record_behaves_as_the_namedtuple_of_its_fields(
    names: list[str], data: st.DataObject
) -> None:
    defaulted = data.draw(st.integers(0, len(names)))
    defaults = tuple(range(100, 100 + defaulted))
    namespace: dict[str, object] = {"__annotations__": dict.fromkeys(names, "int")}
    namespace.update(zip(names[len(names) - defaulted :], defaults, strict=True))
    record = type(Record)("Made", (Record,), {"__module__": __name__, **namespace})
    reference = collections.namedtuple("Made", names, defaults=defaults)
    given_values = data.draw(
        st.lists(st.integers(), min_size=len(names) - defaulted, max_size=len(names))
    )
    made, expected = record(*given_values), reference(*given_values)
    assert tuple(made) == tuple(expected)
    assert record(**dict(zip(names, given_values, strict=False))) == made
    assert repr(made) == repr(expected)
    assert made._asdict() == expected._asdict()
    assert record._fields == reference._fields == record.__match_args__
    assert record._field_defaults == reference._field_defaults
    assert [getattr(made, name) for name in names] == list(expected)
    assert record._make(tuple(expected)) == made
    if names:
        changed = made._replace(**{names[0]: -1})
        assert changed[0] == -1
        assert tuple(changed[1:]) == tuple(made[1:])


def test_a_record_refuses_what_namedtuple_refuses() -> None:
    with pytest.raises(TypeError, match="Expected 3 arguments, got 1"):
        Point._make((1,))
    with pytest.raises(ValueError, match="unexpected field names: \\['z'\\]"):
        Point(1)._replace(z=2)
    with pytest.raises(TypeError):
        Point(1, 2, (), 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, x=1)  # type: ignore[misc]


def test_a_record_pickles_copies_and_matches_by_field() -> None:
    point = Point(1, 2, ("a",))
    assert pickle.loads(pickle.dumps(point)) == point
    assert copy.deepcopy(point) == point
    match point:
        case Point(x, y):
            assert (x, y) == (1, 2)
        case _:
            pytest.fail("a record did not match its own class pattern")
    assert Point.__new__.__qualname__ == "Point.__new__"
