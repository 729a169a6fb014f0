"""Round trips and fuzzing of the YAML store (no subprocess).

- ``load_plain(emit_plain(tree)) == tree`` for trees without comments, with every kind of leaf.
- The same with comments, once they sit where yaml.v3 reads them back where they were written:
  before a scalar entry or item, except before the first entry of a collection that is itself a
  list item (yaml.v3, and so sops, attaches those to the enclosing list).
- ``load_encrypted(emit_encrypted(...))`` gives back the documents and the metadata.
- The event loader and the comment-replaying loader build the same tree.
- Arbitrary text reaches the loaders: only ``SecretsctlError`` may come out.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretsctl.errors import SecretsctlError
from secretsctl.sops.grammar import GoTime
from secretsctl.sops.stores import _yaml_comments, _yaml_load
from secretsctl.sops.stores import yaml as store
from secretsctl.sops.tree import Branch, Comment, Seq


def _readable(text: str) -> bool:
    # yaml.v3 writes a multi-line string that starts with a space or a line break as a block
    # scalar with indentation indicator 4 even where that is wrong (in a list), and then
    # neither sops nor we can read it back (see test_yaml.py).
    return not ("\n" in text and text[:1] in " \r\n\x85\u2028\u2029")


# "<<" is left out (yaml.v3 takes it for a merge key in a plaintext file), and so is the
# metadata key.
keys = st.text(max_size=10).filter(lambda k: k not in ("<<", "sops") and _readable(k))
binary_strings = (
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")).filter(_readable)
)
floats = st.floats().filter(lambda f: not (math.isfinite(f) and f == int(f)))
go_times = st.builds(
    lambda y, mo, d, h, mi, s, ns, off: GoTime.from_parts(y, mo, d, h, mi, s, ns, off),
    st.integers(0, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.integers(0, 999_999_999),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)  # fmt: skip

scalars = st.one_of(
    st.text(max_size=30).filter(_readable),
    binary_strings,
    st.sampled_from(["", "~", "null", "yes", "n", "1e3", "0x1F", "1:20", "- a", "a: b", "#c",
                     "  lead", "trail ", "a\nb", "a\n", "'", '"', "@x", "---"]),
    st.integers(-(2**63), 2**64 - 1),
    floats,
    st.booleans(),
    st.none(),
    go_times,
)  # fmt: skip


# A comment is written as it is: only characters YAML allows in a comment can be read back.
_COMMENT_CHARACTERS = st.characters(
    blacklist_categories=("Cc", "Cs", "Cn", "Co", "Zl", "Zp"), blacklist_characters="\ufeff"
)


def _unique_branch(items: list[tuple[Any, Any]]) -> Branch:
    seen: set[Any] = set()
    branch = Branch()
    for key, value in items:
        if isinstance(key, Comment):
            branch.append((key, None))
        elif key not in seen:
            seen.add(key)
            branch.append((key, value))
    return branch


def _branches(children: st.SearchStrategy[Any], comments: bool) -> st.SearchStrategy[Branch]:
    entry = st.tuples(keys, children)
    if comments:
        comment = st.text(_COMMENT_CHARACTERS, max_size=15).map(Comment)
        entry = st.one_of(entry, st.tuples(comment, st.none()))
    return st.lists(entry, max_size=5).map(_unique_branch)


def _seqs(children: st.SearchStrategy[Any], comments: bool) -> st.SearchStrategy[Seq]:
    element = children
    if comments:
        element = st.one_of(children, st.text(_COMMENT_CHARACTERS, max_size=15).map(Comment))
    return st.lists(element, max_size=5).map(Seq)


def trees(comments: bool) -> st.SearchStrategy[Branch]:
    values = st.recursive(
        scalars,
        lambda c: st.one_of(_branches(c, comments), _seqs(c, comments)),
        max_leaves=25,
    )
    return _branches(values, comments)


def same(a: Any, b: Any) -> bool:
    """Tree equality with NaN equal to itself and exact types (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _complex_key(key: Any) -> bool:
    """A key yaml.v3 writes as ``? key`` (multi-line or longer than 128 bytes)."""
    if not isinstance(key, str):
        return False
    raw = key.encode("utf-8", "surrogateescape")
    return len(raw) > 128 or any(c in key for c in "\n\r\x85\u2028\u2029")


def canonical(value: Any, list_item: bool = False) -> Any:
    """Drop the comments yaml.v3 would read back somewhere else."""
    if isinstance(value, Branch):
        out, pending = Branch(), []
        for key, child in value:
            if isinstance(key, Comment):
                pending.append(key)
                continue
            if not isinstance(child, list) and not (list_item and not out.keys()):
                out.extend((c, None) for c in pending)
            pending = []
            # After "? key", the value is written like a list item.
            out.append((key, canonical(child, _complex_key(key))))
        return out
    if isinstance(value, list):
        seq, pending_items = Seq(), []
        for child in value:
            if isinstance(child, Comment):
                pending_items.append(child)
                continue
            if not isinstance(child, list) and not (list_item and not seq):
                seq.extend(pending_items)
            pending_items = []
            seq.append(canonical(child, True))
        return seq
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(comments=False))
def test_round_trip_without_comments(tree: Branch) -> None:
    text = store.emit_plain([tree])
    assert same(store.load_plain(text), [tree])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(comments=True))
def test_round_trip_with_comments_in_stable_places(tree: Branch) -> None:
    tree = canonical(tree)
    text = store.emit_plain([tree])
    assert same(store.load_plain(text), [tree])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees(comments=False), min_size=1, max_size=3), st.sampled_from([None, 2, 3]))
def test_loaders_agree(documents: list[Branch], indent: int | None) -> None:
    text = store.emit_plain(documents, indent=indent).decode("utf-8", "surrogateescape")
    events = _yaml_load.compose_events(text, None)
    replay = _yaml_comments.compose(text, None)
    assert same(events, replay)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(comments=True))
def test_encrypted_round_trip(tree: Branch) -> None:
    tree = canonical(tree)
    metadata = Branch([("lastmodified", "2026-11-25T08:29:37Z"), ("version", "3.11.0")])
    documents, loaded = store.load_encrypted(store.emit_encrypted([tree, tree], metadata))
    assert same(documents, [tree, tree])
    assert same(loaded, metadata)


_YAML_ALPHABET = st.sampled_from(
    [*"abc:-?#&*!|>'\"%@`[]{},. \t\n\r0123456789~", "\u2028", "é", "<<", "---", "..."]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_YAML_ALPHABET, max_size=60).map("".join))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    for loader in (store.load_plain, store.load_encrypted):
        with contextlib.suppress(SecretsctlError):
            loader(text.encode())
