"""The OpenRGB back-end: its encoders, its block parser, and a paint against a local SDK server."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.leds.keyboard import open_keyboard
from secretsctl.leds.model import COLOURS, CiState, Colour, KeyboardError
from secretsctl.leds.openrgb import (
    OpenRgbKeyboard,
    OpenRgbProtocolError,
    PacketHeader,
    decode_header,
    encode_packet,
    parse_address,
    parse_controller,
    update_leds_packet,
)
from tests.leds.openrgb_server import (
    KEYBOARD,
    MOUSE,
    FakeController,
    OpenRgbServer,
    controller_block,
)

RED = COLOURS[CiState.FAILED]
ORANGE = COLOURS[CiState.PENDING]


def test_the_worked_updateleds_packet_for_three_leds() -> None:
    expected = bytes.fromhex("4f524742 00000000 1a040000 12000000 12000000 0300" + "ff000000" * 3)
    assert update_leds_packet(0, RED, 3) == expected


def test_the_worked_protocol_request() -> None:
    assert encode_packet(0, 40, struct.pack("<I", 4)) == bytes.fromhex(
        "4f524742 00000000 28000000 04000000 04000000"
    )


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=64))
def test_headers_round_trip(device: int, packet_id: int, data: bytes) -> None:
    packet = encode_packet(device, packet_id, data)
    assert decode_header(packet[:16]) == PacketHeader(device, packet_id, len(data))
    assert packet[16:] == data


@given(
    st.integers(0, 1000),
    st.builds(Colour, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.integers(0, 300),
)
def test_updateleds_layout(device: int, colour: Colour, count: int) -> None:
    packet = update_leds_packet(device, colour, count)
    header = decode_header(packet[:16])
    assert header == PacketHeader(device, 1050, 6 + 4 * count)
    assert struct.unpack_from("<IH", packet, 16) == (6 + 4 * count, count)
    assert packet[22:] == bytes((colour.red, colour.green, colour.blue, 0)) * count


def test_a_header_without_the_magic_is_refused() -> None:
    with pytest.raises(OpenRgbProtocolError, match="magic"):
        decode_header(b"XRGB" + bytes(12))


controllers = st.builds(
    FakeController,
    st.integers(0, 20),
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20),
    st.lists(st.tuples(st.text("abc", max_size=5), st.integers(0, 40)), max_size=4).map(tuple),
    st.lists(st.tuples(st.text("xyz", max_size=5), st.integers(0, 3)), max_size=3).map(tuple),
    st.none() | st.tuples(st.integers(1, 4), st.integers(1, 4)),
)


@given(controllers, st.integers(0, 5))
def test_controller_blocks_parse_to_their_type_name_and_led_count(
    controller: FakeController, protocol: int
) -> None:
    block = controller_block(controller, protocol)
    parsed = parse_controller(block, protocol)
    assert (parsed.device_type, parsed.name, parsed.led_count) == (
        controller.device_type,
        controller.name,
        controller.led_count,
    )


@given(controllers, st.integers(0, 4), st.data())
def test_truncated_blocks_are_protocol_errors(
    controller: FakeController, protocol: int, data: st.DataObject
) -> None:
    block = controller_block(controller, protocol)
    # Cut before the LED count ends: the parser must notice rather than read past the end.
    cut = data.draw(st.integers(0, _led_count_end(block, controller) - 1))
    with pytest.raises(OpenRgbProtocolError, match="truncated"):
        parse_controller(block[:cut], protocol)


def _led_count_end(block: bytes, controller: FakeController) -> int:
    leds = b"".join(
        struct.pack("<H", len(f"Key {i}") + 1) + f"Key {i}".encode() + b"\0" + struct.pack("<I", i)
        for i in range(controller.led_count)
    )
    tail = leds + struct.pack("<H", controller.led_count) + bytes(4 * controller.led_count)
    return len(block) - len(tail)


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:6742", ("127.0.0.1", 6742)), ("[::1]:6742", ("::1", 6742))],
)
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", "host:", ":6742", "host:port", "host:70000"])
def test_bad_addresses_are_keyboard_errors(address: str) -> None:
    with pytest.raises(KeyboardError, match="is not HOST:PORT"):
        parse_address(address)


@pytest.fixture
def server_factory() -> Iterator[list[OpenRgbServer]]:
    started: list[OpenRgbServer] = []
    yield started
    for server in started:
        server.stop()


def serve(
    started: list[OpenRgbServer], *controllers: FakeController, **options: object
) -> OpenRgbServer:
    server = OpenRgbServer(list(controllers), **options).start()  # type: ignore[arg-type]
    started.append(server)
    return server


def paint(server: OpenRgbServer, colour: Colour, **options: float) -> None:
    host, port = parse_address(server.address)
    asyncio.run(OpenRgbKeyboard(host, port, **options).paint(colour))


def wait_for_packet(server: OpenRgbServer, packet_id: int) -> None:
    deadline = time.monotonic() + 2
    while packet_id not in [p for _, p in server.ids()] and time.monotonic() < deadline:
        time.sleep(0.01)


def test_every_keyboard_is_set_and_other_devices_are_left_alone(
    server_factory: list[OpenRgbServer],
) -> None:
    server = serve(
        server_factory,
        FakeController(MOUSE, "Mouse", (("Logo", 2),)),
        FakeController(KEYBOARD, "Keyboard", (("Keys", 100), ("Edge", 4)), matrix=(6, 20)),
        FakeController(KEYBOARD, "Macro pad", (("Keys", 9),)),
    )
    paint(server, ORANGE)
    wait_for_packet(server, 1050)
    time.sleep(0.05)
    assert server.ids() == [
        (0, 40),
        (0, 50),
        (0, 0),
        (0, 1),
        (1, 1),
        (2, 1),
        (1, 1100),
        (1, 1050),
        (2, 1100),
        (2, 1050),
    ]
    assert server.agreed == 4
    packets = server.packets
    assert packets[1][2] == b"ci-keyboard-leds\0"
    assert packets[3][2] == struct.pack("<I", 4)
    assert packets[6][2] == b""
    assert encode_packet(1, 1050, packets[7][2]) == update_leds_packet(1, ORANGE, 104)
    assert packets[7][2] == struct.pack("<IH", 6 + 4 * 104, 104) + b"\xff\xa5\x00\x00" * 104
    assert packets[9][2] == struct.pack("<IH", 6 + 4 * 9, 9) + b"\xff\xa5\x00\x00" * 9


def test_the_lower_protocol_is_used(server_factory: list[OpenRgbServer]) -> None:
    server = serve(server_factory, FakeController(KEYBOARD, "K", (("Keys", 3),)), protocol=3)
    paint(server, RED)
    wait_for_packet(server, 1050)
    assert server.agreed == 3
    assert server.packets[-1][2] == struct.pack("<IH", 18, 3) + b"\xff\x00\x00\x00" * 3


def test_a_protocol_0_server_that_ignores_the_version_request(
    server_factory: list[OpenRgbServer],
) -> None:
    server = serve(server_factory, FakeController(KEYBOARD, "K", (("Keys", 2),)), protocol=0)
    paint(server, RED)
    wait_for_packet(server, 1050)
    controller_requests = [data for _, packet_id, data in server.packets if packet_id == 1]
    assert controller_requests == [b""]  # protocol 0: the request carries no version
    assert server.agreed == 0


def test_no_keyboard_is_a_keyboard_error(server_factory: list[OpenRgbServer]) -> None:
    server = serve(server_factory, FakeController(MOUSE, "Mouse", (("Logo", 1),)))
    with pytest.raises(KeyboardError, match=f"{server.address}: none of its 1 controllers"):
        paint(server, RED)
    assert 1050 not in [packet_id for _, packet_id in server.ids()]


def test_no_server_is_a_keyboard_error_naming_the_address() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(KeyboardError, match=f"no OpenRGB server at 127.0.0.1:{port}"):
        asyncio.run(open_keyboard("openrgb", openrgb_address=f"127.0.0.1:{port}").paint(RED))


def test_a_server_that_never_answers_times_out(server_factory: list[OpenRgbServer]) -> None:
    server = serve(server_factory, FakeController(KEYBOARD, "K", (("Keys", 2),)), silent=True)
    started = time.monotonic()
    with pytest.raises(KeyboardError, match=r"did not answer within 0\.3 s"):
        paint(server, RED, timeout=0.3)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"XRGB" + bytes(12), "packet magic b'XRGB' is not b'ORGB'"),
        (encode_packet(0, 40, b"\x04\x00"), "protocol version reply is shorter than 4 bytes"),
        (encode_packet(0, 40, b"\x04\x00\x00\x00")[:10], "it closed the connection mid-reply"),
    ],
)
def test_garbage_from_the_server_is_a_keyboard_error(answer: bytes, message: str) -> None:
    async def body() -> None:
        async def answer_and_close(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            await reader.readexactly(20)  # the protocol version request
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_and_close, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(KeyboardError) as caught:
                await OpenRgbKeyboard("127.0.0.1", port, timeout=2).paint(RED)
        finally:
            server.close()
        assert caught.value.message == f"the OpenRGB server at 127.0.0.1:{port}: {message}"

    asyncio.run(body())
