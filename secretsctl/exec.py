"""Running a command with a sops file's plaintext, as ``sops exec-env`` and ``exec-file`` do.

The command runs through ``/bin/sh -c`` as in sops 3.11, with the top-level keys of the first
document in its environment (``exec-env``), or with ``{}`` in it replaced by the path of the
plaintext (``exec-file``): a fifo written once by a thread, or with ``no_fifo`` a 0600 file.

Beyond sops, the plaintext's folder is the private 0700 folder :mod:`secretsctl.edit` makes on a
RAM-backed filesystem, and it is removed on every way out: the command exits or fails,
secretsctl gets SIGINT, SIGTERM or SIGHUP (passed on to the command, which gets a grace period
and then SIGKILL), or an error. ``--background`` keeps a small supervising process that removes
the folder when the command ends (sops removes it at once, before the command can read it).
``--user`` drops to the user's own uid, primary gid and groups (sops sets the gid to the uid
and keeps the caller's groups). ``--pristine`` with no variable gives an empty environment
(sops then passes its whole environment on).

Nothing here prints. Values never appear in an error message.
"""

from __future__ import annotations

import os
import signal

from secretsctl.errors import ExitCode, SecretsctlError, UsageError
from secretsctl.record import Record
from secretsctl.redact import Secret

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping
    from typing import Final

    from secretsctl.edit import TempLocation
    from secretsctl.sops.tree import Documents

SHELL: Final = "/bin/sh"
FALLBACK_FILENAME: Final = "tmp-file"  # sops's exec.FallbackFilename
PLACEHOLDER: Final = "{}"
FOLDER_PREFIX: Final = "secretsctl-exec-"
# How long the command gets to exit after secretsctl is interrupted, before SIGKILL.
GRACE_SECONDS: Final = 2.0


class ExecError(SecretsctlError):
    """The command cannot be run: a bad variable, an unknown user, a failed start."""

    exit_code = ExitCode.GENERIC


class ExecInterrupted(SecretsctlError):
    """secretsctl was interrupted while the command ran; the command was stopped."""

    exit_code = ExitCode.KEYBOARD_INTERRUPT


class RunAs(Record):
    """The user a command runs as: uid, primary gid and every group of the user."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


class Launch(Record):
    """How to start the command: the shell line, its whole environment, user, background."""

    command: str
    environ: Secret[dict[str, str]]
    user: RunAs | None = None
    background: bool = False


def lookup_user(name: str) -> RunAs:
    """Return the user ``name`` (a name or a numeric uid) with its primary gid and groups."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if not name.isdigit():
            raise ExecError(f"unknown user `{name}`") from None
        try:
            entry = pwd.getpwuid(int(name))
        except KeyError:
            raise ExecError(f"unknown user `{name}`") from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


# --- exec-env: the variables -------------------------------------------------------------------


def file_variables(documents: Documents) -> Secret[dict[str, str]]:
    """Return the first document's top-level keys as variables, by sops 3.11's rules.

    A mapping or list value, a non-string key, or a key with ``=`` is refused with sops's
    message; comments are skipped; numbers and booleans are written as ``sops decrypt`` writes
    them in a dotenv file. Beyond sops, an empty key or a NUL byte (no environment holds one)
    is refused by name instead of failing the start.
    """
    from secretsctl.sops.stores.dotenv import value_to_string
    from secretsctl.sops.tree import Branch, Comment, Seq

    variables: dict[str, str] = {}
    for key, value in documents[0] if documents else ():
        if isinstance(value, Branch | Seq):
            raise ExecError(f"cannot use complex value in environment; offending key {key}")
        if isinstance(key, Comment):
            continue
        if key.__class__ is not str:
            raise ExecError(f"cannot use non-string keys in environment, got {type(key).__name__}")
        if "=" in key:
            raise ExecError(f"cannot use keys with '=' in environment: {key}")
        if not key or "\0" in key:
            raise ExecError(f"cannot use an empty key or a NUL byte in a key: {key!r}")
        text = value if value.__class__ is str else value_to_string(value)
        if "\0" in text:
            raise ExecError(f"the value of {key} holds a NUL byte, which no environment can")
        variables.pop(key, None)  # a repeated key: the last one counts, at its place
        variables[key] = text
    return Secret(variables)


def child_environment(
    variables: Secret[dict[str, str]], base: Mapping[str, str], *, pristine: bool
) -> Secret[dict[str, str]]:
    """Return the command's environment: ``base`` (unless ``pristine``), then the file's."""
    merged = {} if pristine else dict(base)
    merged.update(variables.reveal())
    return Secret(merged)


# --- running ----------------------------------------------------------------------------------


def _spawn(launch: Launch, *, command: str | None = None) -> subprocess.Popen[bytes]:
    import subprocess

    user = launch.user
    quiet = subprocess.DEVNULL if launch.background else None
    try:
        return subprocess.Popen(  # noqa: S603 - the shell line is the user's command, as in sops
            [SHELL, "-c", launch.command if command is None else command],
            env=launch.environ.reveal(),
            stdin=quiet,
            stdout=quiet,
            stderr=quiet,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=list(user.groups) if user else None,
        )
    except OSError as exc:
        who = f" as `{user.name}`" if user else ""
        raise ExecError(f"cannot run the command{who}: {exc.strerror}") from None


def _status(returncode: int) -> int:
    """Return secretsctl's exit status for the command's: its own, or 128 + a killing signal."""
    return 128 - returncode if returncode < 0 else returncode


def _stop(process: subprocess.Popen[bytes], signum: int) -> None:
    """Stop the command after secretsctl got ``signum``; return once it is gone."""
    import subprocess

    if signum != signal.SIGINT:
        # A terminal's ^C reaches the whole process group; a SIGTERM or SIGHUP sent to
        # secretsctl alone is passed on.
        process.send_signal(signum)
    try:
        process.wait(GRACE_SECONDS)
        return
    except subprocess.TimeoutExpired:
        pass
    if signum == signal.SIGINT:
        process.terminate()
        try:
            process.wait(GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait()


def _wait_or_stop(process: subprocess.Popen[bytes], hold: Callable[[], None]) -> int:
    """Wait for the command; if a signal interrupts the wait, stop the command and re-raise.

    ``hold`` holds further signals back while the command is stopped.
    """
    from secretsctl.edit import _Interrupted

    try:
        return _status(process.wait())
    except _Interrupted as interrupted:
        hold()
        _stop(process, interrupted.signum)
        raise


def _supervise(process: subprocess.Popen[bytes]) -> int:
    """Wait for the command; on SIGINT, SIGTERM or SIGHUP stop it and raise ExecInterrupted."""
    from secretsctl.edit import _Interrupted, _signals_interrupt

    try:
        with _signals_interrupt() as hold:
            return _wait_or_stop(process, hold)
    except _Interrupted as interrupted:
        name = signal.Signals(interrupted.signum).name
        raise ExecInterrupted(f"interrupted by {name}: the command was stopped") from None


def _in_background(body: Callable[[], int]) -> int:
    """Run ``body`` in a forked supervising process; the caller returns 0 at once, as sops."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid:
        return 0
    status = 1
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):
            os.dup2(devnull, descriptor)
        status = body()
    except BaseException:  # noqa: S110 - nothing may leave the supervisor but its exit
        pass
    finally:
        os._exit(status)


def run_with_env(launch: Launch) -> int:
    """Run the command with ``launch.environ``; return the status secretsctl exits with."""
    if launch.background:
        _spawn(launch)
        return 0
    return _supervise(_spawn(launch))


def exec_with_env(launch: Launch) -> None:
    """Replace secretsctl by the shell (``--same-process``); returns only by raising."""
    import sys

    user = launch.user
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        if user is not None:
            os.setgroups(list(user.groups))
            os.setgid(user.gid)
            os.setuid(user.uid)
        os.execve(SHELL, [SHELL, "-c", launch.command], launch.environ.reveal())  # noqa: S606
    except OSError as exc:
        who = f" as `{user.name}`" if user else ""
        raise ExecError(f"cannot run the command{who}: {exc.strerror}") from None


# --- exec-file: the plaintext on a RAM-backed filesystem --------------------------------------


def check_filename(filename: str | None) -> None:
    """Refuse a ``--filename`` that is not a plain name (sops would join a path and escape)."""
    if filename is None:
        return
    if not filename or "/" in filename or "\0" in filename or filename in (".", ".."):
        raise UsageError(
            f"--filename must be a plain file name, not {filename!r}",
            hint="the file is always made in a private temporary folder",
        )


class _FifoWriter:
    """Writes the plaintext once into a fifo from a thread, as sops's goroutine does.

    Opening a fifo to write blocks until a reader opens it; :meth:`finish` unblocks a writer
    whose reader never came by opening and closing the read end, so the thread always ends.
    """

    def __init__(self, path: str, data: bytes) -> None:
        import threading

        self.path = path
        self._data = data
        self._thread = threading.Thread(target=self._write, name="exec-file fifo", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        from secretsctl.fsutil import write_fully

        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            write_fully(descriptor, self._data, sync=False)
        except OSError:
            pass  # the reader went away (EPIPE): it read what it wanted
        finally:
            os.close(descriptor)

    def finish(self) -> None:
        """End the thread whether or not the command read the fifo."""
        # Repeated: the thread may not have reached its open() at the first poke.
        while self._thread.is_alive():
            try:
                reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                reader = None
            if reader is not None:
                os.close(reader)  # the writer's open returns; its write then fails (EPIPE)
            self._thread.join(0.05)


def _make_plaintext(
    folder: str, plaintext: bytes, *, fifo: bool, filename: str | None, user: RunAs | None
) -> tuple[str, _FifoWriter | None]:
    """Create the fifo or the 0600 file in ``folder`` (owned by ``user``); return its path."""
    from secretsctl.edit import _write_private_file
    from secretsctl.errors import OutputError

    if fifo:
        path = os.path.join(folder, filename or FALLBACK_FILENAME)
        try:
            os.mkfifo(path, 0o600)
            os.chmod(path, 0o600)  # whatever the umask
            if user is not None:
                os.chown(path, user.uid, user.gid, follow_symlinks=False)
        except OSError as exc:
            raise OutputError(f"Could not create temporary fifo: {exc.strerror}") from None
    else:
        # sops: os.CreateTemp(dir, "tmp-file") without --filename, a random suffix of digits.
        suffix = str(int.from_bytes(os.urandom(4), "big"))
        path = os.path.join(folder, filename or FALLBACK_FILENAME + suffix)
        _write_private_file(path, plaintext)
        if user is not None:
            _give(path, user, "temporary file")
    if user is not None:
        _give(folder, user, "temporary folder")
    return path, _FifoWriter(path, plaintext) if fifo else None


def _give(path: str, user: RunAs, what: str) -> None:
    """Make ``path`` the user's (only root may), or fail as a write fails."""
    from secretsctl.errors import OutputError

    try:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
    except OSError as exc:
        raise OutputError(f"Could not give the {what} to {user.name}: {exc.strerror}") from None


def run_with_file(
    launch: Launch,
    plaintext: Secret[bytes],
    *,
    location: TempLocation,
    fifo: bool = True,
    filename: str | None = None,
) -> int:
    """Run the command with ``{}`` replaced by the plaintext's path; return the exit status.

    The private folder is removed when the command ends, fails to start, or secretsctl is
    interrupted; with ``launch.background`` a forked supervisor waits and removes it.
    """
    check_filename(filename)
    if launch.background:
        # The supervisor's stdio is /dev/null already, and the command inherits it.
        foreground = launch._replace(background=False)
        return _in_background(
            lambda: _run_with_file(foreground, plaintext, location, fifo, filename)
        )
    return _run_with_file(launch, plaintext, location, fifo, filename)


def _run_with_file(
    launch: Launch,
    plaintext: Secret[bytes],
    location: TempLocation,
    fifo: bool,
    filename: str | None,
) -> int:
    from secretsctl.edit import (
        _blocked_signals,
        _Interrupted,
        _make_private_folder,
        _remove_folder,
        _signals_interrupt,
    )

    try:
        with _signals_interrupt() as hold:
            with _blocked_signals():
                folder = _make_private_folder(location, FOLDER_PREFIX)
            writer: _FifoWriter | None = None
            try:
                path, writer = _make_plaintext(
                    folder, plaintext.reveal(), fifo=fifo, filename=filename, user=launch.user
                )
                process = _spawn(launch, command=launch.command.replace(PLACEHOLDER, path))
                return _wait_or_stop(process, hold)
            finally:
                with _blocked_signals():
                    hold()
                    if writer is not None:
                        writer.finish()
                    _remove_folder(folder)
    except _Interrupted as interrupted:
        name = signal.Signals(interrupted.signum).name
        raise ExecInterrupted(
            f"interrupted by {name}: the command was stopped and the plaintext deleted"
        ) from None
