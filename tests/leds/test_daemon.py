"""The daemon's loop in-process, over its real Unix socket, with a fake GitHub and keyboard.

The fakes follow the interfaces of ``secretsctl.leds.github.GitHub`` and
``secretsctl.leds.model.Keyboard``; the end-to-end tests in ``test_run.py`` run the real
ones in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from secretsctl.leds.daemon import (
    DEBOUNCE_SECONDS,
    Daemon,
    DaemonError,
    DaemonSettings,
    bind_directory_socket,
)
from secretsctl.leds.model import COLOURS, CiState, Colour, Repository
from secretsctl.record import Record

GREEN = COLOURS[CiState.PASSED]
RED = COLOURS[CiState.FAILED]
ORANGE = COLOURS[CiState.PENDING]
BLUE = COLOURS[CiState.NO_REPOSITORY]
SHA_A = "a" * 40
SHA_B = "b" * 40


class FakeReport(Record):
    state: CiState
    final: bool
    not_before: float | None = None


class FakeGitHub:
    def __init__(self) -> None:
        self.states: dict[str, FakeReport] = {}
        self.asked: list[str] = []
        self.answered: list[str] = []
        self.delay = 0.0

    async def ci_state(self, repository: Repository) -> FakeReport:
        self.asked.append(repository.name)
        await asyncio.sleep(self.delay)
        self.answered.append(repository.name)
        return self.states.get(repository.name, FakeReport(CiState.UNKNOWN, False))


class FakeKeyboardError(Exception):
    pass


class FakeKeyboard:
    def __init__(self) -> None:
        self.colours: list[Colour] = []
        self.failures_left = 0

    async def start(self) -> None:
        pass

    async def paint(self, colour: Colour) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise FakeKeyboardError("the keyboard is unplugged")
        self.colours.append(colour)

    async def close(self) -> None:
        pass


class World:
    """Folders: two repositories (``a``, ``b``) and a plain folder, and the fake finder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repositories: dict[str, Repository] = {}
        for name, sha in (("a", SHA_A), ("b", SHA_B)):
            folder = root / name
            folder.mkdir()
            self.repositories[str(folder)] = Repository(str(folder), "octo", name, sha)
        (root / "plain").mkdir()
        self.finds = 0

    def find(self, directory: str) -> Repository | None:
        self.finds += 1
        return self.repositories.get(directory)

    def line(self, name: str) -> bytes:
        return f"{self.root / name}\n".encode()


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the daemon")
        await asyncio.sleep(0.005)


async def send(path: str, *lines: bytes) -> None:
    _, writer = await asyncio.open_unix_connection(path)
    for line in lines:
        writer.write(line)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def settle() -> None:
    """Long enough for a debounced evaluation and a fake request to finish."""
    await asyncio.sleep(DEBOUNCE_SECONDS * 4)


@contextlib.asynccontextmanager
async def running(
    world: World,
    github: FakeGitHub,
    keyboard: FakeKeyboard,
    *,
    poll_interval: float = 60.0,
    hyprland_socket: str | None = None,
) -> AsyncIterator[Daemon]:
    settings = DaemonSettings(str(world.root / "d.sock"), poll_interval, hyprland_socket)
    daemon = Daemon(settings, github=github, keyboard=keyboard, find_repository=world.find)
    task = asyncio.create_task(daemon.run())
    await wait_until(lambda: daemon.evaluations >= 1)  # the start-up trigger
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Scenario = Callable[[World, FakeGitHub, FakeKeyboard], Awaitable[None]]


def play(socket_dir: Path, scenario: Scenario) -> None:
    asyncio.run(scenario(World(socket_dir), FakeGitHub(), FakeKeyboard()))


def test_nothing_is_painted_before_the_first_directory(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        async with running(world, github, keyboard) as daemon:
            await settle()
            assert daemon.evaluations == 1
            await send(daemon.settings.socket_path, world.line("plain"))
            await wait_until(lambda: daemon.evaluations == 2)
            await settle()
        assert keyboard.colours == []
        assert github.asked == []

    play(socket_dir, scenario)


def test_the_socket_is_private_and_removed_at_exit(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        async with running(world, github, keyboard) as daemon:
            mode = os.stat(daemon.settings.socket_path).st_mode
            assert stat.S_ISSOCK(mode)
            assert stat.S_IMODE(mode) == 0o600
        assert not os.path.lexists(daemon.settings.socket_path)

    play(socket_dir, scenario)


def test_a_stale_socket_is_replaced_a_live_one_and_a_file_are_not(socket_dir: Path) -> None:
    stale = str(socket_dir / "stale.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(stale)
    dead.close()  # the file stays; nobody listens
    bind_directory_socket(stale).close()
    assert stat.S_IMODE(os.stat(stale).st_mode) == 0o600

    live = bind_directory_socket(str(socket_dir / "live.sock"))
    with pytest.raises(DaemonError, match="already listening"):
        bind_directory_socket(str(socket_dir / "live.sock"))
    live.close()

    (socket_dir / "file").write_text("mine")
    with pytest.raises(DaemonError, match="not a socket"):
        bind_directory_socket(str(socket_dir / "file"))
    assert (socket_dir / "file").read_text() == "mine"


def test_bad_lines_are_dropped_with_a_log_line_and_the_daemon_goes_on(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ci_keyboard_leds")

    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PASSED, True)
        async with running(world, github, keyboard) as daemon:
            path = daemon.settings.socket_path
            await send(path, b"garbage\n", b"\xff\xfe/not-utf8\n", b"/no/such/folder\n")
            await send(path, b"/" + b"x" * 100_000 + b"\n")  # longer than the 4096-byte cap
            await send(path, b"/" + b"y" * 5000)  # long, and no newline before EOF
            await send(path, b"\x00\x01\x02\n", b"\n", b"   \n")
            await settle()
            assert keyboard.colours == []
            assert world.finds == 0  # no line got through to an evaluation
            assert daemon.evaluations == 1  # the start-up one
            # A good line on a connection after the garbage (and after it on the same one).
            await send(path, b"junk\n" + world.line("a"))
            await wait_until(lambda: keyboard.colours == [GREEN])
        text = caplog.text
        assert "not UTF-8" in text
        assert "dropped 'garbage': not an absolute path" in text
        assert "no such directory" in text
        assert text.count("longer than 4096 bytes") == 2
        assert "x" * 200 not in text  # long lines are never logged whole

    play(socket_dir, scenario)


def test_a_burst_of_lines_is_one_evaluation(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["b"] = FakeReport(CiState.FAILED, True)
        async with running(world, github, keyboard) as daemon:
            path = daemon.settings.socket_path
            lines = [world.line("a"), world.line("plain")] * 10 + [world.line("b")]
            await send(path, b"".join(lines))
            await wait_until(lambda: keyboard.colours == [RED])
            await settle()
            # one for the burst, one for GitHub's answer; the start-up one before
            assert daemon.evaluations == 3
            assert github.asked == ["b"]  # the last directory only
            assert keyboard.colours == [RED]

    play(socket_dir, scenario)


def test_paints_only_on_change_and_blue_once_on_leaving(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PASSED, True)
        github.states["b"] = FakeReport(CiState.PASSED, True)
        async with running(world, github, keyboard) as daemon:
            path = daemon.settings.socket_path
            await send(path, world.line("a"))
            await wait_until(lambda: keyboard.colours == [GREEN])
            for _ in range(3):  # the same directory again: same repository, sha and state
                await send(path, world.line("a"))
                await settle()
            daemon.trigger("timer")
            await settle()
            assert keyboard.colours == [GREEN]
            # Another repository in the same state: painted again.
            await send(path, world.line("b"))
            await wait_until(lambda: len(keyboard.colours) == 2)
            assert keyboard.colours == [GREEN, GREEN]
            await send(path, world.line("plain"))
            await wait_until(lambda: len(keyboard.colours) == 3)
            await send(path, world.line("plain"))
            await settle()
            await send(path, f"{world.root}\n".encode())  # another folder outside repositories
            await settle()
            assert keyboard.colours == [GREEN, GREEN, BLUE]

    play(socket_dir, scenario)


def test_a_state_change_is_painted_on_the_next_poll(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PENDING, False)
        # pending polls every half interval: 0.15 s
        async with running(world, github, keyboard, poll_interval=0.3) as daemon:
            await send(daemon.settings.socket_path, world.line("a"))
            await wait_until(lambda: keyboard.colours == [ORANGE])
            asked = len(github.asked)
            github.states["a"] = FakeReport(CiState.FAILED, True)
            await wait_until(lambda: keyboard.colours == [ORANGE, RED], timeout=2)
            assert len(github.asked) == asked + 1
            # final: the next request is ten intervals (3 s) away
            await asyncio.sleep(0.6)
            assert len(github.asked) == asked + 1
            assert keyboard.colours == [ORANGE, RED]

    play(socket_dir, scenario)


def test_not_before_holds_requests_back(socket_dir: Path) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PENDING, False, time.monotonic() + 0.8)
        async with running(world, github, keyboard, poll_interval=0.2) as daemon:
            path = daemon.settings.socket_path
            await send(path, world.line("a"))
            await wait_until(lambda: github.asked == ["a"])
            await send(path, world.line("b"))
            await wait_until(lambda: github.asked == ["a", "b"])
            await send(path, world.line("a"))  # a real change of directory
            await asyncio.sleep(0.3)  # several pending intervals, within the back-off
            assert github.asked == ["a", "b"]
            await wait_until(lambda: github.asked.count("a") == 2, timeout=2)

    play(socket_dir, scenario)


def test_a_cached_state_is_painted_at_once_while_github_is_slow(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("secretsctl.leds.daemon.LOOKUP_FLOOR_SECONDS", 0.2)

    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PASSED, True)
        github.states["b"] = FakeReport(CiState.FAILED, True)
        async with running(world, github, keyboard) as daemon:
            path = daemon.settings.socket_path
            await send(path, world.line("a"))
            await wait_until(lambda: keyboard.colours == [GREEN])
            await send(path, world.line("b"))
            await wait_until(lambda: keyboard.colours == [GREEN, RED])
            await asyncio.sleep(0.3)  # past the floor between two lookups of one commit
            github.delay = 3600.0  # GitHub now hangs: this answer never comes
            answered = list(github.answered)
            await send(path, world.line("a"))
            await wait_until(lambda: len(keyboard.colours) == 3, timeout=10)
            assert keyboard.colours[-1] == GREEN
            assert github.answered == answered, "painted from the cache, not from the answer"
            assert github.asked[-1] == "a"  # asked again (conditional), without waiting for it

    play(socket_dir, scenario)


def test_a_keyboard_error_is_retried_on_the_next_trigger(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        github.states["a"] = FakeReport(CiState.PASSED, True)
        keyboard.failures_left = 1
        async with running(world, github, keyboard) as daemon:
            await send(daemon.settings.socket_path, world.line("a"))
            await wait_until(lambda: "painting failed" in caplog.text)
            assert keyboard.colours == []
            daemon.trigger("hyprland")
            await wait_until(lambda: keyboard.colours == [GREEN])
        assert "the keyboard is unplugged" in caplog.text

    play(socket_dir, scenario)


def test_hyprland_focus_events_trigger_an_evaluation(
    socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("secretsctl.leds.daemon.HYPRLAND_RECONNECT_SECONDS", 0.1)
    (socket_dir / "hypr" / "first").mkdir(parents=True)
    events_path = str(socket_dir / "hypr" / "first" / ".socket2.sock")
    writers: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    async def scenario(world: World, github: FakeGitHub, keyboard: FakeKeyboard) -> None:
        server = await asyncio.start_unix_server(accept, path=events_path)
        async with running(world, github, keyboard, hyprland_socket=events_path) as daemon:
            await wait_until(lambda: len(writers) == 1)
            await settle()
            before = daemon.evaluations
            writers[0].write(b"workspace>>2\nopenwindow>>5632d2bfa6e0,2,kitty,fish\n")
            await writers[0].drain()
            await settle()
            assert daemon.evaluations == before  # not a focus change
            # The pair Hyprland sends on a focus change, cut in the middle of a line.
            writers[0].write(b"activewindow>>kitty,~/src, a title\nactivewin")
            await writers[0].drain()
            await asyncio.sleep(0.01)
            writers[0].write(b"dowv2>>5632d2bfa6e0\n")
            await writers[0].drain()
            await wait_until(lambda: daemon.evaluations == before + 1)
            await settle()
            assert daemon.evaluations == before + 1
            # The event socket closes: the daemon reconnects.
            writers[0].close()
            await wait_until(lambda: len(writers) == 2)
            # Hyprland restarts with a new signature: the daemon finds the new instance.
            server.close()
            await server.wait_closed()
            os.unlink(events_path)
            (socket_dir / "hypr" / "second").mkdir()
            second_path = str(socket_dir / "hypr" / "second" / ".socket2.sock")
            second = await asyncio.start_unix_server(accept, path=second_path)
            writers[1].close()
            await wait_until(lambda: len(writers) == 3)
            writers[2].write(b"activewindowv2>>5632d2bfa6e0\n")
            await writers[2].drain()
            await wait_until(lambda: daemon.evaluations == before + 2)
        second.close()

    play(socket_dir, scenario)
