"""AES-256-GCM value encryption with 32-byte IVs, and the IV stash that keeps diffs small.

Each leaf is encrypted under the file's data key with its path as AAD. The stash maps
``(AAD, type, plaintext bytes)`` to the IV a value was read with, so re-encrypting an unchanged
value reproduces its ``ENC[…]`` string exactly, as sops's ``Cipher.stash`` does.
"""

from __future__ import annotations

import os

from secretsctl.errors import EncryptionError, ValueDecryptionError
from secretsctl.sops.grammar import (
    TYPE_STR,
    format_enc,
    from_plaintext,
    parse_enc,
    type_and_bytes,
)
from secretsctl.sops.tree import Comment

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = ["AESGCM", "DATA_KEY_SIZE", "Cipher", "IvStash", "sha512"]

IV_SIZE: Final = 32
TAG_SIZE: Final = 16
DATA_KEY_SIZE: Final = 32

IvStash = dict[tuple[str, str, bytes], bytes]

try:
    # cryptography's own class (``primitives.ciphers.aead.AESGCM`` is this object), without the
    # ~6 ms of Python modules around it (typing, enum, the cipher registry) at boot.
    from cryptography.hazmat.bindings._rust import openssl as _openssl

    AESGCM = _openssl.aead.AESGCM
except (ImportError, AttributeError):  # pragma: no cover - bindings laid out otherwise
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from hashlib import sha512
else:
    try:
        # CPython's SHA-512 (hashlib's when OpenSSL is not loaded), for the MAC: importing
        # hashlib loads a second OpenSSL through ``_hashlib`` (~2 ms at boot), and this one
        # is as fast at the sizes of sops files.
        from _sha512 import sha512
    except ImportError:  # pragma: no cover - Python 3.12 moved it to _sha2
        try:
            from _sha2 import sha512
        except ImportError:  # a Python built without its own hashes
            from hashlib import sha512


class Cipher:
    """Encrypts and decrypts leaves under one data key."""

    __slots__ = ("_aead", "stash")

    def __init__(self, data_key: bytes, stash: IvStash | None = None) -> None:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueDecryptionError("the data key is not 32 bytes long")
        self._aead = AESGCM(data_key)
        self.stash = stash

    def __repr__(self) -> str:
        return "Cipher(<redacted>)"

    def decrypt_bytes(self, value: str, aad: str) -> tuple[str, bytes]:
        """Decrypt an ``ENC[…]`` string to its type tag and plaintext bytes."""
        data, iv, tag, type_tag = parse_enc(value)
        try:
            plaintext = self._aead.decrypt(iv, data + tag, aad.encode("utf-8", "surrogateescape"))
        except ValueError:
            # An IV length AES-GCM cannot take (sops accepts any length its Go GCM accepts).
            raise ValueDecryptionError("a value has an IV of unsupported length") from None
        except Exception as exc:
            # InvalidTag, imported only now that the binding has raised (and loaded) it.
            from cryptography.exceptions import InvalidTag

            if not isinstance(exc, InvalidTag):
                raise
            raise ValueDecryptionError(
                "Could not decrypt with AES_GCM: message authentication failed"
            ) from None
        if self.stash is not None:
            self.stash[(aad, type_tag, plaintext)] = iv
        return type_tag, plaintext

    def decrypt(self, value: str, aad: str) -> Any:
        """Decrypt an ``ENC[…]`` string to its typed value; ``""`` stays ``""``."""
        if value == "":
            return ""
        type_tag, plaintext = self.decrypt_bytes(value, aad)
        return from_plaintext(type_tag, plaintext)

    def encrypt(self, value: Any, aad: str) -> str:
        """Encrypt a leaf (or a :class:`Comment`); empty strings and comments stay empty."""
        if value == "" or (value.__class__ is Comment and value.text == ""):
            return ""
        type_tag, plaintext = type_and_bytes(value)
        return self.encrypt_bytes(type_tag, plaintext, aad)

    def encrypt_bytes(self, type_tag: str, plaintext: bytes, aad: str) -> str:
        """Encrypt plaintext bytes with a given type tag, reusing a stashed IV if any."""
        iv = None
        if self.stash is not None:
            iv = self.stash.get((aad, type_tag, plaintext))
        if iv is None:
            iv = os.urandom(IV_SIZE)
        try:
            sealed = self._aead.encrypt(iv, plaintext, aad.encode("utf-8", "surrogateescape"))
        except (ValueError, OverflowError) as exc:
            raise EncryptionError(f"Could not encrypt value: {type(exc).__name__}") from None
        return format_enc(sealed[:-TAG_SIZE], iv, sealed[-TAG_SIZE:], type_tag)

    def encrypt_str(self, text: str, aad: str) -> str:
        """Encrypt a string as ``type:str`` (used for the MAC)."""
        return self.encrypt_bytes(TYPE_STR, text.encode(), aad)
