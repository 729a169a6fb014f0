"""The fast YAML reader reads whatever it accepts exactly as the libyaml loader does."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.errors import SecretsctlError
from secretsctl.sops.stores import _yaml_fast, _yaml_load
from secretsctl.sops.stores import yaml as yaml_store
from secretsctl.sops.tree import Branch, Seq
from tests.conftest import SOPS_NIX_VECTORS
from tests.property.strategies import documents


def libyaml(text: str) -> list[Branch]:
    """The full loader: libyaml events, and yaml.v3's comment placement when there are any."""
    from secretsctl.sops.stores import _yaml_comments

    if "#" in text:
        documents = _yaml_comments.compose(text, "encrypted")
    else:
        documents = _yaml_load.compose_events(text, "encrypted")
    return _yaml_load.documents_to_branches(documents, "encrypted")


def strip_comments(value):  # type: ignore[no-untyped-def]
    from secretsctl.sops.tree import Comment

    if isinstance(value, Branch):
        return Branch((k, strip_comments(v)) for k, v in value if not isinstance(k, Comment))
    if isinstance(value, Seq):
        return Seq(strip_comments(v) for v in value if not isinstance(v, Comment))
    return value


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fast_reader_agrees_with_libyaml_on_emitted_trees(docs) -> None:  # type: ignore[no-untyped-def]
    text = yaml_store.emit_plain(docs).decode()
    fast = _yaml_fast.parse(text)
    if fast is not None:
        assert fast == libyaml(text)


# Trees in the shape sops files have, so that most examples take the fast path.
_simple_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
_simple_scalars = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.text(alphabet="ab \n", max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.from_regex(r"ENC\[AES256_GCM,data:[A-Za-z0-9+/]{0,8}=*,iv:[A-Za-z0-9+/=]{4},tag:x,type:str\]", fullmatch=True),
)
_simple_values = st.recursive(
    _simple_scalars,
    lambda children: st.one_of(
        st.lists(st.tuples(_simple_keys, children), max_size=4, unique_by=lambda kv: kv[0]).map(Branch),
        st.lists(children, max_size=4).map(Seq),
    ),
    max_leaves=25,
)
_simple_documents = st.lists(
    st.lists(st.tuples(_simple_keys, _simple_values), min_size=1, max_size=5, unique_by=lambda kv: kv[0]).map(
        Branch
    ),
    min_size=1,
    max_size=2,
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(_simple_documents)
def test_fast_reader_agrees_with_libyaml_on_sops_shaped_trees(docs) -> None:  # type: ignore[no-untyped-def]
    text = yaml_store.emit_plain(docs).decode()
    fast = _yaml_fast.parse(text)
    if fast is not None:
        assert fast == libyaml(text)


def test_fast_reader_takes_most_sops_shaped_trees() -> None:
    accepted: list[bool] = []

    @settings(max_examples=200, database=None, derandomize=True)
    @given(_simple_documents)
    def collect(docs) -> None:  # type: ignore[no-untyped-def]
        accepted.append(_yaml_fast.parse(yaml_store.emit_plain(docs).decode()) is not None)

    collect()
    assert sum(accepted) > len(accepted) // 2


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab:- |\n\"'[]{}0.1ENC,_")), max_size=60))
@example("a: |\n    x\n\n  y\n")
@example("a:\n- b\n")
@example("a: b\n  c\n")
def test_fast_reader_never_accepts_what_libyaml_reads_differently(text: str) -> None:
    fast = _yaml_fast.parse(text)
    if fast is None:
        return
    try:
        slow = libyaml(text)
    except SecretsctlError:
        raise AssertionError("the fast reader accepted text the full loader rejects") from None
    assert fast == slow


def test_fast_reader_takes_sops_files() -> None:
    text = (SOPS_NIX_VECTORS / "secrets.yaml").read_text()
    parsed = _yaml_fast.parse(text)
    assert parsed is not None
    assert parsed == libyaml(text)


def test_fast_reader_declines_comments_it_cannot_place_and_oddities() -> None:
    for text in ["a:\n    b: 1\n# c\nc: 1\n", "a: 1\n# c\n", "a:\n    - x\n    # c\n    - y\n",
                 "a: 1 # c\n", "a: |\n    x\n# c\nb: 1\n", "a: 1\n  # c\nb: 1\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: {b: 1}\n", "a: >\n    x\n",
                 "a: 1\na: 2\n", "1: x\n", "a: 'b\n", "a:\tb\n", "a: 1", "a: \"\\u0041\"\n"]:
        assert _yaml_fast.parse(text) is None, text


def test_fast_reader_takes_head_comments_as_sops_writes_them() -> None:
    text = "#ENC[top]\na: 1\n# before b\nb:\n    # first\n    c: x\n    #\n    d: y\n"
    parsed = _yaml_fast.parse(text)
    assert parsed is not None
    assert parsed == libyaml(text)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_simple_documents, st.data())
def test_fast_reader_agrees_with_libyaml_on_commented_trees(docs, data) -> None:  # type: ignore[no-untyped-def]
    from secretsctl.sops.tree import Comment

    def sprinkle(value):  # type: ignore[no-untyped-def]
        if isinstance(value, Branch):
            out = Branch()
            for key, child in value:
                if data.draw(st.booleans()):
                    out.append((Comment(data.draw(st.sampled_from([" c", "ENC[x]", "", " #"]))), None))
                out.append((key, sprinkle(child)))
            return out
        if isinstance(value, Seq):
            return Seq(sprinkle(v) for v in value)
        return value

    text = yaml_store.emit_plain([sprinkle(d) for d in docs]).decode()
    fast = _yaml_fast.parse(text)
    if fast is not None:
        assert fast == libyaml(text)
