"""The bincode codec of the Razer daemon's enums: worked bytes, round trips."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.leds.model import COLOURS, CiState, Colour
from secretsctl.leds.razer import (
    COMMAND_VARIANTS,
    RESPONSE_VARIANTS,
    BincodeError,
    DaemonCommand,
    DaemonResponse,
    WireType,
    decode_command,
    decode_response,
    encode_command,
    encode_response,
    static_colour,
)
from tests.leds.razer_server import Undecodable, decode_daemon_command

STATIC_RED = bytes.fromhex("0a000000 0600000000000000 737461746963 0300000000000000 ff0000")

LAST_THREE_BYTES = {
    CiState.FAILED: "ff0000",
    CiState.PASSED: "00ff00",
    CiState.PENDING: "ffa500",
    CiState.UNKNOWN: "808080",
    CiState.NO_REPOSITORY: "0000ff",
}


def test_static_red_is_the_29_worked_bytes() -> None:
    encoded = encode_command(DaemonCommand("SetStandardEffect", ("static", b"\xff\x00\x00")))
    assert encoded == STATIC_RED
    assert len(encoded) == 29


@pytest.mark.parametrize("state", list(CiState))
def test_each_state_colour_differs_only_in_the_last_three_bytes(state: CiState) -> None:
    encoded = encode_command(static_colour(COLOURS[state]))
    assert encoded[:26] == STATIC_RED[:26]
    assert encoded[26:].hex() == LAST_THREE_BYTES[state]


def test_worked_replies() -> None:
    assert encode_response(DaemonResponse("SetStandardEffect", (True,))) == bytes.fromhex(
        "0a00000001"
    )
    assert encode_response(DaemonResponse("SetStandardEffect", (False,))) == bytes.fromhex(
        "0a00000000"
    )
    assert decode_response(bytes.fromhex("0a00000001")) == DaemonResponse(
        "SetStandardEffect", (True,)
    )
    assert decode_response(bytes.fromhex("0a00000000")) == DaemonResponse(
        "SetStandardEffect", (False,)
    )


def test_more_worked_encodings() -> None:
    assert encode_command(DaemonCommand("SetBrightness", (1, 128))) == bytes.fromhex(
        "0b000000 0100000000000000 80"
    )
    assert encode_command(DaemonCommand("SetEffect", ("static", b"\xff\x00\x00"))) == (
        bytes.fromhex("09000000") + STATIC_RED[4:]
    )
    assert encode_command(DaemonCommand("GetSync", ())) == bytes.fromhex("0f000000")
    assert encode_command(DaemonCommand("GetDeviceName", ())) == bytes.fromhex("12000000")


def test_the_daemon_decodes_the_zero_padded_buffer() -> None:
    padded = STATIC_RED + bytes(4096 - len(STATIC_RED))
    assert decode_command(padded) == DaemonCommand("SetStandardEffect", ("static", b"\xff\x00\x00"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes.fromhex("13000000") + bytes(4092), "unknown DaemonCommand variant index 19"),
        (STATIC_RED[:20], "truncated"),
        (bytes.fromhex("0e000000 02") + bytes(4091), "invalid bool 0x02"),
        (bytes.fromhex("0a000000 0200000000000000 ff fe 0000000000000000"), "not UTF-8"),
        (bytes.fromhex("0a000000 ffffffffffffffff"), "truncated"),
    ],
)
def test_bytes_the_daemon_refuses(data: bytes, message: str) -> None:
    with pytest.raises(BincodeError, match=message):
        decode_command(data)


@pytest.mark.parametrize(
    "reply",
    ["0a00000002", "0a000000", "", "13000000 01", "0a"],
)
def test_responses_that_do_not_decode(reply: str) -> None:
    with pytest.raises(BincodeError):
        decode_response(bytes.fromhex(reply))


def test_params_longer_than_79_bytes_are_refused() -> None:
    encode_command(DaemonCommand("SetStandardEffect", ("static", bytes(79))))
    with pytest.raises(ValueError, match="at most 79"):
        encode_command(DaemonCommand("SetStandardEffect", ("static", bytes(80))))


@pytest.mark.parametrize(
    "command",
    [
        DaemonCommand("NoSuchVariant", ()),
        DaemonCommand("SetSync", (1,)),
        DaemonCommand("SetBrightness", (1, 256)),
        DaemonCommand("SetBrightness", (-1, 1)),
        DaemonCommand("SetStandardEffect", ("static",)),
        DaemonCommand("SetStandardEffect", (b"static", b"")),
    ],
)
def test_malformed_commands_are_refused(command: DaemonCommand) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        encode_command(command)


_VALUES = {
    WireType.USIZE: st.integers(0, 2**64 - 1),
    WireType.I32: st.integers(-(2**31), 2**31 - 1),
    WireType.U32: st.integers(0, 2**32 - 1),
    WireType.U8: st.integers(0, 255),
    WireType.BOOL: st.booleans(),
    WireType.BYTES: st.binary(max_size=79),
    WireType.STRING: st.text(max_size=40),
}


def _messages(
    variants: tuple[tuple[str, tuple[tuple[str, WireType], ...]], ...],
) -> st.SearchStrategy[tuple[str, tuple[object, ...]]]:
    return st.sampled_from(variants).flatmap(
        lambda variant: st.tuples(
            st.just(variant[0]), st.tuples(*(_VALUES[wire] for _, wire in variant[1]))
        )
    )


@given(_messages(COMMAND_VARIANTS), st.binary(max_size=16))
def test_commands_round_trip_and_match_the_daemons_reading(
    message: tuple[str, tuple[object, ...]], trailing: bytes
) -> None:
    command = DaemonCommand(*message)  # type: ignore[arg-type]
    encoded = encode_command(command)
    assert decode_command(encoded + trailing) == command
    assert decode_daemon_command(encoded + bytes(64)) == (command.variant, command.values)
    assert encoded[:4] == struct.pack("<I", [v[0] for v in COMMAND_VARIANTS].index(command.variant))


@given(_messages(RESPONSE_VARIANTS))
def test_responses_round_trip(message: tuple[str, tuple[object, ...]]) -> None:
    response = DaemonResponse(*message)  # type: ignore[arg-type]
    assert decode_response(encode_response(response)) == response


@given(st.builds(Colour, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
def test_any_colour_is_29_bytes_with_rgb_last(colour: Colour) -> None:
    encoded = encode_command(static_colour(colour))
    assert encoded[:26] == STATIC_RED[:26]
    assert encoded[26:] == bytes((colour.red, colour.green, colour.blue))
    assert decode_daemon_command(encoded + bytes(4096 - 29)) == (
        "SetStandardEffect",
        ("static", bytes(colour)),
    )


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_as_the_daemon_decodes_them(data: bytes) -> None:
    padded = data + bytes(4096 - len(data))
    try:
        expected: tuple[str, tuple[object, ...]] | None = decode_daemon_command(padded)
    except Undecodable:
        expected = None
    try:
        got = decode_command(padded)
    except BincodeError:
        assert expected is None
    else:
        assert (got.variant, got.values) == expected
    with contextlib.suppress(BincodeError):
        decode_response(data)
