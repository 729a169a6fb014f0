"""Making age keys, in the forms ``age-keygen`` prints.

An identity file is ``# created: <RFC 3339 time>``, ``# public key: <recipient>`` and the
``AGE-SECRET-KEY-1…`` line (``AGE-SECRET-KEY-PQ-1…`` for a post-quantum key, as ``age-keygen
-pq`` of age 1.3), so age, sops and secretsctl read it alike; :func:`recipients_of` is
``age-keygen -y``: the recipient of each identity in a file, in order.
"""

from __future__ import annotations

from secretsctl.record import Record
from secretsctl.redact import Secret

__all__ = ["NewKey", "generate", "recipients_of"]


class NewKey(Record):
    """A new identity: the text of its file (secret) and its public recipient."""

    recipient: str
    file_text: Secret[str]


def generate(*, post_quantum: bool = False) -> NewKey:
    """Make a native X25519 (or post-quantum hybrid) identity and the text of its file."""
    import datetime

    if post_quantum:
        from secretsctl.keys.kinds import mlkem768x25519

        recipient, secret = mlkem768x25519.generate()
        identity = secret.reveal()
    else:
        import pyrage

        x25519 = pyrage.x25519.Identity.generate()
        recipient, identity = str(x25519.to_public()), str(x25519)
    created = datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()
    if created.endswith("+00:00"):
        created = created[:-6] + "Z"  # Go's RFC 3339 writes UTC as Z
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return NewKey(recipient, Secret(text))


def recipients_of(data: bytes, location: str) -> list[str]:
    """Return the recipient of every identity in identity-file text, as ``age-keygen -y``.

    Raises :class:`~secretsctl.errors.InputError` naming the line of an entry that is not an
    identity (never its text).
    """
    from secretsctl.errors import InputError
    from secretsctl.keys.sources import KeySourceError, parse_key_text

    try:
        identities, notes = parse_key_text(data, location)
    except KeySourceError as error:
        raise InputError(f"{location}: {error.message}") from None
    if notes:
        raise InputError(f"{location}: {notes[0]}")
    if not identities:
        raise InputError(f"{location}: no identity found")
    return [identity.recipient for identity in identities if identity.recipient]
