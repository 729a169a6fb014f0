"""The dotenv store against sops 3.11's own output (vectors) and its documented rules."""

from __future__ import annotations

import math

import pytest

from secretsctl.errors import ExitCode, InputError, MetadataError, SecretsctlError
from secretsctl.sops import metadata as md
from secretsctl.sops.grammar import GoTime
from secretsctl.sops.stores import dotenv as store
from secretsctl.sops.stores import json_store
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.flat_stores_support import (
    CONVERSIONS,
    CORPUS,
    MALFORMED,
    VECTORS,
    first_difference,
    shape,
)

CASES = sorted(CORPUS["dotenv"])


@pytest.mark.parametrize("name", CASES)
def test_plain_round_trip_prints_what_sops_prints(name: str) -> None:
    expected = (VECTORS / "dotenv" / f"{name}.plain").read_bytes()
    out = store.emit_plain(store.load_plain(CORPUS["dotenv"][name]))
    assert first_difference(out, expected) is None, first_difference(out, expected)


@pytest.mark.parametrize("name", CASES)
def test_encrypted_file_has_the_plain_shape_and_re_emits_byte_for_byte(name: str) -> None:
    encrypted = (VECTORS / "dotenv" / f"{name}.enc").read_bytes()
    documents, metadata = store.load_encrypted(encrypted)
    assert shape(documents) == shape(store.load_plain(CORPUS["dotenv"][name]))
    out = store.emit_encrypted(documents, metadata)
    assert first_difference(out, encrypted) is None, first_difference(out, encrypted)
    # The metadata also survives the codec's validation and rewriting.
    rewritten = store.emit_encrypted(documents, md.to_tree(md.from_tree(metadata)))
    assert first_difference(rewritten, encrypted) is None


def test_lines_are_split_on_newline_only_and_kept_verbatim() -> None:
    (doc,) = store.load_plain(
        b' B = spaced \nQ="q v"\nexport X=1\nW=a=b=c\nCR=v\r\nE=\n#c\n#\n\nN=a\\nb\n=\n'
    )
    assert doc == Branch(
        [
            (" B ", " spaced "),
            ("Q", '"q v"'),
            ("export X", "1"),
            ("W", "a=b=c"),
            ("CR", "v\r"),
            ("E", ""),
            (Comment("c"), None),
            (Comment(""), None),
            ("N", "a\nb"),
            ("", ""),
        ]
    )


def test_invalid_line_names_the_line_number_only() -> None:
    with pytest.raises(InputError, match=r"line 3\b") as caught:
        store.load_plain(b"A=1\n\nnot-an-assignment\n")
    assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert "not-an-assignment" not in caught.value.message


@pytest.mark.parametrize("name", sorted(MALFORMED["dotenv"]))
def test_malformed_input(name: str) -> None:
    data, sops_exit = MALFORMED["dotenv"][name]
    if sops_exit == ExitCode.FILE_ALREADY_ENCRYPTED:
        assert store.has_metadata(store.load_plain(data))
        return
    with pytest.raises(InputError):
        store.load_plain(data)


def test_has_metadata_looks_for_the_sops_prefix() -> None:
    assert store.has_metadata([Branch([("sops_anything", "x")])])
    assert not store.has_metadata([Branch([("sops", "x"), (Comment("sops_x"), None)])])


def test_metadata_lines_are_unflattened_and_removed() -> None:
    documents, metadata = store.load_encrypted(
        b"A=1\n#c\nsops_age__list_0__map_enc=line1\\nline2\\n\n"
        b"sops_age__list_0__map_recipient=age1x\nsops_version=3.11.0\n"
        b"sops_mac_only_encrypted=true\nsops_shamir_threshold=2\n"
    )
    assert documents == [Branch([("A", "1"), (Comment("c"), None)])]
    assert metadata.get("age") == Seq([Branch([("enc", "line1\nline2\n"), ("recipient", "age1x")])])
    assert metadata.get("mac_only_encrypted") is True
    assert metadata.get("shamir_threshold") == 2


def test_missing_metadata() -> None:
    with pytest.raises(MetadataError, match="sops metadata not found"):
        store.load_encrypted(b"A=1\n")


def test_metadata_is_written_sorted_with_escaped_newlines_and_empty_values() -> None:
    metadata = Branch(
        [
            ("kms", Seq([Branch([("arn", "arn:x"), ("enc", "E"), ("aws_profile", "")])])),
            ("age", Seq([Branch([("recipient", "age1x"), ("enc", "a\nb\n")])])),
            ("lastmodified", "2026-11-25T09:23:58Z"),
            ("hc_vault", md.NilList()),
            ("mac_only_encrypted", True),
            ("version", "3.11.0"),
        ]
    )
    assert store.emit_encrypted([Branch([("A", "x")])], metadata) == (
        b"A=x\n"
        b"sops_age__list_0__map_enc=a\\nb\\n\n"
        b"sops_age__list_0__map_recipient=age1x\n"
        b"sops_kms__list_0__map_arn=arn:x\n"
        b"sops_kms__list_0__map_aws_profile=\n"
        b"sops_kms__list_0__map_enc=E\n"
        b"sops_lastmodified=2026-11-25T09:23:58Z\n"
        b"sops_mac_only_encrypted=true\n"
        b"sops_version=3.11.0\n"
    )


def test_values_from_other_stores_are_written_with_go_formatting() -> None:
    _, data, _ = CONVERSIONS["json_to_dotenv"]
    expected = (VECTORS / "conversions" / "json_to_dotenv.out").read_bytes()
    assert store.emit_plain(json_store.load_plain(data)) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (1e21, "1E+21"),
        (1234567.0, "1.234567E+06"),
        (-0.0, "-0.0"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
        (True, "true"),
        (7, "7"),
        (None, "<nil>"),
        (GoTime("2024-01-02T03:04:05.5+02:00"), "2024-01-02T03:04:05+02:00"),
    ],
)
def test_value_to_string(value: object, text: str) -> None:
    assert store.value_to_string(value) == text


def test_complex_values_cannot_be_written() -> None:
    with pytest.raises(SecretsctlError, match="offending key k") as caught:
        store.emit_plain([Branch([("k", Seq(["x"]))])])
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE


def test_emit_value_takes_strings_only() -> None:
    assert store.emit_value("a\nb") == b"a\nb"
    with pytest.raises(SecretsctlError, match="only supports emitting strings") as caught:
        store.emit_value(1.0)
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE
