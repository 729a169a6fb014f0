"""The JSON store against sops 3.11's own output (vectors) and its documented rules."""

from __future__ import annotations

import math

import pytest

from secretsctl.errors import ExitCode, InputError, MetadataError, SecretsctlError
from secretsctl.sops.grammar import GoTime
from secretsctl.sops.metadata import NilList
from secretsctl.sops.stores import dotenv, ini
from secretsctl.sops.stores import json_store as store
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.flat_stores_support import (
    CORPUS,
    MALFORMED,
    STRICTER_THAN_SOPS,
    VECTORS,
    canonical,
    first_difference,
    shape,
)

CASES = sorted(CORPUS["json"])


@pytest.mark.parametrize("name", CASES)
def test_plain_round_trip_prints_what_sops_prints(name: str) -> None:
    expected = (VECTORS / "json" / f"{name}.plain").read_bytes()
    out = store.emit_plain(store.load_plain(CORPUS["json"][name]))
    assert first_difference(out, expected) is None, first_difference(out, expected)


@pytest.mark.parametrize("name", CASES)
def test_encrypted_file_has_the_plain_shape_and_re_emits_byte_for_byte(name: str) -> None:
    encrypted = (VECTORS / "json" / f"{name}.enc").read_bytes()
    documents, metadata = store.load_encrypted(encrypted)
    assert shape(documents) == shape(store.load_plain(CORPUS["json"][name]))
    assert metadata.keys()[-1] == "version"
    out = store.emit_encrypted(documents, metadata)
    assert first_difference(out, encrypted) is None, first_difference(out, encrypted)


def test_every_number_is_a_float64() -> None:
    (doc,) = store.load_plain(b'{"i": 42, "neg": -0, "big": 12345678901234567890, "tiny": 1e-400}')
    assert canonical(doc) == canonical(
        Branch([("i", 42.0), ("neg", -0.0), ("big", 1.2345678901234567e19), ("tiny", 0.0)])
    )
    assert math.copysign(1.0, doc.get("neg")) == -1.0


def test_keys_keep_order_and_duplicates() -> None:
    (doc,) = store.load_plain(b'{"b": 1, "a": 2, "b": 3}')
    assert [k for k, _ in doc] == ["b", "a", "b"]
    assert store.emit_plain([doc]) == b'{\n\t"b": 1,\n\t"a": 2,\n\t"b": 3\n}\n'


def test_lists_are_seqs_and_null_is_none() -> None:
    (doc,) = store.load_plain(b'{"l": [[], {"n": null}], "o": {}}')
    outer = doc.get("l")
    assert [type(outer), type(outer[0]), type(outer[1])] == [Seq, Seq, Branch]
    assert outer[1].get("n", "missing") is None
    assert type(doc.get("o")) is Branch


def test_invalid_text_becomes_replacement_characters_as_in_go() -> None:
    (doc,) = store.load_plain(b'{"a": "\\udc80x\\ud83d\\ude00", "b\xff": "\xff\xc3"}')
    assert doc == Branch([("a", "\ufffdx\U0001f600"), ("b\ufffd", "\ufffd\ufffd")])


@pytest.mark.parametrize("name", sorted(MALFORMED["json"]))
def test_malformed_input_is_an_input_error_that_does_not_echo_it(name: str) -> None:
    data, sops_exit = MALFORMED["json"][name]
    if sops_exit == ExitCode.FILE_ALREADY_ENCRYPTED:
        assert store.has_metadata(store.load_plain(data))
        return
    with pytest.raises(InputError) as caught:
        store.load_plain(data)
    assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert "1e400" not in caught.value.message


def test_parse_errors_name_line_and_column() -> None:
    with pytest.raises(InputError, match=r"line 3 column 7"):
        store.load_plain(b'{\n "a": 1,\n "b": ?\n}')


@pytest.mark.parametrize("data", [b"[1]", b"1", b'"s"', b"true", b"null"])
def test_top_level_must_be_an_object(data: bytes) -> None:
    with pytest.raises(InputError, match="Expected JSON object start"):
        store.load_plain(data)


@pytest.mark.parametrize("name", sorted(STRICTER_THAN_SOPS["json"]))
def test_data_that_sops_would_silently_drop_is_refused(name: str) -> None:
    with pytest.raises(InputError):
        store.load_plain(STRICTER_THAN_SOPS["json"][name])


def test_deep_nesting_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(InputError, match="nested more than 256 levels deep"):
        store.load_plain(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_encrypted_parse_errors_exit_1_like_sops() -> None:
    with pytest.raises(InputError) as caught:
        store.load_encrypted(b'{"a": 1} xx')
    assert caught.value.exit_code == ExitCode.GENERIC


@pytest.mark.parametrize("data", [b'{"a": 1}', b'{"a": 1, "sops": null}'])
def test_missing_metadata(data: bytes) -> None:
    with pytest.raises(MetadataError, match="sops metadata not found"):
        store.load_encrypted(data)


def test_metadata_must_be_an_object() -> None:
    with pytest.raises(MetadataError):
        store.load_encrypted(b'{"a": 1, "sops": [1]}')


def test_metadata_is_removed_and_shamir_threshold_is_an_int() -> None:
    documents, metadata = store.load_encrypted(
        b'{"a": 1, "sops": {"shamir_threshold": 2, "version": "3.11.0"}, "b": 2}'
    )
    assert documents[0].keys() == ["a", "b"]
    assert canonical(metadata.get("shamir_threshold")) == ("int", 2)


def test_has_metadata() -> None:
    assert store.has_metadata(store.load_plain(b'{"a": {"sops": 1}, "sops": 2}'))
    assert not store.has_metadata(store.load_plain(b'{"a": {"sops": 1}}'))


# --- writing -------------------------------------------------------------------------------


def test_comments_are_dropped_and_other_leaves_written_as_go_does() -> None:
    # As `sops decrypt --output-type json` prints a YAML file with comments, times and ints.
    tree = Branch(
        [
            (Comment(" top"), None),
            ("a", 1),
            ("l", Seq(["x", Comment(" in list"), Branch([("k", "v")])])),
            (
                "m",
                Branch(
                    [
                        (Comment(" in map"), None),
                        ("z", GoTime("2020-01-02T03:04:05.123+02:00")),
                        ("e", Seq()),
                        ("f", Branch()),
                        ("c", Seq([Comment(" only comments")])),
                        ("n", NilList()),
                        ("b", True),
                        ("none", None),
                    ]
                ),
            ),
        ]
    )
    assert store.emit_plain([tree]) == (
        b'{\n\t"a": 1,\n\t"l": [\n\t\t"x",\n\t\t{\n\t\t\t"k": "v"\n\t\t}\n\t],\n\t"m": {\n'
        b'\t\t"z": "2020-01-02T03:04:05.123+02:00",\n\t\t"e": [],\n\t\t"f": {},\n\t\t"c": [],\n'
        b'\t\t"n": null,\n\t\t"b": true,\n\t\t"none": null\n\t}\n}\n'
    )


def test_only_the_first_document_is_written() -> None:
    assert store.emit_plain([Branch([("a", "1")]), Branch([("b", "2")])]) == b'{\n\t"a": "1"\n}\n'


def test_string_escaping_is_go_encoding_json() -> None:
    text = '<>&\u2028\u2029\x00\x1f\x7f\b\f\n\r\t"\\/\ufffd\udcff\U0001f600é'
    assert store.quote(text) == (
        '"\\u003c\\u003e\\u0026\\u2028\\u2029\\u0000\\u001f\x7f\\b\\f\\n\\r\\t\\"\\\\/'
        '\ufffd\\ufffd\U0001f600é"'
    )


@pytest.mark.parametrize(
    ("indent", "expected"),
    [
        (None, b'{\n\t"a": [\n\t\t1\n\t]\n}\n'),
        (-1, b'{\n\t"a": [\n\t\t1\n\t]\n}\n'),
        (0, b'{\n"a": [\n1\n]\n}\n'),
        (2, b'{\n  "a": [\n    1\n  ]\n}\n'),
    ],
)
def test_indentation(indent: int | None, expected: bytes) -> None:
    assert store.emit_plain([Branch([("a", Seq([1.0]))])], indent=indent) == expected


def test_indent_below_minus_one_is_refused() -> None:
    with pytest.raises(SecretsctlError, match="smaller than -1"):
        store.emit_plain([Branch()], indent=-2)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_cannot_be_written(value: float) -> None:
    with pytest.raises(SecretsctlError) as caught:
        store.emit_plain([Branch([("x", value)])])
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE


def test_emit_value_is_indented_without_a_final_newline() -> None:
    assert store.emit_value(Seq([1.0, "a", Branch([("k", None)])])) == (
        b'[\n\t1,\n\t"a",\n\t{\n\t\t"k": null\n\t}\n]'
    )
    assert store.emit_value(42.0) == b"42"
    assert store.emit_value(True) == b"true"
    assert store.emit_value("s") == b'"s"'
    assert store.emit_value(Seq(["x"]), indent=1) == b'[\n "x"\n]'
    # A list element that is a comment, as `--extract '["l"][0]'` selects it.
    assert store.emit_value(Comment(" in list")) == b'{\n\t"Value": " in list"\n}'


def test_compact_encoding_for_other_stores() -> None:
    assert store.encode_compact(Seq([1.0, "<", None, Seq([2])])) == b'[1,"\\u003c",null,[2]]'


@pytest.mark.parametrize(("name", "source"), [("dotenv_to_json", dotenv), ("ini_to_json", ini)])
def test_other_stores_trees_print_as_sops_prints_them(name: str, source: object) -> None:
    from tests.flat_stores_support import CONVERSIONS

    data = CONVERSIONS[name][1]
    expected = (VECTORS / "conversions" / f"{name}.out").read_bytes()
    assert store.emit_plain(source.load_plain(data)) == expected  # type: ignore[attr-defined]
