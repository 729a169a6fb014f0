"""The OpenRGB back-end: the OpenRGB SDK's TCP protocol.

Every packet is a 16-byte little-endian header (``ORGB``, device index, packet id, data
size) and its data. One paint is one connection, so an OpenRGB server that starts later
or restarts is simply found again:

1. ``REQUEST_PROTOCOL_VERSION`` (40) with our maximum, :data:`CLIENT_PROTOCOL`; the server
   answers with its own, and the lower of the two is used. A server that does not answer
   within :data:`VERSION_WAIT` seconds speaks protocol 0.
2. ``SET_CLIENT_NAME`` (50), ``ci-keyboard-leds``.
3. ``REQUEST_CONTROLLER_COUNT`` (0), then ``REQUEST_CONTROLLER_DATA`` (1) for each
   controller, parsed as far as its LED count.
4. For every keyboard-type controller: ``SETCUSTOMMODE`` (1100), then ``UPDATELEDS`` (1050)
   with every LED set to the colour, each colour on the wire as ``R G B 00``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Final

from secretsctl.leds.model import Colour, KeyboardError
from secretsctl.record import Record

MAGIC: Final = b"ORGB"
CLIENT_PROTOCOL: Final = 4  # the controller-data layout this module parses (up to zone segments)
CLIENT_NAME: Final = "ci-keyboard-leds"
DEVICE_TYPE_KEYBOARD: Final = 5  # OpenRGB's device_type enum
VERSION_WAIT: Final = 1.0

REQUEST_CONTROLLER_COUNT: Final = 0
REQUEST_CONTROLLER_DATA: Final = 1
REQUEST_PROTOCOL_VERSION: Final = 40
SET_CLIENT_NAME: Final = 50
RGBCONTROLLER_UPDATELEDS: Final = 1050
RGBCONTROLLER_SETCUSTOMMODE: Final = 1100

_HEADER = struct.Struct("<4sIII")
HEADER_SIZE: Final = _HEADER.size
_MAX_PACKET: Final = 16 * 1024 * 1024  # a controller block is kilobytes; refuse absurd sizes


class PacketHeader(Record):
    """The 16-byte header that starts every SDK packet."""

    device: int
    packet_id: int
    size: int


class Controller(Record):
    """What a paint needs to know of one RGB controller."""

    device_type: int
    name: str
    led_count: int


class OpenRgbProtocolError(KeyboardError):
    """Bytes from the server that do not follow the SDK protocol."""


def encode_packet(device: int, packet_id: int, data: bytes = b"") -> bytes:
    """Return one SDK packet: the header for ``data``, then ``data``."""
    return _HEADER.pack(MAGIC, device, packet_id, len(data)) + data


def decode_header(header: bytes) -> PacketHeader:
    """Decode a 16-byte packet header; :class:`OpenRgbProtocolError` if it is not one."""
    if len(header) != HEADER_SIZE:
        raise OpenRgbProtocolError(f"packet header of {len(header)} bytes, not {HEADER_SIZE}")
    magic, device, packet_id, size = _HEADER.unpack(header)
    if magic != MAGIC:
        raise OpenRgbProtocolError(f"packet magic {magic!r} is not {MAGIC!r}")
    return PacketHeader(device, packet_id, size)


def rgb_color(colour: Colour) -> bytes:
    """Return OpenRGB's ``RGBColor`` (``R | G << 8 | B << 16``) as its four wire bytes."""
    return bytes((colour.red, colour.green, colour.blue, 0))


def update_leds_packet(device: int, colour: Colour, led_count: int) -> bytes:
    """Return ``UPDATELEDS`` setting all ``led_count`` LEDs of ``device`` to ``colour``.

    The data is a u32 data size that counts itself, a u16 colour count, then the colours.
    """
    size = 4 + 2 + 4 * led_count
    data = struct.pack("<IH", size, led_count) + rgb_color(colour) * led_count
    return encode_packet(device, RGBCONTROLLER_UPDATELEDS, data)


def parse_controller(data: bytes, protocol: int) -> Controller:
    """Read a ``REQUEST_CONTROLLER_DATA`` reply, laid out for ``protocol`` (0-5), up to its LEDs.

    Raises :class:`OpenRgbProtocolError` when the block is shorter than its own counts say.
    """
    offset = 0

    def take(fmt: str) -> tuple[int, ...]:
        nonlocal offset
        size = struct.calcsize(fmt)
        if len(data) - offset < size:
            raise OpenRgbProtocolError(f"controller data truncated at byte {offset}")
        values = struct.unpack_from(fmt, data, offset)
        offset += size
        return values

    def string() -> str:
        nonlocal offset
        (length,) = take("<H")
        if len(data) - offset < length:
            raise OpenRgbProtocolError(f"controller data truncated at byte {offset}")
        raw = data[offset : offset + length]
        offset += length
        return raw.rstrip(b"\0").decode(errors="replace")

    take("<I")  # data_size, redundant with the packet size
    (device_type,) = take("<i")
    name = string()
    if protocol >= 1:
        string()  # vendor
    for _ in range(4):  # description, version, serial, location
        string()
    (mode_count,) = take("<H")
    take("<i")  # active mode
    for _ in range(mode_count):
        string()
        take("<iIII")  # value, flags, speed min and max
        if protocol >= 3:
            take("<II")  # brightness min and max
        take("<III")  # colours min and max, speed
        if protocol >= 3:
            take("<I")  # brightness
        take("<II")  # direction, colour mode
        (mode_colours,) = take("<H")
        take(f"<{mode_colours}I")
    (zone_count,) = take("<H")
    for _ in range(zone_count):
        string()
        take("<iIII")  # type, LEDs min, max and count
        (matrix_size,) = take("<H")
        if matrix_size:
            take(f"<{matrix_size}B")
        if protocol >= 4:
            (segment_count,) = take("<H")
            for _ in range(segment_count):
                string()
                take("<iII")  # type, start, LED count
        if protocol >= 5:
            take("<I")  # zone flags
    (led_count,) = take("<H")
    return Controller(device_type, name, led_count)


def parse_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6); :class:`KeyboardError` if malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KeyboardError(f"OpenRGB address `{address}` is not HOST:PORT")
    return host.removeprefix("[").removesuffix("]"), int(port)


class OpenRgbKeyboard:
    """Every keyboard that an OpenRGB SDK server controls."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self._timeout = timeout
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        """The server's address as ``host:port``."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Do nothing: each paint opens its own connection."""

    async def close(self) -> None:
        """Do nothing: no connection outlives a paint."""

    async def paint(self, colour: Colour) -> None:
        """Set every LED of every keyboard controller to ``colour``."""
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout):
                    await self._paint(colour)
            except TimeoutError:
                raise KeyboardError(
                    f"the OpenRGB server at {self.address} did not answer "
                    f"within {self._timeout:g} s"
                ) from None
            except OpenRgbProtocolError as exc:
                raise KeyboardError(
                    f"the OpenRGB server at {self.address}: {exc.message}"
                ) from None
            except ConnectionRefusedError:
                raise KeyboardError(
                    f"no OpenRGB server at {self.address} (connection refused)",
                    hint="start it with `openrgb --server`",
                ) from None
            except OSError as exc:
                raise KeyboardError(
                    f"cannot talk to the OpenRGB server at {self.address}: {exc.strerror or exc}"
                ) from None

    async def _paint(self, colour: Colour) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            protocol = await self._agree_protocol(reader, writer)
            writer.write(encode_packet(0, SET_CLIENT_NAME, CLIENT_NAME.encode() + b"\0"))
            writer.write(encode_packet(0, REQUEST_CONTROLLER_COUNT))
            count_data = await _read_reply(reader, REQUEST_CONTROLLER_COUNT)
            if len(count_data) < 4:
                raise OpenRgbProtocolError("controller count reply is shorter than 4 bytes")
            (count,) = struct.unpack_from("<I", count_data)
            version_data = struct.pack("<I", protocol) if protocol >= 1 else b""
            keyboards: list[tuple[int, Controller]] = []
            for device in range(count):
                writer.write(encode_packet(device, REQUEST_CONTROLLER_DATA, version_data))
                controller = parse_controller(
                    await _read_reply(reader, REQUEST_CONTROLLER_DATA), protocol
                )
                if controller.device_type == DEVICE_TYPE_KEYBOARD:
                    keyboards.append((device, controller))
            if not keyboards:
                raise OpenRgbProtocolError(f"none of its {count} controllers is a keyboard")
            for device, controller in keyboards:
                writer.write(encode_packet(device, RGBCONTROLLER_SETCUSTOMMODE))
                writer.write(update_leds_packet(device, colour, controller.led_count))
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _agree_protocol(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int:
        writer.write(encode_packet(0, REQUEST_PROTOCOL_VERSION, struct.pack("<I", CLIENT_PROTOCOL)))
        await writer.drain()
        try:
            async with asyncio.timeout(min(VERSION_WAIT, self._timeout)):
                data = await _read_reply(reader, REQUEST_PROTOCOL_VERSION)
        except TimeoutError:
            return 0  # a protocol-0 server ignores the request
        if len(data) < 4:
            raise OpenRgbProtocolError("protocol version reply is shorter than 4 bytes")
        (server_protocol,) = struct.unpack_from("<I", data)
        return int(min(server_protocol, CLIENT_PROTOCOL))


async def _read_reply(reader: asyncio.StreamReader, packet_id: int) -> bytes:
    """Read packets until the reply to ``packet_id``; skip server notifications meanwhile."""
    while True:
        try:
            header = decode_header(await reader.readexactly(HEADER_SIZE))
            if header.size > _MAX_PACKET:
                raise OpenRgbProtocolError(f"a packet of {header.size} bytes")
            data = await reader.readexactly(header.size)
        except asyncio.IncompleteReadError:
            raise OpenRgbProtocolError("it closed the connection mid-reply") from None
        if header.packet_id == packet_id:
            return data


__all__ = [
    "Controller",
    "OpenRgbKeyboard",
    "OpenRgbProtocolError",
    "PacketHeader",
    "decode_header",
    "encode_packet",
    "parse_address",
    "parse_controller",
    "rgb_color",
    "update_leds_packet",
]
