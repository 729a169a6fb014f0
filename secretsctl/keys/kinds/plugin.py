"""age plugins: ``age1<name>1…`` recipients and ``AGE-PLUGIN-<NAME>-1…`` identities.

The work is done by the plugin binary ``age-plugin-<name>``, found on ``PATH`` as age and sops
find it, spoken to over its standard input and output with the age plugin protocol (C2SP
age-plugin.md): the ``recipient-v1`` state machine wraps a file key, ``identity-v1`` unwraps
one. The rest of the age file (header MAC, payload, armour) and the protocol's stanza framing
are :mod:`secretsctl.keys.ageformat`'s.

secretsctl never prompts. The plugin runs in its own session with no controlling terminal and
its stderr discarded (it may echo what it was given); in the plugin's turn of the protocol:

- ``msg`` (e.g. "touch your YubiKey") is shown on stderr as one line and answered ``ok``;
- ``confirm``, ``request-public`` and ``request-secret`` (a PIN) are answered ``fail``: the
  plugin may go on without, else the entry fails with a reason naming what was asked;
- an ``error`` from the plugin becomes the entry's reason (one line, cut short);
- anything else is answered ``unsupported``.

A plugin session is bounded by a hang guard: :data:`DEFAULT_TIMEOUT` seconds, or
``SECRETSCTL_AGE_PLUGIN_TIMEOUT``; then the plugin's whole process group is killed. A plugin
that is missing, crashes, answers garbage or hangs makes its entry fail with a short reason
(decryption goes on with the other entries) or, when encrypting, a :class:`RecipientError`.

Plugins are only started for entries holding a stanza that is not native to age (X25519, SSH,
the post-quantum hybrid, scrypt): a file of X25519 entries never starts one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Final

from secretsctl.keys.kinds import (
    NO_MATCH,
    KeySourceError,
    LoadedIdentity,
    Recipient,
    RecipientError,
    shorten,
)
from secretsctl.redact import Secret

if TYPE_CHECKING:
    import subprocess

    from secretsctl.keys.ageformat import Stanza
    from secretsctl.sops.metadata import AgeKey, ForeignKey

__all__ = [
    "DEFAULT_TIMEOUT",
    "METADATA",
    "NAME",
    "TIMEOUT_ENV",
    "parse_identity",
    "parse_recipient",
    "unwrap",
    "wrap",
]

NAME: Final = "plugin"
METADATA: Final = "age"

DEFAULT_TIMEOUT: Final = 30.0
TIMEOUT_ENV: Final = "SECRETSCTL_AGE_PLUGIN_TIMEOUT"

_RECIPIENT_HRP: Final = "age1"
_IDENTITY_HRP: Final = "age-plugin-"
_NAME_CHARACTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+-._")
# Stanza types age and secretsctl open without a plugin; grease stanzas end in "-grease".
_NATIVE_STANZAS: Final = frozenset({"X25519", "ssh-ed25519", "ssh-rsa", "mlkem768x25519", "scrypt"})
_MAX_LINE: Final = 4096
_MAX_COMMANDS: Final = 1024
_MESSAGE_CHARACTERS: Final = 160


class _Reason(str):
    """A reason an entry did not open, with a hint the keyring may show (duck-typed there)."""

    hint: str | None = None

    def __new__(cls, text: str, hint: str | None = None) -> _Reason:
        reason = super().__new__(cls, text)
        reason.hint = hint
        return reason


class _PluginFailure(Exception):
    """A plugin session failed; the text names the plugin and never holds key material."""

    def __init__(self, text: str, hint: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.hint = hint


def _valid_name(name: str) -> bool:
    return bool(name) and all(c in _NAME_CHARACTERS for c in name)


def _program(name: str) -> str:
    return f"age-plugin-{name}"


def _missing_hint(name: str) -> str:
    return (
        f"install {_program(name)} and put its directory on PATH (with sops-nix: sops.age.plugins)"
    )


def parse_recipient(text: str) -> Recipient:
    """Parse an ``age1<name>1…`` recipient; the parsed value is the plugin name."""
    from secretsctl.keys.ssh_to_age import bech32_decode

    try:
        hrp, _ = bech32_decode(text)
    except ValueError:
        raise RecipientError(f"malformed age plugin recipient `{shorten(text)}`") from None
    name = hrp[len(_RECIPIENT_HRP) :]
    if not hrp.startswith(_RECIPIENT_HRP) or not _valid_name(name):
        raise RecipientError(f"malformed age plugin recipient `{shorten(text)}`")
    return Recipient(NAME, text, name)


def parse_identity(line: bytes, location: str) -> list[LoadedIdentity]:
    """One ``AGE-PLUGIN-<NAME>-1…`` line (upper case, as sops); its public side is unknown."""
    from secretsctl.keys.ssh_to_age import bech32_decode

    try:
        text = line.decode("ascii")
        if text != text.upper():
            raise ValueError("not upper case")
        hrp, _ = bech32_decode(text)
    except (UnicodeDecodeError, ValueError):
        raise KeySourceError("malformed AGE-PLUGIN identity") from None
    name = hrp[len(_IDENTITY_HRP) : -1]
    if not hrp.startswith(_IDENTITY_HRP) or not hrp.endswith("-") or not _valid_name(name):
        raise KeySourceError("malformed AGE-PLUGIN identity")
    return [LoadedIdentity(NAME, location, None, Secret((name, text)))]


# --- talking to a plugin ------------------------------------------------------------------------


def _timeout() -> float:
    from secretsctl.limits import seconds_from_env

    return seconds_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT)


def _clean(text: bytes) -> str:
    """One line of a plugin's message, printable and cut short, for messages and stderr."""
    decoded = text.decode("utf-8", "replace").strip().splitlines()
    line = decoded[0] if decoded else ""
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= _MESSAGE_CHARACTERS else line[: _MESSAGE_CHARACTERS - 1] + "…"


def _show(program: str, message: bytes) -> None:
    import sys

    sys.stderr.write(f"secretsctl: {program}: {_clean(message)}\n")
    sys.stderr.flush()


class _Session:
    """One run of a plugin binary in one state machine, bounded by the hang guard.

    Reads and writes wait in ``poll`` until the session's deadline, so neither a silent plugin
    nor a helper of it that keeps the pipes open can hold secretsctl past it; at the deadline
    the plugin's process group is killed.
    """

    def __init__(self, name: str, state_machine: str) -> None:
        import shutil
        import subprocess
        import time

        self.program = _program(name)
        self.timeout = _timeout()
        self.timed_out = False
        self._buffer = bytearray()
        path = shutil.which(self.program)
        if path is None:
            raise _PluginFailure(f"{self.program} not found on PATH", _missing_hint(name))
        try:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603 - no shell
                [path, f"--age-plugin={state_machine}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as error:
            raise _PluginFailure(
                f"cannot run {self.program}: {error.strerror or type(error).__name__}"
            ) from None
        self._deadline = time.monotonic() + self.timeout
        assert self.process.stdin is not None  # noqa: S101 - Popen with stdin=PIPE
        assert self.process.stdout is not None  # noqa: S101 - Popen with stdout=PIPE
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout
        os.set_blocking(self._stdin.fileno(), False)

    def _kill(self) -> None:
        import contextlib
        import signal

        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _wait(self, fd: int, event: int) -> None:
        """Wait until ``fd`` is ready for ``event`` (or hung up); at the deadline, kill."""
        import select
        import time

        poller = select.poll()
        poller.register(fd, event)
        left = self._deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            self.timed_out = True
            self._kill()
            raise self.failure("did not finish")

    def failure(self, what: str) -> _PluginFailure:
        """Describe why the session ended early: the hang guard, an exit, or ``what``."""
        import contextlib
        import subprocess

        if self.timed_out:
            return _PluginFailure(
                f"{self.program} did not finish within {self.timeout:g} s"
                f" (the hang guard; {TIMEOUT_ENV} sets it)"
            )
        with contextlib.suppress(OSError):
            self._stdin.close()  # the session is over: a plugin waiting for input can exit
        try:
            code: int | None = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:  # still running: only ``what`` is known
            code = None
        if code is not None and code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            return _PluginFailure(f"{self.program} {how}")
        return _PluginFailure(f"{self.program} {what}")

    def send(self, command: str, args: Sequence[str] = (), body: bytes = b"") -> None:
        """Send one command stanza."""
        import select

        from secretsctl.keys.ageformat import Stanza, encode_stanza

        data = memoryview(encode_stanza(Stanza(command, tuple(args), body)))
        fd = self._stdin.fileno()
        while data:
            self._wait(fd, select.POLLOUT)
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                continue
            except OSError:
                raise self.failure("stopped reading its input") from None

    def _readline(self) -> bytes:
        import select

        fd = self._stdout.fileno()
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > _MAX_LINE:
                raise self.failure("answered with malformed data (a line is too long)")
            self._wait(fd, select.POLLIN)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self.failure("closed its output before finishing")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        if len(line) > _MAX_LINE:
            raise self.failure("answered with malformed data (a line is too long)")
        return line

    def receive(self) -> Stanza:
        """Read one command stanza from the plugin."""
        from secretsctl.keys.ageformat import read_stanza

        stanza = read_stanza(self._readline(), self._readline)
        if isinstance(stanza, str):
            raise self.failure(f"answered with malformed data ({stanza})")
        return stanza

    def close(self) -> None:
        """End the session: close the pipes, reap the plugin; one that lingers is killed.

        A plugin that exits in time keeps what it started (an agent it spawned, say); one that
        does not is killed with its process group, as the hang guard does.
        """
        import contextlib
        import subprocess

        with contextlib.suppress(OSError):
            self._stdin.close()
        self._stdout.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self._kill()
            self.process.wait()


def _plugin_turn(session: _Session, handle: dict[str, Callable[[Stanza], None]]) -> list[str]:
    """Run the plugin's phase: answer its requests until ``done``; return what it asked for.

    ``handle`` maps the state machine's own commands to callables taking the stanza and
    returning nothing (the answer is ``ok``).
    """
    asked: list[str] = []
    for _ in range(_MAX_COMMANDS):
        command = session.receive()
        if command.type == "done":
            return asked
        if command.type == "msg":
            _show(session.program, command.body)
            session.send("ok")
        elif command.type in ("confirm", "request-public", "request-secret"):
            what = {"confirm": "a confirmation", "request-public": "a value"}.get(
                command.type, "a secret"
            )
            asked.append(f'{what} ("{_clean(command.body)}")')
            session.send("fail")
        elif command.type in handle:
            handle[command.type](command)
            session.send("ok")
        else:
            session.send("unsupported")
    raise session.failure("answered with malformed data (too many commands)")


_ASKED_HINT: Final = (
    "set the plugin's key up to need no PIN or confirmation (e.g. a PIN policy of never),"
    " or use another key of the file"
)


def _asked_reason(program: str, asked: list[str]) -> _Reason:
    return _Reason(f"{program} asked for {asked[0]}; secretsctl never prompts", _ASKED_HINT)


# --- wrapping -----------------------------------------------------------------------------------


def _wrap_file_key(name: str, recipient: str, file_key: bytes) -> list[Stanza]:
    from secretsctl.keys.ageformat import Stanza

    session = _Session(name, "recipient-v1")
    stanzas: list[Stanza] = []
    errors: list[str] = []

    def on_stanza(command: Stanza) -> None:
        if len(command.args) < 2 or command.args[0] != "0":
            raise session.failure("answered with malformed data (a stanza for no file)")
        stanzas.append(Stanza(command.args[1], command.args[2:], command.body))

    def on_error(command: Stanza) -> None:
        errors.append(_clean(command.body) or "an unnamed error")

    try:
        session.send("add-recipient", [recipient])
        session.send("wrap-file-key", body=file_key)
        session.send("done")
        asked = _plugin_turn(session, {"recipient-stanza": on_stanza, "error": on_error})
    finally:
        session.close()
    if errors:
        raise _PluginFailure(f"{session.program}: {errors[0]}")
    if not stanzas:
        if asked:
            reason = _asked_reason(session.program, asked)
            raise _PluginFailure(reason, reason.hint)
        raise _PluginFailure(f"{session.program} returned no stanza")
    if len(stanzas) > 1:
        raise _PluginFailure(f"{session.program} returned more stanzas than recipients")
    return stanzas


def wrap(data_key: bytes, recipient: Recipient) -> AgeKey:
    """Wrap ``data_key`` for a plugin recipient: an age file whose stanza the plugin made."""
    from secretsctl.keys import ageformat
    from secretsctl.sops.metadata import AgeKey

    try:
        data = ageformat.encrypt(
            data_key, lambda file_key: _wrap_file_key(recipient.parsed, recipient.text, file_key)
        )
    except _PluginFailure as failure:
        raise RecipientError(
            f"cannot encrypt to `{shorten(recipient.text)}`: {failure.text}", hint=failure.hint
        ) from None
    return AgeKey(recipient.text, ageformat.armour(data))


# --- unwrapping ---------------------------------------------------------------------------------


def _unwrap_file_key(name: str, texts: Sequence[str], stanzas: Sequence[Stanza]) -> bytes | str:
    """Run ``identity-v1`` for one file; return the file key, or why not."""
    from secretsctl.keys.ageformat import FILE_KEY_SIZE

    session = _Session(name, "identity-v1")
    keys: list[bytes] = []
    errors: list[str] = []

    def on_file_key(command: Stanza) -> None:
        if command.args != ("0",):
            raise session.failure("answered with malformed data (a file key for no file)")
        keys.append(command.body)

    def on_error(command: Stanza) -> None:
        errors.append(_clean(command.body) or "an unnamed error")

    try:
        for text in texts:
            session.send("add-identity", [text])
        for stanza in stanzas:
            session.send("recipient-stanza", ["0", stanza.type, *stanza.args], stanza.body)
        session.send("done")
        asked = _plugin_turn(session, {"file-key": on_file_key, "error": on_error})
    finally:
        session.close()
    if keys:
        if len(keys[0]) != FILE_KEY_SIZE:
            return f"{session.program} returned a file key of {len(keys[0])} bytes"
        return keys[0]
    if errors:
        return f"{session.program}: {errors[0]}"
    if asked:
        return _asked_reason(session.program, asked)
    return NO_MATCH


def unwrap(entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]) -> bytes | str:
    """Plaintext of an age entry through the plugins of ``identities``, or why not.

    Never raises for a bad entry or a failing plugin. An entry whose stanzas are all native
    starts no plugin.
    """
    from secretsctl.keys import ageformat

    data = ageformat.dearmour(getattr(entry, "enc", ""))
    if isinstance(data, str):
        return f"malformed age data ({data})"
    parsed = ageformat.parse_header(data)
    if isinstance(parsed, str):
        return f"malformed age data ({parsed})"
    header, start = parsed
    if all(s.type in _NATIVE_STANZAS or s.type.endswith("-grease") for s in header.stanzas):
        return NO_MATCH
    by_plugin: dict[str, list[str]] = {}
    for loaded in identities:
        name, text = loaded.identity.reveal()
        texts = by_plugin.setdefault(name, [])
        if text not in texts:
            texts.append(text)
    reasons: list[str] = []
    for name, texts in by_plugin.items():
        try:
            result = _unwrap_file_key(name, texts, header.stanzas)
        except _PluginFailure as failure:
            reasons.append(_Reason(failure.text, failure.hint))
            continue
        if isinstance(result, str):
            reasons.append(result)
            continue
        opened = ageformat.open_payload(result, header, data[start:])
        if isinstance(opened, bytes):
            return opened
        reasons.append(f"{_program(name)} returned a file key that does not open the entry")
    other = [reason for reason in reasons if reason != NO_MATCH]
    return other[0] if other else NO_MATCH
