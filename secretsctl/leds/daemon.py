"""The ci-keyboard-leds daemon: directories in, CI states looked up, colours out.

One asyncio loop. Producers (the directory socket, the poll timer, Hyprland's focus events)
only set a flag; one evaluator waits 50 ms after the first trigger of a burst, as the original
does, then evaluates once: it finds the repository of the last directory any
shell reported, paints the cached state of its commit at once if there is one, and hands a
GitHub request to a single fetcher task when one is due, so a slow answer never delays a
repaint from the cache. The keyboard is painted when the state or the
``(owner/repo, sha)`` pair changes, blue once on leaving repositories, and
never before the first directory.

The core never prints: it logs through :mod:`logging`, and never the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import stat
import time
from collections.abc import Callable
from typing import Final, Protocol

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.leds.model import COLOURS, CiState, Colour, Keyboard, Repository
from secretsctl.record import Record
from secretsctl.redact import Secret

__all__ = [
    "Daemon",
    "DaemonError",
    "DaemonSettings",
    "DirectoryStatus",
    "TokenError",
    "TokenSource",
    "default_socket_path",
    "directory_status",
    "hyprland_event_socket",
]

log = logging.getLogger("ci_keyboard_leds")

SOCKET_NAME: Final = "ci-keyboard-leds.sock"
DEBOUNCE_SECONDS: Final = 0.05
MAX_LINE_BYTES: Final = 4096
CONNECTION_IDLE_SECONDS: Final = 5.0
PAINT_TIMEOUT_SECONDS: Final = 10.0
PAINT_RETRY_SECONDS: Final = 5.0
HYPRLAND_RECONNECT_SECONDS: Final = 2.0
# Re-entering a directory asks GitHub again at once, but not more often than this.
LOOKUP_FLOOR_SECONDS: Final = 2.0
CACHED_COMMITS: Final = 64
_MAX_TOKEN_FILE_BYTES: Final = 65536
_TOKEN_SHAPE: Final = re.compile(r"[\x21-\x7e]+")
_FOCUS_EVENTS: Final = frozenset({b"activewindow", b"activewindowv2"})


class DaemonError(SecretsctlError):
    """The daemon cannot start (its socket cannot be bound, another one is running)."""


class TokenError(SecretsctlError):
    """The token file is missing, unreadable or malformed; the message never quotes it."""

    exit_code = ExitCode.ERROR_READING_CONFIG


def default_socket_path(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Return ``$XDG_RUNTIME_DIR/ci-keyboard-leds.sock``, or under /tmp without it."""
    runtime = environ.get("XDG_RUNTIME_DIR") or "/tmp"  # noqa: S108 - the original's fallback
    return os.path.join(runtime, SOCKET_NAME)


def hyprland_event_socket(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """Return the path of Hyprland's event socket, or None when Hyprland is not running.

    ``$XDG_RUNTIME_DIR/hypr/<sig>/.socket2.sock`` since Hyprland 0.40; ``/tmp/hypr/<sig>/``
    before, used only when the newer folder does not exist.
    """
    signature = environ.get("HYPRLAND_INSTANCE_SIGNATURE")
    if not signature or "/" in signature:
        return None
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        folder = os.path.join(runtime, "hypr", signature)
        if os.path.isdir(folder):
            return os.path.join(folder, ".socket2.sock")
    return os.path.join("/tmp/hypr", signature, ".socket2.sock")  # noqa: S108 - Hyprland < 0.40


def _newest_hyprland_socket(path: str) -> str | None:
    """Return the event socket of the newest Hyprland instance beside ``path``'s, if any.

    A restarted Hyprland has a new signature that this process's environment cannot learn,
    so its folder is found among the instances' folders.
    """
    instances = os.path.dirname(os.path.dirname(path))
    newest: tuple[int, str] | None = None
    with contextlib.suppress(OSError), os.scandir(instances) as entries:
        for entry in entries:
            candidate = os.path.join(entry.path, ".socket2.sock")
            with contextlib.suppress(OSError):
                changed = os.stat(candidate).st_mtime_ns
                if newest is None or changed > newest[0]:
                    newest = (changed, candidate)
    return newest[1] if newest else None


class TokenSource:
    """GITHUB_TOKEN from an env file, re-read whenever the file behind the path changes.

    The path resolves through the ``/run/secrets`` symlink, so a secrets generation switch
    changes the resolved path and the inode: both are compared, with the modification time,
    before each request, and the file is read again on any difference. With
    no file, the token given from the environment is used. Calling the source returns the
    token text for the ``Authorization`` header, or None when there is none.
    """

    def __init__(self, env_file: str | None, environ_token: str | None = None) -> None:
        self.env_file = env_file
        self._environ_token = Secret(environ_token) if environ_token else None
        self._token: Secret[str] | None = None
        self._signature: tuple[str, int, int, int] | None = None
        self._failed_signature: tuple[str, int, int, int] | None = None

    def load(self) -> None:
        """Read the token now; raise :class:`TokenError` naming the file when that fails."""
        if self.env_file is None:
            if self._environ_token is None:
                raise TokenError(
                    "no GitHub token: GITHUB_TOKEN is not set and no env file was given",
                    hint="pass --env-file, or set GITHUB_TOKEN",
                )
            return
        self._token, self._signature = _read_token_file(self.env_file)

    def __call__(self) -> str | None:
        """Return the current token, re-reading the file first if it changed."""
        if self.env_file is None:
            return self._environ_token.reveal() if self._environ_token else None
        try:
            signature = _file_signature(self.env_file)
        except OSError:
            signature = (os.path.realpath(self.env_file), -1, -1, -1)  # missing: keyed by target
        if signature == self._signature:
            return self._token.reveal() if self._token else None
        try:
            self._token, self._signature = _read_token_file(self.env_file)
        except TokenError as error:
            if signature != self._failed_signature:
                log.warning("token: %s; asking GitHub without a token", error.message)
            self._failed_signature = signature
            self._token = self._signature = None
            return None
        self._failed_signature = None
        log.info("token: read %s again (it changed)", self.env_file)
        return self._token.reveal()


def _file_signature(path: str) -> tuple[str, int, int, int]:
    info = os.stat(path)
    return (os.path.realpath(path), info.st_dev, info.st_ino, info.st_mtime_ns)


def _read_token_file(path: str) -> tuple[Secret[str], tuple[str, int, int, int]]:
    hint = "secretsctl renders it from the github_token_env template; or pass --env-file"
    try:
        resolved = os.path.realpath(path)
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise TokenError(f"{path}: the token file does not exist", hint=hint) from None
    except OSError as error:
        raise TokenError(f"{path}: the token file cannot be read ({error.strerror})") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise TokenError(f"{path}: the token file is not a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        data = stream.read(_MAX_TOKEN_FILE_BYTES + 1)
    if len(data) > _MAX_TOKEN_FILE_BYTES:
        raise TokenError(f"{path}: the token file is malformed (larger than 64 KiB)")
    from secretsctl.envfile import parse

    variables = parse(data.decode("utf-8", "surrogateescape"))
    token = variables.get("GITHUB_TOKEN")
    if token is None:
        raise TokenError(f"{path}: the token file is malformed (no GITHUB_TOKEN= line)", hint=hint)
    if not token:
        raise TokenError(f"{path}: the token file is malformed (GITHUB_TOKEN is empty)")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise TokenError(
            f"{path}: the token file is malformed "
            "(GITHUB_TOKEN holds spaces, control or non-ASCII characters)"
        )
    return Secret(token), (resolved, info.st_dev, info.st_ino, info.st_mtime_ns)


class CiReportLike(Protocol):
    """What the daemon reads of :class:`secretsctl.leds.github.CiReport`."""

    @property
    def state(self) -> CiState: ...
    @property
    def final(self) -> bool: ...
    @property
    def not_before(self) -> float | None: ...


class CiSource(Protocol):
    """The part of :class:`secretsctl.leds.github.GitHub` the daemon uses."""

    async def ci_state(self, repository: Repository) -> CiReportLike:
        """Return the CI state of the repository's HEAD commit; never raise for the network."""
        ...


FindRepository = Callable[[str], "Repository | None"]
CommitKey = tuple[str, str, str]  # owner, name, full sha


class DaemonSettings(Record):
    """How the daemon runs."""

    socket_path: str
    poll_interval: float = 30.0  # the base: pending polls twice as often, final ones 10x less
    hyprland_socket: str | None = None  # the event socket, when Hyprland runs


class _Shown(Record):
    key: CommitKey | None  # None: blue, outside any repository
    state: CiState


class _Cached(Record):
    report: CiReportLike
    asked_at: float


_BLUE: Final = _Shown(None, CiState.NO_REPOSITORY)


def _label(key: CommitKey | None) -> str:
    return "(no repo)" if key is None else f"{key[0]}/{key[1]}@{key[2][:7]}"


def _printable(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)


class Daemon:
    """The event loop's state: current directory, cached CI states, what the keyboard shows."""

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        github: CiSource,
        keyboard: Keyboard,
        find_repository: FindRepository,
    ) -> None:
        self.settings = settings
        self._github = github
        self._keyboard = keyboard
        self._find = find_repository
        self._directory: str | None = None
        self._reasons: set[str] = set()
        self._wake = asyncio.Event()
        self._reschedule = asyncio.Event()
        self._fetch_wanted = asyncio.Event()
        self._wanted: Repository | None = None
        self._in_flight: CommitKey | None = None
        self._cache: dict[CommitKey, _Cached] = {}
        self._current: CommitKey | None = None
        self._shown: _Shown | None = None
        self._seen_repository = False
        self._paint_failed = False
        self.evaluations = 0

    # Producers -------------------------------------------------------------------------

    def trigger(self, reason: str) -> None:
        """Ask for an evaluation; a burst within 50 ms gives one."""
        self._reasons.add(reason)
        self._wake.set()

    async def accept_line(self, raw: bytes) -> None:
        """Take one line from a shell hook: a directory, or something dropped with a log line."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("directory socket: dropped a line that is not UTF-8 (%d bytes)", len(raw))
            return
        directory = text.strip()
        if not directory:
            return
        if not directory.startswith("/") or any(ord(char) < 32 for char in directory):
            log.warning("directory socket: dropped %s: not an absolute path", _printable(directory))
            return
        if not await asyncio.to_thread(os.path.isdir, directory):
            log.warning("directory socket: dropped %s: no such directory", _printable(directory))
            return
        log.debug("directory socket: %s", directory)
        self._directory = directory
        self.trigger("directory")

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read newline-separated directories until EOF, with a cap on the line length."""
        buffer = bytearray()
        discarding = False
        try:
            while True:
                async with asyncio.timeout(CONNECTION_IDLE_SECONDS):
                    chunk = await reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if discarding:
                        discarding = False
                    elif len(line) > MAX_LINE_BYTES:
                        self._log_long_line()
                    else:
                        await self.accept_line(line)
                if len(buffer) > MAX_LINE_BYTES:
                    if not discarding:
                        self._log_long_line()
                    discarding = True
                    buffer.clear()
            if buffer and not discarding:
                await self.accept_line(bytes(buffer))  # the last line may lack its newline
        except TimeoutError:
            log.warning(
                "directory socket: a connection sent nothing for %d s; closed",
                CONNECTION_IDLE_SECONDS,
            )
        except OSError as error:
            log.warning("directory socket: a connection failed: %s", error.strerror)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    def _log_long_line() -> None:
        log.warning("directory socket: dropped a line longer than %d bytes", MAX_LINE_BYTES)

    async def watch_hyprland(self, path: str) -> None:
        """Trigger on focus changes from Hyprland's event socket; reconnect every 2 s."""
        failures = 0
        while True:
            writer: asyncio.StreamWriter | None = None
            target = path if os.path.exists(path) else (_newest_hyprland_socket(path) or path)
            try:
                async with asyncio.timeout(5.0):
                    reader, writer = await asyncio.open_unix_connection(target)
                log.info("Hyprland IPC: connected to %s", target)
                failures = 0
                buffer = b""
                while chunk := await reader.read(65536):
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    if len(buffer) > 65536:
                        buffer = b""  # no event is this long; resynchronise on the next newline
                    if any(line.split(b">>", 1)[0] in _FOCUS_EVENTS for line in lines):
                        self.trigger("hyprland")
                log.info("Hyprland IPC: the event socket closed; reconnecting in 2 s")
            except (OSError, TimeoutError) as error:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                reason = getattr(error, "strerror", None) or "timed out"
                log.log(level, "Hyprland IPC: %s: %s; reconnecting every 2 s", target, reason)
            finally:
                if writer is not None:
                    writer.close()
            await asyncio.sleep(HYPRLAND_RECONNECT_SECONDS)

    # The evaluator ---------------------------------------------------------------------

    async def evaluate_forever(self) -> None:
        """Debounce triggers, then evaluate once per burst."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._wake.clear()
            reasons, self._reasons = self._reasons, set()
            try:
                await self.evaluate(reasons)
            except Exception:
                log.exception("evaluation failed; the daemon goes on")
            self._reschedule.set()

    async def evaluate(self, reasons: set[str]) -> None:
        """Work out the directory's state and paint it if it changed."""
        self.evaluations += 1
        log.debug("evaluation %d (%s)", self.evaluations, ", ".join(sorted(reasons)))
        directory = self._directory
        repository = None
        if directory is not None:
            repository = await asyncio.to_thread(self._find, directory)
        if repository is None or repository.head is None:
            # No commit to ask about: the original's "no repo" path (git rev-parse HEAD fails).
            self._current = None
            if self._seen_repository:
                await self._show(_BLUE)
            return
        key: CommitKey = (repository.owner, repository.name, repository.head)
        changed = key != self._current
        self._current = key
        self._seen_repository = True
        cached = self._cache.get(key)
        if cached is not None:
            await self._show(_Shown(key, cached.report.state))
        if self._due(cached, changed=changed) and self._in_flight != key:
            self._wanted = repository
            self._fetch_wanted.set()

    def _interval(self, report: CiReportLike) -> float:
        base = self.settings.poll_interval
        if report.final:
            return base * 10
        if report.state is CiState.PENDING:
            return base / 2
        return base

    def _next_ask(self, cached: _Cached | None, *, changed: bool) -> float:
        if cached is None:
            return 0.0
        wait = LOOKUP_FLOOR_SECONDS if changed else self._interval(cached.report)
        next_ask = cached.asked_at + min(wait, self._interval(cached.report))
        if cached.report.not_before is not None:
            next_ask = max(next_ask, cached.report.not_before)
        return next_ask

    def _due(self, cached: _Cached | None, *, changed: bool) -> bool:
        return time.monotonic() >= self._next_ask(cached, changed=changed)

    async def fetch_forever(self) -> None:
        """Ask GitHub one request at a time, for the latest commit wanted; then re-evaluate."""
        while True:
            await self._fetch_wanted.wait()
            self._fetch_wanted.clear()
            repository, self._wanted = self._wanted, None
            if repository is None or repository.head is None:
                continue
            key: CommitKey = (repository.owner, repository.name, repository.head)
            self._in_flight = key
            try:
                report = await self._github.ci_state(repository)
            except Exception:
                log.exception("GitHub: asking about %s failed", _label(key))
                continue
            finally:
                self._in_flight = None
            self._cache.pop(key, None)
            self._cache[key] = _Cached(report, time.monotonic())
            while len(self._cache) > CACHED_COMMITS:
                del self._cache[next(iter(self._cache))]
            log.debug("GitHub: %s is %s", _label(key), report.state.value)
            self.trigger("github")

    async def _show(self, wanted: _Shown) -> None:
        if wanted == self._shown:
            return
        colour = COLOURS[wanted.state]
        try:
            # asyncio.timeout, never wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the paint finishes, and the daemon then outlived SIGTERM.
            async with asyncio.timeout(PAINT_TIMEOUT_SECONDS):
                await self._keyboard.paint(colour)
        except Exception as error:
            self._paint_failed = True
            message = getattr(error, "message", None) or str(error) or type(error).__name__
            log.warning("keyboard: painting failed (%s); retrying on the next trigger", message)
            return
        self._paint_failed = False
        self._shown = wanted
        log.info(
            "%s -> %s (%d, %d, %d)",
            _label(wanted.key),
            wanted.state.value,
            colour.red,
            colour.green,
            colour.blue,
        )

    async def poll_forever(self) -> None:
        """Trigger when the current commit's next request is due, or every poll interval."""
        while True:
            delay = self._poll_delay()
            try:
                async with asyncio.timeout(delay):
                    await self._reschedule.wait()
            except TimeoutError:
                self.trigger("timer")
                await self._reschedule.wait()
            self._reschedule.clear()

    def _poll_delay(self) -> float:
        base = self.settings.poll_interval
        delay = base
        key = self._current
        if key is not None and key != self._in_flight:
            cached = self._cache.get(key)
            delay = min(base, max(self._next_ask(cached, changed=False) - time.monotonic(), 0.0))
        if self._paint_failed:
            delay = min(delay, PAINT_RETRY_SECONDS)
        return max(delay, DEBOUNCE_SECONDS)

    # Running ---------------------------------------------------------------------------

    async def run(self, *, listening: socket.socket | None = None) -> None:
        """Listen, paint and poll until SIGTERM or SIGINT; then clean up."""
        path = self.settings.socket_path
        bound = listening or bind_directory_socket(path)
        bound_inode = os.stat(path).st_ino
        server = await asyncio.start_unix_server(self.serve_connection, sock=bound)
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await self._keyboard.start()
        except Exception as error:
            message = getattr(error, "message", None) or str(error) or type(error).__name__
            log.warning("keyboard: %s; painting will be tried on each change", message)
        tasks = [
            asyncio.create_task(self.evaluate_forever()),
            asyncio.create_task(self.fetch_forever()),
            asyncio.create_task(self.poll_forever()),
        ]
        if self.settings.hyprland_socket:
            tasks.append(asyncio.create_task(self.watch_hyprland(self.settings.hyprland_socket)))
        log.info("listening on %s", path)
        self.trigger("start")
        try:
            await stopping.wait()
            log.info("stopping")
        finally:
            for task in tasks:
                task.cancel()
            _, stuck = await asyncio.wait(tasks, timeout=5.0)
            if stuck:
                log.warning("%d tasks did not stop within 5 s", len(stuck))
            server.close()
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == bound_inode:
                    os.unlink(path)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._keyboard.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


def bind_directory_socket(path: str) -> socket.socket:
    """Bind the directory socket, mode 0600, replacing a stale socket left by a dead daemon.

    A socket someone still answers on, or a file that is not a socket, is left alone.
    """
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if not stat.S_ISSOCK(info.st_mode):
            raise DaemonError(f"{path}: exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody answers: a stale socket from a daemon that died
        else:
            raise DaemonError(f"{path}: another ci-keyboard-leds is already listening there")
        finally:
            probe.close()
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask keeps the socket private from the moment it exists, before the chmod.
    previous = os.umask(0o177)
    try:
        listening.bind(path)
        os.chmod(path, 0o600)
        listening.listen(64)
    except OSError as error:
        listening.close()
        raise DaemonError(f"{path}: cannot listen there ({error.strerror})") from None
    finally:
        os.umask(previous)
    listening.setblocking(False)
    return listening


class DirectoryStatus(Record):
    """The state of one directory, as ``ci-keyboard-leds status`` prints it."""

    directory: str
    repository: Repository | None
    state: CiState
    colour: Colour


async def directory_status(
    directory: str, *, github: CiSource, find_repository: FindRepository
) -> DirectoryStatus:
    """Find the directory's repository and ask GitHub once for its HEAD commit's state."""
    repository = await asyncio.to_thread(find_repository, directory)
    if repository is None or repository.head is None:
        state = CiState.NO_REPOSITORY
    else:
        state = (await github.ci_state(repository)).state
    return DirectoryStatus(directory, repository, state, COLOURS[state])
