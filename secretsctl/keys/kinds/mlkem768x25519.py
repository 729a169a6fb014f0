"""age 1.3's post-quantum hybrid kind: ``age1pq1…`` recipients, ``AGE-SECRET-KEY-PQ-1…`` keys.

The stanza is ``-> mlkem768x25519 <enc>`` with the 16-byte file key sealed by HPKE (RFC 9180,
base mode) with the MLKEM768-X25519 KEM of draft-ietf-hpke-pq (X-Wing), HKDF-SHA256 and
ChaCha20-Poly1305, info ``age-encryption.org/mlkem768x25519``; ``enc`` (1,120 bytes) is the
argument and the 32-byte sealed key the body. The public key (1,216 bytes: the ML-KEM-768
encapsulation key, then the X25519 point) is bech32 with the ``age1pq`` prefix, the private key
a 32-byte seed, expanded with SHAKE256 into the ML-KEM seed (64 bytes) and the X25519 scalar
(32 bytes), bech32 with ``AGE-SECRET-KEY-PQ-`` in upper case; bech32 here has no length limit.

The KEM, HPKE and AEAD are cryptography's; pyrage cannot read this stanza, so the age file
around it is :mod:`secretsctl.keys.ageformat`. Nothing here is imported until a key or entry
of this kind is met.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

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
    from secretsctl.keys.ageformat import Stanza
    from secretsctl.sops.metadata import AgeKey, ForeignKey

__all__ = [
    "METADATA",
    "NAME",
    "generate",
    "parse_identity",
    "parse_recipient",
    "unwrap",
    "wrap",
]

NAME: Final = "mlkem768x25519"
METADATA: Final = "age"

STANZA_TYPE: Final = "mlkem768x25519"
RECIPIENT_HRP: Final = "age1pq"
IDENTITY_HRP: Final = "AGE-SECRET-KEY-PQ-"
LABEL: Final = b"age-encryption.org/mlkem768x25519"
SEED_SIZE: Final = 32
MLKEM_PUBLIC_SIZE: Final = 1184
PUBLIC_SIZE: Final = MLKEM_PUBLIC_SIZE + 32
ENC_SIZE: Final = 1088 + 32
_SEALED_KEY_SIZE: Final = 16 + 16


def _suite() -> Any:
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def _public_key(raw: bytes) -> Any:
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_SIZE]),
        x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_SIZE:]),
    )


def _private_key(seed: bytes) -> tuple[tuple[Any, Any], bytes]:
    """Expand a 32-byte seed as draft-ietf-hpke-pq does.

    Returns the HPKE private key with its X25519 half (to tell a disallowed share from a key
    that does not fit), and the public key bytes.
    """
    import hashlib

    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    expanded = hashlib.shake_256(seed).digest(96)
    pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    classic = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
    public = pq.public_key().public_bytes_raw() + classic.public_key().public_bytes_raw()
    return (hpke.MLKEM768X25519PrivateKey(pq, classic), classic), public


def _recipient_text(public: bytes) -> str:
    from secretsctl.keys.ssh_to_age import bech32_encode

    return bech32_encode(RECIPIENT_HRP, public)


def parse_recipient(text: str) -> Recipient:
    """Parse an ``age1pq1…`` recipient (lower case, as age writes and reads it)."""
    from secretsctl.keys.ssh_to_age import bech32_decode

    try:
        hrp, raw = bech32_decode(text)
        if text != text.lower() or hrp != RECIPIENT_HRP or len(raw) != PUBLIC_SIZE:
            raise ValueError("not a post-quantum recipient")
        parsed = _public_key(raw)
    except ValueError:
        raise RecipientError(f"malformed post-quantum age recipient `{shorten(text)}`") from None
    return Recipient(NAME, text, parsed)


def _identity_from_seed(seed: bytes, location: str) -> LoadedIdentity:
    """Return the identity of a 32-byte seed, its recipient known."""
    private, public = _private_key(seed)
    return LoadedIdentity(NAME, location, _recipient_text(public), Secret(private))


def parse_identity(line: bytes, location: str) -> list[LoadedIdentity]:
    """One ``AGE-SECRET-KEY-PQ-1…`` line (upper case only, as age 1.3)."""
    from secretsctl.keys.ssh_to_age import bech32_decode

    malformed = KeySourceError("malformed AGE-SECRET-KEY-PQ identity (post-quantum age key)")
    try:
        text = line.decode("ascii")
        hrp, seed = bech32_decode(text)
    except (UnicodeDecodeError, ValueError):
        raise malformed from None
    if text != text.upper() or hrp != IDENTITY_HRP.lower() or len(seed) != SEED_SIZE:
        raise malformed
    return [_identity_from_seed(seed, location)]


def generate() -> tuple[str, Secret[str]]:
    """Make a new identity: its recipient and its ``AGE-SECRET-KEY-PQ-1…`` line."""
    import os

    from secretsctl.keys.ssh_to_age import bech32_encode

    seed = os.urandom(SEED_SIZE)
    _, public = _private_key(seed)
    return _recipient_text(public), Secret(bech32_encode(IDENTITY_HRP, seed).upper())


def wrap(data_key: bytes, recipient: Recipient) -> AgeKey:
    """Return an age entry: ``data_key`` encrypted to ``recipient`` as sops writes it."""
    from secretsctl.keys import ageformat
    from secretsctl.sops.metadata import AgeKey

    suite = _suite()

    def stanzas(file_key: bytes) -> list[Stanza]:
        sealed = suite.encrypt(file_key, recipient.parsed, info=LABEL)
        enc, body = sealed[:ENC_SIZE], sealed[ENC_SIZE:]
        return [ageformat.Stanza(STANZA_TYPE, (ageformat.b64encode(enc),), body)]

    try:
        data = ageformat.encrypt(data_key, stanzas)
    except (ValueError, TypeError):
        raise RecipientError(f"cannot encrypt to `{shorten(recipient.text)}`") from None
    return AgeKey(recipient.text, ageformat.armour(data))


def _low_order(classic: Any, share: bytes) -> bool:
    from cryptography.hazmat.primitives.asymmetric import x25519

    try:
        classic.exchange(x25519.X25519PublicKey.from_public_bytes(share))
    except ValueError:  # the all-zero shared secret
        return True
    return False


def _open(stanzas: tuple[Stanza, ...], identities: Sequence[LoadedIdentity]) -> bytes | str | None:
    """Return the file key of the first stanza an identity opens, as age's HybridIdentity."""
    from cryptography.exceptions import InvalidTag

    from secretsctl.keys.ageformat import FILE_KEY_SIZE, b64decode

    suite = _suite()
    for loaded in identities:
        for stanza in stanzas:
            if stanza.type != STANZA_TYPE:
                continue
            enc = b64decode(stanza.args[0]) if len(stanza.args) == 1 else None
            if enc is None or len(enc) != ENC_SIZE:
                return f"invalid {STANZA_TYPE} stanza arguments"
            if len(stanza.body) != _SEALED_KEY_SIZE:
                return f"invalid {STANZA_TYPE} stanza body size"
            private, classic = loaded.identity.reveal()
            try:
                file_key: bytes = suite.decrypt(enc + stanza.body, private, LABEL)
            except InvalidTag:
                # ML-KEM rejects implicitly, so a key that does not fit lands here; so does an
                # X25519 share of low order, which age refuses outright.
                if _low_order(classic, enc[-32:]):
                    return f"invalid {STANZA_TYPE} stanza (a low-order X25519 share)"
                continue
            if len(file_key) != FILE_KEY_SIZE:  # pragma: no cover - the body size fixes it
                return f"invalid {STANZA_TYPE} file key size"
            return file_key
    return None


def unwrap(entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]) -> bytes | str:
    """Plaintext of an age entry, or why not (no key material). Never raises."""
    from secretsctl.keys import ageformat

    data = ageformat.dearmour(getattr(entry, "enc", ""))
    if isinstance(data, str):
        return f"malformed age data ({data})"
    result = ageformat.decrypt(data, lambda stanzas: _open(stanzas, identities))
    if result is None:
        return NO_MATCH
    if isinstance(result, str):
        return f"malformed age data ({result})"
    return result
