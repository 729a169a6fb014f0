"""age's native X25519 kind: ``age1…`` recipients, ``AGE-SECRET-KEY-1…`` identities (pyrage)."""

from __future__ import annotations

from secretsctl.keys.kinds import KeySourceError, LoadedIdentity, Recipient, RecipientError
from secretsctl.keys.kinds import shorten as _shorten
from secretsctl.keys.kinds._pyrage import unwrap, wrap
from secretsctl.redact import Secret

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Final

__all__ = ["METADATA", "NAME", "parse_identity", "parse_recipient", "unwrap", "wrap"]

NAME: Final = "X25519"
METADATA: Final = "age"


def parse_recipient(text: str) -> Recipient:
    """Parse an ``age1…`` recipient."""
    import pyrage

    try:
        return Recipient(NAME, text, pyrage.x25519.Recipient.from_str(text))
    except pyrage.RecipientError:
        raise RecipientError(f"malformed age recipient `{_shorten(text)}`") from None


def parse_identity(line: bytes, location: str) -> list[LoadedIdentity]:
    """One ``AGE-SECRET-KEY-1…`` line (upper case only, as sops; pyrage also takes lower)."""
    import pyrage

    try:
        identity = pyrage.x25519.Identity.from_str(line.decode("ascii"))
    except (UnicodeDecodeError, pyrage.IdentityError):
        raise KeySourceError("malformed AGE-SECRET-KEY identity") from None
    return [LoadedIdentity(NAME, location, str(identity.to_public()), Secret(identity))]
