"""Key kinds: one module each, behind one small interface, found through one table.

A key kind is what sops calls a master key type and age a recipient/identity type: X25519,
SSH, the post-quantum hybrid, age plugins, PGP. Each lives in one module of this package that
provides the :class:`KeyKind` interface as module-level names:

- ``NAME``: the kind as errors name it; ``METADATA``: the list of a sops key group its
  entries are kept in (``"age"`` or ``"pgp"``);
- ``parse_recipient(text)``: the parsed :class:`Recipient` (:class:`RecipientError` when
  malformed);
- ``parse_identity(line, location)``: the :class:`LoadedIdentity` objects of one line of age
  key text (:class:`KeySourceError` naming nothing but the problem);
- ``wrap(data_key, recipient)``: the metadata entry (``AgeKey`` or ``ForeignKey``) holding
  the data key (or a Shamir share) for one recipient;
- ``unwrap(entry, identities)``: the data key from one entry with this kind's identities, or
  a short reason it could not be had (never key material).

:data:`KIND_MODULES` is the table: which recipients and key lines are of which kind, and
the module; a kind's module is imported only when something of its kind is met, so the
X25519 boot path imports nothing else. Adding a kind means one module
and one line in the table. The sops codec never imports a kind: it asks the keyring, which
asks this table.
"""

from __future__ import annotations

import sys

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.record import Record, repr_without
from secretsctl.redact import Secret

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, Final, Protocol

    from secretsctl.sops.metadata import AgeKey, ForeignKey

    # Only for the type checker: defining a Protocol costs start-up time on the boot path.
    class KeyKind(Protocol):
        """What a key kind module provides (see the module documentation)."""

        NAME: str
        METADATA: str

        def parse_recipient(self, text: str) -> Recipient:
            """Parse a recipient string of this kind."""

        def parse_identity(self, line: bytes, location: str) -> list[LoadedIdentity]:
            """Parse one identity of this kind (a key text line, or a whole key file)."""

        def wrap(self, data_key: bytes, recipient: Recipient) -> AgeKey | ForeignKey:
            """Wrap the data key for one recipient: one metadata entry."""

        def unwrap(
            self, entry: AgeKey | ForeignKey, identities: Sequence[LoadedIdentity]
        ) -> bytes | str:
            """Unwrap the data key from one entry, or say why not (no key material)."""


__all__ = [
    "KIND_MODULES",
    "NO_MATCH",
    "DataKeyError",
    "KeySourceError",
    "LoadedIdentity",
    "Recipient",
    "RecipientError",
    "identity_kind",
    "kind_named",
    "parse_recipient",
    "recipient_kind",
    "recipients_for",
    "shorten",
]


# The table: kind name -> its row, in the order recipients and identity lines are matched
# (the post-quantum age1pq1… before the plugins' age1<name>1…, both before X25519's age1…:
# a bech32 payload has no "1", so X25519 recipients hold exactly one). Matching needs no
# import; a kind's module is imported when something of its kind is met.
# Each row: the module; how a line of age key text of the kind starts; a regular expression
# its recipient strings match (None: not given that way); the list of a key group its entries
# live in (the kind's METADATA). Plain tuples: the boot path pays for every class made here.
KIND_MODULES: Final[dict[str, tuple[str, bytes | None, str | None, str]]] = {
    "mlkem768x25519": (
        "secretsctl.keys.kinds.mlkem768x25519",
        b"AGE-SECRET-KEY-PQ-1",
        r"age1pq1",
        "age",
    ),
    "plugin": ("secretsctl.keys.kinds.plugin", b"AGE-PLUGIN-", r"age1[^1]+1", "age"),
    "X25519": ("secretsctl.keys.kinds.x25519", b"AGE-SECRET-KEY-1", r"age1[^1]*$", "age"),
    "ssh-ed25519": ("secretsctl.keys.kinds.ssh", None, r"ssh-ed25519 ", "age"),
    "ssh-rsa": ("secretsctl.keys.kinds.ssh", None, r"ssh-rsa ", "age"),
    "pgp": ("secretsctl.keys.kinds.pgp", None, r"(?:[0-9A-Fa-f]{4} ?){4,10}!?$", "pgp"),
}


# What ``unwrap`` returns when none of the identities fits the entry; any other reason is
# reported as it is.
NO_MATCH: Final = "no identity matched"


class RecipientError(SecretsctlError):
    """A recipient string cannot be used for encryption (sops exits 1 here too)."""

    exit_code = ExitCode.GENERIC


class KeySourceError(SecretsctlError):
    """A key source cannot be used. The message is short and holds no key material.

    Its exit code is sops's for a data key that cannot be had (128), so a script sees the same
    code for a missing key file as for a key that opens nothing.
    """

    exit_code = ExitCode.COULD_NOT_RETRIEVE_KEY


class DataKeyError(SecretsctlError):
    """An entry opened but its content is not a usable data key or share (exit 128)."""

    exit_code = ExitCode.COULD_NOT_RETRIEVE_KEY


class Recipient(Record):
    """A parsed recipient: its kind's name, the string stored in metadata, the parsed key."""

    kind: str
    text: str
    parsed: Any

    def __repr__(self) -> str:
        return repr_without(self, "parsed")

    # The parsed key is derived from the text: two parses of one recipient are equal.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipient):
            return NotImplemented
        return (self.kind, self.text) == (other.kind, other.text)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.kind, self.text))


class LoadedIdentity(Record):
    """One usable identity and where it came from.

    ``kind`` is a key of :data:`KIND_MODULES`. ``recipient`` is the public side when it is
    known (``age1…``, or ``<ssh type> <base64>`` without a comment); it lets the keyring try
    the identity that fits an entry first. ``identity`` holds the kind's private object,
    hence the :class:`Secret` wrapper.
    """

    kind: str
    location: str
    recipient: str | None
    identity: Secret[Any]
    converted: bool = False

    def describe(self) -> str:
        """Describe the identity in public terms: recipient (or kind) and origin."""
        if self.recipient is None:
            public = f"{self.kind} key"
        elif self.converted:
            public = f"{self.recipient} (converted from ssh-ed25519)"
        else:
            public = self.recipient
        return f"{public} from {self.location}"

    def __repr__(self) -> str:
        return repr_without(self, "identity")


_loaded: dict[str, KeyKind] = {}


def kind_named(name: str) -> KeyKind:
    """Return the module of the kind ``name`` (a key of :data:`KIND_MODULES`)."""
    module = _loaded.get(name)
    if module is None:
        # __import__, not importlib.import_module: importing importlib costs the boot path.
        __import__(KIND_MODULES[name][0])
        module = _loaded[name] = sys.modules[KIND_MODULES[name][0]]
    return module


def shorten(text: str) -> str:
    """Return a recipient as quoted in messages: long ones cut."""
    return text if len(text) <= 72 else text[:60] + "…"


def recipient_kind(text: str) -> str | None:
    """Return the name of the kind whose recipients look like ``text``, if any."""
    import re

    for name, (_, _, pattern, _) in KIND_MODULES.items():
        if pattern is not None and re.match(pattern, text):
            return name
    return None


def identity_kind(line: bytes) -> str | None:
    """Return the name of the kind one line of age key text is of, if any."""
    for name, (_, prefix, _, _) in KIND_MODULES.items():
        if prefix is not None and line.startswith(prefix):
            return name
    return None


def parse_recipient(text: str) -> Recipient:
    """Parse a recipient as sops 3.11 does (surrounding whitespace is dropped).

    Raises :class:`RecipientError` for a string no kind claims, or one that is malformed.
    """
    text = text.strip()
    name = recipient_kind(text)
    if name is None:
        if text.startswith("ssh-"):
            raise RecipientError(
                f"unsupported SSH recipient `{shorten(text)}`",
                hint="age accepts ssh-ed25519 and ssh-rsa keys",
            )
        raise RecipientError(f"unknown recipient type: `{shorten(text)}`")
    return kind_named(name).parse_recipient(text)


def recipients_for(metadata: str, texts: Iterable[str]) -> list[str]:
    """Return the recipients given for one list of a key group (``age`` or ``pgp``), as kept.

    Surrounding whitespace goes, and for ``pgp`` every space (sops keeps fingerprints so).
    A recipient of another list's kind is refused as sops refuses it: a hex fingerprint given
    as an age recipient is never taken for a PGP key. Raises :class:`RecipientError`.
    """
    out: list[str] = []
    for raw in texts:
        text = raw.strip().replace(" ", "") if metadata == "pgp" else raw.strip()
        if not text:
            continue
        name = recipient_kind(text)
        if metadata == "pgp" and (name is None or KIND_MODULES[name][3] != "pgp"):
            raise RecipientError(
                f"malformed PGP fingerprint `{shorten(text)}`",
                hint="give the key's fingerprint in hex, as `gpg --list-keys` prints it",
            )
        if name is not None and KIND_MODULES[name][3] != metadata:
            other = KIND_MODULES[name][3]
            raise RecipientError(
                f"unknown {metadata} recipient type: `{shorten(text)}`",
                hint=f"this looks like a {other} key; pass it with --{other}"
                f" (or under `{other}:` in .sops.yaml)",
            )
        out.append(text)
    return out
