"""Encrypting and decrypting document trees: MAC, tampering, IV reuse, --extract paths."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from secretsctl.errors import MacMismatchError, SecretsctlError, TreePathError, ValueDecryptionError
from secretsctl.redact import Secret
from secretsctl.sops import codec
from secretsctl.sops import metadata as md
from secretsctl.sops.cipher import Cipher
from secretsctl.sops.grammar import GoTime, mac_aad
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import Branch, Comment, CryptRule, Seq

KEY = bytes(range(32))


def documents() -> list[Branch]:
    return [
        Branch(
            [
                (Comment(" head"), None),
                ("token", "s3cr3t"),
                ("n", 42),
                ("f", 1.5),
                ("b", False),
                ("t", GoTime("2024-01-02T00:00:00Z")),
                ("empty", ""),
                ("none", None),
                ("list", Seq(["a", Comment(" in list"), Branch([("k", "v")])])),
                ("port_unencrypted", 8080),
            ]
        )
    ]


def sealed(docs: list[Branch], rule: CryptRule = CryptRule(), mac_only: bool = False) -> codec.SopsFile:
    cipher = Cipher(KEY)
    mac = codec.encrypt_documents(docs, rule, mac_only, cipher)
    lastmodified = "2026-11-25T08:30:20Z"
    meta = md.Metadata(
        key_groups=(md.KeyGroup(age=(md.AgeKey("age1test", "enc"),)),),
        lastmodified=lastmodified,
        mac=cipher.encrypt_str(mac, mac_aad(lastmodified)),
        rule=rule,
        mac_only_encrypted=mac_only,
    )
    return codec.SopsFile(docs, meta, Format.YAML)


def open_(sops_file: codec.SopsFile, **kw: Any) -> codec.Decrypted:
    return codec.decrypt_with_key(sops_file, Secret(KEY), label="f.yaml", **kw)


def test_round_trip_restores_every_value() -> None:
    original = documents()
    encrypted = sealed(copy.deepcopy(original))
    tree = encrypted.documents[0]
    assert tree.get("token").startswith("ENC[AES256_GCM,data:")
    assert tree.get("n").endswith("type:int]")
    assert tree.get("empty") == ""
    assert tree.get("none") is None
    assert tree.get("port_unencrypted") == 8080
    assert isinstance(tree[0][0], Comment) and tree[0][0].text.startswith("ENC[")
    assert isinstance(tree.get("list")[1], str)  # a list comment becomes a plain ENC item
    assert open_(encrypted).documents == original


@pytest.mark.parametrize("field", ["token", "n", "port_unencrypted"])
def test_any_changed_value_is_detected(field: str) -> None:
    encrypted = sealed(documents())
    tree = encrypted.documents[0]
    index = tree.keys().index(field) + 1  # +1 for the head comment
    if field == "port_unencrypted":
        tree[index] = (field, 8081)
        with pytest.raises(MacMismatchError) as info:
            open_(encrypted)
        assert info.value.exit_code == 51
    else:
        enc = tree[index][1]
        flipped = "B" if enc[20] == "A" else "A"
        tree[index] = (field, enc[:20] + flipped + enc[21:])  # one ciphertext character changed
        with pytest.raises(ValueDecryptionError) as info:
            open_(encrypted)
        assert info.value.exit_code == 25
        assert field in info.value.message and "s3cr3t" not in info.value.message


def test_mac_only_encrypted_ignores_unencrypted_values() -> None:
    encrypted = sealed(documents(), mac_only=True)
    tree = encrypted.documents[0]
    tree[-1] = ("port_unencrypted", 9999)
    assert open_(encrypted).documents[0].get("port_unencrypted") == 9999


def test_moved_value_fails_authentication() -> None:
    encrypted = sealed(documents())
    tree = encrypted.documents[0]
    tree[1] = ("token", tree[2][1])  # n's ciphertext under token's path
    with pytest.raises(ValueDecryptionError, match="authentication failed"):
        open_(encrypted)


def test_swapped_values_break_the_mac() -> None:
    docs = [Branch([("a", Seq(["one", "two"]))])]
    encrypted = sealed(docs)
    items = encrypted.documents[0][0][1]
    items[0], items[1] = items[1], items[0]
    with pytest.raises(MacMismatchError):
        open_(encrypted)


def test_changed_lastmodified_breaks_the_mac() -> None:
    encrypted = sealed(documents())
    moved = codec.SopsFile(
        encrypted.documents,
        encrypted.metadata.with_mac(encrypted.metadata.mac, "2026-11-25T08:30:21Z"),
        Format.YAML,
    )
    with pytest.raises(MacMismatchError, match="does not decrypt"):
        open_(moved)


def test_missing_mac() -> None:
    encrypted = sealed(documents())
    bare = codec.SopsFile(encrypted.documents, encrypted.metadata.with_mac("", "2026-11-25T08:30:20Z"), Format.YAML)
    with pytest.raises(MacMismatchError, match="no MAC"):
        open_(bare)


def test_ignore_mac_skips_the_check() -> None:
    encrypted = sealed(documents())
    encrypted.documents[0][-1] = ("port_unencrypted", 1)
    assert open_(encrypted, ignore_mac=True).documents[0].get("port_unencrypted") == 1


def test_plain_value_where_encrypted_expected() -> None:
    encrypted = sealed(documents())
    encrypted.documents[0][2] = ("n", 42)
    with pytest.raises(ValueDecryptionError, match="plain int"):
        open_(encrypted)


def test_undecryptable_comment_is_kept_with_a_warning() -> None:
    encrypted = sealed(documents())
    encrypted.documents[0][0] = (Comment(" hand-written note"), None)
    result = open_(encrypted)
    assert result.documents[0][0] == (Comment(" hand-written note"), None)
    assert len(result.warnings) == 1 and "hand-written" not in result.warnings[0]


def test_iv_stash_reproduces_unchanged_values() -> None:
    encrypted = sealed(documents())
    before = copy.deepcopy(encrypted.documents)
    result = open_(encrypted, keep_ivs=True)
    plain = result.documents
    plain[0][1] = ("token", "changed")
    cipher = Cipher(KEY, dict(result.ivs or {}))
    codec.encrypt_documents(plain, CryptRule(), False, cipher)
    after = plain[0]
    assert after[1][1] != before[0][1][1]
    for (key, value), (_, old) in zip(after[2:], before[0][2:], strict=True):
        assert value == old, key


def test_encrypted_comment_matching_the_unencrypted_comment_regex_is_refused() -> None:
    docs = [Branch([(Comment(" x"), None), ("a", "b")])]
    with pytest.raises(SecretsctlError, match="unencrypted_comment_regex") as info:
        sealed(docs, CryptRule("unencrypted_comment_regex", "ENC"))
    assert info.value.exit_code == 23


def test_seal_writes_lastmodified_and_a_verifiable_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: dict[str, Any] = {}

    class FakeStore:
        @staticmethod
        def emit_encrypted(docs: list[Branch], meta_tree: Branch, indent: int | None = None) -> bytes:
            emitted["docs"], emitted["meta"] = docs, meta_tree
            return b"ok"

    monkeypatch.setattr(Format, "store", property(lambda self: FakeStore))
    meta = md.Metadata(key_groups=(md.KeyGroup(age=(md.AgeKey("age1x", "e"),)),), lastmodified="", mac="")
    assert codec.seal(documents(), Format.YAML, meta, Secret(KEY)) == b"ok"
    parsed = md.from_tree(emitted["meta"])
    assert parsed.lastmodified.endswith("Z") and len(parsed.lastmodified) == 20
    reopened = codec.decrypt_with_key(codec.SopsFile(emitted["docs"], parsed, Format.YAML), Secret(KEY), label="x")
    assert reopened.documents == documents()


@pytest.mark.parametrize(
    ("text", "path"),
    [('["a"]["b"]', ["a", "b"]), ("['a'][0]", ["a", 0]), ('[""]', [""]), ("", [])],
)
def test_parse_tree_path(text: str, path: list[Any]) -> None:
    assert codec.parse_tree_path(text) == path


@pytest.mark.parametrize("bad", ["hello", '["a"', "[x]"])
def test_parse_tree_path_errors(bad: str) -> None:
    with pytest.raises(TreePathError) as info:
        codec.parse_tree_path(bad)
    assert info.value.exit_code == 91


def test_extract() -> None:
    tree = documents()[0]
    assert codec.extract(tree, ["list", 2, "k"]) == "v"
    assert codec.extract(tree, ["list", 1]) == Comment(" in list")  # indices count comments
    with pytest.raises(SecretsctlError, match="not found"):
        codec.extract(tree, ["missing"])
    with pytest.raises(SecretsctlError, match="out of bounds"):
        codec.extract(tree, ["list", 9])
    with pytest.raises(SecretsctlError, match="not a slice"):
        codec.extract(tree, ["token", 0])


def test_decrypted_repr_hides_plaintext() -> None:
    result = open_(sealed(documents()))
    assert "s3cr3t" not in repr(result)
    assert KEY.hex() not in repr(result)


def test_data_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueDecryptionError):
        Cipher(os.urandom(16))
