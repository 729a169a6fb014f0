"""SSH ed25519 keys as age X25519 keys, the way ssh-to-age (and so sops-nix) converts them.

- A public ``ssh-ed25519`` key becomes an ``age1…`` recipient: the Edwards point's ``y`` is
  mapped to the Montgomery ``u = (1 + y) / (1 - y) mod 2^255 - 19`` and bech32-encoded with the
  human-readable part ``age``.
- An unencrypted OpenSSH private key (``openssh-key-v1``) becomes an ``AGE-SECRET-KEY-1…``
  identity: the first 32 bytes of SHA-512 of the 32-byte seed, bech32-encoded **as they are**
  (X25519 clamps the scalar when it uses it) and upper-cased.

This converted identity is not age's native ``ssh-ed25519`` stanza: a file encrypted to the
``age1…`` form needs the converted identity, a file encrypted to the ``ssh-ed25519 AAAA…``
line needs an SSH identity (``pyrage.ssh.Identity``). :mod:`secretsctl.keys.sources` loads both.

Nothing here imports pyrage or cryptography: the arithmetic is a handful of modular
exponentiations, cheaper than importing either library on the boot path. Errors name the key
type or the structural problem, never key bytes.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Final

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.record import Record, repr_without
from secretsctl.redact import Secret

__all__ = [
    "EncryptedSshKeyError",
    "OpenSshPrivateKey",
    "SshKeyError",
    "UnsupportedSshKeyError",
    "bech32_decode",
    "bech32_encode",
    "ed25519_public_to_x25519",
    "ed25519_seed_to_x25519",
    "parse_openssh_private_key",
    "parse_ssh_public_key",
    "ssh_private_key_to_age",
    "ssh_private_key_to_age_identity",
    "ssh_public_key_to_age_recipient",
    "x25519_identity_string",
    "x25519_recipient_string",
]

ED25519: Final = "ssh-ed25519"
RSA: Final = "ssh-rsa"
AGE_RECIPIENT_HRP: Final = "age"
AGE_IDENTITY_HRP: Final = "age-secret-key-"

_P: Final = 2**255 - 19
# The Edwards curve constant d = -121665 / 121666 (mod p).
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P

_OPENSSH_BEGIN: Final = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END: Final = b"-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC: Final = b"openssh-key-v1\x00"
_PEM_BEGIN: Final = b"-----BEGIN "
# Key types an OpenSSH public key line may start with; anything else is not a key line.
_SSH_KEY_TYPES: Final = frozenset(
    {
        ED25519,
        RSA,
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


class SshKeyError(SecretsctlError):
    """An SSH key cannot be read or converted. The message never contains key bytes.

    A malformed key is unparsable input (exit 2); a well-formed key that cannot be used is a
    generic failure (exit 1).
    """

    exit_code = ExitCode.COULD_NOT_READ_INPUT_FILE


class UnsupportedSshKeyError(SshKeyError):
    """The key is well formed but of a type that cannot be used (RSA for conversion, ECDSA…)."""

    exit_code = ExitCode.GENERIC

    def __init__(self, message: str, *, key_type: str) -> None:
        super().__init__(message)
        self.key_type = key_type


class EncryptedSshKeyError(SshKeyError):
    """The private key is passphrase-protected; secretsctl never prompts for a passphrase."""

    exit_code = ExitCode.GENERIC

    def __init__(self, message: str, *, key_type: str | None = None) -> None:
        super().__init__(
            message,
            hint="decrypt a copy with `ssh-keygen -p` into a root-only file, or use an age key",
        )
        self.key_type = key_type


# --- bech32 (BIP 173, without the 90-character limit, as age uses it) ---------------------

_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX: Final = {c: i for i, c in enumerate(_CHARSET)}
_GENERATORS: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for bit, generator in enumerate(_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_values(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], source_bits: int, target_bits: int, pad: bool) -> list[int]:
    accumulator = 0
    bits = 0
    out: list[int] = []
    mask = (1 << target_bits) - 1
    for value in data:
        accumulator = (accumulator << source_bits) | value
        bits += source_bits
        while bits >= target_bits:
            bits -= target_bits
            out.append((accumulator >> bits) & mask)
    if pad:
        if bits:
            out.append((accumulator << (target_bits - bits)) & mask)
    elif bits >= source_bits or (accumulator << (target_bits - bits)) & mask:
        raise ValueError("bech32 data has invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` as lower-case bech32 with the (lower-case) human-readable part ``hrp``."""
    hrp = hrp.lower()
    values = _regroup(data, 8, 5, pad=True)
    polymod = _polymod(_hrp_values(hrp) + values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """Decode bech32 (all lower or all upper case) into ``(lower-case hrp, data)``.

    Raises ``ValueError`` with a message that does not repeat the input.
    """
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32 string mixes upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise ValueError("bech32 separator at an invalid position")
    hrp, rest = text[:separator], text[separator + 1 :]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError("bech32 human-readable part has invalid characters")
    try:
        values = [_CHARSET_INDEX[c] for c in rest]
    except KeyError:
        raise ValueError("bech32 data has an invalid character") from None
    if _polymod(_hrp_values(hrp) + values) != 1:
        raise ValueError("bech32 checksum is invalid")
    return hrp, bytes(_regroup(values[:-6], 5, 8, pad=False))


# --- curve arithmetic -----------------------------------------------------------------------


def ed25519_public_to_x25519(public: bytes) -> bytes:
    """Map a 32-byte Ed25519 public key to the X25519 public key (its Montgomery ``u``).

    Like ``edwards25519.Point.SetBytes``, a ``y`` that is not reduced and a zero ``x`` with the
    sign bit set are accepted; an encoding that is not on the curve is refused. The neutral
    point (``y = 1``) has no Montgomery form and is refused too.
    """
    if len(public) != 32:
        raise SshKeyError(f"an ed25519 public key has 32 bytes, not {len(public)}")
    y = (int.from_bytes(public, "little") & ((1 << 255) - 1)) % _P
    y2 = y * y % _P
    # x^2 = (y^2 - 1) / (d y^2 + 1) must have a square root for the point to exist.
    x2 = (y2 - 1) * pow(_D * y2 + 1, _P - 2, _P) % _P
    if x2 and pow(x2, (_P - 1) // 2, _P) != 1:
        raise SshKeyError("the ed25519 public key is not a point on the curve")
    if y == 1:
        raise SshKeyError("the ed25519 public key is the neutral point")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return u.to_bytes(32, "little")


def ed25519_seed_to_x25519(seed: Secret[bytes]) -> Secret[bytes]:
    """Return the X25519 scalar of an Ed25519 seed: SHA-512(seed)[:32], not clamped."""
    raw = seed.reveal()
    if len(raw) != 32:
        raise SshKeyError("an ed25519 seed has 32 bytes")
    return Secret(hashlib.sha512(raw).digest()[:32])


def x25519_recipient_string(public: bytes) -> str:
    """Encode a 32-byte X25519 public key as an ``age1…`` recipient."""
    if len(public) != 32:
        raise SshKeyError("an X25519 public key has 32 bytes")
    return bech32_encode(AGE_RECIPIENT_HRP, public)


def x25519_identity_string(scalar: Secret[bytes]) -> Secret[str]:
    """Encode a 32-byte X25519 scalar as an ``AGE-SECRET-KEY-1…`` identity."""
    raw = scalar.reveal()
    if len(raw) != 32:
        raise SshKeyError("an X25519 secret key has 32 bytes")
    return Secret(bech32_encode(AGE_IDENTITY_HRP, raw).upper())


# --- SSH wire format -------------------------------------------------------------------------


class _Reader:
    """Reads SSH wire-format fields; every overrun is a malformed-key error."""

    __slots__ = ("data", "offset", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.offset = 0
        self.what = what

    def take(self, length: int) -> bytes:
        end = self.offset + length
        if length < 0 or end > len(self.data):
            raise SshKeyError(f"malformed {self.what}: truncated")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        try:
            return self.string().decode("ascii")
        except UnicodeDecodeError:
            raise SshKeyError(f"malformed {self.what}: a name is not ASCII") from None

    def remaining(self) -> int:
        return len(self.data) - self.offset


def _blob_type(blob: bytes, what: str) -> str:
    return _Reader(blob, what).text()


def _ed25519_public_from_blob(blob: bytes, what: str) -> bytes:
    reader = _Reader(blob, what)
    if reader.text() != ED25519:
        raise SshKeyError(f"malformed {what}: not an ed25519 key")
    public = reader.string()
    if len(public) != 32 or reader.remaining():
        raise SshKeyError(f"malformed {what}: wrong ed25519 key length")
    return public


def parse_ssh_public_key(line: str) -> tuple[str, bytes, str]:
    """Split a public key line into ``(key type, wire blob, comment)``.

    Accepts an ``authorized_keys`` line (``ssh-ed25519 AAAA… comment``, options before the key
    type are skipped) and a ``known_hosts`` or ``ssh-keyscan`` line (``host ssh-ed25519 AAAA…``).
    """
    fields = line.strip().split()
    index = next((i for i, word in enumerate(fields) if word in _SSH_KEY_TYPES), None)
    if index is None:
        raise SshKeyError("not an SSH public key line (no known key type found)")
    word = fields[index]
    if index + 1 >= len(fields):
        raise SshKeyError(f"malformed {word} public key: the key data is missing")
    try:
        blob = binascii.a2b_base64(fields[index + 1], strict_mode=True)
    except (binascii.Error, ValueError):
        raise SshKeyError(f"malformed {word} public key: the key data is not base64") from None
    if _blob_type(blob, f"{word} public key") != word:
        raise SshKeyError(f"malformed {word} public key: the key data is of another type")
    return word, blob, " ".join(fields[index + 2 :])


def ssh_public_key_to_age_recipient(line: str) -> str:
    """Convert an ``ssh-ed25519`` public key line to its ``age1…`` recipient, as ssh-to-age does."""
    key_type, blob, _ = parse_ssh_public_key(line)
    if key_type != ED25519:
        raise UnsupportedSshKeyError(
            f"only ed25519 keys can be converted to age keys, not {key_type}", key_type=key_type
        )
    public = _ed25519_public_from_blob(blob, "ssh-ed25519 public key")
    return x25519_recipient_string(ed25519_public_to_x25519(public))


class OpenSshPrivateKey(Record):
    """The public parts of an OpenSSH private key file, and the seed of an unencrypted ed25519 key.

    ``public_blob`` is the SSH wire encoding of the public key (the base64 part of its ``.pub``
    line). ``seed`` is ``None`` for encrypted keys and for key types other than ed25519.
    """

    key_type: str
    public_blob: bytes
    encrypted: bool
    seed: Secret[bytes] | None = None

    @property
    def public_line(self) -> str:
        """Return the public key as ``<type> <base64>``, without a comment."""
        encoded = binascii.b2a_base64(self.public_blob, newline=False).decode("ascii")
        return f"{self.key_type} {encoded}"

    def __repr__(self) -> str:
        return repr_without(self, "public_blob", "seed")


def _armour_body(data: bytes) -> bytes:
    text = data.strip()
    if not text.startswith(_OPENSSH_BEGIN):
        raise SshKeyError("not an OpenSSH private key")
    end = text.find(_OPENSSH_END)
    if end < 0:
        raise SshKeyError("malformed OpenSSH private key: the END line is missing")
    body = b"".join(text[len(_OPENSSH_BEGIN) : end].split())
    try:
        return binascii.a2b_base64(body, strict_mode=True)
    except (binascii.Error, ValueError):
        raise SshKeyError("malformed OpenSSH private key: invalid base64") from None


def parse_openssh_private_key(data: bytes) -> OpenSshPrivateKey:
    """Read an ``openssh-key-v1`` private key file.

    Encrypted keys are recognised (their public key is readable without the passphrase) but not
    decrypted. For an unencrypted ed25519 key the three copies of the public key in the file
    must agree; the public key is not re-derived from the seed (OpenSSH and ssh-to-age do not
    either). Other formats (PEM ``RSA PRIVATE KEY``, PKCS #8) raise :class:`SshKeyError`.
    """
    stripped = data.lstrip()
    if stripped.startswith(_PEM_BEGIN) and not stripped.startswith(_OPENSSH_BEGIN):
        raise SshKeyError("not an OpenSSH private key (a PEM key)")
    reader = _Reader(_armour_body(data), "OpenSSH private key")
    if reader.take(len(_OPENSSH_MAGIC)) != _OPENSSH_MAGIC:
        raise SshKeyError("malformed OpenSSH private key: bad magic")
    cipher = reader.text()
    reader.text()  # kdf name
    reader.string()  # kdf options
    if reader.uint32() != 1:
        raise SshKeyError("OpenSSH private key files with several keys are not supported")
    public_blob = reader.string()
    key_type = _blob_type(public_blob, "OpenSSH public key")
    if cipher != "none":
        return OpenSshPrivateKey(key_type, public_blob, encrypted=True)
    private = _Reader(reader.string(), "OpenSSH private key")
    if private.uint32() != private.uint32():
        raise SshKeyError("malformed OpenSSH private key: check bytes differ")
    if private.text() != key_type:
        raise SshKeyError("malformed OpenSSH private key: key types differ")
    if key_type != ED25519:
        return OpenSshPrivateKey(key_type, public_blob, encrypted=False)
    public = private.string()
    secret = private.string()
    if (
        len(public) != 32
        or len(secret) != 64
        or secret[32:] != public
        or _ed25519_public_from_blob(public_blob, "OpenSSH public key") != public
    ):
        raise SshKeyError("malformed OpenSSH private key: inconsistent ed25519 key")
    return OpenSshPrivateKey(key_type, public_blob, encrypted=False, seed=Secret(secret[:32]))


def ssh_private_key_to_age(data: bytes) -> tuple[Secret[str], str]:
    """Convert an unencrypted OpenSSH ed25519 private key to ``(AGE-SECRET-KEY-1…, age1…)``.

    The recipient is derived from the public key stored in the file (see
    :func:`parse_openssh_private_key`); :mod:`secretsctl.keys.sources` takes it from pyrage
    instead, so that it always belongs to the scalar in use.
    """
    key = parse_openssh_private_key(data)
    if key.encrypted:
        raise EncryptedSshKeyError(
            "the SSH private key is passphrase-protected; that is not supported here",
            key_type=key.key_type,
        )
    if key.key_type != ED25519 or key.seed is None:
        raise UnsupportedSshKeyError(
            f"only ed25519 keys can be converted to age keys, not {key.key_type}",
            key_type=key.key_type,
        )
    identity = x25519_identity_string(ed25519_seed_to_x25519(key.seed))
    public = _ed25519_public_from_blob(key.public_blob, "OpenSSH public key")
    return identity, x25519_recipient_string(ed25519_public_to_x25519(public))


def ssh_private_key_to_age_identity(data: bytes) -> Secret[str]:
    """Convert an unencrypted OpenSSH ed25519 private key to its ``AGE-SECRET-KEY-1…`` identity."""
    return ssh_private_key_to_age(data)[0]
