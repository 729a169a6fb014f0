"""Plain scalars typed as YAML 1.2's core schema types them (secretsctl.config.values)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.config.values import _FLOAT, _INT, BOOLS, NULLS, plain_type


def core_schema_type(text: str) -> str | None:
    """The core schema's rules written out plainly, without the shortcuts of plain_type."""
    if text in NULLS:
        return "null"
    if text in BOOLS:
        return "a boolean"
    if re.fullmatch(_INT, text):
        return "an integer"
    if re.fullmatch(_FLOAT, text):
        return "a number"
    return None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "null"), ("~", "null"), ("null", "null"), ("NULL", "null"),
        ("true", "a boolean"), ("False", "a boolean"), ("yes", None), ("no", None),
        ("12", "an integer"), ("-3", "an integer"), ("0o17", "an integer"),
        ("0x1F", "an integer"), ("0440", "an integer"), ("1.5e-3", "a number"),
        (".5", "a number"), ("-.inf", "a number"), (".NaN", "a number"),
        ("./secrets.yaml", None), ("../keys/age.txt", None), ("1password", None),
        ("nobody", None), ("tom", None), ("false_friend", None), ("0xg", None),
    ],
)  # fmt: skip
def test_plain_scalars_take_their_core_schema_type(text: str, expected: str | None) -> None:
    assert plain_type(text) == expected


number_like = st.text(alphabet="0123456789+-.eEoxXabcdfABCDFinNIaAtTlsu~_/ ", max_size=8)


@given(st.one_of(number_like, st.text(max_size=8)))
def test_the_shortcuts_never_change_a_type(text: str) -> None:
    assert plain_type(text) == core_schema_type(text)
