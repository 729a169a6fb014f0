"""The str-method scanners on the decrypt path accept and extract exactly what their regexes did.

Each regex below is the one the code used before (kept here as the reference). Inputs are
valid forms with up to three random edits drawn from the characters each pattern cares about,
plus Unicode digits and spaces, line breaks, and arbitrary text.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl.sops.grammar import is_go_int, rfc3339_parts
from secretsctl.sops.stores._yaml_emit import (
    _block_indicators,
    _flow_indicators,
    _is_base60,
    _is_simple,
)
from secretsctl.sops.stores._yaml_fast import split_key
from secretsctl.sops.stores._yaml_resolve import (
    _dot_float,
    _is_yaml_style_float,
    _ts_clock,
    _ts_date,
)

RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z"
)
GO_INT = re.compile(r"[+-]?[0-9]+\Z")
YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
TS_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
TS_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]+))?")
KEY = re.compile(r"""([^\s"'&*!|>%@`\[\]{},?:#<-][^:#]*|"[^"\\]*"):(?: (\S.*))?\Z""")
SIMPLE = re.compile(r"[!-~](?:[ -~]*[!-~])?\Z")
START_BOTH = re.compile(r"---|\.\.\.|[#,\[\]{}&*!|>'\"%@`]|-(?: |\Z)|[?:](?: |\Z)")
START_FLOW = re.compile(r"[?:]")
INNER_FLOW = re.compile(r".[,?\[\]{}:]")
BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")

# Characters that are digits or spaces to Unicode but not ASCII, line breaks, and others.
ODD = "٣۹߀०𝟘²½\u00a0\u2028\u2029\u3000\x1c\x85\t\n\r\x0b\x0c é\x00\x7f\ufeff"
PRINTABLE = "".join(map(chr, range(0x20, 0x7F)))


@st.composite
def near(draw: st.DrawFn, valid: st.SearchStrategy[str], alphabet: str) -> str:
    """A valid form, then up to three insertions, deletions or replacements."""
    text = draw(valid)
    chars = st.sampled_from(alphabet + ODD)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(("insert", "delete", "replace")))
        char = draw(chars)
        if edit == "insert":
            text = text[:at] + char + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


def inputs(valid: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    long = st.text(st.sampled_from(alphabet), min_size=100, max_size=400)
    return st.one_of(near(valid, alphabet), st.text(max_size=30), long)


def digits(low: int, high: int, alphabet: str = "0123456789") -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=low, max_size=high)


signs = st.sampled_from(["", "+", "-"])


zones = st.one_of(
    st.just("Z"), st.builds("{}{}:{}".format, st.sampled_from("+-"), digits(2, 2), digits(2, 2))
)
fractions = st.one_of(st.just(""), st.builds("{}{}".format, st.sampled_from(".,"), digits(1, 12)))
# Mostly the right separators and widths, sometimes a near one; digits include a non-ASCII one.
dash, tee, colon = (
    st.sampled_from(c * 6 + near) for c, near in (("-", "+:"), ("T", "t Z"), (":", "-."))
)


def field(width: int) -> st.SearchStrategy[str]:
    widths = st.sampled_from([width] * 6 + [width - 1, width + 1])
    return widths.flatmap(lambda n: digits(n, n, "0123456789" * 3 + "٣"))


timestamps = st.builds(
    "{}{}{}{}{}{}{}{}{}{}{}{}{}".format,
    field(4), dash, field(2), dash, field(2), tee, field(2), colon, field(2), colon, field(2),
    fractions, zones,
)  # fmt: skip


@settings(max_examples=1000)
@given(inputs(timestamps, "0123456789-T:.,Z+t"))
def test_rfc3339_parts(text: str) -> None:
    match = RFC3339.match(text)
    expected = None
    if match is not None:
        groups = match.groups()
        zone = "Z" if groups[7] else f"{groups[8]}{groups[9]}:{groups[10]}"
        expected = (*groups[:6], groups[6] or "", zone)
    assert rfc3339_parts(text) == expected


@settings(max_examples=1000)
@given(
    inputs(st.builds("{}{}".format, st.sampled_from(["", "+", "-"]), digits(1, 25)), "0123456789+-")
)
def test_is_go_int(text: str) -> None:
    assert is_go_int(text) == bool(GO_INT.match(text))


yaml_floats = st.builds(
    "{}{}{}".format,
    signs,
    st.one_of(digits(1, 5), st.builds("{}.{}".format, digits(0, 5), digits(0, 5))),
    st.one_of(st.just(""), st.builds("{}{}{}".format, st.sampled_from("eE"), signs, digits(0, 4))),
)


@settings(max_examples=1000)
@given(inputs(yaml_floats, "0123456789+-.eE_"))
def test_is_yaml_style_float(text: str) -> None:
    assert _is_yaml_style_float(text) == bool(YAML_STYLE_FLOAT.match(text))


dates_and_clocks = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    digits(3, 5), digits(1, 3), digits(1, 3), st.sampled_from(["", " ", "T", "t", "  "]),
    digits(1, 3), digits(1, 3), digits(1, 3), fractions, st.sampled_from(["", "Z", "+01:00", " x"]),
)  # fmt: skip


@settings(max_examples=1000)
@given(inputs(dates_and_clocks, "0123456789-:., Tt"))
def test_ts_date(text: str) -> None:
    match = TS_DATE.match(text)
    expected = None if match is None else (*map(int, match.groups()), match.end())
    assert _ts_date(text) == expected


@settings(max_examples=1000)
@given(inputs(dates_and_clocks, "0123456789-:., Tt"))
def test_ts_clock(text: str) -> None:
    for start in range(len(text) + 1):
        rest = text[start:]
        match = TS_CLOCK.match(rest)
        expected = None
        if match is not None:
            expected = (*map(int, match.groups()[:3]), match[4] or "", match.end())
        assert _ts_clock(rest) == expected


key_lines = st.builds(
    "{}:{}".format,
    st.one_of(
        st.text(st.sampled_from("abc _-<.1é"), min_size=1, max_size=8),
        st.builds('"{}"'.format, st.text(st.sampled_from('ab :#\\"'), max_size=6)),
    ),
    st.one_of(st.just(""), st.builds(" {}".format, digits(0, 8, "ab :#\"' "))),
)


@settings(max_examples=1000)
@given(inputs(key_lines, "\"'&*!|>%@`[]{},?:#<- \\ab"))
def test_split_key(text: str) -> None:
    match = KEY.match(text)
    assert split_key(text) == (None if match is None else match.groups())


plain_scalars = st.text(st.sampled_from(PRINTABLE), min_size=1, max_size=12)


@settings(max_examples=1000)
@given(inputs(plain_scalars, PRINTABLE))
def test_is_simple(text: str) -> None:
    assert _is_simple(text) == bool(SIMPLE.match(text))


@settings(max_examples=1000)
@given(inputs(plain_scalars, "-.?:#,[]{}&*!|>'\"%@` a"))
def test_block_and_flow_indicators(text: str) -> None:
    block = (
        bool(START_BOTH.match(text))
        or ": " in text
        or " #" in text
        or (len(text) > 1 and text[-1] == ":")
    )
    assert _block_indicators(text) == block
    if SIMPLE.match(text):
        flow = block or bool(START_FLOW.match(text)) or bool(INNER_FLOW.search(text))
        assert _flow_indicators(text, block) == flow


sexagesimals = st.builds(
    "{}{}{}{}".format,
    signs,
    digits(1, 4, "0123456789_"),
    st.lists(st.builds(":{}".format, digits(1, 3)), min_size=1, max_size=3).map("".join),
    st.one_of(st.just(""), st.builds(".{}".format, digits(0, 4, "0123456789_"))),
)


@settings(max_examples=1000)
@given(inputs(sexagesimals, "0123456789_:.+-"))
def test_is_base60(text: str) -> None:
    expected = ":" in text and text[:1] in "+-0123456789" and bool(BASE60.match(text))
    assert _is_base60(text) == expected


@settings(max_examples=1000)
@given(inputs(st.builds(".{}".format, digits(0, 4)), "0123456789._eE"))
def test_dot_floats_need_a_digit_second(text: str) -> None:
    # resolve() skips the regex unless the second character is an ASCII digit.
    if _dot_float().match(text):
        assert "0" <= text[1:2] <= "9"
