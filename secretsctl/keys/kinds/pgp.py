"""PGP keys, as sops 3.11 uses them: the ``gpg`` binary does all OpenPGP work.

A recipient is a key fingerprint (hex, spaces dropped as sops does; a trailing ``!`` names a
subkey exactly). An identity is a GnuPG home folder: unwrapping runs ``gpg --homedir <home>
… -d`` once per loaded home, or once with gpg's own default (``$GNUPGHOME``, else
``~/.gnupg``) when none is loaded. The binary is ``$SOPS_GPG_EXEC`` or ``gpg`` on ``PATH``.

The command lines are sops's (``pgp/keysource.go``), with ``--batch --no-tty`` in front so gpg
never asks anything, and ``--pinentry-mode error`` when decrypting: a key whose passphrase
gpg-agent has not cached fails at once with gpg's reason instead of waiting for a pinentry.
gpg runs in its own session with stdin a pipe, so it has no terminal to open, and under a
timeout as a hang guard. Messages quote gpg's last line of stderr: gpg names keys and user
IDs there, never key material.

:func:`ssh_rsa_to_openpgp` and :func:`import_ssh_keys` are sops-nix's ``sshKeyPaths``: an SSH
RSA private key becomes an OpenPGP RSA key (created at the Unix epoch, user ID
``root (Imported from SSH) <root@localhost>``), so its fingerprint and key ID are the ones
sops-nix computes, and ``gpg --import`` puts it into a GnuPG home.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

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
    from secretsctl.sops.metadata import AgeKey, ForeignKey

__all__ = [
    "METADATA",
    "NAME",
    "SOPS_GPG_EXEC",
    "GpgError",
    "import_ssh_keys",
    "imported_home",
    "parse_identity",
    "parse_recipient",
    "ssh_rsa_to_openpgp",
    "unwrap",
    "wrap",
]

NAME: Final = "pgp"
METADATA: Final = "pgp"
SOPS_GPG_EXEC: Final = "SOPS_GPG_EXEC"
GPG_TIMEOUT: Final = 60.0
_NO_PROMPT: Final = ("--batch", "--no-tty")
_FINGERPRINT: Final = re.compile(r"(?:[0-9A-Fa-f]{4}){4,10}!?")
_MESSAGE_CHARS: Final = 200
# gpg's words when none of its secret keys fits the message.
_NO_SECRET_KEY: Final = "No secret key"  # noqa: S105 - a message, not a password


class GpgError(Exception):
    """gpg could not be run, or failed; the message is one line, without key material."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing  # the program itself was not found


def fingerprint(text: str) -> str:
    """Return a fingerprint as sops keeps it: every space removed."""
    return text.strip().replace(" ", "")


def parse_recipient(text: str) -> Recipient:
    """Parse a PGP fingerprint (16 to 40 hex digits, optional spaces, optional ``!``)."""
    fp = fingerprint(text)
    if not _FINGERPRINT.fullmatch(fp):
        raise RecipientError(
            f"malformed PGP fingerprint `{shorten(text)}`",
            hint="give the key's fingerprint in hex, as `gpg --list-keys` prints it",
        )
    return Recipient(NAME, fp, fp)


def parse_identity(line: bytes, location: str) -> list[LoadedIdentity]:
    """Return the identity of one GnuPG home folder, ``line`` being its path."""
    home = os.fsdecode(line)
    if not os.path.isabs(home):
        raise KeySourceError("a GnuPG home must be an absolute path")
    if not os.path.isdir(home):
        raise KeySourceError("the GnuPG home is not a folder")
    return [LoadedIdentity(NAME, location, None, Secret(home))]


# --- running gpg ---------------------------------------------------------------------------


def gpg_binary(environ: Mapping[str, str] | None = None) -> str:
    """Return the gpg program sops would run: ``$SOPS_GPG_EXEC``, else ``gpg``."""
    env = os.environ if environ is None else environ
    return env.get(SOPS_GPG_EXEC) or "gpg"


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "no message"
    # The reason comes last; an earlier "gpg: …" line is context (which key, created when).
    text = lines[-1]
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "…"


def run_gpg(
    args: Sequence[str],
    stdin: bytes,
    *,
    home: str | None = None,
    timeout: float = GPG_TIMEOUT,
) -> bytes:
    """Run gpg as sops does (``--homedir`` first when given); return its stdout.

    Raises :class:`GpgError` with gpg's last line of stderr when it fails, and when it cannot
    be started or does not finish within ``timeout`` seconds.
    """
    import contextlib
    import signal
    import subprocess

    program = gpg_binary()
    argv = [program, *(["--homedir", home] if home else []), *_NO_PROMPT, *args]
    try:
        process = subprocess.Popen(  # noqa: S603 - gpg, or the program SOPS_GPG_EXEC names
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise GpgError(
                f"cannot run `{program}`: not found (install GnuPG, or set {SOPS_GPG_EXEC})",
                missing=True,
            ) from None
        reason = error.strerror or type(error).__name__
        raise GpgError(f"cannot run `{program}`: {reason}") from None

    def end_session() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()

    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        end_session()
        raise GpgError(f"`{program}` did not finish within {timeout:g} s") from None
    except BaseException:
        # Ctrl-C: gpg's own session is out of the terminal's reach.
        end_session()
        raise
    if process.returncode != 0:
        raise GpgError(_last_line(stderr))
    return stdout


def _short_id(fp: str) -> str:
    """Return sops's ``shortenFingerprint``: the last 16 hex digits (and a trailing ``!``)."""
    offset = len(fp) - 16 - (1 if fp.endswith("!") else 0)
    return fp[offset:] if offset > 0 else fp


def wrap(data_key: bytes, recipient: Recipient) -> ForeignKey:
    """Encrypt ``data_key`` to one fingerprint with gpg: a ``pgp`` entry as sops writes it."""
    from datetime import UTC, datetime

    from secretsctl.sops.metadata import ForeignKey

    fp = recipient.text
    args = [
        "--no-default-recipient",
        "--yes",
        "--encrypt",
        "-a",
        "-r",
        fp,
        "--trusted-key",
        _short_id(fp),
        "--no-encrypt-to",
    ]
    try:
        armour = run_gpg(args, data_key).strip()
    except GpgError as error:
        raise RecipientError(
            f"cannot encrypt to PGP key {fp}: {error}",
            hint=None
            if error.missing
            else "import the public key into the GnuPG home in use ($GNUPGHOME or ~/.gnupg)",
        ) from None
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ForeignKey(
        NAME, (("created_at", created), ("enc", armour.decode("ascii", "replace")), ("fp", fp))
    )


def _field(entry: AgeKey | ForeignKey, name: str) -> str:
    for key, value in getattr(entry, "fields", ()):
        if key == name:
            return str(value)
    return ""


def unwrap(entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]) -> bytes | str:
    """Decrypt a ``pgp`` entry with gpg, in each loaded GnuPG home (or gpg's default).

    Returns the plaintext, or gpg's reason in one line: ``NO_MATCH`` is never returned, so
    the message keeps gpg's words (``No secret key``, a passphrase it may not ask for, …).
    """
    enc = _field(entry, "enc").encode("utf-8", "surrogateescape")
    if not enc.strip():
        return "the entry has no encrypted data key"
    homes: list[str | None] = [loaded.identity.reveal() for loaded in identities] or [None]
    reasons: list[str] = []
    for home in homes:
        try:
            plaintext = run_gpg(["--pinentry-mode", "error", "-d"], enc, home=home)
        except GpgError as error:
            reasons.append(f"{home}: {error}" if len(homes) > 1 else str(error))
            continue
        if plaintext:
            return plaintext
        reasons.append("gpg returned zero bytes")
    other = [reason for reason in reasons if _NO_SECRET_KEY not in reason]
    return (other or reasons or [NO_MATCH])[0]


# --- sops-nix's sshKeyPaths: SSH RSA keys as OpenPGP keys -----------------------------------

_USER_ID: Final = b"root (Imported from SSH) <root@localhost>"


def _packet(tag: int, body: bytes) -> bytes:
    """One OpenPGP packet in the new format."""
    size = len(body)
    if size < 192:
        length = bytes([size])
    elif size < 8384:
        size -= 192
        length = bytes([(size >> 8) + 192, size & 0xFF])
    else:
        length = b"\xff" + size.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + length + body


def _mpi(number: int) -> bytes:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return number.bit_length().to_bytes(2, "big") + data


class ImportedKey:
    """An SSH RSA key as an OpenPGP transferable secret key, and its fingerprint."""

    __slots__ = ("fingerprint", "packets")

    def __init__(self, fingerprint: str, packets: Secret[bytes]) -> None:
        self.fingerprint = fingerprint
        self.packets = packets

    def __repr__(self) -> str:
        return f"ImportedKey({self.fingerprint})"


def ssh_rsa_to_openpgp(data: bytes) -> ImportedKey:
    """Turn an SSH RSA private key into the OpenPGP key sops-nix makes of it.

    Creation time 0 and the same RSA numbers give sops-nix's fingerprint, so files encrypted
    to it open. Raises :class:`KeySourceError` (no key material) for anything but an
    unencrypted RSA key.
    """
    import hashlib

    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key: object
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeySourceError(
            "a passphrase-protected SSH key is not supported non-interactively;"
            " secretsctl never prompts"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeySourceError(f"not an SSH private key ({type(error).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeySourceError("only RSA keys can be imported as GPG keys")
    numbers = key.private_numbers()
    public = numbers.public_numbers
    p, q = sorted((numbers.p, numbers.q))
    public_body = b"\x04" + (0).to_bytes(4, "big") + b"\x01" + _mpi(public.n) + _mpi(public.e)
    framed = b"\x99" + len(public_body).to_bytes(2, "big") + public_body
    fp = hashlib.sha1(framed, usedforsecurity=False).digest()
    secret_mpis = _mpi(numbers.d) + _mpi(p) + _mpi(q) + _mpi(pow(p, -1, q))
    checksum = (sum(secret_mpis) & 0xFFFF).to_bytes(2, "big")
    secret_body = public_body + b"\x00" + secret_mpis + checksum
    # A positive certification (0x13) of the user ID: RSA, SHA-256; created at 0; flags
    # certify, sign, encrypt communications and storage (0x0f); primary user ID.
    subpackets = b"\x05\x02" + (0).to_bytes(4, "big") + b"\x02\x1b\x0f" + b"\x02\x19\x01"
    hashed = b"\x04\x13\x01\x08" + len(subpackets).to_bytes(2, "big") + subpackets
    signed = (
        framed
        + b"\xb4"
        + len(_USER_ID).to_bytes(4, "big")
        + _USER_ID
        + hashed
        + b"\x04\xff"
        + len(hashed).to_bytes(4, "big")
    )
    signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    unhashed = b"\x09\x10" + fp[-8:]
    signature_body = (
        hashed
        + len(unhashed).to_bytes(2, "big")
        + unhashed
        + hashlib.sha256(signed).digest()[:2]
        + _mpi(int.from_bytes(signature, "big"))
    )
    packets = _packet(5, secret_body) + _packet(13, _USER_ID) + _packet(2, signature_body)
    return ImportedKey(fp.hex(), Secret(packets))


def import_ssh_keys(
    paths: Sequence[str], home: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Import SSH RSA keys into the GnuPG home ``home`` as sops-nix does.

    Returns ``(imported, problems)``: ``(path, fingerprint)`` for each key imported, and
    ``(path, message)`` for each one skipped (sops-nix skips them too). No key material
    is in either.
    """
    from secretsctl.limits import read_file

    imported: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        try:
            key = ssh_rsa_to_openpgp(read_file(path))
        except OSError as error:
            problems.append((path, f"cannot read ssh key: {error.strerror}"))
            continue
        except KeySourceError as error:
            problems.append((path, error.message))
            continue
        try:
            run_gpg(["--import"], key.packets.reveal(), home=home)
        except GpgError as error:
            problems.append((path, f"gpg --import failed: {error}"))
            continue
        imported.append((path, key.fingerprint))
    return imported, problems


def stop_agent(home: str) -> None:
    """Stop the gpg-agent gpg started for ``home`` (best effort: it is being removed)."""
    import contextlib
    import subprocess

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(  # noqa: S603 - gpgconf from PATH, fixed arguments
            ["gpgconf", "--homedir", home, "--kill", "gpg-agent"],  # noqa: S607
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )


class ImportedHome:
    """A temporary GnuPG home holding imported SSH RSA keys, and how the import went."""

    __slots__ = ("home", "imported", "problems")

    def __init__(
        self, home: str, imported: list[tuple[str, str]], problems: list[tuple[str, str]]
    ) -> None:
        self.home = home
        self.imported = imported  # (path, fingerprint)
        self.problems = problems  # (path, message)


@contextmanager
def imported_home(paths: Sequence[str], parent: str) -> Iterator[ImportedHome]:
    """Import SSH RSA keys into a fresh 0700 GnuPG home under ``parent``, for the block.

    sops-nix's ``setupGPGKeyring``: the home is removed afterwards (its gpg-agent stopped
    first), on every way out. ``parent`` should be RAM-backed: gpg-agent keeps the imported
    private keys there unencrypted, as sops-nix's secring does.
    """
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="gpg", dir=parent)
    try:
        imported, problems = import_ssh_keys(paths, home)
        yield ImportedHome(home, imported, problems)
    finally:
        stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)
