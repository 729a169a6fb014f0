"""Hypothesis strategies for sops trees."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from secretsctl.sops.grammar import GoTime
from secretsctl.sops.tree import Branch, Comment, Seq

# Keys: strings without ':' (a ':' makes AADs collide, a documented sops weakness) and not
# the metadata key.
keys = st.text(min_size=1, max_size=12).filter(lambda k: ":" not in k and k != "sops")
texts = st.text(max_size=40)
comment_texts = st.text(min_size=1, max_size=30).filter(lambda t: "\n" not in t and "\r" not in t)

go_times = st.builds(
    lambda y, mo, d, h, mi, s, ns, off: GoTime.from_parts(y, mo, d, h, mi, s, ns, off),
    st.integers(1, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.integers(0, 999_999_999),
    st.integers(-23 * 60, 23 * 60),
)  # fmt: skip

scalars = st.one_of(
    texts,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    go_times,
)


def _branch(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Branch]:
    item = st.one_of(
        st.tuples(keys, children),
        st.tuples(comment_texts.map(Comment), st.none()),
    )
    return st.lists(item, max_size=5).map(Branch)


def _seq(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Seq]:
    return st.lists(st.one_of(children, comment_texts.map(Comment)), max_size=4).map(Seq)


values = st.recursive(scalars, lambda children: st.one_of(_branch(children), _seq(children)), max_leaves=20)
documents = st.lists(_branch(values), min_size=1, max_size=2)
