"""Unwrapping and wrapping the sops data key, with every key kind secretsctl knows.

Every ``age`` entry of a sops file is a complete armoured age file with one recipient stanza,
whose plaintext is the 32-byte data key, or with several key groups the group's 33-byte Shamir
share (:mod:`secretsctl.keys.shamir`); a ``pgp`` entry holds the same in an OpenPGP message.
The work of each kind (X25519, SSH, post-quantum, plugins, PGP) is done by its module in
:mod:`secretsctl.keys.kinds`; this module only decides what to try in which order.

:func:`unwrap_data_key` tries every loaded identity against every entry, as sops does, but in an
order that keeps the usual case cheap: for each entry, the identities whose public key is the
entry's recorded recipient go first, in one call per kind (so the armour is parsed once for
them), and the others only if those fail. A group stops at its first success, and groups stop
once enough shares are in hand. When nothing works, :class:`NoMatchingIdentityError` (exit 128)
names the file, its recipients, the stanza types in their age headers and every key location
looked at, and never any key material.

:func:`wrap_data_key` encrypts the data key (or each group's share) once per recipient, with
the recipient's kind, and returns metadata key groups.

Both can also go through sops key services (:mod:`secretsctl.keyservice.client`): the
identity set names them. Unwrapping tries the local identities first (unless the local
service is disabled), then each remote service for each entry, in sops's order, and the
remotes' reasons join the no-match lines; wrapping takes, for each recipient, the first
service that succeeds.

The data key is immutable ``bytes`` and cannot be wiped from memory after use. It is handed
around as a :class:`~secretsctl.redact.Secret` so that it at least never reaches a message, a
log or a repr.
"""

from __future__ import annotations

import binascii
import os

from secretsctl.errors import ExitCode, NoEncryptionKeyError, NoIdentityError, SecretsctlError
from secretsctl.keys.kinds import (
    KIND_MODULES,
    NO_MATCH,
    DataKeyError,
    LoadedIdentity,
    Recipient,
    RecipientError,
    kind_named,
    parse_recipient,
    shorten,
)
from secretsctl.keys.sources import IdentitySet
from secretsctl.redact import Secret
from secretsctl.sops.metadata import AgeKey, ForeignKey, KeyGroup, Metadata

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Final, TypeAlias

    from secretsctl.keyservice.client import KeyServices, RemoteKeyService

__all__ = [
    "DATA_KEY_SIZE",
    "DataKeyError",
    "KeyGroupError",
    "NoMatchingIdentityError",
    "Recipient",
    "RecipientError",
    "generate_data_key",
    "parse_recipient",
    "stanza_types",
    "unwrap_data_key",
    "unwrap_entry",
    "wrap_data_key",
]

DATA_KEY_SIZE: Final = 32
SHARE_SIZE: Final = DATA_KEY_SIZE + 1

ARMOUR_BEGIN: Final = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOUR_END: Final = "-----END AGE ENCRYPTED FILE-----"
_AGE_MAGIC: Final = b"age-encryption.org/"
_GREASE_SUFFIX: Final = "-grease"
_MAX_HEADER_LINES: Final = 4096


class NoMatchingIdentityError(NoIdentityError):
    """No loaded identity opens enough key groups of a file (exit 128).

    The attributes carry the public facts of the message for callers that format their own:
    the file, its age recipients, the stanza types seen and the key locations looked at.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None,
        file: str,
        recipients: tuple[str, ...],
        stanza_types: tuple[str, ...],
        locations: tuple[str, ...],
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.recipients = recipients
        self.stanza_types = stanza_types
        self.locations = locations


class KeyGroupError(SecretsctlError):
    """Key groups or the Shamir threshold do not allow splitting the data key."""

    exit_code = ExitCode.GENERIC


# --- reading age headers (for messages) --------------------------------------------------------


def _armour_payload(text: str) -> bytes:
    """Return the binary age file inside ``text``; ``ValueError`` when it is not armour."""
    stripped = text.strip()
    if stripped.encode("utf-8", "surrogateescape").startswith(_AGE_MAGIC):
        return stripped.encode("utf-8", "surrogateescape")
    lines = [line.strip() for line in stripped.splitlines()]
    if len(lines) < 2 or lines[0] != ARMOUR_BEGIN or lines[-1] != ARMOUR_END:
        raise ValueError("not age armour")
    try:
        return binascii.a2b_base64("".join(lines[1:-1]), strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64 in age armour") from None


def stanza_types(enc: str) -> tuple[str, ...]:
    """Return the stanza types in the header of an armoured age file, in order, once each.

    Grease stanzas (random types ending in ``-grease``, added by rage) are left out. Raises
    ``ValueError`` when the text is not an age file.
    """
    payload = _armour_payload(enc)
    lines = payload.split(b"\n", _MAX_HEADER_LINES)
    if not lines[0].startswith(_AGE_MAGIC):
        raise ValueError("not an age file")
    found: list[str] = []
    for line in lines[1:]:
        if line.startswith(b"---"):
            return tuple(found)
        if line.startswith(b"-> "):
            words = line[3:].split(b" ")
            name = words[0].decode("ascii", "replace")
            if name and not name.endswith(_GREASE_SUFFIX) and name not in found:
                found.append(name)
    raise ValueError("the age header does not end")


# --- unwrapping -----------------------------------------------------------------------------------


class _EntryOutcome:
    # Plain mutable classes: a dataclass costs ~1 ms of start-up, paid by every decrypt.
    __slots__ = ("opened", "reason", "recipient")

    def __init__(self, recipient: str, reason: str, opened: bool = False) -> None:
        self.recipient = recipient
        self.reason = reason
        self.opened = opened


class _GroupOutcome:
    __slots__ = ("foreign", "note", "outcomes", "remote")

    def __init__(self, foreign: list[str] | None = None, note: str | None = None) -> None:
        self.outcomes: list[_EntryOutcome] = []
        self.foreign = foreign or []
        self.note = note
        self.remote: dict[str, list[str]] = {}  # entry label -> each remote service's reason


_Unwrap: TypeAlias = "Callable[[AgeKey | ForeignKey, Sequence[LoadedIdentity]], bytes | str]"


def _unwrap(entry: AgeKey | ForeignKey, batch: Sequence[LoadedIdentity]) -> bytes | list[str]:
    """Return the entry's plaintext, or each kind's reason for failing.

    Identities go to their kind's ``unwrap`` together, one call per function, so the kinds
    pyrage implements (X25519 and SSH) parse an entry once for all of theirs.
    """
    if isinstance(entry, ForeignKey):
        result = kind_named(entry.kind).unwrap(entry, batch)
        return result if isinstance(result, bytes) else [result]
    calls: dict[_Unwrap, list[LoadedIdentity]] = {}
    for loaded in batch:
        calls.setdefault(kind_named(loaded.kind).unwrap, []).append(loaded)
    reasons = []
    for unwrap, identities in calls.items():
        result = unwrap(entry, identities)
        if isinstance(result, bytes):
            return result
        reasons.append(result)
    return reasons


def _entry_outcome(label: str, reasons: list[str]) -> _EntryOutcome:
    if not reasons:
        return _EntryOutcome(label, "no identities to try")
    other = [reason for reason in reasons if reason != NO_MATCH]
    return _EntryOutcome(label, other[0] if other else NO_MATCH)


_Plan = tuple[AgeKey | ForeignKey, str, tuple[LoadedIdentity, ...], tuple[LoadedIdentity, ...]]


def _open_group(group: KeyGroup, identities: IdentitySet, size: int) -> bytes | _GroupOutcome:
    """Return the group's key or share, trying likely pairs before all the others.

    First pass: each age entry with the identities whose public key is its recorded
    recipient. Then the entries of other kinds that secretsctl knows (PGP), each with its
    kind's identities. Last: each age entry with the remaining identities. So a host whose key
    is the last of many recipients costs one decryption, not one per recipient before it.
    """
    plans: list[_Plan] = []
    for age_key in group.age:
        likely, rest = identities.candidates(age_key.recipient)
        plans.append((age_key, shorten(age_key.recipient), likely, rest))
    foreign: list[str] = []
    for key in group.foreign:
        if key.kind in KIND_MODULES:
            own = tuple(i for i in identities.identities if i.kind == key.kind)
            plans.append((key, key.label, own, ()))
        else:
            foreign.append(key.label)
    reasons: list[list[str]] = [[] for _ in plans]
    opened: dict[int, _EntryOutcome] = {}
    for first_pass in (True, False) if identities.local else ():
        for index, (entry, label, likely, rest) in enumerate(plans):
            batch = likely if first_pass else rest
            # A PGP entry is tried once even without loaded identities: gpg has its own.
            tried_anyway = first_pass and isinstance(entry, ForeignKey)
            if index in opened or not (batch or tried_anyway):
                continue
            result = _unwrap(entry, batch)
            if isinstance(result, list):
                reasons[index].extend(result)
            elif len(result) != size:
                opened[index] = _EntryOutcome(
                    label, f"opened, but holds {len(result)} bytes instead of {size}", opened=True
                )
            else:
                return result
    outcome = _GroupOutcome(foreign=foreign)
    for index, (_, label, *_) in enumerate(plans):
        if not identities.local:
            outcome.outcomes.append(_EntryOutcome(label, "local key service disabled"))
            continue
        outcome.outcomes.append(opened.get(index) or _entry_outcome(label, reasons[index]))
    remotes = identities.remotes()
    return _ask_remotes(group, remotes, size, outcome) if remotes else outcome


def _ask_remotes(
    group: KeyGroup, remotes: Sequence[RemoteKeyService], size: int, outcome: _GroupOutcome
) -> bytes | _GroupOutcome:
    """Ask the remote key services for the group's key or share, as sops does.

    sops asks, for each entry (age first, then the others), each service in order, and stops
    at the first success. The local identities were all tried before this: the key is the same
    whichever entry gives it, and a host that has it saves a request over the network.
    """
    entries: tuple[AgeKey | ForeignKey, ...] = (*group.age, *group.foreign)
    for entry in entries:
        label = shorten(entry.recipient) if isinstance(entry, AgeKey) else entry.label
        for remote in remotes:
            result = remote.decrypt(entry)
            if isinstance(result, str):
                outcome.remote.setdefault(label, []).append(result)
            elif len(result) != size:
                reason = f"{remote.uri}: opened, but holds {len(result)} bytes instead of {size}"
                outcome.outcomes.append(_EntryOutcome(label, reason, opened=True))
            else:
                return result
    return outcome


def _entry_stanzas(entry: AgeKey) -> tuple[str, ...]:
    try:
        return stanza_types(entry.enc)
    except ValueError:
        return ()


def _no_match_error(
    file: str,
    metadata: Metadata,
    identities: IdentitySet,
    groups: list[tuple[int, _GroupOutcome | None]],
    needed: int,
) -> SecretsctlError:
    recipients = tuple(key.recipient for group in metadata.key_groups for key in group.age)
    types: list[str] = []
    for group in metadata.key_groups:
        for entry in group.age:
            types.extend(t for t in _entry_stanzas(entry) if t not in types)
        types.extend(key.kind for key in group.foreign if key.kind not in types)
    opened_wrong = [o for _, g in groups if g is not None for o in g.outcomes if o.opened]
    lines: list[str] = []
    several = len(metadata.key_groups) > 1
    for index, outcome in groups:
        indent = "  "
        if several:
            state = "ok" if outcome is None else "FAILED"
            lines.append(f"  group {index + 1} of {len(metadata.key_groups)}: {state}")
            indent = "    "
        if outcome is None:
            continue
        if outcome.note:
            lines.append(f"{indent}{outcome.note}")
        remote = dict(outcome.remote)
        for entry_outcome in outcome.outcomes:
            label = entry_outcome.recipient
            lines.append(f"{indent}{label}: {entry_outcome.reason}")
            lines.extend(f"{indent}  {reason}" for reason in remote.pop(label, ()))
        for label in outcome.foreign:
            lines.append(f"{indent}{label}: not supported by secretsctl")
            lines.extend(f"{indent}  {reason}" for reason in remote.pop(label, ()))
    if several:
        opened = sum(1 for _, g in groups if g is None)
        lines.append(f"  {opened} of {needed} required key groups opened")
    if not identities.local:
        lines.append("  local key service: disabled")
    elif identities.identities:
        counts: dict[str, int] = {}
        for loaded in identities.identities:
            label = loaded.kind + (" (from ssh-ed25519)" if loaded.converted else "")
            counts[label] = counts.get(label, 0) + 1
        tried = ", ".join(f"{n} {label}" for label, n in counts.items())
        lines.append(f"  identities tried: {tried}")
    else:
        lines.append("  no age identities were loaded")
    if identities.local:
        lines.append("  key locations:")
        lines.extend(f"    {location}" for location in identities.locations)
        lines.extend(f"  problem: {problem}" for problem in identities.problems)
    details = "\n".join(lines)
    stanzas = ", ".join(types) if types else "none"
    if opened_wrong:
        return DataKeyError(
            f"the data key of {file} is malformed (stanzas: {stanzas})\n{details}",
            hint="the file may be corrupted or tampered with; restore it from version control",
        )
    # A kind's reason may carry its own hint (e.g. how to install a missing plugin).
    hints = [getattr(o.reason, "hint", None) for _, g in groups if g for o in g.outcomes]
    return NoMatchingIdentityError(
        f"no identity matched {file} (stanzas: {stanzas})\n{details}",
        hint=next((hint for hint in hints if hint), None) or _hint(identities),
        file=file,
        recipients=recipients,
        stanza_types=tuple(types),
        locations=identities.locations_tried,
    )


def _hint(identities: IdentitySet) -> str:
    if identities.services is not None and identities.services.uris:
        down = [remote.uri for remote in identities.remotes() if remote.unreachable]
        if down:
            return f"no key service answered at {', '.join(down)}: is `sops keyservice` running?"
        where = ", ".join(identities.services.uris)
        local = " or to this host" if identities.local else ""
        return f"make the key of one of the recipients above available to {where}{local}"
    if not identities.local:
        return "the local key service is disabled and no key service URI was given"
    if not identities.locations:
        return "no key source is configured"
    where = ", ".join(identities.locations_tried)
    if not identities.identities:
        return f"no age key was found; secretsctl looks in {where}"
    return f"make the key of one of the recipients above available in one of: {where}"


def unwrap_data_key(metadata: Metadata, identity_set: IdentitySet, *, file: str) -> Secret[bytes]:
    """Recover the data key of a sops file with the loaded identities.

    With one key group, the first entry that opens gives the 32-byte key. With several, each
    group gives a 33-byte share and the key is rebuilt once ``metadata.threshold`` groups (at
    least two) have opened. ``file`` is only used in messages.

    Raises :class:`NoMatchingIdentityError` when too few groups open, and
    :class:`DataKeyError` when an entry opens but holds no usable key or share.
    """
    groups = metadata.key_groups
    several = len(groups) > 1
    needed = max(metadata.threshold, 2) if several else 1
    size = SHARE_SIZE if several else DATA_KEY_SIZE
    if several and needed > len(groups):
        raise DataKeyError(
            f"{file} needs {needed} key groups but has only {len(groups)}",
            hint="shamir_threshold in the sops metadata is larger than the number of key groups",
        )
    shares: list[bytes] = []
    report: list[tuple[int, _GroupOutcome | None]] = []
    for index, group in enumerate(groups):
        result = _open_group(group, identity_set, size)
        if isinstance(result, bytes):
            if several and (result[-1] == 0 or any(s[-1] == result[-1] for s in shares)):
                failed = _GroupOutcome(note="the share is a duplicate or has no x-coordinate")
                failed.outcomes.append(_EntryOutcome("share", "unusable", opened=True))
                report.append((index, failed))
                continue
            shares.append(result)
            report.append((index, None))
            if len(shares) >= needed:
                break
        else:
            report.append((index, result))
    if len(shares) < needed:
        raise _no_match_error(file, metadata, identity_set, report, needed)
    if not several:
        return Secret(shares[0])
    # Imported here: only files with several key groups need it, and the boot path seldom does.
    from secretsctl.keys import shamir

    try:
        return Secret(shamir.combine(shares))
    except shamir.ShamirError as error:
        raise DataKeyError(f"cannot rebuild the data key of {file}: {error.message}") from None


def unwrap_entry(entry: AgeKey | ForeignKey, identities: IdentitySet) -> bytes | str:
    """Open one metadata entry with the loaded identities: its plaintext, or why not.

    The identities whose public key is the entry's recipient go first, then the rest (for a
    ``pgp`` entry: its kind's identities, or gpg's own home). The reason names no key material.
    """
    if isinstance(entry, ForeignKey):
        likely: tuple[LoadedIdentity, ...] = tuple(
            i for i in identities.identities if i.kind == entry.kind
        )
        rest: tuple[LoadedIdentity, ...] = ()
    else:
        likely, rest = identities.candidates(entry.recipient)
    reasons: list[str] = []
    for batch in (likely, rest):
        if batch or (batch is likely and isinstance(entry, ForeignKey)):
            result = _unwrap(entry, batch)
            if isinstance(result, bytes):
                return result
            reasons.extend(result)
    return _entry_outcome("", reasons).reason


# --- wrapping -------------------------------------------------------------------------------------


def _wrap(
    part: bytes, recipient: Recipient, local: bool, remotes: Sequence[RemoteKeyService]
) -> AgeKey | ForeignKey:
    """Wrap ``part`` for one recipient: locally when enabled, else with the first remote that can.

    This is sops's order: the services in turn, the first success kept for the key.
    """
    reasons: list[str] = []
    if local:
        try:
            return kind_named(recipient.kind).wrap(part, recipient)
        except SecretsctlError as error:
            if not remotes:
                raise
            reasons.append(f"locally: {error.message}")
    for remote in remotes:
        result = remote.encrypt(part, recipient)
        if isinstance(result, AgeKey):
            try:
                stanza_types(result.enc)
            except ValueError:
                result = f"{remote.uri}: the answer is not an age file"
        if not isinstance(result, str):
            return result
        reasons.append(result)
    raise RecipientError(
        f"cannot encrypt the data key to `{shorten(recipient.text)}`\n"
        + "\n".join(f"  {reason}" for reason in reasons),
        hint="check that the key service runs and can encrypt to this recipient",
    )


def generate_data_key() -> Secret[bytes]:
    """Return a fresh random 32-byte data key."""
    return Secret(os.urandom(DATA_KEY_SIZE))


def wrap_data_key(
    data_key: bytes | Secret[bytes],
    groups: Sequence[Sequence[str]],
    threshold: int | None,
    *,
    services: KeyServices | None = None,
) -> tuple[KeyGroup, ...]:
    """Wrap ``data_key`` for every recipient of every group, as sops's metadata key groups.

    With one group each recipient gets the key itself. With several, the key is split into one
    Shamir share per group, any ``threshold`` of which rebuild it (``None`` or ``0``: all
    groups); every recipient of a group gets that group's share. All recipients are parsed
    before anything is encrypted. ``services`` (default: the local one alone) says who
    encrypts: for each recipient the local key service, then each remote one, the first that
    succeeds.
    """
    key = data_key.reveal() if isinstance(data_key, Secret) else data_key
    if len(key) != DATA_KEY_SIZE:
        raise ValueError(f"a data key has {DATA_KEY_SIZE} bytes")
    if not groups or not any(groups):
        raise NoEncryptionKeyError(
            "no recipients to encrypt the data key to",
            hint="pass --age or add a creation rule to .sops.yaml",
        )
    for index, group in enumerate(groups):
        if not group:
            raise NoEncryptionKeyError(f"key group {index + 1} has no recipients")
    parsed = [[parse_recipient(text) for text in group] for group in groups]
    local = services is None or services.local
    remotes: tuple[RemoteKeyService, ...] = ()
    if services is not None and services.uris:
        # Imported here: only remote key services need the client.
        from secretsctl.keyservice.client import remote_services

        remotes = remote_services(services)
    if not local and not remotes:
        from secretsctl.keyservice.client import KeyServiceError

        raise KeyServiceError(
            "no key services to encrypt the data key with: the local one is disabled",
            hint="give a key service URI, or enable the local key service",
        )
    if len(parsed) == 1:
        parts = [key]
    else:
        from secretsctl.keys import shamir  # only for several key groups, as in unwrapping

        wanted = threshold or len(parsed)
        try:
            parts = shamir.split(key, len(parsed), wanted)
        except shamir.ShamirError as error:
            raise KeyGroupError(
                f"could not split the data key into parts for Shamir: {error.message}",
                hint=f"shamir_threshold must be from 2 to the number of key groups, {len(parsed)}",
            ) from None
    groups_out = []
    for recipients, part in zip(parsed, parts, strict=True):
        entries = [_wrap(part, recipient, local, remotes) for recipient in recipients]
        groups_out.append(
            KeyGroup(
                age=tuple(e for e in entries if isinstance(e, AgeKey)),
                foreign=tuple(e for e in entries if isinstance(e, ForeignKey)),
            )
        )
    return tuple(groups_out)
