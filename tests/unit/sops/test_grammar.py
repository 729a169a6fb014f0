"""The value grammar: ENC[…] syntax, typed plaintext, Go number and time formatting."""

from __future__ import annotations

import math

import pytest

from secretsctl.errors import ValueDecryptionError
from secretsctl.sops.grammar import (
    GoTime,
    format_enc,
    format_float_f,
    format_float_g,
    format_float_json,
    from_plaintext,
    mac_aad,
    parse_enc,
    parse_rfc3339,
    to_bytes,
    type_and_bytes,
)
from secretsctl.sops.tree import Comment


@pytest.mark.parametrize(
    ("value", "f", "g", "json"),
    [
        (1.0, "1", "1", "1"),
        (1e20, "100000000000000000000", "1e+20", "100000000000000000000"),
        (-0.0, "-0", "-0", "-0"),
        (0.0, "0", "0", "0"),
        (0.1, "0.1", "0.1", "0.1"),
        (1234567.5, "1234567.5", "1.2345675e+06", "1234567.5"),
        (123456.0, "123456", "123456", "123456"),
        (0.000001, "0.000001", "1e-06", "0.000001"),
        (0.0001, "0.0001", "0.0001", "0.0001"),
        (2.5e-7, "0.00000025", "2.5e-07", "2.5e-7"),
        (1e21, "1" + "0" * 21, "1e+21", "1e+21"),
        (-1.5e300, "-15" + "0" * 299, "-1.5e+300", "-1.5e+300"),
    ],
)
def test_go_float_formats(value: float, f: str, g: str, json: str) -> None:
    assert format_float_f(value) == f
    assert format_float_g(value) == g
    assert format_float_json(value) == json


def test_go_float_specials() -> None:
    assert format_float_f(math.inf) == "+Inf"
    assert format_float_f(-math.inf) == "-Inf"
    assert format_float_f(math.nan) == "NaN"
    assert format_float_f(5e-324).endswith("5") and "e" not in format_float_f(5e-324)


def test_to_bytes_matches_sops() -> None:
    assert to_bytes(True) == b"True"
    assert to_bytes(False) == b"False"
    assert to_bytes(-42) == b"-42"
    assert to_bytes(1.0) == b"1"
    assert to_bytes("välue") == "välue".encode()
    assert to_bytes("\udcff") == b"\xff"  # non-UTF-8 bytes survive
    assert to_bytes(GoTime("2024-01-02T00:00:00Z")) == b"2024-01-02T00:00:00Z"


def test_bool_is_not_int() -> None:
    assert type_and_bytes(True) == ("bool", b"True")
    assert type_and_bytes(1) == ("int", b"1")


def test_uint64_range_int_is_refused() -> None:
    with pytest.raises(Exception, match="uint64"):
        type_and_bytes(2**63)


@pytest.mark.parametrize(
    ("tag", "raw", "expected"),
    [
        ("int", b"+7", 7),
        ("int", b"-0", 0),
        ("float", b"1e3", 1000.0),
        ("float", b"+Inf", math.inf),
        ("bool", b"t", True),
        ("bool", b"FALSE", False),
        ("str", b"\xff", "\udcff"),
    ],
)
def test_from_plaintext_accepts_go_spellings(tag: str, raw: bytes, expected: object) -> None:
    assert from_plaintext(tag, raw) == expected


@pytest.mark.parametrize(("tag", "raw"), [("int", b"1_0"), ("int", b" 1"), ("bool", b"yes"),
                                          ("float", b"1_0"), ("time", b"2024-01-02")])
def test_from_plaintext_rejects_what_go_rejects(tag: str, raw: bytes) -> None:
    with pytest.raises(ValueDecryptionError) as info:
        from_plaintext(tag, raw)
    assert raw.decode() not in info.value.message


def test_unknown_type_tag() -> None:
    with pytest.raises(ValueDecryptionError, match="Unknown datatype: bytes"):
        from_plaintext("bytes", b"x")


def test_comment_type() -> None:
    assert from_plaintext("comment", b" note") == Comment(" note")


def test_enc_round_trip() -> None:
    text = format_enc(b"abc", b"\x01" * 32, b"\x02" * 16, "str")
    assert text.startswith("ENC[AES256_GCM,data:YWJj,iv:")
    assert parse_enc(text) == (b"abc", b"\x01" * 32, b"\x02" * 16, "str")


@pytest.mark.parametrize(
    "bad",
    [
        "plain",
        "ENC[AES256_GCM,data:,iv:AA==,tag:AA==,type:str]",  # empty field
        "ENC[AES256_GCM,data:YWJj,iv:AA=,tag:AA==,type:str]",  # bad padding
        "ENC[AES256_GCM,data:YW$j,iv:AA==,tag:AA==,type:str]",  # not base64
        "ENC[AES256_GCM,data:YWJj,iv:AA==,tag:AA==,type:str",  # truncated
        "ENC[AES256_GCM,data:YW\nJj,iv:AA==,tag:AA==,type:str]",  # newline: Go's . stops
    ],
)
def test_malformed_enc_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueDecryptionError) as info:
        parse_enc(bad)
    assert "YWJj" not in info.value.message


@pytest.mark.parametrize(
    ("lastmodified", "aad"),
    [
        ("2026-11-25T08:30:20Z", "2026-11-25T08:30:20Z"),
        ("2020-01-01T10:00:00.123+02:00", "2020-01-01T10:00:00+02:00"),
        ("2020-01-01T08:00:00+00:00", "2020-01-01T08:00:00Z"),
        ("2020-01-01T08:00:00-00:00", "2020-01-01T08:00:00Z"),
    ],
)
def test_mac_aad_normalises_like_go(lastmodified: str, aad: str) -> None:
    assert mac_aad(lastmodified) == aad


@pytest.mark.parametrize("bad", ["2026-11-25T08:30:20z", "2026-11-25 08:30:20Z", "2026-02-30T00:00:00Z", ""])
def test_rfc3339_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(bad)


def test_rfc3339_nanoseconds() -> None:
    assert parse_rfc3339("2024-01-02T03:04:05.500000000+02:00").text == "2024-01-02T03:04:05.5+02:00"
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z").text == "2024-01-02T03:04:05.123456789Z"


def test_reprs_hide_values() -> None:
    assert "note" not in repr(Comment("note"))
    assert "2024" not in repr(GoTime("2024-01-02T00:00:00Z"))


@pytest.mark.parametrize(
    "text",
    [
        "ENC[AES256_GCM,data:YWJj,iv:AAAA,tag:AAAA,type:str]",
        "ENC[AES256_GCM,data:YWJj,iv:AAAA,tag:AAAA,type:str]trailing",
        "ENC[AES256_GCM,data:YWJj,iv:AAAA,tag:AAAA,type:str]x]",
        "ENC[AES256_GCM,data:YWJj,iv:AAAA,tag:AAAA,type:a,b]",
        "ENC[AES256_GCM,data:YWJj,iv:AAAA,iv:AAAA,tag:AAAA,type:str]",
    ],
)
def test_fast_split_agrees_with_the_go_regex(text: str) -> None:
    from secretsctl.sops.grammar import _enc_pattern

    match = _enc_pattern().match(text)
    try:
        parsed = parse_enc(text)
    except ValueDecryptionError:
        parsed = None
    if match is None:
        assert parsed is None
    else:
        data, iv, tag, kind = match.groups()
        try:
            expected = (
                __import__("binascii").a2b_base64(data, strict_mode=True),
                __import__("binascii").a2b_base64(iv, strict_mode=True),
                __import__("binascii").a2b_base64(tag, strict_mode=True),
                kind,
            )
        except Exception:
            expected = None
        assert parsed == expected


def test_offset_of_24_hours_is_refused_like_go_marshal_text() -> None:
    from secretsctl.errors import EncryptionError

    with pytest.raises(EncryptionError) as info:
        type_and_bytes(GoTime("2024-01-02T03:04:05+24:00"))
    assert info.value.exit_code == 23
    assert type_and_bytes(GoTime("2024-01-02T03:04:05-23:59")) == ("time", b"2024-01-02T03:04:05-23:59")
