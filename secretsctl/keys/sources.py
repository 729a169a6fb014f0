"""Where age identities come from: every source sops 3.11 reads, combined, in sops's order.

With ``use_environment=True`` (the default; what ``secretsctl decrypt`` does) the locations are
read in the order of sops 3.11's ``loadIdentities``, which is also the order of the locations
in its error message:

1. ``SOPS_AGE_SSH_PRIVATE_KEY_FILE`` (an SSH private key),
2. ``~/.ssh/id_ed25519`` and 3. ``~/.ssh/id_rsa`` (when they exist),
4. ``SOPS_AGE_KEY`` (key text), 5. ``SOPS_AGE_KEY_FILE`` (a path to key text),
6. ``SOPS_AGE_KEY_CMD`` (a command printing key text; split shell-style, run without a shell,
   stdin closed, with a timeout),
7. ``$XDG_CONFIG_HOME/sops/age/keys.txt``, else ``~/.config/sops/age/keys.txt``;

then the GnuPG home for PGP entries, as sops's gpg finds it: ``$GNUPGHOME``, else
``~/.gnupg`` (listed only when it exists: without it gpg has no keys either).

Explicit sources (the boot path: an age key file, SSH host keys and a GnuPG home from a
configuration) come before all of these, SSH keys first as sops-nix writes them into its
combined key file; with
``use_environment=False`` they are the only ones, and neither ``$HOME`` nor any ``SOPS_*``
variable is looked at.

Every source is tried and a broken one never blocks the others: its failure is kept as a short
:class:`SourceProblem` (no key material) and reading goes on.

Beyond sops, and as sops-nix does, an ed25519 SSH key gives two identities: the SSH identity
for ``ssh-ed25519`` recipients, and its ssh-to-age conversion for ``age1…`` recipients. Nothing
ever prompts: passphrase-protected SSH keys and passphrase-encrypted age identity files are
reported as problems instead.
"""

from __future__ import annotations

import os
import sys

from secretsctl.choice import Choice
from secretsctl.keys.kinds import KeySourceError, LoadedIdentity
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Final

    from secretsctl.keyservice.client import KeyServices, RemoteKeyService

__all__ = [
    "DEFAULT_KEY_CMD_TIMEOUT",
    "IdentitySet",
    "KeyLocation",
    "KeySourceError",
    "LoadedIdentity",
    "LocationStatus",
    "SourceProblem",
    "load_identities",
    "normalise_recipient",
    "parse_key_text",
]

SOPS_AGE_SSH_PRIVATE_KEY_FILE: Final = "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
SOPS_AGE_KEY: Final = "SOPS_AGE_KEY"
SOPS_AGE_KEY_FILE: Final = "SOPS_AGE_KEY_FILE"
SOPS_AGE_KEY_CMD: Final = "SOPS_AGE_KEY_CMD"
GNUPGHOME: Final = "GNUPGHOME"
USER_KEYS_PATH: Final = ("sops", "age", "keys.txt")

DEFAULT_KEY_CMD_TIMEOUT: Final = 30.0

# sops peeks at exactly these 14 bytes to detect a passphrase-encrypted identity file.
_ENCRYPTED_KEY_FILE_MARKERS: Final = (b"age-encryption", b"-----BEGIN AGE")
_NO_PROMPT: Final = "is not supported non-interactively; secretsctl never prompts"


class LocationStatus(Choice):
    """What was found at a key location."""

    NOT_SET = "not set"
    NOT_FOUND = "not found"
    NO_KEYS = "no keys"
    LOADED = "loaded"
    FAILED = "failed"


class KeyLocation(Record):
    """A place identities were looked for, and what was found there."""

    name: str
    status: LocationStatus
    identities: int = 0  # how many were loaded
    detail: str | None = None

    def __str__(self) -> str:
        where = f"{self.name} ({self.detail})" if self.detail else self.name
        if self.status is LocationStatus.LOADED:
            plural = "identity" if self.identities == 1 else "identities"
            return f"{where}: {self.identities} {plural}"
        return f"{where}: {self.status.value}"


class SourceProblem(Record):
    """Why a source gave no (or fewer) identities. Never contains key material."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def normalise_recipient(recipient: str) -> str:
    """Return ``recipient`` as compared: ``age1…`` in lower case, SSH keys without comment."""
    text = recipient.strip()
    if text.startswith("ssh-"):
        return " ".join(text.split()[:2])
    return text.lower()


class IdentitySet:
    """Every identity found, the locations looked at (in order) and each source's problem.

    Build it once and reuse it for every file: the recipient index is computed on first use.
    ``services`` names the key services to use with it (None: the local one alone, i.e. the
    identities here); see :meth:`with_services`.
    """

    __slots__ = ("_index", "_remotes", "identities", "locations", "problems", "services")

    def __init__(
        self,
        identities: tuple[LoadedIdentity, ...],
        locations: tuple[KeyLocation, ...],
        problems: tuple[SourceProblem, ...],
        services: KeyServices | None = None,
    ) -> None:
        self.identities = identities
        self.locations = locations
        self.problems = problems
        self.services = services
        self._index: dict[str, tuple[LoadedIdentity, ...]] | None = None
        self._remotes: tuple[RemoteKeyService, ...] | None = None

    def with_services(self, services: KeyServices | None) -> IdentitySet:
        """Return these identities with ``services``: the local ones (these) and remote ones.

        With the local key service disabled the identities are kept for messages but never
        used, and neither is gpg's keyring.
        """
        return IdentitySet(self.identities, self.locations, self.problems, services)

    @property
    def local(self) -> bool:
        """Whether the local key service (these identities, gpg's keyring) is used."""
        return self.services is None or self.services.local

    def remotes(self) -> tuple[RemoteKeyService, ...]:
        """Return the remote key services, in order, made once (so reachability is kept)."""
        if self._remotes is None:
            if self.services is None or not self.services.uris:
                self._remotes = ()
            else:
                from secretsctl.keyservice.client import remote_services

                self._remotes = remote_services(self.services)
        return self._remotes

    @property
    def locations_tried(self) -> tuple[str, ...]:
        """The names of the locations looked at, in the order they were read."""
        return tuple(location.name for location in self.locations)

    def __len__(self) -> int:
        return len(self.identities)

    def __repr__(self) -> str:
        return (
            f"IdentitySet(<{len(self.identities)} identities>, {len(self.locations)} locations,"
            f" {len(self.problems)} problems)"
        )

    def _by_recipient(self) -> dict[str, tuple[LoadedIdentity, ...]]:
        if self._index is None:
            index: dict[str, list[LoadedIdentity]] = {}
            for loaded in self.identities:
                if loaded.recipient is not None:
                    index.setdefault(normalise_recipient(loaded.recipient), []).append(loaded)
            self._index = {key: tuple(value) for key, value in index.items()}
        return self._index

    def candidates(
        self, recipient: str
    ) -> tuple[tuple[LoadedIdentity, ...], tuple[LoadedIdentity, ...]]:
        """Split the identities into those whose public key is ``recipient`` and the rest.

        An entry's recorded recipient is not authenticated, so the rest still has to be tried
        when the likely ones fail; on the usual path it never is.
        """
        likely = self._by_recipient().get(normalise_recipient(recipient), ())
        if not likely:
            return (), self.identities
        return likely, tuple(i for i in self.identities if all(i is not x for x in likely))


# --- collecting --------------------------------------------------------------------------------


class _Collector:
    """Accumulates identities, locations and problems; drops duplicate identities."""

    def __init__(self) -> None:
        self.identities: list[LoadedIdentity] = []
        self.locations: list[KeyLocation] = []
        self.problems: list[SourceProblem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, location: KeyLocation, identities: Sequence[LoadedIdentity] = ()) -> None:
        self.locations.append(location)
        for loaded in identities:
            if loaded.recipient is not None:
                key = (loaded.kind, normalise_recipient(loaded.recipient))
                if key in self._seen:
                    continue
                self._seen.add(key)
            self.identities.append(loaded)

    def fail(self, name: str, message: str, detail: str | None = None) -> None:
        self.locations.append(KeyLocation(name, LocationStatus.FAILED, detail=detail))
        self.problems.append(SourceProblem(name, message))

    def result(self) -> IdentitySet:
        return IdentitySet(tuple(self.identities), tuple(self.locations), tuple(self.problems))


def _loaded(name: str, identities: Sequence[LoadedIdentity], detail: str | None) -> KeyLocation:
    status = LocationStatus.LOADED if identities else LocationStatus.NO_KEYS
    return KeyLocation(name, status, len(identities), detail)


def _read_file(path: str) -> bytes:
    from secretsctl.errors import InputLimitError
    from secretsctl.limits import read_file

    try:
        return read_file(path)
    except OSError as error:
        raise KeySourceError(
            f"cannot read {path}: {error.strerror or type(error).__name__}"
        ) from None
    except InputLimitError as error:
        raise KeySourceError(error.message, hint=error.hint) from None


def parse_key_text(data: bytes, location: str) -> tuple[list[LoadedIdentity], list[str]]:
    r"""Parse age key text as sops 3.11 does; return the identities and non-fatal notes.

    One identity per line; empty lines and lines starting with ``#`` are skipped; a ``\r``
    before the newline is dropped; nothing else is trimmed, so a padded line is an error. Each
    line goes to the key kind its prefix names (:mod:`secretsctl.keys.kinds`); only
    ``AGE-SECRET-KEY-1`` in upper case is an X25519 identity. A line sops cannot parse makes
    the whole source fail, as in sops. Raises :class:`KeySourceError` with a message that
    names the line number only.
    """
    if data[:14] in _ENCRYPTED_KEY_FILE_MARKERS:
        raise KeySourceError(f"a passphrase-encrypted age identity file {_NO_PROMPT}")
    from secretsctl.keys.kinds import identity_kind, kind_named

    identities: list[LoadedIdentity] = []
    notes: list[str] = []
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line or line.startswith(b"#"):
            continue
        name = identity_kind(line)
        if name is None:
            raise KeySourceError(f"line {number}: unknown identity type")
        try:
            identities.extend(kind_named(name).parse_identity(line, location))
        except KeySourceError as error:
            raise KeySourceError(f"line {number}: {error.message}") from None
    return identities, notes


def _load_key_text(out: _Collector, name: str, data: bytes, detail: str | None = None) -> None:
    try:
        identities, notes = parse_key_text(data, name)
    except KeySourceError as error:
        out.fail(name, str(error), detail)
        return
    out.add(_loaded(name, identities, detail), identities)
    out.problems.extend(SourceProblem(name, note) for note in notes)


def _load_ssh_key(out: _Collector, name: str, path: str, detail: str | None = None) -> None:
    try:
        from secretsctl.keys.kinds import kind_named

        identities = kind_named("ssh-ed25519").parse_identity(_read_file(path), name)
    except KeySourceError as error:
        out.fail(name, str(error), detail)
        return
    out.add(_loaded(name, identities, detail), identities)


def _load_gnupg_home(out: _Collector, name: str, path: str, detail: str | None = None) -> None:
    """Add a GnuPG home as the identity of PGP entries (gpg reads it; nothing is run here)."""
    from secretsctl.redact import Secret

    if not os.path.isabs(path):
        out.fail(name, "a GnuPG home must be an absolute path", detail)
    elif not os.path.isdir(path):
        out.fail(name, "the GnuPG home is not a folder", detail)
    elif not any(i.kind == "pgp" and i.identity.reveal() == path for i in out.identities):
        # Built here, not by the pgp kind's module: loading keys must not import it.
        identity = LoadedIdentity("pgp", path, None, Secret(path))
        out.add(KeyLocation(name, LocationStatus.LOADED, 1, detail), [identity])


def _load_gnupg_environment(out: _Collector, environ: Mapping[str, str], home: str | None) -> None:
    if environ.get(GNUPGHOME):
        path = environ[GNUPGHOME]
        _load_gnupg_home(out, GNUPGHOME, path, path)
    elif home and os.path.isdir(os.path.join(home, ".gnupg")):
        path = os.path.join(home, ".gnupg")
        _load_gnupg_home(out, path, path)


def _run_key_cmd(command: str, environ: Mapping[str, str], timeout: float) -> bytes:
    """Run ``SOPS_AGE_KEY_CMD`` and return its stdout; raises :class:`KeySourceError`.

    The command is split with POSIX shell rules (``#`` is an ordinary character here; sops's
    splitter treats it as a comment at the start of a word) and runs without a shell, in its
    own session: stdin is closed and there is no controlling terminal, so it cannot prompt.
    Only the program name is quoted in errors: the arguments may carry tokens. The command's
    stderr is discarded, as sops does, because it may echo what it was asked for.
    """
    import contextlib
    import shlex
    import signal
    import subprocess

    try:
        args = shlex.split(command)
    except ValueError as error:
        raise KeySourceError(f"cannot split the command: {error}") from None
    if not args:
        raise KeySourceError("the command is empty")
    program = args[0]
    try:
        process = subprocess.Popen(  # noqa: S603 - the user's own configured command, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(environ),
            start_new_session=True,
        )
    except OSError as error:
        raise KeySourceError(
            f"cannot run `{program}`: {error.strerror or type(error).__name__}"
        ) from None

    def end_session() -> None:
        # The whole session goes, so a helper the command started cannot keep the pipe open.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.stdout is not None:
            process.stdout.close()
        process.wait()

    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end_session()
        raise KeySourceError(f"`{program}` did not finish within {timeout:g} s") from None
    except BaseException:
        # Ctrl-C or any other way out: in its own session the terminal's SIGINT never
        # reaches the command, so nothing else would end it.
        end_session()
        raise
    if process.returncode != 0:
        how = (
            f"was killed by signal {-process.returncode}"
            if process.returncode < 0
            else f"exited with status {process.returncode}"
        )
        raise KeySourceError(f"`{program}` {how}")
    return stdout


def _user_config_dir(environ: Mapping[str, str], home: str | None, platform: str) -> str:
    """Go's ``os.UserConfigDir`` with sops's macOS tweak; raises :class:`KeySourceError`."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if platform == "darwin":
        if xdg:
            return xdg
        if not home:
            raise KeySourceError("$HOME is not defined")
        return os.path.join(home, "Library", "Application Support")
    if xdg:
        if not os.path.isabs(xdg):
            raise KeySourceError("path in $XDG_CONFIG_HOME is relative")
        return xdg
    if not home:
        raise KeySourceError("neither $XDG_CONFIG_HOME nor $HOME are defined")
    return os.path.join(home, ".config")


def _load_environment(
    out: _Collector,
    environ: Mapping[str, str],
    home: str | None,
    timeout: float,
    platform: str,
) -> None:
    if SOPS_AGE_SSH_PRIVATE_KEY_FILE in environ:
        path = environ[SOPS_AGE_SSH_PRIVATE_KEY_FILE]
        _load_ssh_key(out, SOPS_AGE_SSH_PRIVATE_KEY_FILE, path, path)
    else:
        out.add(KeyLocation(SOPS_AGE_SSH_PRIVATE_KEY_FILE, LocationStatus.NOT_SET))

    if home:
        for base in ("id_ed25519", "id_rsa"):
            path = os.path.join(home, ".ssh", base)
            if os.path.exists(path):
                _load_ssh_key(out, path, path)
            else:
                out.add(KeyLocation(path, LocationStatus.NOT_FOUND))
    else:
        out.problems.append(SourceProblem("~/.ssh", "$HOME is not defined"))

    if SOPS_AGE_KEY in environ:
        _load_key_text(out, SOPS_AGE_KEY, environ[SOPS_AGE_KEY].encode("utf-8", "surrogateescape"))
    else:
        out.add(KeyLocation(SOPS_AGE_KEY, LocationStatus.NOT_SET))

    if SOPS_AGE_KEY_FILE in environ:
        path = environ[SOPS_AGE_KEY_FILE]
        try:
            _load_key_text(out, SOPS_AGE_KEY_FILE, _read_file(path), path)
        except KeySourceError as error:
            out.fail(SOPS_AGE_KEY_FILE, str(error), path)
    else:
        out.add(KeyLocation(SOPS_AGE_KEY_FILE, LocationStatus.NOT_SET))

    if SOPS_AGE_KEY_CMD in environ:
        try:
            output = _run_key_cmd(environ[SOPS_AGE_KEY_CMD], environ, timeout)
        except KeySourceError as error:
            out.fail(SOPS_AGE_KEY_CMD, str(error))
        else:
            _load_key_text(out, SOPS_AGE_KEY_CMD, output)
    else:
        out.add(KeyLocation(SOPS_AGE_KEY_CMD, LocationStatus.NOT_SET))

    try:
        config_dir = _user_config_dir(environ, home, platform)
    except KeySourceError as error:
        out.problems.append(SourceProblem(os.path.join(*USER_KEYS_PATH), str(error)))
        return
    path = os.path.join(config_dir, *USER_KEYS_PATH)
    try:
        data = _read_file(path) if os.path.exists(path) else None
    except KeySourceError as error:
        out.fail(path, str(error))
        return
    if data is None:
        out.add(KeyLocation(path, LocationStatus.NOT_FOUND))
    else:
        _load_key_text(out, path, data)


def load_identities(
    *,
    use_environment: bool = True,
    age_key_file: str | os.PathLike[str] | None = None,
    ssh_key_paths: Sequence[str | os.PathLike[str]] = (),
    gnupg_home: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    key_cmd_timeout: float = DEFAULT_KEY_CMD_TIMEOUT,
    platform: str | None = None,
) -> IdentitySet:
    """Collect identities from the explicit sources and, unless told not to, the environment.

    ``environ`` defaults to ``os.environ`` and ``home`` to its ``HOME``; tests pass both. The
    explicit ``ssh_key_paths``, ``age_key_file`` and ``gnupg_home`` are read first, in that
    order; the environment's GnuPG home comes last. A missing
    explicit file is a problem like any other; whether that is fatal is the caller's choice.
    ``platform`` (default ``sys.platform``) only picks the user configuration directory.
    """
    out = _Collector()
    for ssh_path in ssh_key_paths:
        path = os.fspath(ssh_path)
        _load_ssh_key(out, path, path)
    if age_key_file is not None:
        path = os.fspath(age_key_file)
        try:
            _load_key_text(out, path, _read_file(path))
        except KeySourceError as error:
            out.fail(path, str(error))
    if gnupg_home is not None:
        path = os.fspath(gnupg_home)
        _load_gnupg_home(out, path, path)
    if use_environment:
        env = os.environ if environ is None else environ
        home_dir = os.fspath(home) if home is not None else env.get("HOME") or None
        _load_environment(
            out, env, home_dir, key_cmd_timeout, platform if platform is not None else sys.platform
        )
        _load_gnupg_environment(out, env, home_dir)
    return out.result()
