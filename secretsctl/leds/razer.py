"""The Razer back-end: razer-laptop-control's bincode protocol over its Unix socket.

Wire format (bincode 1.3 free functions): an enum variant is its index as
a u32 little-endian, then its fields in order; ``usize`` is a u64, ``String`` and
``Vec<u8>`` are a u64 length and the bytes, ``bool`` is one byte ``00`` or ``01``. There is
no framing: one request and one response per connection.

The colour is set exactly as the original ``ci-keyboard-leds`` sets it: one
``DaemonCommand::SetStandardEffect { name: "static", params: [R, G, B] }`` per paint, and the
paint counts only if the reply is exactly ``SetStandardEffect { result: true }``
(``0a 00 00 00 01``). Each exchange: connect, send the whole request in one
write, half-close for writing, read until EOF or 4096 bytes, all under one timeout. That
suits the pinned daemon (one ``read()``, reply, close) and the newer forks (read to EOF).
Reading also stops as soon as the bytes received form exactly one whole response, as the
stock client's single ``read()`` does, so a server that answers but keeps the connection
open costs no timeout.

Repainting. The keyboard remembers the last colour asked for and the
identity (device, inode, ctime) of the socket file through which that colour was confirmed.
A background task started by :meth:`RazerKeyboard.start` looks at the socket file every
``watch_interval`` seconds and paints the remembered colour again, without a new
:meth:`~RazerKeyboard.paint` call, when

- the socket file is a different file from the one that confirmed the colour: the Razer
  daemon restarted (it creates its socket afresh) and may show its saved lighting; or
- the last paint failed: it is retried with a back-off doubling from ``watch_interval`` up
  to ``retry_cap``, and at once when the socket file changes (a daemon came up).

While the socket file is absent nothing is tried: there is nothing to connect to.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import struct
from typing import TYPE_CHECKING, Final

from secretsctl.leds.model import KeyboardError
from secretsctl.record import Record

if TYPE_CHECKING:
    from secretsctl.leds.model import Colour

_log = logging.getLogger(__name__)

REPLY_LIMIT: Final = 4096  # the daemon's and the stock client's buffer
MAX_STANDARD_EFFECT_PARAMS: Final = 79  # more index past the daemon's 80-byte HID args: a panic

WireValue = int | bool | bytes | str


class WireType(enum.Enum):
    """The Rust field types that appear in the daemon's enums."""

    USIZE = "usize"
    I32 = "i32"
    U32 = "u32"
    U8 = "u8"
    BOOL = "bool"
    BYTES = "Vec<u8>"
    STRING = "String"


_U = WireType
# Variant names and fields in enum order (JosuGZ @ 2b56d7c and Razer-Linux):
# the index on the wire is the position here.
COMMAND_VARIANTS: Final[tuple[tuple[str, tuple[tuple[str, WireType], ...]], ...]] = (
    ("SetFanSpeed", (("ac", _U.USIZE), ("rpm", _U.I32))),
    ("GetFanSpeed", (("ac", _U.USIZE),)),
    ("SetPowerMode", (("ac", _U.USIZE), ("pwr", _U.U8), ("cpu", _U.U8), ("gpu", _U.U8))),
    ("GetPwrLevel", (("ac", _U.USIZE),)),
    ("GetCPUBoost", (("ac", _U.USIZE),)),
    ("GetGPUBoost", (("ac", _U.USIZE),)),
    ("SetLogoLedState", (("ac", _U.USIZE), ("logo_state", _U.U8))),
    ("GetLogoLedState", (("ac", _U.USIZE),)),
    ("GetKeyboardRGB", (("layer", _U.I32),)),
    ("SetEffect", (("name", _U.STRING), ("params", _U.BYTES))),
    ("SetStandardEffect", (("name", _U.STRING), ("params", _U.BYTES))),
    ("SetBrightness", (("ac", _U.USIZE), ("val", _U.U8))),
    ("SetIdle", (("ac", _U.USIZE), ("val", _U.U32))),
    ("GetBrightness", (("ac", _U.USIZE),)),
    ("SetSync", (("sync", _U.BOOL),)),
    ("GetSync", ()),
    ("SetBatteryHealthOptimizer", (("is_on", _U.BOOL), ("threshold", _U.U8))),
    ("GetBatteryHealthOptimizer", ()),
    ("GetDeviceName", ()),
)
RESPONSE_VARIANTS: Final[tuple[tuple[str, tuple[tuple[str, WireType], ...]], ...]] = (
    ("SetFanSpeed", (("result", _U.BOOL),)),
    ("GetFanSpeed", (("rpm", _U.I32),)),
    ("SetPowerMode", (("result", _U.BOOL),)),
    ("GetPwrLevel", (("pwr", _U.U8),)),
    ("GetCPUBoost", (("cpu", _U.U8),)),
    ("GetGPUBoost", (("gpu", _U.U8),)),
    ("SetLogoLedState", (("result", _U.BOOL),)),
    ("GetLogoLedState", (("logo_state", _U.U8),)),
    ("GetKeyboardRGB", (("layer", _U.I32), ("rgbdata", _U.BYTES))),
    ("SetEffect", (("result", _U.BOOL),)),
    ("SetStandardEffect", (("result", _U.BOOL),)),
    ("SetBrightness", (("result", _U.BOOL),)),
    ("SetIdle", (("result", _U.BOOL),)),
    ("GetBrightness", (("result", _U.U8),)),
    ("SetSync", (("result", _U.BOOL),)),
    ("GetSync", (("sync", _U.BOOL),)),
    ("SetBatteryHealthOptimizer", (("result", _U.BOOL),)),
    ("GetBatteryHealthOptimizer", (("is_on", _U.BOOL), ("threshold", _U.U8))),
    ("GetDeviceName", (("name", _U.STRING),)),
)

_INTEGER_FORMATS: Final = {
    WireType.USIZE: struct.Struct("<Q"),
    WireType.I32: struct.Struct("<i"),
    WireType.U32: struct.Struct("<I"),
    WireType.U8: struct.Struct("<B"),
}
_TAG = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")


class DaemonCommand(Record):
    """A ``DaemonCommand`` (client to daemon): the variant's name and its fields in order."""

    variant: str
    values: tuple[WireValue, ...]


class DaemonResponse(Record):
    """A ``DaemonResponse`` (daemon to client): the variant's name and its fields in order."""

    variant: str
    values: tuple[WireValue, ...]


class BincodeError(KeyboardError):
    """Bytes that bincode 1.3 would refuse to decode as the expected enum."""


def static_colour(colour: Colour) -> DaemonCommand:
    """Return ``SetStandardEffect { name: "static", params: [R, G, B] }`` for ``colour``."""
    return DaemonCommand("SetStandardEffect", ("static", bytes(colour)))


def encode_command(command: DaemonCommand) -> bytes:
    """Encode ``command`` as bincode 1.3's ``serialize`` does.

    Raises :class:`ValueError` for an unknown variant, a field of the wrong type or range,
    or ``SetStandardEffect`` params longer than 79 bytes (they would panic the daemon).
    """
    if command.variant == "SetStandardEffect" and len(command.values) == 2:
        params = command.values[1]
        if isinstance(params, bytes) and len(params) > MAX_STANDARD_EFFECT_PARAMS:
            raise ValueError(
                f"SetStandardEffect params are {len(params)} bytes; "
                f"the daemon accepts at most {MAX_STANDARD_EFFECT_PARAMS}"
            )
    return _encode(command.variant, command.values, COMMAND_VARIANTS)


def encode_response(response: DaemonResponse) -> bytes:
    """Encode ``response`` as the daemon does; :class:`ValueError` as for commands."""
    return _encode(response.variant, response.values, RESPONSE_VARIANTS)


def decode_command(data: bytes) -> DaemonCommand:
    """Decode a ``DaemonCommand`` as the daemon does: trailing bytes are ignored.

    Raises :class:`BincodeError` for an unknown variant index, truncated data, a bool other
    than 0 or 1, or a ``String`` that is not UTF-8.
    """
    variant, values, _ = _decode(data, COMMAND_VARIANTS, "DaemonCommand")
    return DaemonCommand(variant, values)


def decode_response(data: bytes) -> DaemonResponse:
    """Decode a ``DaemonResponse`` as bincode's ``deserialize`` does (trailing bytes ignored).

    Raises :class:`BincodeError` as :func:`decode_command` does.
    """
    variant, values, _ = _decode(data, RESPONSE_VARIANTS, "DaemonResponse")
    return DaemonResponse(variant, values)


def _encode(
    variant: str,
    values: tuple[WireValue, ...],
    variants: tuple[tuple[str, tuple[tuple[str, WireType], ...]], ...],
) -> bytes:
    index = next((i for i, (name, _) in enumerate(variants) if name == variant), None)
    if index is None:
        raise ValueError(f"unknown variant {variant!r}")
    fields = variants[index][1]
    if len(values) != len(fields):
        raise ValueError(f"{variant} has {len(fields)} fields, got {len(values)}")
    parts = [_TAG.pack(index)]
    for (field, wire_type), value in zip(fields, values, strict=True):
        parts.append(_encode_value(wire_type, value, f"{variant}.{field}"))
    return b"".join(parts)


def _encode_value(wire_type: WireType, value: WireValue, where: str) -> bytes:
    if wire_type is WireType.BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be a bool")
        return b"\x01" if value else b"\x00"
    if wire_type is WireType.BYTES or wire_type is WireType.STRING:
        if wire_type is WireType.STRING:
            if not isinstance(value, str):
                raise ValueError(f"{where} must be a str")
            raw = value.encode()
        elif isinstance(value, bytes):
            raw = value
        else:
            raise ValueError(f"{where} must be bytes")
        return _LENGTH.pack(len(raw)) + raw
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where} must be an int")
    try:
        return _INTEGER_FORMATS[wire_type].pack(value)
    except struct.error as exc:
        raise ValueError(f"{where} = {value} does not fit a {wire_type.value}") from exc


def _decode(
    data: bytes,
    variants: tuple[tuple[str, tuple[tuple[str, WireType], ...]], ...],
    enum_name: str,
) -> tuple[str, tuple[WireValue, ...], int]:
    offset = 0

    def take(size: int) -> bytes:
        nonlocal offset
        if len(data) - offset < size:
            raise BincodeError(f"{enum_name} truncated at byte {offset}")
        chunk = data[offset : offset + size]
        offset += size
        return chunk

    (index,) = _TAG.unpack(take(_TAG.size))
    if index >= len(variants):
        raise BincodeError(f"unknown {enum_name} variant index {index}")
    variant, fields = variants[index]
    values: list[WireValue] = []
    for field, wire_type in fields:
        if wire_type is WireType.BOOL:
            byte = take(1)[0]
            if byte > 1:
                raise BincodeError(f"{enum_name}::{variant}.{field}: invalid bool {byte:#04x}")
            values.append(byte == 1)
        elif wire_type is WireType.BYTES or wire_type is WireType.STRING:
            (length,) = _LENGTH.unpack(take(_LENGTH.size))
            raw = take(length)
            if wire_type is WireType.BYTES:
                values.append(raw)
                continue
            try:
                values.append(raw.decode())
            except UnicodeDecodeError:
                raise BincodeError(f"{enum_name}::{variant}.{field}: not UTF-8") from None
        else:
            integer_format = _INTEGER_FORMATS[wire_type]
            values.append(integer_format.unpack(take(integer_format.size))[0])
    return variant, tuple(values), offset


def _is_one_response(data: bytes | bytearray) -> bool:
    """Whether ``data`` is exactly one whole ``DaemonResponse``, with nothing after it."""
    try:
        return _decode(bytes(data), RESPONSE_VARIANTS, "DaemonResponse")[2] == len(data)
    except BincodeError:
        return False


def _socket_identity(path: str) -> tuple[int, int, int] | None:
    """Return what tells one socket file from its successor at the same path, or None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    # ctime as well as the inode: a file system may hand a freed inode number straight back.
    return status.st_dev, status.st_ino, status.st_ctime_ns


class RazerKeyboard:
    """The keyboard of a Razer laptop, through the razer-laptop-control daemon's socket."""

    def __init__(
        self,
        socket_path: str,
        *,
        timeout: float = 5.0,
        watch_interval: float = 1.0,
        retry_cap: float = 30.0,
    ) -> None:
        self.socket_path = socket_path
        self._timeout = timeout
        self._watch_interval = watch_interval
        self._retry_cap = retry_cap
        self._lock = asyncio.Lock()
        self._wanted: Colour | None = None
        # The colour last confirmed by the daemon, and the socket file that confirmed it.
        self._confirmed: tuple[Colour, tuple[int, int, int] | None] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._failed_identity: tuple[int, int, int] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start watching the socket file for a daemon restart or a paint to retry."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="razer-socket-watch")

    async def paint(self, colour: Colour) -> None:
        """Send ``colour`` as a static effect; raise :class:`KeyboardError` unless confirmed.

        A component outside 0-255 raises :class:`ValueError` and is not remembered.
        """
        bytes(colour)  # refuse a colour bincode cannot carry before the watcher adopts it
        self._wanted = colour
        async with self._lock:
            await self._send(colour)

    async def close(self) -> None:
        """Stop the background task."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _send(self, colour: Colour) -> None:
        identity = _socket_identity(self.socket_path)
        try:
            reply = await self._exchange(encode_command(static_colour(colour)))
            self._check_reply(reply)
        except KeyboardError:
            self._confirmed = None
            self._failed_identity = identity
            raise
        self._confirmed = (colour, identity)
        self._failures = 0

    async def _exchange(self, request: bytes) -> bytes:
        path = self.socket_path
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_unix_connection(path)
                try:
                    writer.write(request)
                    writer.write_eof()
                    await writer.drain()
                    reply = bytearray()
                    while len(reply) < REPLY_LIMIT:
                        chunk = await reader.read(REPLY_LIMIT - len(reply))
                        if not chunk:
                            break
                        reply += chunk
                        if _is_one_response(reply):
                            break
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError:
            raise KeyboardError(
                f"the Razer daemon at {path} did not answer within {self._timeout:g} s"
            ) from None
        except FileNotFoundError:
            raise KeyboardError(
                f"no Razer daemon at {path}: the socket does not exist",
                hint="is razerdaemon running? (systemctl --user status razerdaemon)",
            ) from None
        except ConnectionRefusedError:
            raise KeyboardError(
                f"the Razer daemon at {path} refused the connection (a stale socket?)"
            ) from None
        except OSError as exc:
            raise KeyboardError(
                f"cannot talk to the Razer daemon at {path}: {exc.strerror or exc}"
            ) from None
        return bytes(reply)

    def _check_reply(self, reply: bytes) -> None:
        path = self.socket_path
        if not reply:
            raise KeyboardError(
                f"the Razer daemon at {path} closed without a reply "
                "(it could not decode SetStandardEffect: another fork's protocol?)"
            )
        try:
            response = decode_response(reply)
        except BincodeError as exc:
            raise KeyboardError(
                f"unreadable reply from the Razer daemon at {path}: {exc.message}"
            ) from None
        if response.variant != "SetStandardEffect":
            raise KeyboardError(
                f"the Razer daemon at {path} answered {response.variant} to SetStandardEffect"
            )
        if response.values != (True,):
            raise KeyboardError(
                f"the Razer daemon at {path} refused the static colour "
                "(no supported laptop detected?)"
            )
        if len(reply) != len(_SUCCESS_REPLY):
            raise KeyboardError(
                f"the Razer daemon at {path} sent {len(reply)} bytes where "
                f"{len(_SUCCESS_REPLY)} were expected"
            )

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._watch_interval)
            wanted = self._wanted
            identity = _socket_identity(self.socket_path)
            if wanted is None or identity is None or self._confirmed == (wanted, identity):
                continue
            restarted = identity != self._failed_identity
            if not restarted and loop.time() < self._retry_at:
                continue
            async with self._lock:
                wanted = self._wanted
                identity = _socket_identity(self.socket_path)
                if wanted is None or self._confirmed == (wanted, identity):
                    continue
                try:
                    await self._send(wanted)
                except KeyboardError as exc:
                    self._failures += 1
                    # The exponent is capped: a float overflows past 2**1023 (hours of failures).
                    backoff = self._watch_interval * 2 ** min(self._failures, 32)
                    delay = min(self._retry_cap, backoff)
                    self._retry_at = loop.time() + delay
                    level = logging.WARNING if self._failures == 1 else logging.DEBUG
                    _log.log(level, "%s; trying again in %.3g s", exc.message, delay)
                else:
                    _log.info("repainted the keyboard on the Razer daemon at %s", self.socket_path)


_SUCCESS_REPLY: Final = encode_response(DaemonResponse("SetStandardEffect", (True,)))

__all__ = [
    "COMMAND_VARIANTS",
    "RESPONSE_VARIANTS",
    "BincodeError",
    "DaemonCommand",
    "DaemonResponse",
    "RazerKeyboard",
    "WireType",
    "decode_command",
    "decode_response",
    "encode_command",
    "encode_response",
    "static_colour",
]
