"""activate.validate.bad_name refuses exactly the names the regex it replaced refused."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from secretsctl.activate.validate import bad_name

# The reference: the regex validate used before it did without re.
BAD_NAME = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|\x00")

parts = st.one_of(
    st.sampled_from(["", ".", "..", "...", "a", ".a", "a.", "\n", ".\n", "..\n", " ", "é", "\x00"]),
    st.text(st.one_of(st.sampled_from("./\n\x00 a\r\u2028"), st.characters()), max_size=8),
)


@given(st.lists(parts, min_size=1, max_size=5).map("/".join))
@example("db/password")
@example("a/..\n")
@example("a/\n")
@example("\n")
@example("a" * 300 + "/" + "b" * 300)
def test_bad_name_refuses_as_the_regex(name: str) -> None:
    assert bad_name(name) == (BAD_NAME.search(name) is not None)
