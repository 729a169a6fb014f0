"""A stand-in for razer-laptop-control's daemon: a real Unix socket, decoded as the Rust code does.

Written from the daemon's source (``comms.rs``, ``daemon.rs`` @ 2b56d7c), on
purpose without using ``secretsctl.leds.razer``, so that the tests compare two readings of the
protocol. Like the daemon it

- refuses to start when the socket path already exists;
- accepts connections one after another, on one thread;
- does one ``recv`` into a zero-filled 4096-byte buffer and decodes a ``DaemonCommand`` from
  the whole buffer (bincode 1.3's free functions accept the trailing zeros);
- answers ``SetStandardEffect`` with ``result: true`` for the names the daemon knows and
  ``false`` otherwise; writes nothing when the request does not decode; closes;
- removes its socket file when stopped (its SIGTERM handler does).

Other behaviours for the tests: ``reply`` fixes the bytes sent back, ``silent`` never
answers (the connection stays open until the server stops).

Run as a script (``python -m tests.leds.razer_server SOCKET``) it prints one line per
request, the request's hex, until SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

BUFFER = 4096
STANDARD_EFFECTS = ("off", "wave", "reactive", "breathing", "spectrum", "static", "starlight")

# DaemonCommand, in enum order: (variant, field types). u=usize(u64) i=i32 I=u32 B=u8 ?=bool
# s=String b=Vec<u8>.
COMMANDS = (
    ("SetFanSpeed", "ui"),
    ("GetFanSpeed", "u"),
    ("SetPowerMode", "uBBB"),
    ("GetPwrLevel", "u"),
    ("GetCPUBoost", "u"),
    ("GetGPUBoost", "u"),
    ("SetLogoLedState", "uB"),
    ("GetLogoLedState", "u"),
    ("GetKeyboardRGB", "i"),
    ("SetEffect", "sb"),
    ("SetStandardEffect", "sb"),
    ("SetBrightness", "uB"),
    ("SetIdle", "uI"),
    ("GetBrightness", "u"),
    ("SetSync", "?"),
    ("GetSync", ""),
    ("SetBatteryHealthOptimizer", "?B"),
    ("GetBatteryHealthOptimizer", ""),
    ("GetDeviceName", ""),
)
_FIXED = {"u": "<Q", "i": "<i", "I": "<I", "B": "<B"}


class Undecodable(Exception):
    """bincode would return an error for these bytes."""


def decode_daemon_command(buffer: bytes) -> tuple[str, tuple[object, ...]]:
    """Decode one DaemonCommand from the start of ``buffer``; trailing bytes are allowed."""
    position = 0

    def take(size: int) -> bytes:
        nonlocal position
        if position + size > len(buffer):
            raise Undecodable("unexpected end of input")
        chunk = buffer[position : position + size]
        position += size
        return chunk

    (tag,) = struct.unpack("<I", take(4))
    if tag >= len(COMMANDS):
        raise Undecodable(f"variant index {tag}")
    name, kinds = COMMANDS[tag]
    values: list[object] = []
    for kind in kinds:
        if kind in _FIXED:
            fmt = _FIXED[kind]
            values.append(struct.unpack(fmt, take(struct.calcsize(fmt)))[0])
        elif kind == "?":
            byte = take(1)[0]
            if byte not in (0, 1):
                raise Undecodable(f"invalid bool {byte}")
            values.append(byte == 1)
        else:
            (length,) = struct.unpack("<Q", take(8))
            raw = take(length)
            if kind == "s":
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise Undecodable("invalid UTF-8") from exc
            else:
                values.append(raw)
    return name, tuple(values)


def daemon_answer(name: str, values: tuple[object, ...]) -> bytes:
    """The bytes the daemon writes back for a decoded command (only what the tests need)."""
    if name == "SetStandardEffect":
        ok = values[0] in STANDARD_EFFECTS
        return struct.pack("<IB", 10, ok)
    if name == "GetDeviceName":
        device = b"Blade 15 (2022)"
        return struct.pack("<IQ", 18, len(device)) + device
    return struct.pack("<IB", COMMANDS.index(next(c for c in COMMANDS if c[0] == name)), 1)


@dataclass
class Received:
    """One connection's request as the daemon saw it."""

    raw: bytes  # the bytes of the one recv, before zero padding
    command: tuple[str, tuple[object, ...]] | None  # None: did not decode


@dataclass
class RazerServer:
    """The daemon stand-in, serving on a thread until :meth:`stop`."""

    path: str
    reply: bytes | None = None  # fixed reply instead of the daemon's answer
    silent: bool = False
    received: list[Received] = field(default_factory=list)
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> RazerServer:
        """Bind the socket (refusing an existing path, as the daemon does) and serve."""
        if os.path.lexists(self.path):
            raise FileExistsError(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(16)
        listener.settimeout(0.02)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the socket file."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        if os.path.lexists(self.path):
            os.unlink(self.path)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` requests arrived; return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)

    def commands(self) -> list[tuple[str, tuple[object, ...]] | None]:
        """The decoded commands so far, in order."""
        return [entry.command for entry in self.received]

    def _serve(self) -> None:
        assert self._listener is not None
        held: list[socket.socket] = []
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            try:
                raw = connection.recv(BUFFER)
            except OSError:
                connection.close()
                continue
            buffer = raw + bytes(BUFFER - len(raw))
            try:
                command: tuple[str, tuple[object, ...]] | None = decode_daemon_command(buffer)
            except Undecodable:
                command = None
            with self._arrived:
                self.received.append(Received(raw, command))
                self._arrived.notify_all()
            if self.silent:
                held.append(connection)
                continue
            answer = (
                self.reply
                if self.reply is not None
                else (daemon_answer(*command) if command is not None else b"")
            )
            with contextlib.suppress(OSError):
                connection.sendall(answer)
            connection.close()
        for connection in held:
            connection.close()


def main() -> None:
    """Serve on the path given as the only argument, printing each request's hex."""
    import signal
    import sys

    server = RazerServer(sys.argv[1])
    printed = 0

    def report() -> None:
        nonlocal printed
        for entry in server.received[printed:]:
            print(entry.raw.hex(), flush=True)
        printed = len(server.received)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    try:
        while not stop.wait(0.05):
            report()
    finally:
        server.stop()
        report()


if __name__ == "__main__":
    main()
