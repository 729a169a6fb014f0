"""Encrypt then decrypt is the identity on arbitrary trees, under every crypt rule."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from secretsctl.redact import Secret
from secretsctl.sops import codec
from secretsctl.sops import metadata as md
from secretsctl.sops.cipher import Cipher
from secretsctl.sops.grammar import mac_aad
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import CryptRule
from tests.property.strategies import documents

KEY = bytes(range(32))
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
    cipher = Cipher(KEY)
    mac = codec.encrypt_documents(docs, rule, mac_only, cipher)
    lastmodified = "2026-11-25T08:30:20Z"
    meta = md.Metadata(
        key_groups=(md.KeyGroup(age=(md.AgeKey("age1x", "e"),)),),
        lastmodified=lastmodified,
        mac=cipher.encrypt_str(mac, mac_aad(lastmodified)),
        rule=rule,
        mac_only_encrypted=mac_only,
    )
    sops_file = codec.SopsFile(docs, meta, Format.YAML)
    result = codec.decrypt_with_key(sops_file, Secret(KEY), label="x")
    assert result.documents == original
