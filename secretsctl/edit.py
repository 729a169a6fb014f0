"""Editing an encrypted file in a text editor, as ``sops edit`` does, without leaking plaintext.

The flow is sops 3.11's: decrypt (MAC verified), write the plaintext
to a file named like the target, run the editor on it, compare SHA-256 digests, parse, loop
back to the editor on invalid text, re-encrypt under the same data key and replace the file.
A file that does not exist starts from the store's example document, encrypted to the
matching ``.sops.yaml`` creation rule.

Beyond sops, the plaintext lives only in a fresh 0700 folder on a RAM-backed
filesystem (``$XDG_RUNTIME_DIR`` when it is a tmpfs or ramfs, else ``/dev/shm``; a disk only
when the caller allows it), vim and nvim are started without swap, undo, backup and
viminfo/shada files, and the folder is removed on every way out, SIGINT and SIGTERM included.
Unchanged values keep their exact ``ENC[…]`` text through :mod:`secretsctl.change`.

Nothing here prints. The caller gives the prompt shown on invalid text (``on_invalid``) and
may replace how the editor runs (``run_editor``), the environment and the temporary folder.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

from secretsctl.errors import ExitCode, InputError, OutputError, SecretsctlError
from secretsctl.fsutil import write_fully
from secretsctl.record import Record
from secretsctl.sops.stores import Format

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from types import FrameType
    from typing import Any, Final, TypeAlias

    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices
    from secretsctl.sops.creation_rules import EncryptionSettings
    from secretsctl.sops.metadata import Metadata
    from secretsctl.sops.tree import Documents

FALLBACK_EDITORS: Final = ("vim", "nano", "vi")
# Passed to vim before and after the user's vimrc, so that neither it nor a plugin turns the
# leaking files back on; -n: no swap file, -i NONE: no viminfo.
_VIM_SETTINGS: Final = "set noswapfile noundofile nobackup nowritebackup"
VIM_OPTIONS: Final = ("-n", "-i", "NONE", "--cmd", _VIM_SETTINGS, "-c", _VIM_SETTINGS)
NVIM_OPTIONS: Final = (
    "-n",
    "-i",
    "NONE",
    "--cmd",
    f"{_VIM_SETTINGS} shada=",
    "-c",
    f"{_VIM_SETTINGS} shada=",
)
_DEV_SHM: Final = "/dev/shm"  # noqa: S108 - a private 0700 folder is made inside it
# How long an editor gets to exit on SIGTERM when secretsctl itself is interrupted.
EDITOR_GRACE_SECONDS: Final = 2.0

# What sops 3.11 writes into the temporary file for a new file (its stores' EmitExample),
# in each store's plain emission.
EXAMPLES: Final = {
    Format.YAML: b"""\
hello: Welcome to SOPS! Edit this file as you please!
example_key: example_value
# Example comment
example_array:
    - example_value1
    - example_value2
example_number: 1234.56789
example_booleans:
    - true
    - false
""",
    Format.JSON: b"""\
{
\t"hello": "Welcome to SOPS! Edit this file as you please!",
\t"example_key": "example_value",
\t"example_array": [
\t\t"example_value1",
\t\t"example_value2"
\t],
\t"example_number": 1234.56789,
\t"example_booleans": [
\t\ttrue,
\t\tfalse
\t]
}
""",
    Format.DOTENV: b"""\
# This is an example file.
hello=Welcome to SOPS! Edit this file as you please!
example_key=example_value
example_multiline=foo\\nbar\\nbaz
""",
    Format.INI: b"""\
; This is an example file.
[Welcome!]
hello       = Welcome to SOPS! Edit this file as you please!
example_key = example_value
""",
    Format.BINARY: b"Welcome to SOPS! Edit this file as you please!",
}


class EditorError(SecretsctlError):
    """The editor is missing, cannot be started, fails or is killed (sops's NoEditorFound)."""

    exit_code = ExitCode.NO_EDITOR_FOUND


class EditInterrupted(SecretsctlError):
    """The edit was abandoned (a signal, or no key press); the target was left as it was."""

    exit_code = ExitCode.KEYBOARD_INTERRUPT


class TempLocation(Record):
    """The folder under which the plaintext's private folder is made, and its filesystem."""

    path: str
    filesystem: str
    ram_backed: bool


class EditResult(Record):
    """What an edit did: ``changed`` False means the text came back byte for byte (exit 200)."""

    path: str
    changed: bool
    created: bool
    editor_runs: int
    temp_location: TempLocation


EditorRunner: TypeAlias = "Callable[[Sequence[str], Mapping[str, str]], int]"
"""Runs the editor argv with the environment, returns its status (negative: killed by that
signal); raises OSError when it cannot be started."""

InvalidHandler: TypeAlias = "Callable[[SecretsctlError], bool]"
"""Told why the edited text was refused; returns True to reopen the editor, False to give up."""


# --- where the plaintext goes ---------------------------------------------------------------


def _filesystem(path: str) -> tuple[str, bool] | None:
    from secretsctl.activate.fsops import RAM_BACKED, fs_magic, fs_name

    try:
        if not os.path.isdir(path):
            return None
        magic = fs_magic(path)
    except OSError:
        return None
    return fs_name(magic), magic in RAM_BACKED


def temp_location(
    environ: Mapping[str, str], *, allow_disk: bool = False, base: str | None = None
) -> TempLocation:
    """Choose where the plaintext goes: a RAM-backed folder, or a disk only if allowed.

    ``base`` is used as given (checked like the others); else ``$XDG_RUNTIME_DIR`` when it is a
    tmpfs or ramfs, else ``/dev/shm``, else, with ``allow_disk``, ``$TMPDIR`` or ``/tmp``.
    """
    candidates = [base] if base else [environ.get("XDG_RUNTIME_DIR") or "", _DEV_SHM]
    seen: list[str] = []
    for candidate in candidates:
        if not candidate:
            continue
        found = _filesystem(candidate)
        if found is None:
            seen.append(f"{candidate} does not exist")
            continue
        name, ram_backed = found
        if ram_backed:
            return TempLocation(candidate, name, True)
        if base and allow_disk:
            return TempLocation(candidate, name, False)
        seen.append(f"{candidate} is on {name}")
    if allow_disk and not base:
        disk = environ.get("TMPDIR") or "/tmp"  # noqa: S108 - only when the user allows a disk
        found = _filesystem(disk)
        if found is not None:
            return TempLocation(disk, found[0], found[1])
        seen.append(f"{disk} does not exist")
    if not base and not environ.get("XDG_RUNTIME_DIR"):
        seen.insert(0, "XDG_RUNTIME_DIR is not set")
    raise OutputError(
        "no RAM-backed folder for the plaintext: " + "; ".join(seen),
        hint="set XDG_RUNTIME_DIR to a folder on a tmpfs, or mount a tmpfs at /dev/shm; "
        "--allow-disk-tmp puts the plaintext on disk instead",
    )


def _make_private_folder(location: TempLocation, prefix: str = "secretsctl-edit-") -> str:
    for _ in range(100):
        folder = os.path.join(location.path, f"{prefix}{os.urandom(6).hex()}")
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"Could not create temporary directory in {location.path}: {exc.strerror}"
            ) from None
        os.chmod(folder, 0o700)  # whatever the umask
        return folder
    raise OutputError(f"Could not create temporary directory in {location.path}")


def _write_private_file(path: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        raise OutputError(f"Could not create temporary file: {exc.strerror}") from None
    try:
        os.fchmod(descriptor, 0o600)
        write_fully(descriptor, data, sync=False)  # a RAM-backed draft: nothing to sync to
    except OSError as exc:
        raise OutputError(f"Could not write temporary file: {exc.strerror}") from None
    finally:
        os.close(descriptor)


def _read_private_file(path: str) -> bytes:
    from secretsctl.limits import read_file

    try:
        return read_file(path, label="the edited file", nofollow=True)
    except OSError as exc:
        raise InputError(f"Could not read edited file: {exc.strerror}") from None


def _remove_folder(folder: str) -> None:
    """Remove the private folder and what it holds, quietly (it may be gone already)."""
    # fsops's walk, not shutil.rmtree: importing shutil (and its bz2, lzma) costs ~1.3 ms.
    from secretsctl.activate.fsops import remove_tree

    parent, name = os.path.split(folder)
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        remove_tree(parent_fd, name)
    except OSError:
        pass
    finally:
        os.close(parent_fd)


# --- the editor -----------------------------------------------------------------------------


def _which(name: str, environ: Mapping[str, str]) -> str | None:
    if os.sep in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for folder in (environ.get("PATH") or os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _hardening(program: str, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Options that stop vim or nvim from writing swap, undo, backup and history files."""
    names = {os.path.basename(program)}
    found = _which(program, environ)
    if found is not None:
        names.add(os.path.basename(os.path.realpath(found)))
    if "nvim" in names:
        return NVIM_OPTIONS
    if any(name in ("vim", "gvim", "vimx") or name.startswith("vim.") for name in names):
        return VIM_OPTIONS
    return ()


def editor_command(path: str, environ: Mapping[str, str]) -> list[str]:
    """Build the editor's argv as sops does, with the hardening options for vim and nvim.

    ``$SOPS_EDITOR``, else ``$EDITOR`` (split with shell rules, the path appended), else the
    first of vim, nano and vi on ``PATH``.
    """
    for variable in ("SOPS_EDITOR", "EDITOR"):
        value = environ.get(variable)
        if value:
            import shlex

            try:
                words = shlex.split(value)
            except ValueError:
                raise EditorError(f"Could not run editor: invalid ${variable}: {value}") from None
            if not words:
                raise EditorError(f"Could not run editor: ${variable} names no program")
            break
    else:
        for name in FALLBACK_EDITORS:
            found = _which(name, environ)
            if found is not None:
                words = [found]
                break
        else:
            raise EditorError(
                "no editor available: set SOPS_EDITOR or EDITOR, or install one of "
                + ", ".join(FALLBACK_EDITORS),
            )
    return [words[0], *_hardening(words[0], environ), *words[1:], path]


def run_editor_process(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run the editor with the terminal (stdin, stdout, stderr) inherited; return its status.

    If secretsctl is interrupted meanwhile, the editor is asked to exit (SIGTERM, then SIGKILL
    after a grace period) before the interruption goes on.
    """
    pid = os.posix_spawnp(argv[0], list(argv), dict(environ))
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        _stop(pid)
        raise
    return os.waitstatus_to_exitcode(status)


def _stop(pid: int) -> None:
    import contextlib
    import time

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + EDITOR_GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _describe_status(program: str, status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"Could not run editor: `{program}` was killed by {name}"
    return f"Could not run editor: `{program}` exited with status {status}"


# --- signals ----------------------------------------------------------------------------------


class _Interrupted(BaseException):
    """Raised by the temporary signal handlers; a BaseException so no handler swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_HANDLED_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _signals_interrupt() -> Iterator[Callable[[], None]]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`_Interrupted` while the block runs.

    Yields ``hold``: after it is called, signals are only recorded (so the cleanup runs to the
    end), and the first recorded one is raised when the block ends.
    """
    state: dict[str, Any] = {"hold": False, "pending": None}

    def handler(signum: int, _frame: FrameType | None) -> None:
        if state["hold"]:
            state["pending"] = state["pending"] or signum
            return
        state["hold"] = True  # a second signal must not cut the cleanup short
        raise _Interrupted(signum)

    def hold() -> None:
        state["hold"] = True

    previous: dict[int, Any] = {}
    try:
        for signum in _HANDLED_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:
        pass  # not the main thread: signals stay as they are
    try:
        yield hold
    finally:
        for handled, old in previous.items():
            signal.signal(handled, old)
    if state["pending"] is not None:
        raise _Interrupted(state["pending"])


# --- the session ------------------------------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    # cryptography is loaded already; hashlib would load OpenSSL a second time (~3 ms).
    from cryptography.hazmat.primitives.hashes import SHA256, Hash

    digest = Hash(SHA256())
    digest.update(data)
    return digest.finalize()


class _Session(Record):
    """One edit of the sops file ``path``: where the plaintext goes, and who edits it."""

    path: str
    environ: Mapping[str, str]
    location: TempLocation
    run_editor: EditorRunner
    on_invalid: InvalidHandler

    @classmethod
    def start(
        cls,
        path: str,
        environ: Mapping[str, str] | None,
        temp_base: str | None,
        allow_disk_tmp: bool,
        run_editor: EditorRunner,
        on_invalid: InvalidHandler,
    ) -> _Session:
        """Choose the temporary location and check that ``path`` can be written, first."""
        environ = os.environ if environ is None else environ
        location = temp_location(environ, allow_disk=allow_disk_tmp, base=temp_base)
        _check_writable(path)
        return cls(path, environ, location, run_editor, on_invalid)

    def edit_and_write(
        self, plaintext: bytes, load_and_seal: Callable[[bytes], bytes]
    ) -> tuple[bool, int]:
        """Run :func:`_session` and replace the file if it changed: (written, editor runs)."""
        from secretsctl import change

        sealed, runs = _session(self, plaintext, load_and_seal)
        if sealed is not None:
            change.write_all([(self.path, sealed)])
        return sealed is not None, runs


def _session(
    session: _Session, plaintext: bytes, load_and_seal: Callable[[bytes], bytes]
) -> tuple[bytes | None, int]:
    """Let the user edit ``plaintext``; return the sealed file (None: unchanged) and the runs.

    ``load_and_seal`` parses the edited text and encrypts it, raising :class:`InputError` or
    another :class:`SecretsctlError` for text that cannot be used; the user is then asked
    (``on_invalid``) and the editor reopens on the same text.
    """
    path = session.path
    try:
        with _signals_interrupt() as hold:
            with _blocked_signals():
                folder = _make_private_folder(session.location)
            try:
                return _edit_until_valid(
                    path,
                    folder,
                    plaintext,
                    load_and_seal,
                    session.environ,
                    session.run_editor,
                    session.on_invalid,
                )
            finally:
                with _blocked_signals():
                    hold()
                    _remove_folder(folder)
    except _Interrupted as interrupted:
        name = signal.Signals(interrupted.signum).name
        raise EditInterrupted(
            f"interrupted by {name}: {path} was not changed; the edited text was deleted"
        ) from None


@contextmanager
def _blocked_signals() -> Iterator[None]:
    """Hold the handled signals back while the folder is made or removed, so it never leaks."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _edit_until_valid(
    path: str,
    folder: str,
    plaintext: bytes,
    load_and_seal: Callable[[bytes], bytes],
    environ: Mapping[str, str],
    run_editor: EditorRunner,
    on_invalid: InvalidHandler,
) -> tuple[bytes | None, int]:
    draft = os.path.join(folder, os.path.basename(path))
    _write_private_file(draft, plaintext)
    original = _sha256(plaintext)
    argv = editor_command(draft, environ)
    runs = 0
    while True:
        runs += 1
        try:
            status = run_editor(argv, environ)
        except OSError as exc:
            raise EditorError(f"Could not run editor: `{argv[0]}`: {exc.strerror}") from None
        if status != 0:
            raise EditorError(_describe_status(argv[0], status))
        edited = _read_private_file(draft)
        if _sha256(edited) == original:
            return None, runs
        try:
            return load_and_seal(edited), runs
        except SecretsctlError as problem:
            if not on_invalid(problem):
                raise EditInterrupted(
                    f"{path} was not changed; the edited text was deleted"
                ) from None


def _check_writable(path: str) -> None:
    """Refuse before the editor opens when the result could not be written (no edit is lost)."""
    folder = os.path.dirname(os.path.realpath(path)) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the folder {folder} is not writable")


def _newer_version(current: str) -> str:
    """Return sops's version when the file's is older, as ``sops edit`` raises it."""
    from secretsctl.sops.metadata import SOPS_VERSION

    def parts(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in text.split("."))
        except ValueError:
            return ()

    return SOPS_VERSION if parts(current) < parts(SOPS_VERSION) else current


def _load_edited(fmt: Format, edited: bytes) -> Documents:
    from secretsctl.sops import codec

    documents = fmt.store.load_plain(edited)
    if not documents:
        raise InputError(
            "File cannot be completely empty", exit_code=ExitCode.NEED_AT_LEAST_ONE_DOCUMENT
        )
    codec.check_not_encrypted(documents, fmt)
    return documents


class ShownMetadataError(InputError):
    """With ``--show-master-keys``: the ``sops`` block came back changed, removed or invalid."""


def _load_edited_with_metadata(fmt: Format, edited: bytes, shown: Metadata) -> Documents:
    """Split the edited text into documents and the ``sops`` block, which must be as shown.

    sops 3.11 drops every edit made with ``--show-master-keys`` (values and metadata alike)
    and writes the file as it was; secretsctl applies the value edits and keeps the metadata,
    asking for the block back when it was changed rather than dropping the change unseen.
    """
    from secretsctl.sops import codec

    try:
        edited_file = codec.parse(edited, fmt)
    except SecretsctlError as problem:
        raise ShownMetadataError(f"SOPS metadata is invalid: {problem.message}") from None
    if edited_file.metadata != shown:
        raise ShownMetadataError(
            "the sops metadata was changed: secretsctl edits values only; put the `sops`"
            " block back as it was (change keys with updatekeys, rotate or groups)"
        )
    documents = edited_file.documents
    if not documents:
        raise InputError(
            "File cannot be completely empty", exit_code=ExitCode.NEED_AT_LEAST_ONE_DOCUMENT
        )
    return documents


def edit_file(
    path: str,
    *,
    fmt: Format | None = None,
    show_master_keys: bool = False,
    ignore_mac: bool = False,
    identities: IdentitySet | None = None,
    indent: int | None = None,
    environ: Mapping[str, str] | None = None,
    temp_base: str | None = None,
    allow_disk_tmp: bool = False,
    run_editor: EditorRunner = run_editor_process,
    on_invalid: InvalidHandler = lambda _problem: False,
) -> EditResult:
    """Edit the existing sops file ``path`` in an editor and write it back if it changed.

    The file is decrypted with its MAC verified (unless ``ignore_mac``), re-encrypted under
    the same data key (unchanged values keep their ``ENC[…]`` text, ``lastmodified`` and the
    MAC are renewed) and replaced atomically, keeping its mode and owner.
    ``show_master_keys`` shows the ``sops`` block below the plaintext, as sops's ``-s``; it
    must come back unchanged (:func:`_load_edited_with_metadata`).
    """
    from secretsctl import change

    session = _Session.start(path, environ, temp_base, allow_disk_tmp, run_editor, on_invalid)
    opened = change.open_for_change(path, fmt=fmt, identities=identities, ignore_mac=ignore_mac)
    store = opened.fmt.store
    plaintext = store.emit_plain(opened.decrypted.documents, indent=indent)
    metadata = opened.decrypted.metadata
    shown: Metadata | None = None
    if show_master_keys:
        from secretsctl.sops import codec
        from secretsctl.sops import metadata as md

        # sops shows the crypt rule for the binary store too, though it never writes it there.
        tree = md.to_tree(metadata)
        plaintext = store.emit_encrypted(opened.decrypted.documents, tree, indent=indent)
        shown = codec.parse(plaintext, opened.fmt).metadata
    metadata = metadata._replace(version=_newer_version(metadata.version))

    def load_and_seal(edited: bytes) -> bytes:
        if shown is None:
            documents = _load_edited(opened.fmt, edited)
        else:
            documents = _load_edited_with_metadata(opened.fmt, edited, shown)
        return change.reseal(opened, documents, metadata=metadata, indent=indent)

    written, runs = session.edit_and_write(plaintext, load_and_seal)
    return EditResult(path, written, False, runs, session.location)


def create_file(
    path: str,
    settings: EncryptionSettings,
    *,
    fmt: Format | None = None,
    environ: Mapping[str, str] | None = None,
    temp_base: str | None = None,
    allow_disk_tmp: bool = False,
    run_editor: EditorRunner = run_editor_process,
    on_invalid: InvalidHandler = lambda _problem: False,
    services: KeyServices | None = None,
) -> EditResult:
    """Create the sops file ``path`` from the store's example, as ``sops edit NEWFILE`` does.

    A fresh data key is wrapped for ``settings`` (from the creation rule, by ``services``)
    before the editor opens. If the example comes back unchanged nothing is written, as in
    sops.
    """
    from secretsctl.sops import codec

    fmt = fmt or Format.for_path(path)
    session = _Session.start(path, environ, temp_base, allow_disk_tmp, run_editor, on_invalid)
    metadata, data_key = codec.new_data_key(settings, services=services)
    plaintext = fmt.store.emit_plain(fmt.store.load_plain(EXAMPLES[fmt]), indent=settings.indent)

    def load_and_seal(edited: bytes) -> bytes:
        documents = _load_edited(fmt, edited)
        return codec.seal(documents, fmt, metadata, data_key, indent=settings.indent)

    written, runs = session.edit_and_write(plaintext, load_and_seal)
    return EditResult(path, written, written, runs, session.location)
