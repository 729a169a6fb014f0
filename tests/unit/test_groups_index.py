"""`groups delete` INDEX: read exactly as sops reads it (Go's strconv.ParseUint(s, 10, 32))."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.change import parse_group_index
from secretsctl.errors import ExitCode, SecretsctlError


def go_parse_uint32(text: str) -> int | None:
    """What Go's ParseUint(text, 10, 32) returns, or None for its error."""
    if not re.fullmatch(r"[0-9]+", text, flags=re.ASCII):
        return None
    value = int(text)
    return value if value < 2**32 else None


@given(st.one_of(st.text(max_size=12), st.integers(min_value=0, max_value=2**34).map(str)))
def test_index_is_read_as_go_reads_it(text: str) -> None:
    expected = go_parse_uint32(text)
    if expected is None:
        with pytest.raises(SecretsctlError) as caught:
            parse_group_index(text)
        assert caught.value.exit_code == ExitCode.GENERIC
    else:
        assert parse_group_index(text) == expected


@pytest.mark.parametrize(
    "text", ["", "-1", "+1", "1.0", " 1", "0x1", "1_0", "٣", "²", "4294967296"]
)
def test_malformed_indices_are_refused(text: str) -> None:
    with pytest.raises(SecretsctlError, match=r"failed to parse \[index\] argument"):
        parse_group_index(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("007", 7), ("4294967295", 2**32 - 1)])
def test_indices_sops_accepts(text: str, value: int) -> None:
    assert parse_group_index(text) == value
