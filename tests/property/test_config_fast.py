"""The fast reading of one-line ``secrets:`` entries gives what the generic reading gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.config import load
from secretsctl.errors import SecretsctlError

PATH = "/etc/secretsctl/secretsctl.yaml"

names = st.sampled_from(["a", "b", "db/password", "x.y", "a-b", "A_1", "n/0", "a", "root"])
owners = st.sampled_from(["alice", "'bob'", "1000", "null", "''", "root", "true", "0x1f", "users"])
ids = st.sampled_from(["0", "1000", "01", "4294967295", "4294967296", "abc", "'1000'", "null"])
modes = st.sampled_from(["'0400'", "0440", "'640'", "0999", "'4755'", "0o600", "'0'", "null"])
keys = st.sampled_from(["a", "a/b", "'sops'", "sops/x", "''", "x.y"])
field = st.one_of(
    st.tuples(st.sampled_from(["owner", "group"]), owners),
    st.tuples(st.sampled_from(["uid", "gid"]), ids),
    st.tuples(st.just("mode"), modes),
    st.tuples(st.just("key"), keys),
)
entry = st.builds(
    lambda name, fields: f"  {name}: {{{', '.join(f'{k}: {v}' for k, v in fields)}}}",
    names,
    st.lists(field, max_size=4),
)
odd_line = st.sampled_from(
    ["", "  # a comment", "# top comment", "   ", "  c:", "    uid: 1", "  d: {uid: 1} # c",
     "  e: {uid:  1}", "  f: { }", "\tg: {}", "  h: {path: /x}"]
)  # fmt: skip
defaults = st.sampled_from(
    [
        "defaults: {sops_file: s.yaml, age_key_file: k.txt}\n",
        "defaults: {sops_file: s.yaml, age_key_file: k.txt, owner: alice, mode: '0440'}\n",
        "defaults: {sops_file: s.yaml, age_key_file: k.txt, uid: 5, gid: 6, format: json}\n",
        "defaults: {sops_file: s.yaml, age_key_file: k.txt, format: binary}\n",
        "defaults: {age_key_file: k.txt}\n",
        "defaults: {sops_file: s.yaml, mode: '0999'}\n",
        'defaults: {sops_file: s.yaml, keyservices: ["unix:///ks.sock"], enable_local_keyservice:'
        " false}\n",
        "defaults:\n  sops_file: s.yaml\n  keyservices:\n    - unix:///ks.sock\n"
        "    - tcp://127.0.0.1:5000\n  enable_local_keyservice: true\n",
        'defaults: {sops_file: s.yaml, keyservices: ["udp://x:1"], enable_local_keyservice: 1}\n',
    ]
)
tails = st.sampled_from(
    ["", "templates:\n  t: {content: x}\n", "templates:\n  t: {content: '{{ a }}'}\n"]
)


def read(text: str, *, fast: bool, defer: bool) -> Any:
    """What parsing gives: the result with every origin's field positions, or the error."""
    original = load.fast_block
    if not fast:
        load.fast_block = lambda text: None  # type: ignore[assignment]
    try:
        read = load._parse(text, PATH, defer=defer)
    except SecretsctlError as error:
        return ("error", type(error).__name__, error.message, error.exit_code)
    finally:
        load.fast_block = original  # type: ignore[assignment]
    positions = [dict(spec.origin.fields) for spec in read.manifest.secrets]
    problems = [(type(p).__name__, p.message, p.exit_code) for p in read.problems]
    return read.manifest, problems, read.flawed, positions


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    defaults,
    st.lists(st.one_of(entry, entry, entry, odd_line), max_size=8),
    tails,
    st.booleans(),
)
@example(
    "defaults: {sops_file: s.yaml, age_key_file: k.txt}\n",
    ["  a: {owner: null, owner: alice}"],
    "",
    False,
)
@example("defaults: {sops_file: s.yaml, age_key_file: k.txt}\n",
         ["  a: {uid: 1000, gid: 100, mode: '0440'}", "  b: {}"], "", False)  # fmt: skip
def test_fast_and_generic_readings_agree(
    head: str, lines: list[str], tail: str, defer: bool
) -> None:
    text = head + "secrets:\n" + "".join(line + "\n" for line in lines) + tail
    assert read(text, fast=True, defer=defer) == read(text, fast=False, defer=defer)


def test_the_fast_path_is_taken_for_the_usual_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "defaults: {sops_file: s.yaml, age_key_file: k.txt}\nsecrets:\n"
        "  a: {uid: 1000, gid: 100, mode: '0440'}\n  b/c: {owner: alice, key: x/y}\n  d: {}\n"
    )
    assert load.fast_block(text) is not None
    monkeypatch.setattr(load.SectionLoader, "secrets", None)  # the generic reading would fail
    manifest = load._parse(text, PATH, defer=False).manifest
    assert [s.name for s in manifest.secrets] == ["a", "b/c", "d"]
    assert manifest.secrets[0].origin.of("mode") == f"{PATH}:3:34: secrets.a.mode"
