"""Decrypting and encrypting whole sops files: tree walk, MAC, metadata, stores.

The steps and their failure classes follow sops 3.11's ``DecryptTree`` and ``EncryptTree``:
unwrap the data key (exit 128), decrypt every value and hash the plaintext (exit 25), then
decrypt the stored MAC and compare it in constant time (exit 51). Nothing is returned before
all three succeed.
"""

from __future__ import annotations

import os
import time

from secretsctl.errors import (
    AlreadyEncryptedError,
    EncryptionError,
    ExitCode,
    InputError,
    MacMismatchError,
    SecretsctlError,
    TreePathError,
    ValueDecryptionError,
)
from secretsctl.keys import keyring
from secretsctl.record import Record, repr_without
from secretsctl.redact import Secret, constant_time_equal
from secretsctl.sops import metadata as md
from secretsctl.sops.cipher import DATA_KEY_SIZE, Cipher, IvStash, sha512
from secretsctl.sops.grammar import TYPE_STR, from_plaintext, mac_aad, to_bytes
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import (
    Branch,
    Comment,
    CryptRule,
    Documents,
    Seq,
    compile_rule_pattern,
    walk,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Final

    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices
    from secretsctl.sops.creation_rules import EncryptionSettings

# SHA-256("sops"): the first bytes hashed when mac_only_encrypted is set.
MAC_ONLY_ENCRYPTED_SEED: Final = bytes.fromhex(
    "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69"
)


def describe_aad(aad: str) -> str:
    """Name a key path for messages from a leaf's AAD (``a:b:`` → ``a:b``; top: ``/``)."""
    return aad[:-1] if len(aad) > 1 else "/"


class SopsFile(Record):
    """A parsed sops file whose values are still encrypted."""

    documents: Documents
    metadata: md.Metadata
    fmt: Format

    def __repr__(self) -> str:
        return repr_without(self, "documents")


class Decrypted(Record):
    """A decrypted, MAC-verified file. Its plaintext documents never show in a repr."""

    documents: Documents
    metadata: md.Metadata
    fmt: Format
    data_key: Secret[bytes]
    warnings: tuple[str, ...] = ()
    ivs: IvStash | None = None

    def __repr__(self) -> str:
        return repr_without(self, "documents", "ivs")


def parse(data: bytes, fmt: Format) -> SopsFile:
    """Parse an encrypted file and validate its metadata, decrypting nothing."""
    documents, metadata_tree = fmt.store.load_encrypted(data)
    return SopsFile(documents, md.from_tree(metadata_tree), fmt)


def _decrypt_comment(cipher: Cipher, comment: Comment, aad: str) -> Comment | None:
    """Decrypt an encrypted comment, trying its container's AAD and then every ancestor's."""
    candidates = [aad]
    parts = aad.split(":")[:-1]
    while parts:
        parts.pop()
        candidates.append(":".join(parts) + ":" if parts else ":")
    for candidate in dict.fromkeys(candidates):
        try:
            type_tag, plaintext = cipher.decrypt_bytes(comment.text, candidate)
        except ValueDecryptionError:
            continue
        value = from_plaintext(type_tag, plaintext)
        return value if isinstance(value, Comment) else Comment(str(value))
    return None


def decrypt_documents(
    documents: Documents, metadata: md.Metadata, cipher: Cipher, warnings: list[str]
) -> str:
    """Decrypt every value in place and return the MAC computed over the plaintext."""
    digest = sha512()
    if metadata.mac_only_encrypted:
        digest.update(MAC_ONLY_ENCRYPTED_SEED)
    update = digest.update
    hash_unencrypted = not metadata.mac_only_encrypted
    decrypt_bytes = cipher.decrypt_bytes

    def on_leaf(value: Any, aad: str, encrypted: bool, is_comment: bool) -> Any:
        if not encrypted:
            if hash_unencrypted and not is_comment:
                update(to_bytes(value))
            return value
        if is_comment:
            if value.text == "":
                return value
            plain = _decrypt_comment(cipher, value, aad)
            if plain is None:
                warnings.append(
                    f"a comment under {describe_aad(aad)} is not encrypted or does not decrypt;"
                    " it is kept as it is"
                )
                return value
            return plain
        if value.__class__ is not str:
            raise ValueDecryptionError(
                f"the value at {describe_aad(aad)} is a plain {type(value).__name__} where an"
                " encrypted ENC[…] value was expected"
            )
        if value == "":
            return ""
        try:
            type_tag, plaintext = decrypt_bytes(value, aad)
            if type_tag == TYPE_STR:
                update(plaintext)
                return plaintext.decode("utf-8", "surrogateescape")
            typed = from_plaintext(type_tag, plaintext)
        except ValueDecryptionError as exc:
            raise ValueDecryptionError(
                f"Could not decrypt the value at {describe_aad(aad)}: {exc.message}"
            ) from None
        if typed.__class__ is not Comment:
            update(to_bytes(typed))
        return typed

    walk(documents, metadata.rule, on_leaf)
    return digest.hexdigest().upper()


def verify_mac(metadata: md.Metadata, cipher: Cipher, computed: str) -> None:
    """Decrypt the stored MAC and compare it with ``computed`` in constant time."""
    if not metadata.mac:
        raise MacMismatchError("MAC mismatch: the file has no MAC")
    try:
        stored = cipher.decrypt(metadata.mac, mac_aad(metadata.lastmodified))
    except ValueDecryptionError:
        raise MacMismatchError(
            "MAC mismatch: the MAC does not decrypt (the MAC or lastmodified was changed)"
        ) from None
    if not isinstance(stored, str) or not constant_time_equal(stored.encode(), computed.encode()):
        raise MacMismatchError(
            "MAC mismatch: the content does not match the MAC (a value, an unencrypted value,"
            " or the order of values was changed)"
        )


def decrypt_file(
    sops_file: SopsFile,
    identities: IdentitySet,
    *,
    label: str,
    ignore_mac: bool = False,
    keep_ivs: bool = False,
) -> Decrypted:
    """Unwrap the data key, decrypt every value and verify the MAC.

    ``label`` names the file in messages. ``keep_ivs`` records every value's IV so that a later
    re-encryption leaves unchanged values byte-identical.
    """
    data_key = keyring.unwrap_data_key(sops_file.metadata, identities, file=label)
    return decrypt_with_key(
        sops_file, data_key, label=label, ignore_mac=ignore_mac, keep_ivs=keep_ivs
    )


def decrypt_with_key(
    sops_file: SopsFile,
    data_key: Secret[bytes],
    *,
    label: str,
    ignore_mac: bool = False,
    keep_ivs: bool = False,
) -> Decrypted:
    """Decrypt and verify with an already unwrapped data key."""
    cipher = Cipher(data_key.reveal(), {} if keep_ivs else None)
    warnings: list[str] = []
    try:
        computed = decrypt_documents(sops_file.documents, sops_file.metadata, cipher, warnings)
        if not ignore_mac:
            verify_mac(sops_file.metadata, cipher, computed)
    except SecretsctlError as exc:
        raise exc.with_file(label) from None
    return Decrypted(
        sops_file.documents,
        sops_file.metadata,
        sops_file.fmt,
        data_key,
        tuple(warnings),
        cipher.stash,
    )


# --- encryption ---------------------------------------------------------------------------


def encrypt_documents(
    documents: Documents, rule: CryptRule, mac_only_encrypted: bool, cipher: Cipher
) -> str:
    """Encrypt every selected value in place and return the MAC of the plaintext."""
    digest = sha512()
    if mac_only_encrypted:
        digest.update(MAC_ONLY_ENCRYPTED_SEED)
    update = digest.update
    encrypt = cipher.encrypt
    check_comment = None
    if rule.field == "unencrypted_comment_regex":
        check_comment = compile_rule_pattern(rule.field, rule.value).search

    def on_leaf(value: Any, aad: str, encrypted: bool, is_comment: bool) -> Any:
        if (encrypted or not mac_only_encrypted) and not is_comment:
            update(to_bytes(value))
        if not encrypted:
            return value
        sealed = encrypt(value, aad)
        if is_comment and check_comment is not None and check_comment(sealed):
            raise EncryptionError(
                "an encrypted comment matches unencrypted_comment_regex; make sure the pattern"
                " cannot match ENC[…] text"
            )
        return sealed

    walk(documents, rule, on_leaf)
    return digest.hexdigest().upper()


def now_rfc3339() -> str:
    """Return the current time as sops writes ``lastmodified``: UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def seal(
    documents: Documents,
    fmt: Format,
    metadata: md.Metadata,
    data_key: Secret[bytes],
    *,
    ivs: IvStash | None = None,
    indent: int | None = None,
) -> bytes:
    """Encrypt ``documents`` (in place) under ``data_key`` and emit the file.

    ``lastmodified`` is set to now and the MAC recomputed; ``ivs`` reuses the IVs of unchanged
    values. The master keys in ``metadata`` are written as they are.
    """
    single_value = fmt is Format.BINARY
    rule = CryptRule() if single_value else metadata.rule
    cipher = Cipher(data_key.reveal(), dict(ivs) if ivs is not None else None)
    mac = encrypt_documents(documents, rule, metadata.mac_only_encrypted, cipher)
    lastmodified = now_rfc3339()
    sealed_mac = cipher.encrypt_str(mac, mac_aad(lastmodified))
    final = metadata.with_mac(sealed_mac, lastmodified)
    tree = md.to_tree(final, single_value_store=single_value)
    return fmt.store.emit_encrypted(documents, tree, indent=indent)


def check_not_encrypted(documents: Documents, fmt: Format) -> None:
    """Refuse plaintext that already carries sops metadata (sops's ``FileAlreadyEncrypted``)."""
    if fmt.store.has_metadata(documents):
        raise AlreadyEncryptedError(
            "File already encrypted",
            hint="decrypt it first, or use `secretsctl edit` to change it",
        )


def encrypt(
    documents: Documents,
    fmt: Format,
    settings: EncryptionSettings,
    *,
    input_format: Format | None = None,
    services: KeyServices | None = None,
) -> bytes:
    """Encrypt plaintext documents (read with ``input_format``) to a new ``fmt`` file.

    ``services`` are the key services that wrap the data key (default: the local one).
    """
    if not documents:
        raise InputError(
            "File cannot be completely empty", exit_code=ExitCode.NEED_AT_LEAST_ONE_DOCUMENT
        )
    check_not_encrypted(documents, input_format or fmt)
    metadata, data_key = new_data_key(settings, services=services)
    return seal(documents, fmt, metadata, data_key, indent=settings.indent)


def new_data_key(
    settings: EncryptionSettings, *, services: KeyServices | None = None
) -> tuple[md.Metadata, Secret[bytes]]:
    """Make a fresh data key, wrap it for the settings' key groups, and build the metadata.

    The metadata has no MAC yet: :func:`seal` adds it. ``edit`` of a new file calls this before
    the editor opens, so a bad recipient is reported before anything is typed.
    """
    data_key = os.urandom(DATA_KEY_SIZE)
    threshold = settings.shamir_threshold
    groups = keyring.wrap_data_key(
        data_key, [list(g) for g in settings.key_groups], threshold, services=services
    )
    metadata = md.Metadata(
        key_groups=groups,
        lastmodified="",
        mac="",
        version=md.SOPS_VERSION,
        rule=settings.rule or CryptRule(),
        mac_only_encrypted=settings.mac_only_encrypted,
        # sops always writes the threshold with several groups (a missing one means 0 to it),
        # and with one group the one given, though a single group ignores it.
        shamir_threshold=(threshold or len(groups)) if len(groups) > 1 else (threshold or 0),
    )
    return metadata, Secret(data_key)


# --- --extract ----------------------------------------------------------------------------


def parse_tree_path(text: str) -> list[str | int]:
    """Parse ``["a"][0]['b']`` as sops's ``parseTreePath`` does."""
    path: list[str | int] = []
    for component in text.split("["):
        if component == "":
            continue
        if not component.endswith("]"):
            raise TreePathError(
                f"error parsing --extract path: component {component} doesn't end with ]"
            )
        component = component[:-1]
        if component[:1] in ('"', "'"):
            path.append(component[1:-1])
            continue
        body = component[1:] if component[:1] in "+-" else component
        if not body.isdigit() or not body.isascii():
            raise TreePathError(
                f"error parsing --extract path: component [{component}] is neither a quoted key"
                " nor an index"
            )
        path.append(int(component))
    return path


def extract(document: Branch, path: list[str | int]) -> Any:
    """Follow ``path`` in one document, as sops's ``TreeBranch.Truncate`` does."""
    current: Any = document
    for component in path:
        if isinstance(component, str):
            if not isinstance(current, Branch):
                raise SecretsctlError(f"component ['{component}'] not found")
            for key, value in current:
                if key == component and not isinstance(key, Comment):
                    current = value
                    break
            else:
                raise SecretsctlError(f"component ['{component}'] not found")
        else:
            if not isinstance(current, Seq):
                raise SecretsctlError(
                    f"component [{component}] is integer, but tree part is not a slice"
                )
            if not 0 <= component < len(current):
                raise SecretsctlError(f"component [{component}] accesses out of bounds")
            current = current[component]
    return current
