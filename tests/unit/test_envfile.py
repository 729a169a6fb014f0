"""The systemd EnvironmentFile dialect: quote() and a parser that reads as systemd does."""

from __future__ import annotations

import pytest

from secretsctl.envfile import EnvFileError, parse, quote


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two\n", {"A": "1", "B": "two"}),
        ("A = spaced  \n", {"A": "spaced"}),  # key and value trimmed
        ("A=x\\\n y\n", {"A": "x y"}),  # an escaped newline joins lines
        ("A=a\\ b\\\\c\n", {"A": "a b\\c"}),  # unquoted escapes
        ("A='lit\\eral $x'\n", {"A": "lit\\eral $x"}),  # single quotes are literal
        ('A="\\"\\\\\\`\\$ \\n"\n', {"A": '"\\`$ \\n'}),  # only four escapes in double quotes
        ('A="multi\nline"\n', {"A": "multi\nline"}),
        ('A="joined\\\nline"\n', {"A": "joinedline"}),
        ("A='x'\"y\"z\n", {"A": "xyz"}),  # pieces concatenate
        ('A="x"  \n', {"A": "x"}),
        ("# comment\n; other\n  # indented\nA=1\n", {"A": "1"}),
        ("#c \\\nA=1\n", {"A": "1"}),  # since v254 a comment does not continue
        ("A=1\nA=2\n", {"A": "2"}),
        ("A=\nB=''\n", {"A": "", "B": ""}),
        ("NOEQUALS\nA=1", {"A": "1"}),  # a line without = is dropped; no final newline
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
        ("A=x\0B=y\n", {"A": "x"}),  # systemd reads a C string
    ],
)
def test_parse_reads_as_systemd_does(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_parse_skips_values_that_are_not_utf8() -> None:
    text = b"A=\xff\nB=ok\n".decode("utf-8", "surrogateescape")
    assert parse(text) == {"B": "ok"}


@pytest.mark.parametrize(
    "value",
    ["", "plain", "with space", 'q"uote', "back\\slash", "`tick`", "$HOME ${X}", "new\nline",
     "tail\\", "cr\r", "\t", "é€秘", "'", "#not a comment", "a=b"],
)  # fmt: skip
def test_quote_round_trips(value: str) -> None:
    assert parse(f"K={quote(value)}\n") == {"K": value}


def test_quote_refuses_what_no_environment_can_hold() -> None:
    with pytest.raises(EnvFileError, match="NUL"):
        quote("a\0b")
    with pytest.raises(EnvFileError, match="UTF-8") as caught:
        quote("a\udcffb")
    assert "a\udcffb" not in caught.value.message
    # systemd's UTF-8 check refuses noncharacters too, and drops such a value.
    for text in ("a\ufffeb", "\ufdd0", "\ufdef", "\U0010ffff", "\U0001fffe"):
        with pytest.raises(EnvFileError, match="noncharacter"):
            quote(text)
        assert parse(f'K="{text}"\nL=kept\n') == {"L": "kept"}
    allowed = "\ufdf0"  # just past the noncharacter block
    assert parse(f"K={quote(allowed)}\n") == {"K": allowed}
