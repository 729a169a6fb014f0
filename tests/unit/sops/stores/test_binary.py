"""The binary store: raw bytes in, the same bytes out, a JSON envelope when encrypted."""

from __future__ import annotations

import pytest

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.sops.stores import binary as store
from secretsctl.sops.stores import json_store
from secretsctl.sops.tree import Branch, Seq
from tests.flat_stores_support import CONVERSIONS, CORPUS, VECTORS, first_difference, shape

CASES = sorted(CORPUS["binary"])


@pytest.mark.parametrize("name", CASES)
def test_plain_round_trip_is_byte_exact_and_matches_sops(name: str) -> None:
    data = CORPUS["binary"][name]
    assert store.emit_plain(store.load_plain(data)) == data
    assert (VECTORS / "binary" / f"{name}.plain").read_bytes() == data


@pytest.mark.parametrize("name", CASES)
def test_encrypted_envelope_re_emits_byte_for_byte(name: str) -> None:
    encrypted = (VECTORS / "binary" / f"{name}.enc").read_bytes()
    documents, metadata = store.load_encrypted(encrypted)
    assert (
        shape(documents) == shape(store.load_plain(CORPUS["binary"][name])) == [[("data", "leaf")]]
    )
    assert "unencrypted_suffix" not in [key for key, _ in metadata]
    out = store.emit_encrypted(documents, metadata)
    assert first_difference(out, encrypted) is None, first_difference(out, encrypted)


def test_plaintext_is_one_string_leaf_never_validated() -> None:
    (doc,) = store.load_plain(b"\xff\x00ok")
    assert doc == Branch([("data", "\udcff\x00ok")])
    assert not store.has_metadata([doc])


def test_envelope_takes_the_json_indent() -> None:
    tree = Branch([("version", "3.11.0")])
    out = store.emit_encrypted(store.load_plain(b"x"), tree, indent=2)
    assert out == b'{\n  "data": "x",\n  "sops": {\n    "version": "3.11.0"\n  }\n}\n'


@pytest.mark.parametrize(
    ("documents", "reason"),
    [
        ([Branch([("other", "x")])], "no binary data found"),
        ([Branch([("data", 1.0)])], "does not have a string value"),
        ([Branch([("data", Seq())])], "does not have a string value"),
        ([Branch([("data", "x")]), Branch()], "exactly one tree branch"),
    ],
)
def test_trees_without_a_data_string_cannot_be_written(
    documents: list[Branch], reason: str
) -> None:
    with pytest.raises(SecretsctlError, match=reason) as caught:
        store.emit_plain(documents)
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE
    assert "--output-type" in (caught.value.hint or "")


def test_the_first_data_key_wins() -> None:
    assert store.emit_plain([Branch([("a", 1), ("data", "first"), ("data", "second")])]) == b"first"


def test_extracting_a_value_is_refused() -> None:
    with pytest.raises(SecretsctlError, match="not structured") as caught:
        store.emit_value("x")
    assert caught.value.exit_code == ExitCode.ERROR_DUMPING_TREE


def test_binary_plaintext_printed_as_json_matches_sops() -> None:
    _, data, _ = CONVERSIONS["json_to_binary"]
    expected = (VECTORS / "conversions" / "json_to_binary.out").read_bytes()
    assert json_store.emit_plain(store.load_plain(data)) == expected
