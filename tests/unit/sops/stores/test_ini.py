"""The INI store: sops 3.11 with gopkg.in/ini.v1, against its vectors and observed rules."""

from __future__ import annotations

import pytest

from secretsctl.errors import ExitCode, InputError, MetadataError, SecretsctlError
from secretsctl.sops import metadata as md
from secretsctl.sops.stores import ini as store
from secretsctl.sops.stores import json_store
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.flat_stores_support import (
    CONVERSIONS,
    CORPUS,
    MALFORMED,
    VECTORS,
    first_difference,
    shape,
    sorted_sops_section,
)

CASES = sorted(CORPUS["ini"])


def section(*items: tuple[object, object]) -> Branch:
    return Branch(items)


def c(text: str) -> tuple[Comment, None]:
    return (Comment(text), None)


@pytest.mark.parametrize("name", CASES)
def test_plain_round_trip_prints_what_sops_prints(name: str) -> None:
    expected = (VECTORS / "ini" / f"{name}.plain").read_bytes()
    out = store.emit_plain(store.load_plain(CORPUS["ini"][name]))
    assert first_difference(out, expected) is None, first_difference(out, expected)


@pytest.mark.parametrize("name", CASES)
def test_encrypted_file_has_the_plain_shape_and_re_emits_with_sorted_metadata(name: str) -> None:
    encrypted = (VECTORS / "ini" / f"{name}.enc").read_bytes()
    documents, metadata = store.load_encrypted(encrypted)
    assert shape(documents) == shape(store.load_plain(CORPUS["ini"][name]))
    expected = sorted_sops_section(encrypted)
    out = store.emit_encrypted(documents, metadata)
    assert first_difference(out, expected) is None, first_difference(out, expected)
    rewritten = store.emit_encrypted(documents, md.to_tree(md.from_tree(metadata)))
    assert first_difference(rewritten, expected) is None


def test_sections_keys_and_comments() -> None:
    (doc,) = store.load_plain(
        b'top = 1\n; c1\n# c2\n[sec] ; sc\nk1 = "quoted"   ; kc\nk2=a;b\nk3 : colon\n'
        b'"q=k" = 2\n[empty]\n[sec]\nk1 = dup\n'
    )
    assert doc == Branch(
        [
            ("DEFAULT", section(("top", "1"))),
            (
                "sec",
                section(
                    c("c1\n# c2\n; sc"),
                    ("k1", "quoted"),
                    c("kc"),
                    ("k2", "a"),
                    c("b"),
                    ("k3", "colon"),
                    ("q=k", "2"),
                ),
            ),
            ("empty", section()),
            ("sec", section(("k1", "dup"))),
        ]
    )


def test_default_is_always_first_even_when_empty() -> None:
    (doc,) = store.load_plain(b"[s]\nk=v\n")
    assert doc.keys() == ["DEFAULT", "s"]
    assert doc.get("DEFAULT") == Branch()
    assert store.emit_plain([doc]) == b"[s]\nk = v\n"


def test_an_explicit_default_header_is_a_second_section() -> None:
    (doc,) = store.load_plain(b"[DEFAULT]\nx=1\n")
    assert doc == Branch([("DEFAULT", Branch()), ("DEFAULT", section(("x", "1")))])
    assert store.emit_plain([doc]) == b"[DEFAULT]\nx = 1\n"


def test_comments_before_a_key_and_inline_join_into_one_key_comment() -> None:
    (doc,) = store.load_plain(b"[s]\n; above\nk = v ; inline\n")
    assert doc.get("s") == section(("k", "v"), c("above\n; inline"))
    assert store.emit_plain([doc]) == b"[s]\n; above\n; inline\nk = v\n"


def test_repeated_key_keeps_its_place_and_takes_the_last_value_and_comment() -> None:
    (doc,) = store.load_plain(b"[s]\nk=1 ; one\nj=2\nk=3\n")
    assert doc.get("s") == section(("k", "3"), ("j", "2"))


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        (b"k = 'single'", "k", "single"),
        (b'k = "a"b"', "k", '"a"b"'),
        (b'k = "a;b"', "k", '"a'),
        (b"k = `a;b` ; c", "k", "a;b"),
        (b'k = """a"b""" ; dropped', "k", 'a"b'),
        (b"k =   ", "k", ""),
        (b"k = a\\", "k", "a"),
        (b'"a:b" = v', "a:b", "v"),
        (b"`a=b` = v", "a=b", "v"),
        (b"url = http://x/?a=b", "url", "http://x/?a=b"),
        (b"http://x = y", "http", "//x = y"),
        (b"k\t=\tv\t", "k", "v"),
        (b"k = \xc2\xa0nbsp\xc2\xa0", "k", "nbsp"),
        (b"k = \x1cgo-space-differs\x1c", "k", "\x1cgo-space-differs\x1c"),
        (b"- = auto", "#1", "auto"),
    ],
)
def test_value_rules(line: bytes, key: str, value: str) -> None:
    (doc,) = store.load_plain(b"[s]\n" + line + b"\n")
    assert doc.get("s").get(key) == value


def test_multiline_and_continued_values() -> None:
    (doc,) = store.load_plain(b'[s]\nk = """a\nb""" ; c\nj = x \\\n  y \\\n  z\nb = `1\n2`\n')
    assert doc.get("s") == section(("k", "a\nb"), c("c"), ("j", "x y z"), ("b", "1\n2"))


def test_bom_and_crlf() -> None:
    (doc,) = store.load_plain(b"\xef\xbb\xbf[s]\r\nk = v\r\n")
    assert doc.get("s") == section(("k", "v"))


@pytest.mark.parametrize("name", sorted(MALFORMED["ini"]))
def test_malformed_input_names_the_line_only(name: str) -> None:
    data, sops_exit = MALFORMED["ini"][name]
    if sops_exit == ExitCode.FILE_ALREADY_ENCRYPTED:
        assert store.has_metadata(store.load_plain(data))
        return
    with pytest.raises(InputError, match=r"\(line \d+\)") as caught:
        store.load_plain(data)
    assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert "novalue" not in caught.value.message
    assert "unterminated" not in caught.value.message


def test_encrypted_parse_errors_exit_1_like_sops() -> None:
    with pytest.raises(InputError) as caught:
        store.load_encrypted(b"[s\n")
    assert caught.value.exit_code == ExitCode.GENERIC


def test_metadata_section_anywhere_in_any_order() -> None:
    documents, metadata = store.load_encrypted(
        b"[a]\nk = v\n[sops]\nversion = 3.11.0\nage__list_0__map_enc = x\\ny\n"
        b"age__list_0__map_recipient = age1x\nshamir_threshold = 2\n[b]\nj = w\n"
    )
    assert documents == [
        Branch([("DEFAULT", Branch()), ("a", section(("k", "v"))), ("b", section(("j", "w")))])
    ]
    assert metadata.get("age") == Seq([Branch([("enc", "x\ny"), ("recipient", "age1x")])])
    assert metadata.get("shamir_threshold") == 2


def test_missing_metadata() -> None:
    with pytest.raises(MetadataError, match="sops metadata not found"):
        store.load_encrypted(b"[s]\nk = v\n")


def test_has_metadata() -> None:
    assert store.has_metadata(store.load_plain(b"[sops]\n"))
    assert not store.has_metadata(store.load_plain(b"[Sops]\nsops = 1\n"))


# --- writing -------------------------------------------------------------------------------


def test_alignment_counts_bytes_and_quoted_keys() -> None:
    tree = Branch([("s", section(("é", "1"), ("a=b", "2"), ("q`", "3"), ("long_key", "")))])
    assert store.emit_plain([tree]) == (
        # "é" is two bytes wide for ini.v1.
        '[s]\né       = 1\n`a=b`    = 2\n"""q`""" = 3\nlong_key = \n'.encode()
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a\nb", '"""a\nb"""'),
        ("a`b", '"""a`b"""'),
        ("a;b", "`a;b`"),
        ("#1", "`#1`"),
        (" pad", '" pad"'),
        ("\u00a0nbsp", '"\u00a0nbsp"'),
        ("plain", "plain"),
    ],
)
def test_values_are_quoted_as_ini_v1_quotes_them(value: str, written: str) -> None:
    out = store.emit_plain([Branch([("s", section(("k", value)))])])
    assert out == f"[s]\nk = {written}\n".encode()


def test_layout_comments_and_blank_lines_between_sections() -> None:
    tree = Branch(
        [
            ("DEFAULT", section(("top", "1"), c("about top"))),
            ("a", section(c("first\n# second"), ("k", "v"), c("# hashed"), c("ignored"))),
            ("b", section()),
        ]
    )
    assert store.emit_plain([tree]) == (
        b"; about top\ntop = 1\n\n; first\n# second\n[a]\n; ignored\nk = v\n\n[b]\n"
    )


def test_first_section_named_default_in_any_case_gets_no_header() -> None:
    tree = Branch([("Default", section(("k", "v"))), ("s", section())])
    assert store.emit_plain([tree]) == b"k = v\n\n[s]\n"


def test_empty_comment_lines_do_not_crash() -> None:
    # ini.v1 panics on these (sops exits 2); we write a bare ';'.
    (doc,) = store.load_plain(b";\n;b\n[s]\nk=v\n")
    assert store.emit_plain([doc]) == b";\n; b\n[s]\nk = v\n"


def test_metadata_section_is_sorted_and_newlines_escaped() -> None:
    metadata = Branch(
        [
            ("age", Seq([Branch([("recipient", "age1x"), ("enc", "a\nb\n")])])),
            ("lastmodified", "2026-11-25T09:23:58Z"),
            ("unencrypted_regex", "^(a|b);#"),
            ("version", "3.11.0"),
        ]
    )
    assert store.emit_encrypted([Branch([("DEFAULT", Branch())])], metadata) == (
        b"[sops]\n"
        b"age__list_0__map_enc       = a\\nb\\n\n"
        b"age__list_0__map_recipient = age1x\n"
        b"lastmodified               = 2026-11-25T09:23:58Z\n"
        b"unencrypted_regex          = `^(a|b);#`\n"
        b"version                    = 3.11.0\n"
    )
    _, back = store.load_encrypted(store.emit_encrypted([Branch()], metadata))
    assert back.get("unencrypted_regex") == "^(a|b);#"


def test_values_from_other_stores_are_written_with_go_formatting() -> None:
    _, data, _ = CONVERSIONS["json_to_ini"]
    expected = (VECTORS / "conversions" / "json_to_ini.out").read_bytes()
    assert store.emit_plain(json_store.load_plain(data)) == expected


@pytest.mark.parametrize(
    ("tree", "reason"),
    [
        (Branch([("s", "not a section")]), "Section values should always be TreeBranches"),
        (Branch([("", Branch())]), "empty section name"),
        (Branch([("s", section(("", "v")))]), "empty key name"),
    ],
)
def test_trees_that_are_not_two_levels_cannot_be_written(tree: Branch, reason: str) -> None:
    with pytest.raises(SecretsctlError, match=reason) as caught:
        store.emit_plain([tree])
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE


def test_emit_value_is_compact_json() -> None:
    assert store.emit_value(Seq([1.0, "a", True, None])) == b'[1,"a",true,null]'
    assert store.emit_value(1.0) == b"1"
    assert store.emit_value(Seq([Comment(" c"), "x", Branch([("k", "v")])])) == (
        b'[{"Value":" c"},"x",[{"Key":"k","Value":"v"}]]'
    )
