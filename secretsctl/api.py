"""The small public surface of secretsctl.

- :func:`decrypt_file` opens a sops file and returns its verified plaintext tree;
- :func:`decrypt_to_bytes` and :func:`encrypt_to_bytes` are what ``secretsctl decrypt`` and
  ``secretsctl encrypt`` do, minus the printing.

Everything else is internal. Nothing here prints; failures are
:class:`~secretsctl.errors.SecretsctlError` subclasses carrying sops's exit codes.
"""

from __future__ import annotations

from secretsctl.errors import InputError, SecretsctlError
from secretsctl.record import Record
from secretsctl.redact import Secret
from secretsctl.sops.stores import Format

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from pathlib import Path

    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices
    from secretsctl.sops.codec import Decrypted
    from secretsctl.sops.creation_rules import EncryptionSettings, StoreSettings


class DecryptOutput(Record):
    """What ``decrypt`` prints, held as a secret, and the warnings met on the way."""

    output: Secret[bytes]
    warnings: tuple[str, ...] = ()


def indent_for(fmt: Format, stores: StoreSettings | None) -> int | None:
    """Return the ``.sops.yaml`` indentation for a store, or None for its default."""
    if stores is None:
        return None
    return {
        Format.YAML: stores.yaml_indent,
        Format.JSON: stores.json_indent,
        Format.BINARY: stores.json_binary_indent,
    }.get(fmt)


def decrypt_file(
    path: str | Path, identities: IdentitySet | None = None, fmt: Format | None = None
) -> Decrypted:
    """Read, decrypt and verify one sops file.

    Identities default to every source sops reads from the environment. A problem with the
    file's contents names the file.
    """
    from secretsctl.sops import codec

    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()
    from secretsctl.limits import read_file

    try:
        data = read_file(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    fmt = fmt or Format.for_path(str(path))
    try:
        sops_file = codec.parse(data, fmt)
    except SecretsctlError as exc:
        raise exc.with_file(str(path)) from None
    return codec.decrypt_file(sops_file, identities, label=str(path))


def decrypt_to_bytes(
    data: bytes,
    *,
    input_format: Format,
    output_format: Format,
    identities: IdentitySet,
    label: str,
    extract: str | None = None,
    ignore_mac: bool = False,
    stores: StoreSettings | None = None,
) -> DecryptOutput:
    """Decrypt a file's bytes to the plaintext that ``sops decrypt`` prints."""
    from secretsctl.errors import SecretsctlError
    from secretsctl.sops import codec

    path = codec.parse_tree_path(extract) if extract else None
    try:
        sops_file = codec.parse(data, input_format)
    except SecretsctlError as exc:
        raise exc.with_file(label) from None
    decrypted = codec.decrypt_file(sops_file, identities, label=label, ignore_mac=ignore_mac)
    store = output_format.store
    indent = indent_for(output_format, stores)
    documents = decrypted.documents
    if path:
        from secretsctl.sops.tree import Branch

        value = codec.extract(documents[0], path)
        if isinstance(value, Branch):
            out = store.emit_plain([value, *documents[1:]], indent=indent)
        elif isinstance(value, str):
            out = value.encode("utf-8", "surrogateescape")
        else:
            out = store.emit_value(value, indent=indent)
    else:
        out = store.emit_plain(documents, indent=indent)
    return DecryptOutput(Secret(out), decrypted.warnings)


def encrypt_to_bytes(
    data: bytes,
    *,
    input_format: Format,
    output_format: Format,
    settings: EncryptionSettings,
    label: str,
    services: KeyServices | None = None,
) -> bytes:
    """Encrypt plaintext bytes to a new sops file (``services`` wrap its data key)."""
    from secretsctl.errors import SecretsctlError
    from secretsctl.sops import codec

    try:
        documents = input_format.store.load_plain(data)
        return codec.encrypt(
            documents, output_format, settings, input_format=input_format, services=services
        )
    except SecretsctlError as exc:
        raise exc.with_file(label) from None
