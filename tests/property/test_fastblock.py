"""fast_block reads exactly what the regular expressions it replaced read, and refuses the rest.

A looser fast path would be a bug (the generic reader is the reference); a stricter one only
slower. Both sides must give the same entries, lines and blanked text, or both None.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.config.fastblock import fast_block

# The reading fast_block had before it did without re (and took double quotes): the reference.
_FAST_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*"
_FAST_VALUE = r"[A-Za-z0-9_][A-Za-z0-9_./-]*|'[A-Za-z0-9_./-]*'|\"[A-Za-z0-9_./-]*\""
_FAST_FIELD = rf"(?:owner|uid|group|gid|mode|key): (?:{_FAST_VALUE})"
_FAST_ENTRY = re.compile(
    rf"^  ({_FAST_NAME}): \{{((?:{_FAST_FIELD})(?:, {_FAST_FIELD})*)?\}}$", re.MULTILINE
)
_BLOCK_END = re.compile(r"^[^ #\n]", re.MULTILINE)
_GAP = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*[ ]*(?:#[^\n]*)?")


def regex_fast_block(text: str) -> tuple[str, int, list[tuple[str, int, str | None]]] | None:
    if text.startswith("secrets:\n"):
        start = len("secrets:\n")
    else:
        at = text.find("\nsecrets:\n")
        if at < 0:
            return None
        start = at + len("\nsecrets:\n")
    key_line = text.count("\n", 0, start)
    found_end = _BLOCK_END.search(text, start)
    end = len(text) if found_end is None else found_end.start()
    entries: list[tuple[str, int, str | None]] = []
    position, line = start, key_line + 1
    for match in _FAST_ENTRY.finditer(text, start, end):
        at = match.start()
        if at != position:
            if _GAP.fullmatch(text, position, at) is None:
                return None
            line += text.count("\n", position, at)
        entries.append((match[1], line, match[2]))
        position = match.end() + 1
        line += 1
    if position < end and _GAP.fullmatch(text, position, end) is None:
        return None
    blanked = text[:start] + "\n" * text.count("\n", start, end) + text[end:]
    return blanked, key_line, entries


def str_fast_block(text: str) -> Any:
    found = fast_block(text)
    if found is None:
        return None
    blanked, block = found
    return blanked, block.line, block.entries


# Every character the patterns treat specially, and some they never allow.
SPECIAL = " \t\r\n.-/_:'\",{}#[]\\\x00\x01\x02\x0bé€\u2028"
WORD = "aZ09_"
word_chars = st.sampled_from(WORD)
any_char = st.one_of(word_chars, st.sampled_from(SPECIAL), st.characters())


def words(chars: st.SearchStrategy[str], *, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=min_size, max_size=6)


# Mostly well-formed parts, sometimes broken by any character.
part = st.one_of(words(word_chars, min_size=1), words(word_chars, min_size=1), words(any_char))
name = st.one_of(
    st.lists(part, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["", ".a", "-a", "a/", "/a", "a//b", "a/.b", "a/-b", "a.b", "a-b", "é"]),
    st.text(any_char, max_size=8),
)
value = st.one_of(
    part,
    part.map(lambda v: f"'{v}'"),
    part.map(lambda v: f'"{v}"'),
    st.sampled_from(['""', '"', '"a', 'a"', "'a" + '"', '"a' + "'", '"a\\n"', '"a b"']),
    st.sampled_from(["''", "'", "'''", "a'", "'a", ".a", "-a", "/a", "a/b", "'.a'", "", "a b"]),
    st.text(any_char, max_size=8),
)
field_name = st.sampled_from(
    ["owner", "uid", "group", "gid", "mode", "key", "Owner", "uids", "path", "", " uid", "uid "]
)
colon = st.sampled_from([": ", ": ", ": ", ":", ":  ", " : ", ":\t"])
separator = st.sampled_from([", ", ", ", ", ", ",", ",  ", " , ", ",\n  "])
fields = st.lists(st.tuples(field_name, colon, value, separator), max_size=4).map(
    lambda items: "".join(
        f"{sep if i else ''}{key}{col}{val}" for i, (key, col, val, sep) in enumerate(items)
    )
)
entry = st.builds(
    lambda indent, key, col, inside, close, trail: f"{indent}{key}{col}{{{inside}{close}{trail}",
    st.sampled_from(["  ", "  ", "  ", " ", "   ", "\t", "  #", ""]),
    name,
    st.sampled_from([": ", ": ", ": ", ":", ":  "]),
    fields,
    st.sampled_from(["}", "}", "}", "", "}}", " }"]),
    st.sampled_from(["", "", "", " ", " # c", "\r", "x"]),
)
valid_value = st.one_of(
    st.tuples(word_chars, words(st.sampled_from(WORD + "./-"))).map("".join),
    words(st.sampled_from(WORD + "./-")).map(lambda v: f"'{v}'"),
    words(st.sampled_from(WORD + "./-")).map(lambda v: f'"{v}"'),
)
valid_part = st.tuples(word_chars, words(st.sampled_from(WORD + ".-"))).map("".join)
valid_entry = st.builds(
    lambda key, items: f"  {key}: {{{', '.join(f'{k}: {v}' for k, v in items)}}}",
    st.lists(valid_part, min_size=1, max_size=3).map("/".join),
    st.lists(st.tuples(field_name.filter(str.islower), valid_value), max_size=4),
)
near_miss_value = st.sampled_from(
    [
        *("", "''", "'", "'''", "a'", "'a", ".a", "-a", "/a", "'.a'", "a b", "a,b", "a:b", "é"),
        *("a}", '"', '"a', 'a"', "'a" + '"', '"a' + "'", '"a\\"'),
    ]
)
# A well-formed entry but for one name or one value, taken from the near misses.
near_miss_entry = st.builds(
    lambda key, items, at, odd: "  {}: {{{}}}".format(
        key, ", ".join(f"{k}: {odd if i == at else v}" for i, (k, v) in enumerate(items))
    ),
    st.one_of(valid_part, name),
    st.lists(st.tuples(field_name.filter(str.islower), valid_value), min_size=1, max_size=3),
    st.integers(0, 2),
    near_miss_value,
)
gap_line = st.sampled_from(["", " ", "   ", "  # a comment", "# top", " #", "#", "  # {'\"é"])
other_line = st.one_of(
    gap_line,
    st.sampled_from(["\t", "  x: 1", "next:", "secrets:", "  a:", "\r", "  a: {}\r"]),
    st.text(any_char, max_size=12).filter(lambda t: "\n" not in t),
)


@st.composite
def blocks(draw: st.DrawFn) -> list[str]:
    """Mostly well-formed lines; often one line that may break the block somewhere in them."""
    lines = draw(st.lists(st.one_of(valid_entry, valid_entry, gap_line), max_size=8))
    if draw(st.booleans()):
        odd = draw(st.one_of(entry, near_miss_entry, near_miss_entry, other_line))
        lines.insert(draw(st.integers(0, len(lines))), odd)
    return lines


head = st.sampled_from(["", "defaults: {sops_file: s.yaml}\n", "a: 1\n\n# c\n", "x:\n  y: 2\n"])
tail = st.sampled_from(["", "templates:\n  t: {content: x}\n", "next: 1", "#c\nz:\n", "x"])


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head, blocks(), tail, st.booleans())
@example("", ["  a: {uid: 1000, gid: 100, mode: '0440'}", "  b/c.d: {}", "", "  # c"], "", True)
@example("x: 1\n", ["  a: {key: 'a/b', owner: alice}", "  a: {}"], "next: 1", True)
@example("", [], "", True)
@example("", ["  : {}"], "", True)
@example("", ["  a: {uid: }"], "", True)
@example("", ["  a: {key: /a}"], "", True)
@example("", ["  # x: {y}"], "", True)
@example("", ["  a: {uid: '1', gid: ''}", "#c", "   "], "x", False)
def test_str_reading_matches_the_regex_reading(
    head: str, lines: list[str], tail: str, newline: bool
) -> None:
    text = head + "secrets:\n" + "\n".join(lines) + ("\n" if newline else "") + tail
    assert str_fast_block(text) == regex_fast_block(text)


@pytest.mark.parametrize(
    "line",
    ["  a/-b: {}", "  /a: {}", "  .a: {}", "  -a: {}", "  a/: {}", "  a//b: {}", "  a/.b: {}",
     "  a: {mode: .1}", "  a: {key: -a}", "  a: {key: /a}", "  a: {key: 'a}", "  a: {key: a'}",
     "  a: {key: '}", "  a: {uid: }", "  a: {uid: 1, }", "  a: {uid: 1,gid: 2}"],
)  # fmt: skip
def test_near_misses_read_alike(line: str) -> None:
    for text in (f"secrets:\n{line}\n", f"secrets:\n  ok: {{}}\n{line}"):
        assert str_fast_block(text) == regex_fast_block(text)
        assert str_fast_block(text.replace(line, "  ok2: {key: 'a/b'}")) is not None


@given(st.text(st.one_of(st.sampled_from(SPECIAL + WORD + "secrtsouidgpmk"), st.characters())))
@example("secrets:\n")
@example("a\nsecrets:\n  b: {}")
def test_any_text_reads_alike(text: str) -> None:
    assert str_fast_block(text) == regex_fast_block(text)


def test_long_blocks_read_alike() -> None:
    modes = ("0400", "'0440'", "0600", "'0640'")
    lines = [f"  key_{i}/x.y-{i}: {{uid: {i}, gid: {i % 7}, mode: {modes[i % 4]}, key: k_{i}}}"
             for i in range(3000)]  # fmt: skip
    text = "defaults:\n  a: b\nsecrets:\n" + "\n".join(lines) + "\n# end\nnext: 1\n"
    found = str_fast_block(text)
    assert found is not None
    assert found == regex_fast_block(text)
    broken = text.replace("key_2999/", "key_2999//")
    assert str_fast_block(broken) is None
    assert regex_fast_block(broken) is None


def test_the_generated_blocks_reach_both_decisions() -> None:
    """The strategy gives accepted blocks as well as refused ones, so both sides are compared."""
    decisions: set[bool] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(blocks())
    def record(lines: list[str]) -> None:
        found = regex_fast_block("secrets:\n" + "\n".join(lines))
        decisions.add(found is not None and bool(found[2]))

    record()
    assert decisions == {True, False}
