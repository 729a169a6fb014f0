"""The config reader's per-line str code splits exactly what the regexes it replaced matched."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from secretsctl.config._yaml import _plain_key, _simple_sequence_items

# The reference: the regular expressions the reader used before it did without re.
PLAIN_KEY = re.compile(r"([^\s\-?:,\[\]{}#&*!|>'\"%@`][^:#,\[\]{}]*(?<! )):(?: +(.*))?\Z")
SIMPLE_SEQUENCE = re.compile(r"\[([^\[\]{}#'\":?]*)\](?: *\Z| +#)")

# Every character either pattern treats specially, whitespace of several kinds, and unicode.
SPECIAL = " -?:,[]{}#&*!|>'\"%@`\t\r\x0b\x0c\x1c\x85\xa0\u2028\u3000é€\\."
chars = st.one_of(st.sampled_from(SPECIAL), st.sampled_from("aZ0_"), st.characters())
# Lines never hold a newline: the reader splits the text at them.
pieces = st.text(chars, max_size=12).map(lambda t: t.replace("\n", ""))
words = st.text(st.sampled_from("abc_.0"), min_size=1, max_size=8)


def regex_plain_key(body: str) -> tuple[str, str | None, int] | None:
    match = PLAIN_KEY.match(body)
    if match is None:
        return None
    return match[1], match[2], match.start(2) if match[2] is not None else 0


def regex_items(rest: str) -> str | None:
    match = SIMPLE_SEQUENCE.match(rest)
    return None if match is None else match[1]


key_lines = st.one_of(
    pieces,
    st.builds(
        lambda key, colon, rest: key + colon + rest,
        st.one_of(words, pieces, st.sampled_from(["", " a", "a ", "-a", "a#b", "a,b", "é"])),
        st.sampled_from([":", ": ", ":  ", ":x", "::", " :"]),
        st.one_of(words, pieces, st.sampled_from(["", " ", "a # c", "[a]", "{b: c}", "'q'"])),
    ),
)


@given(key_lines)
@example("key:")
@example("key:   ")
@example("sops_file: s.yaml")
@example("a b: c")
@example("a\u3000: c")
@example("\u3000a: c")
@example("a:b")
@example("a: b: c")
@example("x" * 500 + ": " + "y" * 500)
def test_plain_key_splits_as_the_regex(body: str) -> None:
    assert _plain_key(body) == regex_plain_key(body)


sequences = st.builds(
    lambda inside, close, tail: "[" + inside + close + tail,
    st.one_of(
        st.lists(words, max_size=3).map(", ".join),
        pieces,
        st.sampled_from(["", " ", "a,", "a:b", "a?", "'a'", '"a"', "#", "[a", "{a}", "é"]),
    ),
    st.sampled_from(["]", "]", "", "]]"]),
    st.one_of(st.sampled_from(["", " ", "   ", " # c", "#c", "  #", " x", ",", "\t"]), pieces),
)


@given(sequences)
@example("[a.service, b.service]")
@example("[a] # comment")
@example("[a]#comment")
@example("[]")
@example("[" + "a, " * 300 + "b]  ")
def test_simple_sequence_reads_as_the_regex(rest: str) -> None:
    assert _simple_sequence_items(rest) == regex_items(rest)
