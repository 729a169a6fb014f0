"""Changing encrypted files in place: the core of edit, set, unset, updatekeys and rotate.

A file is opened for change by decrypting it fully (MAC verified) while keeping every value's
IV (sops-format.md §10.2), so that :func:`reseal` under the same data key leaves each unchanged
``ENC[…]`` string byte-identical: a ``git diff`` of the encrypted file shows the values that
changed, ``lastmodified`` and ``mac``, nothing else. :func:`write_all` replaces several files
so that each one is either fully rewritten or left as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from secretsctl.errors import InputError, OutputError, SecretsctlError
from secretsctl.record import Record, repr_without
from secretsctl.sops.stores import Format

if TYPE_CHECKING:
    from secretsctl.keys.sources import IdentitySet
    from secretsctl.sops.codec import Decrypted
    from secretsctl.sops.metadata import Metadata
    from secretsctl.sops.tree import Documents


class OpenedFile(Record):
    """An encrypted file, read and decrypted for a change; its plaintext never shows in a repr.

    ``decrypted.documents`` are the plaintext trees (change them, or copies of them, and pass
    them to :func:`reseal`); ``decrypted.ivs`` holds the IV of every value as it was.
    """

    path: str
    fmt: Format
    original: bytes  # the file's bytes as read: "unchanged" is judged against them
    decrypted: Decrypted

    def __repr__(self) -> str:
        return repr_without(self, "original", "decrypted")


def open_for_change(
    path: str,
    *,
    fmt: Format | None = None,
    identities: IdentitySet | None = None,
    ignore_mac: bool = False,
) -> OpenedFile:
    """Read and decrypt ``path`` (format from its name unless given), keeping every IV.

    Identities default to every source the sops CLI reads. Raises :class:`InputError` (exit
    100) for a missing file, and the codec's errors (each naming the file) otherwise.
    """
    from secretsctl.sops import codec

    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()
    try:
        with open(path, "rb") as handle:
            original = handle.read()
    except FileNotFoundError:
        from secretsctl.errors import ExitCode

        raise InputError(
            f"{path}: the file does not exist", exit_code=ExitCode.NO_FILE_SPECIFIED
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    fmt = fmt or Format.for_path(path)
    try:
        sops_file = codec.parse(original, fmt)
    except SecretsctlError as exc:
        raise exc.with_file(path) from None
    decrypted = codec.decrypt_file(
        sops_file, identities, label=path, ignore_mac=ignore_mac, keep_ivs=True
    )
    return OpenedFile(path, fmt, original, decrypted)


def reseal(
    opened: OpenedFile,
    documents: Documents,
    *,
    metadata: Metadata | None = None,
    indent: int | None = None,
) -> bytes:
    """Encrypt ``documents`` (in place) under the file's data key, reusing its IVs.

    The master keys are written as they were (``metadata`` replaces the file's, e.g. with
    other key groups wrapping the same data key); ``lastmodified`` is set to now and the MAC
    recomputed.
    """
    from secretsctl.sops import codec

    decrypted = opened.decrypted
    return codec.seal(
        documents,
        opened.fmt,
        metadata or decrypted.metadata,
        decrypted.data_key,
        ivs=decrypted.ivs,
        indent=indent,
    )


def write_all(changes: Sequence[tuple[str, bytes]]) -> None:
    """Replace each ``(path, data)``: every file fully rewritten, or left as it was.

    Each new content is written and synced to a temporary file beside its target (created
    with ``O_CREAT|O_EXCL|O_NOFOLLOW``, given the target's mode and owner on the descriptor)
    before any target is touched; a failure there removes every temporary file and changes
    nothing. Then each is renamed over its target (``rename(2)`` is atomic per file).
    """
    from secretsctl import fsutil

    staged: list[tuple[str, str]] = []
    try:
        for path, data in changes:
            staged.append((fsutil.stage(path, data), path))
    except BaseException:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise
    for index, (temporary, path) in enumerate(staged):
        try:
            os.replace(temporary, os.path.realpath(path))
        except OSError as exc:
            for left, _ in staged[index:]:
                with contextlib.suppress(OSError):
                    os.unlink(left)
            done = [target for _, target in staged[:index]]
            already = f" (already rewritten: {', '.join(done)})" if done else ""
            raise OutputError(f"cannot write {path}: {exc.strerror}{already}") from None
        fsutil.fsync_directory(os.path.dirname(os.path.realpath(path)) or ".")
