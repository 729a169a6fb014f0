"""A stand-in for an OpenRGB SDK server on 127.0.0.1, written from OpenRGBSDK.md.

It does not use ``secretsctl.leds.openrgb``: it builds controller blocks and reads packets on
its own, so the tests compare two readings of the protocol. It answers
``REQUEST_PROTOCOL_VERSION`` (unless ``protocol`` is 0, when it ignores it as an old server
does), ``REQUEST_CONTROLLER_COUNT`` and ``REQUEST_CONTROLLER_DATA``, and records every packet
it receives. Each connection is served on its own thread.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

KEYBOARD = 5
MOUSE = 6


@dataclass(frozen=True)
class FakeController:
    """One controller: its type, name, zones (name, LED count) and modes (name, colours)."""

    device_type: int
    name: str
    zones: tuple[tuple[str, int], ...]
    modes: tuple[tuple[str, int], ...] = (("Direct", 0), ("Static", 1))
    matrix: tuple[int, int] | None = None  # (height, width) of the first zone's matrix map

    @property
    def led_count(self) -> int:
        return sum(count for _, count in self.zones)


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def controller_block(controller: FakeController, protocol: int) -> bytes:
    """The REQUEST_CONTROLLER_DATA reply for ``controller``, laid out for ``protocol``."""
    body = struct.pack("<i", controller.device_type) + _string(controller.name)
    if protocol >= 1:
        body += _string("Vendor")
    for text in ("a description", "1.0", "serial", "HID: /dev/hidraw0"):
        body += _string(text)
    body += struct.pack("<Hi", len(controller.modes), 0)
    for name, colours in controller.modes:
        body += _string(name) + struct.pack("<iIII", 1, 0, 0, 0)
        if protocol >= 3:
            body += struct.pack("<II", 0, 100)
        body += struct.pack("<III", 0, colours, 0)
        if protocol >= 3:
            body += struct.pack("<I", 100)
        body += struct.pack("<IIH", 0, 1, colours) + b"\x11\x22\x33\x00" * colours
    body += struct.pack("<H", len(controller.zones))
    for index, (name, count) in enumerate(controller.zones):
        body += _string(name) + struct.pack("<iIII", 2, count, count, count)
        if index == 0 and controller.matrix is not None:
            height, width = controller.matrix
            body += struct.pack("<HII", height * width * 4 + 8, height, width)
            body += struct.pack(f"<{height * width}I", *range(height * width))
        else:
            body += struct.pack("<H", 0)
        if protocol >= 4:
            body += struct.pack("<H", 1) + _string("segment") + struct.pack("<iII", 0, 0, count)
        if protocol >= 5:
            body += struct.pack("<I", 0)
    body += struct.pack("<H", controller.led_count)
    for led in range(controller.led_count):
        body += _string(f"Key {led}") + struct.pack("<I", led)
    body += struct.pack("<H", controller.led_count) + b"\x00\x00\x00\x00" * controller.led_count
    return struct.pack("<I", len(body) + 4) + body


@dataclass
class OpenRgbServer:
    """The SDK server stand-in, listening on 127.0.0.1 until :meth:`stop`."""

    controllers: list[FakeController]
    protocol: int = 4  # 0: ignore the version request, as a protocol-0 server does
    silent: bool = False  # read but never answer
    packets: list[tuple[int, int, bytes]] = field(default_factory=list)  # (device, id, data)
    raw: bytearray = field(default_factory=bytearray)
    port: int = 0
    _listener: socket.socket | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    agreed: int | None = None  # the protocol the client put in REQUEST_CONTROLLER_DATA

    def start(self) -> OpenRgbServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.02)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def ids(self) -> list[tuple[int, int]]:
        """(device, packet id) of every packet received, in order."""
        return [(device, packet_id) for device, packet_id, _ in self.packets]

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(0.02)
        buffer = b""
        with connection:
            while not self._stopping.is_set():
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    self.raw.extend(chunk)
                buffer += chunk
                while len(buffer) >= 16:
                    magic, device, packet_id, size = struct.unpack_from("<4sIII", buffer)
                    assert magic == b"ORGB", magic
                    if len(buffer) < 16 + size:
                        break
                    data, buffer = buffer[16 : 16 + size], buffer[16 + size :]
                    with self._lock:
                        self.packets.append((device, packet_id, data))
                    reply = None if self.silent else self._answer(device, packet_id, data)
                    if reply is not None:
                        connection.sendall(reply)

    def _answer(self, device: int, packet_id: int, data: bytes) -> bytes | None:
        def packet(body: bytes) -> bytes:
            return struct.pack("<4sIII", b"ORGB", device, packet_id, len(body)) + body

        if packet_id == 40:
            if self.protocol == 0:
                return None
            return packet(struct.pack("<I", self.protocol))
        if packet_id == 0:
            return packet(struct.pack("<I", len(self.controllers)))
        if packet_id == 1:
            agreed = struct.unpack("<I", data)[0] if data else 0
            self.agreed = agreed
            return packet(controller_block(self.controllers[device], agreed))
        return None
