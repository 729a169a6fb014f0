"""The age v1 file format, for the kinds whose stanzas pyrage cannot make or open (plugins).

pyrage reads and writes whole age files, but only with the recipients and identities it
implements; for the others the stanzas come from elsewhere (a plugin process), so this module
does the rest of the file: stanza text (also the plugin protocol's framing), header MAC and
the ChaCha20-Poly1305 STREAM payload, and the armour sops writes. Errors are ``ValueError``
with a short text that never repeats the input.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

__all__ = [
    "FILE_KEY_SIZE",
    "AgeHeader",
    "Stanza",
    "armour",
    "dearmour",
    "encode_stanza",
    "open_payload",
    "parse",
    "read_stanza",
    "seal",
]

FILE_KEY_SIZE: Final = 16
_MAGIC: Final = b"age-encryption.org/v1"
_MAC_PREFIX: Final = b"---"
_BODY_COLUMNS: Final = 64
_ARMOUR_COLUMNS: Final = 64
_ARMOUR_BEGIN: Final = "-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOUR_END: Final = "-----END AGE ENCRYPTED FILE-----"
_NONCE_SIZE: Final = 16
_CHUNK_SIZE: Final = 64 * 1024
_TAG_SIZE: Final = 16
# A bound on the stanza lines read (header and plugin messages alike): far above any real
# stanza, so garbage cannot make a reader collect without end.
MAX_BODY_LINES: Final = 4096


class Stanza(NamedTuple):
    """One stanza: its type (the first argument in age's terms), its arguments, its body."""

    type: str
    args: tuple[str, ...]
    body: bytes


class AgeHeader(NamedTuple):
    """A parsed age file: its stanzas, the header bytes the MAC covers, the MAC, the payload."""

    stanzas: tuple[Stanza, ...]
    mac_input: bytes
    mac: bytes
    payload: bytes


def _b64decode(text: bytes) -> bytes:
    """Decode canonical unpadded base64 (age's encoding); ``ValueError`` otherwise."""
    if b"=" in text or b"\r" in text:
        raise ValueError("non-canonical base64")
    try:
        data = binascii.a2b_base64(text + b"=" * (-len(text) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64") from None
    if base64.b64encode(data).rstrip(b"=") != text:
        raise ValueError("non-canonical base64")
    return data


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _is_arg(word: bytes) -> bool:
    return bool(word) and all(0x21 <= c <= 0x7E for c in word)


def read_stanza(first: bytes, readline: Callable[[], bytes]) -> Stanza:
    """Read one stanza whose ``-> …`` line is ``first``; ``readline`` gives the body lines.

    Lines come without their newline. The body is 64-column base64 lines ending with a shorter
    (possibly empty) one, as in the age header and the plugin protocol.
    """
    if not first.startswith(b"-> "):
        raise ValueError("a stanza does not start with '-> '")
    words = first[3:].split(b" ")
    if not all(_is_arg(word) for word in words):
        raise ValueError("a stanza has an invalid argument")
    body = bytearray()
    for _ in range(MAX_BODY_LINES):
        line = readline()
        if len(line) > _BODY_COLUMNS:
            raise ValueError("a stanza body line is too long")
        body += _b64decode(line)
        if len(line) < _BODY_COLUMNS:
            text = [word.decode("ascii") for word in words]
            return Stanza(text[0], tuple(text[1:]), bytes(body))
    raise ValueError("a stanza body does not end")


def encode_stanza(stanza: Stanza) -> bytes:
    """Return the stanza as text, each line ending in a newline."""
    first = " ".join(("->", stanza.type, *stanza.args)).encode("ascii")
    encoded = _b64encode(stanza.body)
    lines = [encoded[i : i + _BODY_COLUMNS] for i in range(0, len(encoded), _BODY_COLUMNS)]
    if not lines or len(lines[-1]) == _BODY_COLUMNS:
        lines.append(b"")
    return first + b"\n" + b"".join(line + b"\n" for line in lines)


def parse(data: bytes) -> AgeHeader:
    """Parse a binary age v1 file into its header parts and payload."""
    lines = iter(data.split(b"\n", MAX_BODY_LINES * 2))
    position = 0

    def readline() -> bytes:
        nonlocal position
        line = next(lines, None)
        if line is None:
            raise ValueError("the age header does not end")
        position += len(line) + 1
        return line

    if readline() != _MAGIC:
        raise ValueError("not an age v1 file")
    stanzas: list[Stanza] = []
    while True:
        start = position
        line = readline()
        if line.startswith(_MAC_PREFIX + b" "):
            mac = _b64decode(line[len(_MAC_PREFIX) + 1 :])
            if len(mac) != 32:
                raise ValueError("the header MAC has the wrong length")
            if not stanzas:
                raise ValueError("the age header has no stanzas")
            mac_input = data[: start + len(_MAC_PREFIX)]
            return AgeHeader(tuple(stanzas), mac_input, mac, data[position:])
        stanzas.append(read_stanza(line, readline))


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    import hashlib
    import hmac

    prk = hmac.new(salt or bytes(32), key, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(_hkdf(file_key, b"", b"header"), mac_input, hashlib.sha256).digest()


def open_payload(file_key: bytes, header: AgeHeader) -> bytes:
    """Check the header MAC with ``file_key`` and return the decrypted payload."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from secretsctl.redact import constant_time_equal

    if not constant_time_equal(_header_mac(file_key, header.mac_input), header.mac):
        raise ValueError("the header MAC does not match")
    nonce, sealed = header.payload[:_NONCE_SIZE], header.payload[_NONCE_SIZE:]
    if len(nonce) != _NONCE_SIZE or not sealed:
        raise ValueError("the payload is truncated")
    cipher = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    out = bytearray()
    step = _CHUNK_SIZE + _TAG_SIZE
    chunks = [sealed[i : i + step] for i in range(0, len(sealed), step)]
    for counter, chunk in enumerate(chunks):
        last = counter == len(chunks) - 1
        if len(chunk) < _TAG_SIZE or (last and counter > 0 and len(chunk) == _TAG_SIZE):
            raise ValueError("the payload is truncated")
        chunk_nonce = counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        try:
            out += cipher.decrypt(chunk_nonce, chunk, None)
        except InvalidTag:
            raise ValueError("the payload does not decrypt") from None
    return bytes(out)


def seal(file_key: bytes, stanzas: Sequence[Stanza], plaintext: bytes) -> bytes:
    """Return a binary age v1 file of ``plaintext`` whose header holds ``stanzas``."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    header = _MAGIC + b"\n" + b"".join(encode_stanza(stanza) for stanza in stanzas) + _MAC_PREFIX
    mac = _header_mac(file_key, header)
    nonce = os.urandom(_NONCE_SIZE)
    cipher = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    chunks = [plaintext[i : i + _CHUNK_SIZE] for i in range(0, len(plaintext), _CHUNK_SIZE)]
    chunks = chunks or [b""]
    sealed = b"".join(
        cipher.encrypt(
            counter.to_bytes(11, "big") + (b"\x01" if counter == len(chunks) - 1 else b"\x00"),
            chunk,
            None,
        )
        for counter, chunk in enumerate(chunks)
    )
    return header + b" " + _b64encode(mac) + b"\n" + nonce + sealed


def armour(data: bytes) -> str:
    """Return ``data`` in age's ASCII armour, laid out as sops writes it (64 columns)."""
    encoded = base64.b64encode(data).decode("ascii")
    lines = [encoded[i : i + _ARMOUR_COLUMNS] for i in range(0, len(encoded), _ARMOUR_COLUMNS)]
    return "\n".join([_ARMOUR_BEGIN, *lines, _ARMOUR_END]) + "\n"


def dearmour(text: str) -> bytes:
    """Return the binary age file in ``text`` (armoured, or binary kept as text)."""
    stripped = text.strip()
    raw = stripped.encode("utf-8", "surrogateescape")
    if raw.startswith(b"age-encryption.org/"):
        return text.lstrip().encode("utf-8", "surrogateescape")
    lines = [line.strip() for line in stripped.splitlines()]
    if len(lines) < 3 or lines[0] != _ARMOUR_BEGIN or lines[-1] != _ARMOUR_END:
        raise ValueError("not age armour")
    try:
        return binascii.a2b_base64("".join(lines[1:-1]), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64 in age armour") from None
