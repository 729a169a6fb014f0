"""The age v1 file format: header, header MAC, STREAM payload and ASCII armour.

The kinds pyrage implements (X25519, SSH) never come here; this is for the kinds whose stanza
pyrage cannot make or open (the post-quantum ``mlkem768x25519``, age plugins). A kind supplies
only its stanza: :func:`encrypt` calls it with the fresh file key, :func:`decrypt` hands it the
parsed stanzas. The stanza grammar (:func:`read_stanza`, :func:`encode_stanza`) is also the
framing of the age plugin protocol. Everything else follows age 1.3 (``filippo.io/age``) and
the C2SP age specification:

- header: ``age-encryption.org/v1``, then stanzas (``-> type args…``, a body of unpadded
  canonical base64 in lines of 64 columns ending with a shorter, possibly empty, line), then
  ``--- <MAC>``; the MAC is HMAC-SHA256 of the header up to ``---`` under
  HKDF-SHA256(file key, salt empty, info ``header``);
- payload: a 16-byte nonce, then ChaCha20-Poly1305 STREAM under HKDF-SHA256(file key, salt
  nonce, info ``payload``), in chunks of 64 KiB with an 11-byte big-endian counter and a final
  flag byte as the nonce; only the first chunk may be an empty final chunk;
- armour: ``-----BEGIN AGE ENCRYPTED FILE-----``, padded base64 in 64 columns, the end line and
  a final newline, as sops writes it; reading allows what age's reader allows (surrounding
  whitespace, CRLF line ends) and nothing more.

Malformed input never raises: the reading functions return a short reason (a ``str``) that
quotes no input, so no key material can reach a message.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

__all__ = [
    "ARMOUR_BEGIN",
    "ARMOUR_END",
    "FILE_KEY_SIZE",
    "MAX_BODY_LINES",
    "Header",
    "Stanza",
    "armour",
    "b64decode",
    "b64encode",
    "dearmour",
    "decrypt",
    "decrypt_payload",
    "encode_header",
    "encode_stanza",
    "encrypt",
    "encrypt_payload",
    "header_mac",
    "open_payload",
    "parse_header",
    "read_stanza",
]

INTRO: Final = b"age-encryption.org/v1\n"
FILE_KEY_SIZE: Final = 16
NONCE_SIZE: Final = 16
MAC_SIZE: Final = 32
CHUNK_SIZE: Final = 64 * 1024
TAG_SIZE: Final = 16
COLUMNS: Final = 64
BYTES_PER_LINE: Final = COLUMNS // 4 * 3
ARMOUR_BEGIN: Final = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOUR_END: Final = "-----END AGE ENCRYPTED FILE-----"
# age's reader allows this much whitespace around the armour, no more.
_MAX_WHITESPACE: Final = 1024
_STANZA_PREFIX: Final = b"->"
# A bound on the body lines of one stanza (header and plugin messages alike): far above any
# real stanza, so a stream of garbage cannot make a reader collect without end.
MAX_BODY_LINES: Final = 4096
_FOOTER_PREFIX: Final = b"---"


class Stanza(NamedTuple):
    """One recipient stanza: its type, its arguments and its (decoded) body."""

    type: str
    args: tuple[str, ...]
    body: bytes


class Header(NamedTuple):
    """A parsed header: the stanzas in order and the 32-byte MAC."""

    stanzas: tuple[Stanza, ...]
    mac: bytes


class _Malformed(Exception):
    """Internal: carries a reason out of the parsers; never leaves this module."""


class _Truncated(Exception):
    """Internal: the header ended inside a line; never leaves this module."""


# --- base64 ---------------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Encode standard base64 without padding, as age writes stanza arguments and bodies."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").decode("ascii")


def b64decode(text: bytes | str) -> bytes | None:
    """Decode unpadded canonical base64 (Go's ``RawStdEncoding.Strict()``); ``None`` if not."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if len(raw) % 4 == 1 or b"=" in raw:
        return None
    try:
        data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    # Canonical: unused bits are zero, so the text is the one encoding of these bytes.
    return data if b64encode(data).encode("ascii") == raw else None


def _b64decode_padded(line: bytes) -> bytes | None:
    try:
        data = binascii.a2b_base64(line, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return data if binascii.b2a_base64(data, newline=False) == line else None


# --- header ---------------------------------------------------------------------------------


def _valid_argument(arg: bytes) -> bool:
    return bool(arg) and all(33 <= byte <= 126 for byte in arg)


def read_stanza(first: bytes, readline: Callable[[], bytes]) -> Stanza | str:
    """Read one stanza whose ``-> …`` line is ``first``; ``readline`` gives the body lines.

    Lines come without their newline. This is the one stanza grammar: the age header's and the
    plugin protocol's (whose readline may raise; that passes through). At most
    :data:`MAX_BODY_LINES` body lines are read. Returns a reason instead when malformed.
    """
    try:
        return _read_stanza(first, readline)
    except _Malformed as error:
        return str(error)


def _read_stanza(first: bytes, readline: Callable[[], bytes]) -> Stanza:
    prefix, *args = first.split(b" ")
    if prefix != _STANZA_PREFIX or not args or not all(_valid_argument(a) for a in args):
        raise _Malformed("malformed stanza line")
    body = bytearray()
    for _ in range(MAX_BODY_LINES):
        line = readline()
        if len(line) > COLUMNS:
            raise _Malformed("a stanza body line is too long")
        chunk = b64decode(line)
        if chunk is None:
            if line.startswith((_FOOTER_PREFIX, _STANZA_PREFIX)):
                raise _Malformed("a stanza body ended without a short line")
            raise _Malformed("malformed stanza body line")
        body += chunk
        if len(line) < COLUMNS:
            words = tuple(a.decode("ascii") for a in args)
            return Stanza(words[0], words[1:], bytes(body))
    raise _Malformed("a stanza body does not end")


def parse_header(data: bytes) -> tuple[Header, int] | str:
    """Parse the header of a binary age file: the header and where the payload starts.

    Returns a reason instead when the header is malformed, as age 1.3 would refuse it.
    """
    if not data:
        return "the age file is empty"
    if not data.startswith(INTRO):
        return "not an age v1 file"
    position = len(INTRO)

    def readline() -> bytes:
        nonlocal position
        end = data.find(b"\n", position)
        if end < 0:
            raise _Truncated
        line, position = data[position:end], end + 1
        return line

    stanzas: list[Stanza] = []
    try:
        while True:
            if data[position : position + 3] == _FOOTER_PREFIX:
                prefix, *args = readline().split(b" ")
                mac = b64decode(args[0]) if prefix == _FOOTER_PREFIX and len(args) == 1 else None
                if mac is None or len(mac) != MAC_SIZE:
                    return "malformed closing line of the age header"
                return Header(tuple(stanzas), mac), position
            if len(data) - position < 3:
                return "the age header is truncated"
            stanzas.append(_read_stanza(readline(), readline))
    except _Truncated:
        return "the age header is truncated"
    except _Malformed as error:
        return f"{error} in the age header"


def encode_stanza(stanza: Stanza) -> bytes:
    """Return the stanza as text, each line ending in a newline (header and plugin protocol)."""
    words = " ".join((stanza.type, *stanza.args))
    body = b64encode(stanza.body)
    lines = [body[i : i + COLUMNS] for i in range(0, len(body), COLUMNS)]
    if len(body) % COLUMNS == 0:
        lines.append("")  # a body always ends with a short (here empty) line
    return f"-> {words}\n".encode("ascii") + "".join(f"{line}\n" for line in lines).encode()


def encode_header(stanzas: Sequence[Stanza], mac: bytes | None = None) -> bytes:
    """Return the header with these stanzas: up to ``---`` without a MAC, else complete."""
    out = INTRO + b"".join(encode_stanza(stanza) for stanza in stanzas) + _FOOTER_PREFIX
    return out if mac is None else out + f" {b64encode(mac)}\n".encode("ascii")


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt or None, info).derive(key)


def header_mac(file_key: bytes, stanzas: Sequence[Stanza]) -> bytes:
    """Return the header MAC: HMAC-SHA256 of the header under HKDF(file key, ``header``)."""
    import hashlib
    import hmac

    return hmac.new(
        _hkdf(file_key, b"", b"header"), encode_header(stanzas), hashlib.sha256
    ).digest()


# --- payload --------------------------------------------------------------------------------


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypt_payload(file_key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Return the payload: the nonce (random unless given) and the STREAM chunks."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    starts = range(0, max(len(plaintext), 1), CHUNK_SIZE)
    out = [nonce]
    for counter, start in enumerate(starts):
        last = counter == len(starts) - 1
        chunk = plaintext[start : start + CHUNK_SIZE]
        out.append(aead.encrypt(_chunk_nonce(counter, last), chunk, None))
    return b"".join(out)


def decrypt_payload(file_key: bytes, payload: bytes) -> bytes | str:
    """Decrypt a payload (nonce and STREAM chunks) with the file key, or say why not."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if len(payload) < NONCE_SIZE:
        return "the age payload is truncated"
    aead = ChaCha20Poly1305(_hkdf(file_key, payload[:NONCE_SIZE], b"payload"))
    position = NONCE_SIZE
    out: list[bytes] = []
    for counter in range(len(payload) // (CHUNK_SIZE + TAG_SIZE) + 1):
        chunk = payload[position : position + CHUNK_SIZE + TAG_SIZE]
        position += len(chunk)
        if not chunk:
            return "the age payload is truncated (no final chunk)"
        full = len(chunk) == CHUNK_SIZE + TAG_SIZE
        if not full and counter > 0 and len(chunk) == TAG_SIZE:
            return "the age payload ends with an empty chunk"
        plaintext = None
        # A full chunk is the final one only when it opens as such.
        for last in (False, True) if full else (True,):
            try:
                plaintext = aead.decrypt(_chunk_nonce(counter, last), chunk, None)
            except InvalidTag:
                continue
            break
        if plaintext is None:
            return "the age payload does not authenticate (corrupted or tampered with)"
        out.append(plaintext)
        if last:
            if position != len(payload):
                return "trailing data after the end of the age payload"
            return b"".join(out)
    return "the age payload is truncated (no final chunk)"  # pragma: no cover - loop returns


# --- whole files ----------------------------------------------------------------------------

# A kind's unwrap: the file key from the stanzas, None when none is for its identities, or a
# reason when a stanza of its type is malformed (age stops there too).
Unwrap = Callable[[tuple[Stanza, ...]], bytes | str | None]


def encrypt(plaintext: bytes, wrap: Callable[[bytes], Sequence[Stanza]]) -> bytes:
    """Return a binary age file of ``plaintext``; ``wrap`` makes the stanzas for a file key."""
    import os

    file_key = os.urandom(FILE_KEY_SIZE)
    stanzas = tuple(wrap(file_key))
    header = encode_header(stanzas, header_mac(file_key, stanzas))
    return header + encrypt_payload(file_key, plaintext)


def decrypt(data: bytes, unwrap: Unwrap) -> bytes | str | None:
    """Return the plaintext of a binary age file, ``None`` when no stanza is for ``unwrap``.

    Otherwise a reason: a malformed header, a wrong header MAC, a payload that does not
    authenticate. As in age, the MAC is checked once a file key is had, before the payload.
    """
    parsed = parse_header(data)
    if isinstance(parsed, str):
        return parsed
    header, start = parsed
    file_key = unwrap(header.stanzas)
    if file_key is None or isinstance(file_key, str):
        return file_key
    return open_payload(file_key, header, data[start:])


def open_payload(file_key: bytes, header: Header, payload: bytes) -> bytes | str:
    """Check the header MAC under ``file_key``, then decrypt the payload; or say why not."""
    import hmac

    if not hmac.compare_digest(header_mac(file_key, header.stanzas), header.mac):
        return "the age header MAC does not match (corrupted or tampered with)"
    return decrypt_payload(file_key, payload)


# --- armour ---------------------------------------------------------------------------------


def armour(data: bytes) -> str:
    """Return ``data`` in age's ASCII armour exactly as age (and so sops) writes it."""
    text = binascii.b2a_base64(data, newline=False).decode("ascii")
    lines = [text[i : i + COLUMNS] for i in range(0, len(text), COLUMNS)]
    return "".join(f"{line}\n" for line in (ARMOUR_BEGIN, *lines, ARMOUR_END))


def dearmour(text: str | bytes) -> bytes | str:
    """Return the binary age file inside armour, or a reason (age 1.3's reader rules)."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
    lines = raw.split(b"\n")
    skipped = 0
    index = 0
    while index < len(lines) and not lines[index].strip():
        skipped += len(lines[index].removesuffix(b"\r")) + 1
        if skipped > _MAX_WHITESPACE:
            return "invalid armour: too much leading whitespace"
        index += 1
    begin = ARMOUR_BEGIN.encode("ascii")
    end = ARMOUR_END.encode("ascii")
    if index >= len(lines) or lines[index].removesuffix(b"\r") != begin:
        return "invalid armour: it does not start with the BEGIN line"
    out = bytearray()
    index += 1
    while True:
        if index >= len(lines) or (index == len(lines) - 1 and not lines[index]):
            return "invalid armour: it does not end with the END line"
        line = lines[index].removesuffix(b"\r")
        index += 1
        if line == end:
            break
        if not line:
            return "invalid armour: an empty line in the armoured data"
        if len(line) > COLUMNS:
            return "invalid armour: a line is longer than 64 columns"
        chunk = _b64decode_padded(line)
        if chunk is None:
            return "invalid armour: malformed base64"
        out += chunk
        if len(chunk) < BYTES_PER_LINE:
            if index >= len(lines) or lines[index].removesuffix(b"\r") != end:
                return "invalid armour: a short line is not followed by the END line"
            index += 1
            break
    trailing = b"\n".join(lines[index:])
    if trailing.strip():
        return "invalid armour: trailing data after the END line"
    if len(trailing) >= _MAX_WHITESPACE:
        return "invalid armour: too much trailing whitespace"
    return bytes(out)
