"""The Razer keyboard against a real Unix-socket stand-in of the daemon (razer_server.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from secretsctl.leds.keyboard import open_keyboard
from secretsctl.leds.model import COLOURS, CiState, Colour, KeyboardError
from secretsctl.leds.razer import RazerKeyboard
from tests.leds.razer_server import RazerServer

STATIC_PREFIX = bytes.fromhex("0a000000 0600000000000000 737461746963 0300000000000000")
RED = COLOURS[CiState.FAILED]
GREEN = COLOURS[CiState.PASSED]
ORANGE = COLOURS[CiState.PENDING]


def static(colour: Colour) -> bytes:
    return STATIC_PREFIX + bytes(colour)


@pytest.fixture
def socket_path(socket_dir: Path) -> str:
    return str(socket_dir / "razercontrol-socket")


@pytest.fixture
def servers(socket_path: str) -> Iterator[list[RazerServer]]:
    started: list[RazerServer] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[RazerServer], path: str, **options: object) -> RazerServer:
    server = RazerServer(path, **options).start()  # type: ignore[arg-type]
    servers.append(server)
    return server


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())  # type: ignore[arg-type]


def test_each_state_colour_reaches_the_socket_byte_exact(
    socket_path: str, servers: list[RazerServer]
) -> None:
    server = serve(servers, socket_path)

    async def body() -> None:
        keyboard = open_keyboard("razer", razer_socket=socket_path)
        for state in CiState:
            await keyboard.paint(COLOURS[state])
        await keyboard.close()

    run(body)
    assert [entry.raw for entry in server.received] == [static(COLOURS[state]) for state in CiState]
    worked_tail = {
        CiState.FAILED: "ff0000",
        CiState.PASSED: "00ff00",
        CiState.PENDING: "ffa500",
        CiState.UNKNOWN: "808080",
        CiState.NO_REPOSITORY: "0000ff",
    }
    assert [entry.raw for entry in server.received] == [
        bytes.fromhex(
            "0a000000 0600000000000000 737461746963 0300000000000000 " + worked_tail[state]
        )
        for state in CiState
    ]
    assert server.commands() == [
        ("SetStandardEffect", ("static", bytes(COLOURS[state]))) for state in CiState
    ]


def test_static_red_is_the_worked_29_bytes_on_the_wire(
    socket_path: str, servers: list[RazerServer]
) -> None:
    server = serve(servers, socket_path)
    run(lambda: RazerKeyboard(socket_path).paint(RED))
    assert server.received[0].raw == bytes.fromhex(
        "0a000000 0600000000000000 737461746963 0300000000000000 ff0000"
    )


def test_one_command_per_paint_and_one_connection_each(
    socket_path: str, servers: list[RazerServer]
) -> None:
    server = serve(servers, socket_path)

    async def body() -> None:
        keyboard = RazerKeyboard(socket_path)
        await keyboard.paint(GREEN)
        await keyboard.paint(GREEN)

    run(body)
    # The stand-in does one recv per connection, so each entry is one connection's request.
    assert [entry.raw for entry in server.received] == [static(GREEN), static(GREEN)]


def test_a_daemon_that_is_down_is_a_keyboard_error_naming_the_socket(socket_path: str) -> None:
    with pytest.raises(KeyboardError, match=r"no Razer daemon at .*razercontrol-socket"):
        run(lambda: RazerKeyboard(socket_path).paint(RED))


def test_a_stale_socket_file_is_a_keyboard_error(socket_path: str) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(socket_path)
    stale.close()  # the file stays, nobody listens: connection refused
    with pytest.raises(KeyboardError, match=f"{socket_path} refused the connection"):
        run(lambda: RazerKeyboard(socket_path).paint(RED))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("0a00000000", "refused the static colour"),
        ("", "closed without a reply"),
        ("0a00000002", "unreadable reply.*invalid bool 0x02"),
        ("13000000 01", "unreadable reply.*variant index 19"),
        ("0a0000", "unreadable reply.*truncated"),
        ("09000000 01", "answered SetEffect to SetStandardEffect"),
        ("0a00000001 00", "sent 6 bytes where 5 were expected"),
        ("ffffffffffffffffffff", "unreadable reply"),
    ],
)
def test_replies_other_than_success_are_keyboard_errors(
    socket_path: str, servers: list[RazerServer], reply: str, message: str
) -> None:
    serve(servers, socket_path, reply=bytes.fromhex(reply))
    with pytest.raises(KeyboardError, match=message) as caught:
        run(lambda: RazerKeyboard(socket_path).paint(RED))
    assert socket_path in caught.value.message


def test_the_exact_success_reply_is_accepted(socket_path: str, servers: list[RazerServer]) -> None:
    serve(servers, socket_path, reply=bytes.fromhex("0a00000001"))
    run(lambda: RazerKeyboard(socket_path).paint(RED))  # raises on anything but success


def test_a_daemon_that_never_answers_times_out_without_blocking_the_loop(
    socket_path: str, servers: list[RazerServer]
) -> None:
    server = serve(servers, socket_path, silent=True)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def body() -> None:
        task = asyncio.create_task(ticker())
        try:
            await RazerKeyboard(socket_path, timeout=0.3).paint(RED)
        finally:
            task.cancel()

    started = time.monotonic()
    with pytest.raises(KeyboardError, match=r"did not answer within 0\.3 s"):
        run(body)
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 2
    assert ticks >= 10  # the loop kept running while the paint waited
    assert server.received[0].raw == static(RED)


def test_the_request_is_followed_by_a_half_close(socket_path: str) -> None:
    # A fork-style daemon reads to EOF before answering; it only answers if we half-close.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)
    received = bytearray()

    async def body() -> None:
        loop = asyncio.get_running_loop()

        def fork_daemon() -> None:
            connection, _ = listener.accept()
            connection.settimeout(2)
            while chunk := connection.recv(4096):
                received.extend(chunk)
            connection.sendall(bytes.fromhex("0a00000001"))
            connection.close()

        daemon = loop.run_in_executor(None, fork_daemon)
        await RazerKeyboard(socket_path, timeout=2).paint(ORANGE)
        await daemon

    try:
        run(body)
    finally:
        listener.close()
    assert bytes(received) == static(ORANGE)


def test_a_restarted_daemon_gets_the_last_colour_again_without_a_new_paint(
    socket_path: str, servers: list[RazerServer]
) -> None:
    first = serve(servers, socket_path)

    async def body() -> None:
        keyboard = RazerKeyboard(socket_path, watch_interval=0.02)
        await keyboard.start()
        await keyboard.paint(RED)
        await keyboard.paint(GREEN)
        await asyncio.sleep(0.1)  # the watcher sees the confirmed colour: nothing to send
        assert len(first.received) == 2
        first.stop()
        await asyncio.sleep(0.1)  # no socket file: nothing is tried
        second = serve(servers, socket_path)
        received = await asyncio.to_thread(second.wait_for, 1, 3.0)
        assert [entry.raw for entry in received] == [static(GREEN)]
        await asyncio.sleep(0.1)  # confirmed again: no more sends
        assert len(second.received) == 1
        await keyboard.close()

    run(body)


def test_a_failed_paint_is_retried_once_a_daemon_answers(
    socket_path: str, servers: list[RazerServer]
) -> None:
    async def body() -> None:
        keyboard = RazerKeyboard(socket_path, watch_interval=0.02)
        await keyboard.start()
        with pytest.raises(KeyboardError):
            await keyboard.paint(ORANGE)
        server = serve(servers, socket_path)
        received = await asyncio.to_thread(server.wait_for, 1, 3.0)
        assert [entry.raw for entry in received] == [static(ORANGE)]
        await keyboard.close()

    run(body)


def test_a_refusing_daemon_is_retried_with_back_off(
    socket_path: str, servers: list[RazerServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="secretsctl.leds.razer")
    server = serve(servers, socket_path, reply=bytes.fromhex("0a00000000"))

    async def body() -> None:
        keyboard = RazerKeyboard(socket_path, watch_interval=0.02, retry_cap=0.16)
        await keyboard.start()
        with pytest.raises(KeyboardError):
            await keyboard.paint(RED)
        await asyncio.sleep(0.6)
        await keyboard.close()

    run(body)
    retries = len(server.received) - 1
    # Back-off 0.04, 0.08, 0.16, 0.16 ... s: a handful of retries in 0.6 s, not one per tick.
    assert 2 <= retries <= 8
    assert {entry.raw for entry in server.received} == {static(RED)}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # then quiet: one line per outage, not one per retry
    assert f"the Razer daemon at {socket_path} refused the static colour" in warnings[0]
    assert retries - 1 <= len(caplog.records) <= retries  # the last may be cut by close()


def test_close_stops_the_watcher(socket_path: str, servers: list[RazerServer]) -> None:
    async def body() -> None:
        keyboard = RazerKeyboard(socket_path, watch_interval=0.02)
        await keyboard.start()
        with pytest.raises(KeyboardError):
            await keyboard.paint(RED)
        await keyboard.close()
        server = serve(servers, socket_path)
        await asyncio.sleep(0.15)
        assert server.received == []

    run(body)


def test_the_socket_path_is_used_as_given(socket_dir: Path, servers: list[RazerServer]) -> None:
    elsewhere = str(socket_dir / "other-socket")
    server = serve(servers, elsewhere)
    run(lambda: open_keyboard("razer", razer_socket=elsewhere).paint(GREEN))
    assert server.commands() == [("SetStandardEffect", ("static", b"\x00\xff\x00"))]
    assert not os.path.exists(socket_dir / "razercontrol-socket")


def test_a_daemon_that_answers_but_keeps_the_connection_open(socket_path: str) -> None:
    # The stock client does one read(); a server that does not close must not cost a timeout.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)
    release = asyncio.Event()

    async def body() -> None:
        loop = asyncio.get_running_loop()

        def lingering_daemon() -> bytes:
            connection, _ = listener.accept()
            request = connection.recv(4096)
            connection.sendall(bytes.fromhex("0a00000001"))
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
            connection.close()
            return request

        daemon = loop.run_in_executor(None, lingering_daemon)
        started = time.monotonic()
        await RazerKeyboard(socket_path, timeout=3).paint(GREEN)
        elapsed = time.monotonic() - started
        release.set()
        assert await daemon == static(GREEN)
        assert elapsed < 1

    try:
        run(body)
    finally:
        listener.close()


def test_an_impossible_colour_is_refused_and_not_repainted(
    socket_path: str, servers: list[RazerServer]
) -> None:
    server = serve(servers, socket_path)

    async def body() -> None:
        keyboard = RazerKeyboard(socket_path, watch_interval=0.02)
        await keyboard.start()
        await keyboard.paint(RED)
        with pytest.raises(ValueError, match="range"):
            await keyboard.paint(Colour(256, 0, 0))
        await asyncio.sleep(0.1)
        await keyboard.close()

    run(body)
    assert [entry.raw for entry in server.received] == [static(RED)]
