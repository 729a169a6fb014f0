"""Tree operations of set and unset, their PATH and VALUE parsers, and key-group diffs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from secretsctl import change
from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.sops.codec import extract
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.property.strategies import keys, scalars

# --- set ------------------------------------------------------------------------------------


def doc() -> Branch:
    return Branch(
        [
            (Comment(" head"), None),
            ("user", "admin"),
            ("port", 5432),
            ("nested", Branch([("token", "t"), ("deep", Branch([("x", 1)]))])),
            ("list", Seq(["one", Comment(" c"), "two"])),
        ]
    )


def test_set_replaces_a_value_in_place_keeping_order_and_comments() -> None:
    tree = doc()
    assert change.set_value(tree, ["nested", "token"], "new") is True
    assert tree.keys() == ["user", "port", "nested", "list"]
    assert tree[0] == (Comment(" head"), None)
    assert extract(tree, ["nested", "token"]) == "new"
    assert extract(tree, ["nested", "deep", "x"]) == 1


def test_set_of_the_same_value_reports_no_change() -> None:
    tree = doc()
    assert change.set_value(tree, ["user"], "admin") is False
    assert change.set_value(tree, ["nested"], copy.deepcopy(doc()[3][1])) is False


def test_set_compares_types_as_sops_does() -> None:
    # JSON numbers are float64 in sops: 5432.0 over the int 5432 is a change (type:float).
    tree = doc()
    assert change.set_value(tree, ["port"], 5432.0) is True
    assert type(extract(tree, ["port"])) is float


def test_set_creates_missing_keys_and_one_element_lists() -> None:
    tree = doc()
    assert change.set_value(tree, ["a", "b", 0, "c"], "v") is True
    assert tree.keys()[-1] == "a"
    assert extract(tree, ["a", "b", 0, "c"]) == "v"
    assert isinstance(extract(tree, ["a", "b"]), Seq)


def test_set_past_the_end_of_a_list_appends() -> None:
    tree = doc()
    change.set_value(tree, ["list", 9], "v")
    assert list(extract(tree, ["list"])) == ["one", Comment(" c"), "two", "v"]


def test_list_indices_count_comments_as_in_sops() -> None:
    tree = doc()
    change.set_value(tree, ["list", 1], "v")
    assert list(extract(tree, ["list"])) == ["one", "v", "two"]


def test_set_through_a_scalar_replaces_it() -> None:
    tree = doc()
    change.set_value(tree, ["user", "x"], "v")
    assert extract(tree, ["user", "x"]) == "v"
    change.set_value(tree, ["port", 0], "v")
    assert list(extract(tree, ["port"])) == ["v"]


@pytest.mark.parametrize(
    ("path", "words"),
    [(["nested", 0], "is an index"), (["list", "k"], "is a key")],
)
def test_set_refuses_an_index_on_a_mapping_and_a_key_on_a_list(
    path: list[str | int], words: str
) -> None:
    tree = doc()
    with pytest.raises(SecretsctlError) as caught:
        change.set_value(tree, path, "v")
    assert words in caught.value.message
    assert caught.value.exit_code == ExitCode.GENERIC


# --- unset ----------------------------------------------------------------------------------


def test_unset_removes_a_key_and_a_list_element() -> None:
    tree = doc()
    change.unset_value(tree, ["nested", "deep"])
    assert extract(tree, ["nested"]).keys() == ["token"]
    change.unset_value(tree, ["list", 1])
    assert list(extract(tree, ["list"])) == ["one", "two"]


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        (["nope"], change.KeyNotFoundError),
        (["list", 3], change.KeyNotFoundError),
        (["nested", 0], change.KeyNotFoundError),
        (["user", "x"], SecretsctlError),
        (["list", "x"], SecretsctlError),
    ],
)
def test_unset_of_what_is_not_there_fails_and_changes_nothing(
    path: list[str | int], cls: type[SecretsctlError]
) -> None:
    tree = doc()
    with pytest.raises(cls) as caught:
        change.unset_value(tree, path)
    assert caught.value.exit_code == ExitCode.GENERIC
    assert change._same(tree, doc())


# --- PATH and VALUE -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["user", "", "[-1]", '["a"]x', "[a]"])
def test_a_bad_path_is_exit_7(text: str) -> None:
    with pytest.raises(SecretsctlError) as caught:
        change.parse_set_path(text)
    assert caught.value.exit_code == ExitCode.INVALID_SET_FORMAT


def test_paths_parse_as_extract_paths() -> None:
    assert change.parse_set_path("""["a"]['b'][0][+2]""") == ["a", "b", 0, 2]


@pytest.mark.parametrize("text", ["notjson", "", "1 2", "NaN", "{", '"a"}, {"b": 1'])
def test_a_value_that_is_not_json_is_exit_7(text: str) -> None:
    with pytest.raises(SecretsctlError) as caught:
        change.parse_set_value(text)
    assert caught.value.exit_code == ExitCode.INVALID_SET_FORMAT
    assert text not in caught.value.message or text == ""


def test_values_follow_sops_json_semantics() -> None:
    value = change.parse_set_value('{"b": 1, "a": [true, null, "x"], "c": {}}')
    assert isinstance(value, Branch)
    assert value.keys() == ["b", "a", "c"]
    assert type(value.get("b")) is float
    assert list(value.get("a")) == [True, None, "x"]
    assert type(change.parse_set_value(" 42\n")) is float
    assert change.parse_set_value('"text"') == "text"
    assert change.parse_set_value("null") is None


# --- properties -----------------------------------------------------------------------------


def _tree(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(st.tuples(keys, children), max_size=4).map(Branch),
        st.lists(children, max_size=4).map(Seq),
    )


trees = st.lists(st.tuples(keys, st.recursive(scalars, _tree, max_leaves=12)), max_size=6).map(
    Branch
)
values = st.recursive(scalars, _tree, max_leaves=6)


def _path_in(tree: Branch, draw: st.DrawFn) -> list[str | int]:
    """A path that is valid for set: keys through mappings, indices through lists."""
    path: list[str | int] = []
    node: Any = tree
    while True:
        if isinstance(node, Branch):
            names = node.keys()
            key = draw(st.sampled_from(names) | keys) if names else draw(keys)
            path.append(key)
            node = node.get(key)
        elif isinstance(node, Seq):
            index = draw(st.integers(0, max(len(node) - 1, 0)))
            path.append(index)
            node = node[index] if index < len(node) else None
        else:
            break
        if node is None or draw(st.booleans()):
            return path
    return path


@st.composite
def tree_and_path(draw: st.DrawFn) -> tuple[Branch, list[str | int]]:
    tree = draw(trees)
    return tree, _path_in(tree, draw)


@settings(max_examples=150, deadline=None)
@given(tree_and_path(), values)
def test_what_is_set_is_what_extract_finds(case: tuple[Branch, list[Any]], value: Any) -> None:
    tree, path = case
    change.set_value(tree, path, value)
    assert change._same(extract(tree, path), value)
    assert change.set_value(tree, path, copy.deepcopy(value)) is False


@settings(max_examples=150, deadline=None)
@given(trees, keys, values)
def test_set_of_a_new_key_then_unset_restores_the_tree(tree: Branch, key: str, value: Any) -> None:
    names = tree.keys()
    assume(key not in names)
    before = copy.deepcopy(tree)
    assert change.set_value(tree, [key], value) is True
    change.unset_value(tree, [key])
    assert change._same(tree, before)


def _as_sops(value: Any) -> Any:
    if isinstance(value, dict):
        return Branch([(k, _as_sops(v)) for k, v in value.items()])
    if isinstance(value, list):
        return Seq([_as_sops(v) for v in value])
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_values_become_sops_values(value: Any) -> None:
    assert change._same(change.parse_set_value(json.dumps(value)), _as_sops(value))


path_keys = st.text(min_size=1, max_size=8).filter(
    lambda k: "[" not in k and "]" not in k and k[0] not in "\"'"
)


@given(st.lists(st.one_of(path_keys, st.integers(0, 10**6)), min_size=1, max_size=5))
def test_paths_round_trip(path: list[str | int]) -> None:
    text = "".join(f"[{c}]" if isinstance(c, int) else f'["{c}"]' for c in path)
    assert change.parse_set_path(text) == path


# --- key groups -----------------------------------------------------------------------------


def test_key_group_diff_by_position() -> None:
    diffs = change.diff_key_groups([["a", "b"], ["c"]], [["b", "d"]])
    assert diffs[0] == change.GroupDiff(common=("b",), added=("d",), removed=("a",))
    assert diffs[1] == change.GroupDiff(common=(), added=(), removed=("c",))
