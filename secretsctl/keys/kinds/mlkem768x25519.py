"""Placeholder for post-quantum age keys: refused until the kind is implemented."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from secretsctl.keys.kinds import KeySourceError, LoadedIdentity, Recipient, RecipientError, shorten

if TYPE_CHECKING:
    from secretsctl.sops.metadata import AgeKey, ForeignKey

NAME: Final = "mlkem768x25519"
METADATA: Final = "age"
_REFUSED: Final = "post-quantum age keys are not supported yet"


def parse_recipient(text: str) -> Recipient:
    """Refuse the recipient."""
    raise RecipientError(f"{_REFUSED}: `{shorten(text)}`")


def parse_identity(line: bytes, location: str) -> list[LoadedIdentity]:
    """Refuse the identity."""
    raise KeySourceError(_REFUSED)


def wrap(data_key: bytes, recipient: Recipient) -> AgeKey | ForeignKey:
    """Refuse to wrap."""
    raise RecipientError(f"{_REFUSED}: `{shorten(recipient.text)}`")


def unwrap(entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]) -> bytes | str:
    """Say why not."""
    return _REFUSED
