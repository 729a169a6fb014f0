"""Encrypt then decrypt is the identity on arbitrary trees, under every crypt rule."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from secretsctl.sops.tree import CryptRule
from tests.property.strategies import documents
from tests.unit.sops.test_codec import open_, sealed

rules = st.sampled_from(
    [
        CryptRule(),
        CryptRule("encrypted_suffix", "a"),
        CryptRule("unencrypted_regex", "^[a-m]"),
        CryptRule("encrypted_regex", "b"),
        CryptRule("encrypted_comment_regex", "x"),
        CryptRule("unencrypted_comment_regex", "!"),
    ]
)


@given(documents, rules, st.booleans())
def test_encrypt_then_decrypt_is_identity(docs, rule, mac_only) -> None:  # type: ignore[no-untyped-def]
    original = copy.deepcopy(docs)
    assert open_(sealed(docs, rule, mac_only)).documents == original
