"""parse_enc's fast split reads every string exactly as sops's Go regex does."""

from __future__ import annotations

import binascii

from hypothesis import given
from hypothesis import strategies as st

from secretsctl.errors import ValueDecryptionError
from secretsctl.sops.grammar import _enc_pattern, parse_enc

pieces = st.sampled_from(["ENC[AES256_GCM,data:", "iv:", "tag:", "type:", ",", "]", "YWJj", "AA==", "str", "\n", "x"])


@given(st.lists(pieces, max_size=12).map("".join))
def test_parse_enc_matches_the_go_regex(text: str) -> None:
    match = _enc_pattern().match(text)
    try:
        parsed = parse_enc(text)
    except ValueDecryptionError:
        parsed = None
    if match is None:
        assert parsed is None
        return
    try:
        expected = tuple(binascii.a2b_base64(g, strict_mode=True) for g in match.groups()[:3])
    except (binascii.Error, ValueError):
        assert parsed is None
        return
    assert parsed == (*expected, match.group(4))
