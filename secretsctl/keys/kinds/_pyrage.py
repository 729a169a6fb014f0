"""The age file work of the kinds pyrage implements natively (X25519 and SSH).

pyrage reads and writes the whole age file (header, MAC, payload), so these kinds wrap and
unwrap through it in one call; the keyring hands all their identities to one call, so the
armour of an entry is parsed once however many identities are tried.
"""

from __future__ import annotations

from secretsctl.keys.kinds import (
    NO_MATCH,
    DataKeyError,
    LoadedIdentity,
    Recipient,
    RecipientError,
    shorten,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Final

    from secretsctl.sops.metadata import AgeKey, ForeignKey

ARMOUR_BEGIN: Final = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOUR_END: Final = "-----END AGE ENCRYPTED FILE-----"
ARMOUR_COLUMNS: Final = 64
# rage's text for "no identity fits"; any other decrypt error is a malformed entry.
_NO_MATCH_TEXT: Final = "No matching keys found"


def unwrap(entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]) -> bytes | str:
    """Plaintext of an age entry, or why not (pyrage's text for malformed data). Never raises."""
    import pyrage

    data = getattr(entry, "enc", "").lstrip().encode("utf-8", "surrogateescape")
    try:
        return bytes(pyrage.decrypt(data, [loaded.identity.reveal() for loaded in identities]))
    except (pyrage.DecryptError, ValueError, TypeError) as error:
        text = str(error)
        if text == _NO_MATCH_TEXT:
            return NO_MATCH
        first = text.splitlines()[0][:120] if text else type(error).__name__
        return f"malformed age data ({first})"


def check_armour(armour: str) -> None:
    """Refuse armour that is not in the layout sops writes (64 columns, final newline)."""
    lines = armour.split("\n")
    body = lines[1:-2]
    if (
        len(lines) < 4
        or lines[0] != ARMOUR_BEGIN
        or lines[-2] != ARMOUR_END
        or lines[-1] != ""
        or any(len(line) != ARMOUR_COLUMNS for line in body[:-1])
        or not 0 < len(body[-1]) <= ARMOUR_COLUMNS
    ):
        raise DataKeyError("pyrage returned age armour in an unexpected layout")


def wrap(data_key: bytes, recipient: Recipient) -> AgeKey:
    """Return an age entry: ``data_key`` encrypted to ``recipient`` as sops writes it."""
    import pyrage

    from secretsctl.sops.metadata import AgeKey

    try:
        armour = bytes(pyrage.encrypt(data_key, [recipient.parsed], armored=True)).decode("ascii")
    except (pyrage.EncryptError, UnicodeDecodeError):
        raise RecipientError(f"cannot encrypt to `{shorten(recipient.text)}`") from None
    check_armour(armour)
    return AgeKey(recipient.text, armour)
