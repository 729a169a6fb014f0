"""The YAML and JSON stores' limits: alias expansion and nesting depth (secretsctl.limits).

Every loader of a YAML file is covered: the fast reader, libyaml's events (no comment), the
comment-placing replay (a comment anywhere), each in the plain and the encrypted mode. The
hostile inputs run under a memory bound, so a regression fails instead of eating the machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from secretsctl.errors import ExitCode, InputLimitError, MetadataError
from secretsctl.limits import MAX_NESTING_DEPTH
from secretsctl.sops.stores import json_store
from secretsctl.sops.stores import yaml as yaml_store
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.memory_support import memory_headroom, refusal


def alias_bomb(levels: int = 9, fanout: int = 9, suffix: str = "_unencrypted") -> str:
    """``a0: &a0 [x, …]`` then ``aN: &aN [*aN-1, …]``: fanout ** (levels + 1) leaves."""
    lines = [f"a0: &a0 [{', '.join(['x'] * fanout)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}{suffix}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9, fanout: int = 9) -> str:
    """The same with mappings and merge keys: every level merges the one before, many times."""
    lines = ["m0: &m0 {" + ", ".join(f"k{j}: x" for j in range(fanout)) + "}"]
    for i in range(1, levels + 1):
        entries = ", ".join(f"k{j}: {{<<: *m{i - 1}}}" for j in range(fanout))
        lines.append(f"m{i}: &m{i} {{{entries}}}")
    return "\n".join(lines) + "\n"


LOADERS: dict[str, Callable[[bytes], Any]] = {
    "plain": yaml_store.load_plain,
    "encrypted": yaml_store.load_encrypted,
}
# Which loader reads the text: the fast reader (block YAML as yaml.v3 writes it), libyaml's
# events (an explicit document start sends the text there), the replay that places comments
# (any comment). Each prefix adds one line and no node.
PATHS = {"events": "---\n", "comments": "--- # a comment\n"}
ALL_PATHS = {"fast": "", **PATHS}


def tree_size(value: Any) -> int:
    """Nodes in a tree, comments left out."""
    if isinstance(value, Branch):
        return 1 + sum(tree_size(k) + tree_size(v) for k, v in value if not isinstance(k, Comment))
    if isinstance(value, Seq):
        return 1 + sum(tree_size(v) for v in value if not isinstance(v, Comment))
    return 1


def depth_of(value: Any) -> int:
    if isinstance(value, Branch):
        return 1 + max((depth_of(v) for _, v in value), default=0)
    if isinstance(value, Seq):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# --- alias expansion -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", LOADERS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bomb", [alias_bomb(), merge_bomb()], ids=["sequences", "merge-keys"])
def test_an_alias_bomb_is_refused_before_it_expands(mode: str, path: str, bomb: str) -> None:
    data = (PATHS[path] + bomb).encode()
    error = refusal(lambda: LOADERS[mode](data), InputLimitError)
    assert error.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert re.fullmatch(
        r"yaml: line \d+: the document expands too much through aliases", error.message
    )


@pytest.mark.parametrize("path", PATHS)
def test_an_alias_bomb_in_a_key_or_a_later_document_is_refused(path: str) -> None:
    lines = alias_bomb().splitlines()
    as_key = "\n".join(lines[:-1]) + f"\n? {lines[-1].split(': ', 1)[1]}\n: v\n"
    later = "a: 1\n---\n" + alias_bomb()
    for text in (as_key, later):
        data = (PATHS[path] + text).encode()
        error = refusal(lambda: yaml_store.load_plain(data), InputLimitError)  # noqa: B023
        assert error.message.endswith("expands too much through aliases")


@pytest.mark.parametrize("path", PATHS)
def test_anchors_and_merge_keys_as_real_files_use_them_still_work(path: str) -> None:
    """A base mapping merged into many services: well within the limit."""
    base = "base: &base {" + ", ".join(f"setting{j}: v{j}" for j in range(30)) + "}\n"
    services = "".join(f"service{i}:\n    <<: *base\n    name: s{i}\n" for i in range(300))
    lists = "units: &units [a, b, c]\n" + "".join(f"u{i}: *units\n" for i in range(100))
    text = PATHS[path] + base + services + lists
    document = yaml_store.load_plain(text.encode())[0]
    assert document.get("service299").get("<<") == document.get("base")
    assert document.get("u99") == Seq(["a", "b", "c"])


@pytest.mark.parametrize("path", PATHS)
def test_a_small_document_may_expand_about_a_hundredfold(path: str) -> None:
    """go-yaml's rule: below 400,000 nodes, 99 % of them may come through aliases."""

    def aliases(count: int) -> bytes:
        items = ", ".join(f"v{i}" for i in range(100))
        return f"{PATHS[path]}base: &b [{items}]\nuses: [{', '.join(['*b'] * count)}]\n".encode()

    document = yaml_store.load_plain(aliases(90))[0]  # 105 nodes written, 9,090 through aliases
    assert tree_size(document) == 105 + 90 * 101
    error = refusal(lambda: yaml_store.load_plain(aliases(110)), InputLimitError)
    assert re.fullmatch(
        r"yaml: line [23]: the document expands too much through aliases", error.message
    )


def test_both_yaml_loaders_draw_the_line_at_the_same_alias() -> None:
    """The replay counts nodes in the order libyaml's events do, so both refuse the same."""
    for fanout in range(2, 14):
        for levels in range(1, 6):
            text = alias_bomb(levels, fanout)
            outcomes = []
            for prefix in PATHS.values():
                try:
                    yaml_store.load_plain((prefix + text).encode())
                    outcomes.append("ok")
                except InputLimitError as error:
                    outcomes.append(error.message)
            assert outcomes[0] == outcomes[1], (fanout, levels)


# --- nesting depth -------------------------------------------------------------------------


def nested_yaml(depth: int, style: str) -> str:
    """A document whose deepest container is at ``depth`` (the top-level mapping is 1)."""
    inner = depth - 1
    if style == "flow-seq":
        return "a: " + "[" * inner + "x" + "]" * inner + "\n"
    if style == "flow-map":
        return "a: " + "{b: " * inner + "x" + "}" * inner + "\n"
    if style == "block-map":
        return (
            "".join("    " * level + "k:\n" for level in range(inner)) + "    " * inner + "k: x\n"
        )
    if style == "compact-seq":
        return "a:\n    " + "- " * inner + "x\n"
    raise AssertionError(style)


STYLES = ["flow-seq", "flow-map", "block-map", "compact-seq"]


@pytest.mark.parametrize("mode", LOADERS)
@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("style", STYLES)
def test_nesting_up_to_the_limit_reads_and_one_more_level_is_refused(
    mode: str, path: str, style: str
) -> None:
    # Flow collections are outside the fast reader's shape: "fast" reads them as "events".
    prefix = ALL_PATHS[path]
    deepest = nested_yaml(MAX_NESTING_DEPTH, style)
    if mode == "encrypted":
        with pytest.raises(MetadataError, match="sops metadata not found"):
            LOADERS[mode]((prefix + deepest).encode())
    else:
        assert depth_of(LOADERS[mode]((prefix + deepest).encode())[0]) == MAX_NESTING_DEPTH
    with pytest.raises(InputLimitError) as caught:
        LOADERS[mode]((prefix + nested_yaml(MAX_NESTING_DEPTH + 1, style)).encode())
    assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert caught.value.message.endswith(
        f": the document is nested more than {MAX_NESTING_DEPTH} levels deep"
    )


@pytest.mark.parametrize("path", ALL_PATHS)
def test_very_deep_nesting_stops_at_the_limit(path: str) -> None:
    """libyaml's scanner spends time per token in proportion to the open flow levels: the
    loader stops it at the limit (100,000 levels took 17 s before). Hang guard: none needed
    here, the CLI test bounds the time."""
    for text in ("a: " + "[" * 200_000, "a:\n  " + "- " * 200_000 + "x", "a: " + "{b: " * 50_000):
        with pytest.raises(InputLimitError, match=r"line [123]: the document is nested more"):
            yaml_store.load_plain((ALL_PATHS[path] + text + "\n").encode())


def test_a_long_line_of_nested_entries_is_read_once_not_once_per_level() -> None:
    """``- - - … value``: the fast reader copied the rest of the line at each level (200
    levels of a 5 MB line: 3 GB)."""
    data = b"a:\n    " + b"- " * 200 + b"v" * 5_000_000 + b"\n"
    with memory_headroom():
        document = yaml_store.load_plain(data)[0]
    assert depth_of(document) == 201
    leaf = document.get("a")
    for _ in range(199):
        leaf = leaf[0]
    assert leaf == Seq(["v" * 5_000_000])
    error = refusal(
        lambda: yaml_store.load_plain(b"a:\n  " + b"- " * 1_000_000 + b"x\n"), InputLimitError
    )
    assert (
        error.message
        == f"yaml: line 2: the document is nested more than {MAX_NESTING_DEPTH} levels deep"
    )


@pytest.mark.parametrize("path", PATHS)
def test_aliases_cannot_nest_past_the_limit(path: str) -> None:
    """Each alias stands for its anchor's levels: chained, they could nest without bound."""
    per = 100

    def chain(links: int) -> str:
        lines = ["a0: &a0 " + "[" * per + "x" + "]" * per]
        for i in range(1, links):
            lines.append(f"a{i}: &a{i} " + "[" * per + f"*a{i - 1}" + "]" * per)
        return PATHS[path] + "\n".join(lines) + "\n"

    # Two links: 1 + 200 levels; three: 1 + 300.
    assert depth_of(yaml_store.load_plain(chain(2).encode())[0]) == 201
    with pytest.raises(InputLimitError, match=r"line [34]: the document is nested more than 256"):
        yaml_store.load_plain(chain(3).encode())


# --- JSON ----------------------------------------------------------------------------------


def nested_json(depth: int, kind: str) -> bytes:
    inner = depth - 1
    if kind == "array":
        return b'{"a": ' + b"[" * inner + b'"x"' + b"]" * inner + b"}"
    return b'{"a": ' + b'{"b": ' * inner + b'"x"' + b"}" * inner + b"}"


@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_nesting_up_to_the_limit_reads_and_one_more_level_is_refused(kind: str) -> None:
    assert depth_of(json_store.load_plain(nested_json(MAX_NESTING_DEPTH, kind))[0]) == 256
    for load in (json_store.load_plain, json_store.load_encrypted):
        for depth in (MAX_NESTING_DEPTH + 1, 100_000):
            with pytest.raises(InputLimitError) as caught:
                load(nested_json(depth, kind))
            # Exit 2 in both modes: a parse error of an encrypted file is 1, a limit is not.
            assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
            assert caught.value.message.endswith(
                ": the document is nested more than 256 levels deep"
            )
