"""The tree walk: AAD paths and crypt-rule decisions, as sops 3.11 makes them."""

from __future__ import annotations

from typing import Any

import pytest

from secretsctl.errors import EncryptionError
from secretsctl.sops.tree import Branch, Comment, CryptRule, Seq, walk


def visits(documents: list[Branch], rule: CryptRule) -> list[tuple[Any, str, bool, bool]]:
    seen: list[tuple[Any, str, bool, bool]] = []

    def on_leaf(value: Any, aad: str, encrypted: bool, is_comment: bool) -> Any:
        seen.append((value, aad, encrypted, is_comment))
        return value

    walk(documents, rule, on_leaf)
    return seen


def sample() -> Branch:
    return Branch(
        [
            (Comment(" top"), None),
            ("hello", "a"),
            ("nested", Branch([("b", Branch([("c", 1)])), (Comment(" in nested"), None)])),
            ("list", Seq(["x", Comment(" in list"), Branch([("k2", True)]), Seq(["deep"])])),
            ("skip", None),
            ("port_unencrypted", 8080),
            ("a:b", "colon"),
        ]
    )


def test_aad_paths_leave_out_list_indices() -> None:
    aads = [(v if not isinstance(v, Comment) else v.text, aad) for v, aad, _, _ in visits([sample()], CryptRule())]
    assert aads == [
        (" top", ":"),
        ("a", "hello:"),
        (1, "nested:b:c:"),
        (" in nested", "nested:"),
        ("x", "list:"),
        (" in list", "list:"),
        (True, "list:k2:"),
        ("deep", "list:"),
        (8080, "port_unencrypted:"),
        ("colon", "a:b:"),
    ]


def test_nulls_are_not_visited() -> None:
    assert all(value is not None for value, *_ in visits([sample()], CryptRule()))


def decisions(rule: CryptRule, tree: Branch | None = None) -> dict[str, bool]:
    out = {}
    for value, aad, encrypted, _ in visits([tree or sample()], rule):
        name = value.text if isinstance(value, Comment) else str(value)
        out[name] = encrypted
    return out


def test_default_unencrypted_suffix() -> None:
    d = decisions(CryptRule())
    assert d["8080"] is False
    assert d["a"] is True and d[" top"] is True


def test_encrypted_suffix_leaves_top_level_comments_clear() -> None:
    d = decisions(CryptRule("encrypted_suffix", "ed"))
    assert d[" top"] is False  # path [] never matches
    assert d[" in nested"] is True  # container path "nested" ends with "ed"
    assert d["1"] is True and d["a"] is False


def test_regex_rules_search_every_key_on_the_path() -> None:
    d = decisions(CryptRule("encrypted_regex", "^nest"))
    assert d["1"] is True and d["a"] is False
    d = decisions(CryptRule("unencrypted_regex", "^li"))
    assert d["x"] is False and d[" in list"] is False and d["True"] is False and d["a"] is True


def test_encrypted_comment_regex_controls_the_following_subtree() -> None:
    tree = Branch(
        [
            (Comment(" sops:enc"), None),
            ("secret", Branch([("inner", "s")])),
            ("public", "p"),
            (Comment(" unrelated"), None),
        ]
    )
    d = decisions(CryptRule("encrypted_comment_regex", "sops:enc"), tree)
    assert d[" sops:enc"] is False  # the marker itself stays clear
    assert d["s"] is True
    assert d["p"] is False
    assert d[" unrelated"] is False


def test_unencrypted_comment_regex() -> None:
    tree = Branch([(Comment(" plain"), None), ("a", "1"), ("b", "2")])
    d = decisions(CryptRule("unencrypted_comment_regex", "plain"), tree)
    assert d["1"] is False and d["2"] is True and d[" plain"] is False


def test_non_string_key_is_refused() -> None:
    with pytest.raises(EncryptionError, match="non-string key"):
        visits([Branch([(1, "x")])], CryptRule())


def test_walk_replaces_leaves_and_wraps_comment_strings() -> None:
    tree = sample()
    walk([tree], CryptRule(), lambda v, aad, enc, c: (f"E:{aad}" if enc else v))
    assert tree[0] == (Comment("E::"), None)
    assert tree[1] == ("hello", "E:hello:")
    assert tree[3][1][1] == "E:list:"  # a comment inside a list becomes a plain item


def test_lookaround_patterns_are_refused() -> None:
    with pytest.raises(EncryptionError, match="Go RE2"):
        visits([sample()], CryptRule("encrypted_regex", "(?=a)"))


def test_container_reprs_hide_content() -> None:
    assert "hello" not in repr(sample())
    assert "x" not in repr(Seq(["x"]))
