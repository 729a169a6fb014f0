"""Changing encrypted files in place: the core of edit, set, unset, updatekeys and rotate.

A file is opened for change by decrypting it fully (MAC verified) while keeping every value's
IV, so that :func:`reseal` under the same data key leaves each unchanged
``ENC[…]`` string byte-identical: a ``git diff`` of the encrypted file shows the values that
changed, ``lastmodified`` and ``mac``, nothing else. :func:`write_all` replaces several files
so that each one is either fully rewritten or left as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from secretsctl.errors import ExitCode, InputError, OutputError, SecretsctlError
from secretsctl.record import Record, repr_without
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import Branch, Seq

if TYPE_CHECKING:
    from secretsctl.keys.sources import IdentitySet
    from secretsctl.sops.codec import Decrypted
    from secretsctl.sops.creation_rules import SopsConfig, StoreSettings
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
    original = _read(path, missing=ExitCode.NO_FILE_SPECIFIED)
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
    output_fmt: Format | None = None,
) -> bytes:
    """Encrypt ``documents`` (in place) under the file's data key, reusing its IVs.

    ``output_fmt`` writes the file in another store (sops's ``--output-type``).

    The master keys are written as they were (``metadata`` replaces the file's, e.g. with
    other key groups wrapping the same data key); ``lastmodified`` is set to now and the MAC
    recomputed.
    """
    from secretsctl.sops import codec

    decrypted = opened.decrypted
    return codec.seal(
        documents,
        output_fmt or opened.fmt,
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


# --- set and unset ------------------------------------------------------


class SetFormatError(SecretsctlError):
    """A ``set``/``unset`` path or ``set`` value that cannot be used (sops's exit 7)."""

    exit_code = ExitCode.INVALID_SET_FORMAT


class KeyNotFoundError(SecretsctlError):
    """``unset`` of a key or index that is not there (sops's ``SopsKeyNotFound``, exit 1)."""

    exit_code = ExitCode.GENERIC


def _component(component: str | int) -> str:
    return f"[{component}]" if isinstance(component, int) else f"['{component}']"


def parse_set_path(text: str) -> list[str | int]:
    """Parse a ``set``/``unset`` PATH (``--extract`` syntax); errors are exit 7, as in sops.

    Unlike sops, which panics on them, an empty path and negative indices are refused.
    """
    from secretsctl.sops.codec import parse_tree_path

    try:
        path = parse_tree_path(text)
    except SecretsctlError as exc:
        raise SetFormatError(f"invalid index format: {exc.message.split(': ', 1)[-1]}") from None
    if not path:
        raise SetFormatError("invalid index format: the path is empty", hint="""e.g. '["key"]'""")
    for component in path:
        if isinstance(component, int) and component < 0:
            raise SetFormatError(f"invalid index format: {_component(component)} is negative")
    return path


def parse_set_value(text: str | bytes) -> Any:
    """Turn a JSON VALUE into a tree value as sops's ``set`` does.

    Numbers are float64 (``42`` becomes ``type:float``, as in sops 3.11), objects become
    mappings in their order, ``null`` is ``None``. Beyond sops, a JSON array is accepted (sops
    3.11 refuses it with exit 7). The message never quotes the value.
    """
    import json

    from secretsctl.sops.stores import json_store

    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    try:
        json.loads(raw)
        # The store's reader gives sops's value semantics; the check above guarantees that
        # the wrapper holds exactly one member.
        wrapped = json_store.load_plain(b'{"v":' + raw + b"\n}")
    except (ValueError, SecretsctlError):
        raise SetFormatError(
            "the value is not valid JSON",
            hint="""quote strings as JSON: '"text"'; numbers, true, false, null, {…} and […]""",
        ) from None
    return wrapped[0][0][1]


def _same(one: Any, other: Any) -> bool:
    """Equality with types, as sops's ``equals``: ``42`` (int) and ``42.0`` differ."""
    if type(one) is not type(other):
        return False
    if isinstance(one, Branch):
        return len(one) == len(other) and all(
            _same(k1, k2) and _same(v1, v2) for (k1, v1), (k2, v2) in zip(one, other, strict=True)
        )
    if isinstance(one, Seq):
        return len(one) == len(other) and all(map(_same, one, other))
    return bool(one == other)


def _from_path(path: Sequence[str | int], leaf: Any) -> Any:
    """Build the subtree that holds ``leaf`` at ``path`` (sops's ``valueFromPathAndLeaf``)."""
    node = leaf
    for component in reversed(path):
        node = Seq([node]) if isinstance(component, int) else Branch([(component, node)])
    return node


def _set(
    node: Any, path: Sequence[str | int], value: Any, done: list[str | int]
) -> tuple[Any, bool]:
    component, rest = path[0], path[1:]
    if isinstance(node, Branch):
        if isinstance(component, int):
            # sops silently writes the file unchanged here; refusing says what went wrong.
            raise SecretsctlError(
                f"component {_component(component)} is an index, but {_where(done)} is a mapping"
            )
        for index, (key, old) in enumerate(node):
            if key.__class__ is str and key == component:
                if not rest:
                    node[index] = (key, value)
                    return node, not _same(old, value)
                new, changed = _set(old, rest, value, [*done, component])
                node[index] = (key, new)
                return node, changed
        node.append((component, _from_path(rest, value)))
        return node, True
    if isinstance(node, Seq):
        if isinstance(component, str):
            raise SecretsctlError(
                f"component {_component(component)} is a key, but {_where(done)} is a list"
            )
        if component >= len(node):
            # sops appends, whatever the index; an index never leaves a gap.
            node.append(_from_path(rest, value))
            return node, True
        if not rest:
            old = node[component]
            node[component] = value
            return node, not _same(old, value)
        new, changed = _set(node[component], rest, value, [*done, component])
        node[component] = new
        return node, changed
    new = _from_path(path, value)
    return new, not _same(node, new)


def _where(done: Sequence[str | int]) -> str:
    return "".join(_component(c) for c in done) or "the document"


def set_value(document: Branch, path: Sequence[str | int], value: Any) -> bool:
    """Set ``value`` at ``path`` in ``document`` (in place), as sops's ``TreeBranch.Set``.

    Missing keys are created (with mappings, or one-element lists for index components) and
    appended to their mapping; an index at or past the end of a list appends; a scalar on the
    way is replaced. List indices count comment elements, as in sops. Returns whether anything
    changed (type included). An index on a mapping or a key on a list raises
    :class:`SecretsctlError` (sops writes the file unchanged, or panics).
    """
    if not path:
        raise SetFormatError("invalid index format: the path is empty")
    return _set(document, path, value, [])[1]


def unset_value(document: Branch, path: Sequence[str | int]) -> None:
    """Remove the key or list element at ``path`` from ``document`` (in place).

    As sops's ``TreeBranch.Unset``: a missing key or an index past the end raises
    :class:`KeyNotFoundError`; list indices count comment elements. A path through a scalar,
    an index on a mapping or a key on a list raises :class:`SecretsctlError` too.
    """
    if not path:
        raise SetFormatError("invalid index format: the path is empty")
    node: Any = document
    for depth, component in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, Branch):
            if isinstance(component, int):
                raise KeyNotFoundError(
                    f"component {_component(component)} is an index, but"
                    f" {_where(path[:depth])} is a mapping"
                )
            for index, (key, value) in enumerate(node):
                if key.__class__ is str and key == component:
                    if last:
                        del node[index]
                        return
                    node = value
                    break
            else:
                raise KeyNotFoundError(f"key {_component(component)} not found")
        elif isinstance(node, Seq):
            if isinstance(component, str):
                raise SecretsctlError(
                    f"component {_component(component)} is a key, but"
                    f" {_where(path[:depth])} is a list"
                )
            if component >= len(node):
                raise KeyNotFoundError(f"index {_component(component)} out of bounds")
            if last:
                del node[component]
                return
            node = node[component]
        else:
            raise SecretsctlError(
                f"{_where(path[:depth])} holds a value, not a mapping or list, so"
                f" {_component(component)} cannot be in it"
            )


class SetResult(Record):
    """The outcome of ``set``/``unset`` on one file: the new bytes, or None when unchanged."""

    path: str
    content: bytes | None


class Rewrite(Record):
    """How ``set``, ``unset`` and ``rotate`` open a file and write it back.

    ``fmt`` None: from the extension; ``output_fmt`` None: the input's store; ``indent``
    None: the store's default.
    """

    fmt: Format | None = None
    identities: IdentitySet | None = None
    ignore_mac: bool = False
    indent: int | None = None
    output_fmt: Format | None = None


# The file's own store and indentation, and this host's keys.
AS_FOUND = Rewrite()


def _open_existing(path: str, rewrite: Rewrite) -> OpenedFile:
    """:func:`open_for_change`, with sops's exit 2 (not 100) for a missing file."""
    try:
        return open_for_change(
            path, fmt=rewrite.fmt, identities=rewrite.identities, ignore_mac=rewrite.ignore_mac
        )
    except InputError as exc:
        if exc.exit_code == ExitCode.NO_FILE_SPECIFIED:
            exc.exit_code = ExitCode.COULD_NOT_READ_INPUT_FILE
        raise


def _first_document(opened: OpenedFile) -> Branch:
    documents = opened.decrypted.documents
    if not documents:
        raise InputError(
            f"{opened.path}: the file holds no document",
            exit_code=ExitCode.NEED_AT_LEAST_ONE_DOCUMENT,
        )
    return documents[0]


def _reseal(opened: OpenedFile, rewrite: Rewrite) -> bytes:
    return reseal(
        opened, opened.decrypted.documents, indent=rewrite.indent, output_fmt=rewrite.output_fmt
    )


def set_in_file(
    path: str,
    tree_path: Sequence[str | int],
    value: Any,
    *,
    idempotent: bool = False,
    rewrite: Rewrite = AS_FOUND,
) -> SetResult:
    """Set one value in the first document of an encrypted file and reseal it.

    Every other ``ENC[…]`` keeps its bytes. As in sops, the file is rewritten even when the
    value was already there, unless ``idempotent`` (then ``content`` is None).
    """
    from secretsctl.sops.codec import check_not_encrypted

    opened = _open_existing(path, rewrite)
    document = _first_document(opened)
    try:
        changed = set_value(document, tree_path, value)
    except SecretsctlError as exc:
        raise exc.with_file(path) from None
    if idempotent and not changed:
        return SetResult(path, None)
    try:
        check_not_encrypted(opened.decrypted.documents, opened.fmt)
    except SecretsctlError as exc:
        raise SecretsctlError(
            f"{path}: cannot set the top-level `sops` key: it holds the file's metadata",
            exit_code=exc.exit_code,
        ) from None
    return SetResult(path, _reseal(opened, rewrite))


def unset_in_file(
    path: str,
    tree_path: Sequence[str | int],
    *,
    idempotent: bool = False,
    rewrite: Rewrite = AS_FOUND,
) -> SetResult:
    """Remove one key or list element from the first document and reseal the file.

    With ``idempotent``, a missing key is not an error and ``content`` is None.
    """
    opened = _open_existing(path, rewrite)
    document = _first_document(opened)
    try:
        unset_value(document, tree_path)
    except KeyNotFoundError as exc:
        if idempotent:
            return SetResult(path, None)
        raise exc.with_file(path) from None
    except SecretsctlError as exc:
        raise exc.with_file(path) from None
    return SetResult(path, _reseal(opened, rewrite))


# --- updatekeys and rotate ----------------------------------------


class GroupDiff(Record):
    """How one key group changes: its keys kept, added and removed, by their public names."""

    common: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


class KeyUpdate(Record):
    """The planned ``updatekeys`` change of one file; ``content`` is None when up to date."""

    path: str
    groups: tuple[GroupDiff, ...]
    old_threshold: int
    new_threshold: int
    content: bytes | None

    def __repr__(self) -> str:
        return repr_without(self, "content")


def _group_names(metadata: Metadata) -> list[list[str]]:
    """Each group's keys by the strings a creation rule names them with (sops's ``ToString``).

    Keys of a kind secretsctl cannot wrap for (cloud KMS, Vault) keep their label.
    """
    from secretsctl.keys.kinds import KIND_MODULES

    return [
        [key.recipient for key in group.age]
        + [
            key.recipient if key.kind in KIND_MODULES and key.recipient else key.label
            for key in group.foreign
        ]
        for group in metadata.key_groups
    ]


def diff_key_groups(
    ours: Sequence[Sequence[str]], theirs: Sequence[Sequence[str]]
) -> tuple[GroupDiff, ...]:
    """Compare key groups position by position, by key string (sops's ``DiffKeyGroups``)."""
    diffs = []
    for index in range(max(len(ours), len(theirs))):
        mine = list(ours[index]) if index < len(ours) else []
        new = list(theirs[index]) if index < len(theirs) else []
        diffs.append(
            GroupDiff(
                common=tuple(k for k in new if k in mine),
                added=tuple(k for k in new if k not in mine),
                removed=tuple(k for k in mine if k not in new),
            )
        )
    return tuple(diffs)


_T = TypeVar("_T")


def _collect(paths: Sequence[str], work: Callable[[str], _T]) -> list[_T]:
    """Run ``work(path)`` for every file; raise every failure together, naming each file."""
    results: list[_T] = []
    problems: list[SecretsctlError] = []
    for path in paths:
        try:
            results.append(work(path))
        except SecretsctlError as exc:
            problems.append(exc if path in exc.message else exc.with_file(path))
    if len(problems) == 1 and len(paths) == 1:
        raise problems[0]
    if problems:
        from secretsctl.errors import ProblemsError

        raise ProblemsError(problems)
    return results


def _read_sops_file(
    path: str, fmt: Format | None, *, missing: ExitCode = ExitCode.GENERIC
) -> tuple[Format, Any]:
    from secretsctl.sops import codec

    original = _read(path, missing=missing)
    fmt = fmt or Format.for_path(path)
    try:
        return fmt, codec.parse(original, fmt)
    except SecretsctlError as exc:
        raise exc.with_file(path) from None


def _read(path: str, *, missing: ExitCode) -> bytes:
    """Read a file to change; ``missing`` is the exit code when it does not exist."""
    from secretsctl.limits import read_file

    try:
        return read_file(path)
    except FileNotFoundError:
        raise InputError(f"{path}: the file does not exist", exit_code=missing) from None
    except IsADirectoryError:
        raise InputError(f"{path}: can't operate on a directory", exit_code=missing) from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _rewrap(
    path: str,
    fmt: Format,
    sops_file: Any,
    data_key: Any,
    groups: Sequence[Sequence[str]],
    threshold: int,
    identities: IdentitySet,
    stores: StoreSettings | None,
) -> tuple[int, bytes]:
    """Wrap ``data_key`` for ``groups``; emit the file with its values, MAC and time unchanged.

    ``threshold`` 0 means every group (written so when there are several, as sops does).
    Returns the threshold written and the new bytes.
    """
    from secretsctl.api import indent_for
    from secretsctl.keys.keyring import wrap_data_key
    from secretsctl.sops import metadata as md

    wrapped = wrap_data_key(data_key, groups, threshold or None, services=identities.services)
    written = (threshold or len(wrapped)) if len(wrapped) > 1 else threshold
    final = sops_file.metadata._replace(key_groups=wrapped, shamir_threshold=written)
    tree = md.to_tree(final, single_value_store=fmt is Format.BINARY)
    content: bytes = fmt.store.emit_encrypted(
        sops_file.documents, tree, indent=indent_for(fmt, stores)
    )
    return written, content


def _wrappable_groups(path: str, metadata: Metadata, action: str) -> list[list[str]]:
    """Each key group's recipients, as strings to wrap a new data key (or share) for.

    Raises :class:`SecretsctlError` when a key is of a kind secretsctl cannot wrap for (cloud
    KMS, Vault): the new key would not reach it.
    """
    from secretsctl.keys.kinds import KIND_MODULES

    foreign = [
        key.label
        for group in metadata.key_groups
        for key in group.foreign
        if key.kind not in KIND_MODULES or not key.recipient
    ]
    if foreign:
        raise SecretsctlError(
            f"{path}: cannot {action}: secretsctl cannot wrap a data key for {', '.join(foreign)}",
            hint="use sops for this file, or remove those keys with `secretsctl updatekeys`",
        )
    return [
        [key.recipient for key in group.age]
        + [key.recipient for key in group.foreign if key.recipient]
        for group in metadata.key_groups
    ]


def plan_updatekeys(
    paths: Sequence[str],
    config: SopsConfig,
    *,
    threshold: int | None = None,
    fmt: Format | None = None,
    identities: IdentitySet | None = None,
) -> list[KeyUpdate]:
    """Compute every file's new key groups from its creation rule, and its new bytes.

    Only the data key is decrypted; it is wrapped again for every key of the rule (kept
    recipients get a fresh ``enc`` too). Values, ``lastmodified``, ``mac`` and ``version``
    stay as they are. The Shamir threshold is ``threshold`` or the file's, capped at the
    number of new groups. Nothing is written: every failure, in any file, is raised together.
    """
    from secretsctl.keys.keyring import unwrap_data_key
    from secretsctl.sops.creation_rules import rule_for

    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()

    def plan(path: str) -> KeyUpdate:
        file_fmt, sops_file = _read_sops_file(path, fmt)
        metadata = sops_file.metadata
        settings = rule_for(config, path)
        new_groups = [list(group) for group in settings.key_groups]
        diffs = diff_key_groups(_group_names(metadata), new_groups)
        old = metadata.shamir_threshold
        new = min(threshold or old, len(new_groups))
        if not any(d.added or d.removed for d in diffs) and new == old:
            return KeyUpdate(path, diffs, old, new, None)
        data_key = unwrap_data_key(metadata, identities, file=path)
        written, content = _rewrap(
            path, file_fmt, sops_file, data_key, new_groups, new, identities, config.stores
        )
        return KeyUpdate(path, diffs, old, written, content)

    return _collect(paths, plan)


def rotate_files(
    paths: Sequence[str],
    *,
    add_age: Sequence[str] = (),
    remove_age: Sequence[str] = (),
    fmt: Format | None = None,
    identities: IdentitySet | None = None,
    ignore_mac: bool = False,
    stores: StoreSettings | None = None,
    add_pgp: Sequence[str] = (),
    remove_pgp: Sequence[str] = (),
    output_fmt: Format | None = None,
) -> list[tuple[str, bytes]]:
    """Re-encrypt every file under a new data key; return ``(path, new bytes)`` for each.

    ``output_fmt`` writes the files in another store (sops's ``--output-type``).

    ``add_age`` recipients and ``add_pgp`` fingerprints join key group 1 (once),
    ``remove_age`` and ``remove_pgp`` leave every group (each list checked for its kind). Every
    value, comment and the MAC get fresh random IVs: sops 3.11 keeps the old IVs under the new
    key, which is safe but gains nothing. Nothing is written; every failure is raised together.
    """
    from secretsctl.api import indent_for
    from secretsctl.keys.keyring import generate_data_key, wrap_data_key
    from secretsctl.sops import codec

    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()
    opening = Rewrite(fmt, identities, ignore_mac)
    from secretsctl.keys.kinds import recipients_for

    added = [*recipients_for("age", add_age), *recipients_for("pgp", add_pgp)]
    removed = {*recipients_for("age", remove_age), *recipients_for("pgp", remove_pgp)}

    def rotate(path: str) -> tuple[str, bytes]:
        if (added or removed) and not os.path.exists(path):
            raise InputError(
                f"{path}: cannot add or remove keys on a file that does not exist",
                hint="create it with `secretsctl encrypt` first",
                exit_code=ExitCode.CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
            )
        opened = _open_existing(path, opening)
        metadata = opened.decrypted.metadata
        groups = _wrappable_groups(path, metadata, "rotate")
        groups[0].extend(r for r in dict.fromkeys(added) if r not in groups[0])
        groups = [[r for r in group if r not in removed] for group in groups]
        for index, group in enumerate(groups):
            if not group:
                raise SecretsctlError(
                    f"{path}: --rm-age/--rm-pgp would leave key group {index + 1} without"
                    " recipients",
                    hint="every key group needs a recipient; --add-age and --add-pgp add to the"
                    " first group",
                )
        data_key = generate_data_key()
        wrapped = wrap_data_key(
            data_key, groups, metadata.shamir_threshold or None, services=identities.services
        )
        final = metadata._replace(key_groups=wrapped)
        content = codec.seal(
            opened.decrypted.documents,
            output_fmt or opened.fmt,
            final,
            data_key,
            ivs=None,
            indent=indent_for(output_fmt or opened.fmt, stores),
        )
        return path, content

    return _collect(paths, rotate)


# --- groups add and delete -----------------------------------------------------------------


def _groups_data_key(path: str, sops_file: Any, identities: IdentitySet) -> Any:
    """Unwrap the data key; as sops's ``groups`` commands, failing to is exit 1 (not 128)."""
    from secretsctl.keys.keyring import unwrap_data_key

    try:
        return unwrap_data_key(sops_file.metadata, identities, file=path)
    except SecretsctlError as exc:
        if exc.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY:
            exc.exit_code = ExitCode.GENERIC
        raise


def _check_threshold(path: str, threshold: int, groups: int, change: str) -> None:
    """Refuse a threshold above the number of groups (sops's wording, from its delete)."""
    if threshold > groups:
        raise SecretsctlError(
            f"{path}: {change} will make the Shamir threshold impossible to satisfy: Shamir"
            f" threshold is {threshold}, but we only have {groups} key groups",
            hint="pass --shamir-secret-sharing-threshold N with N at most the number of groups",
        )


def add_key_group(
    path: str,
    recipients: Sequence[str],
    *,
    threshold: int = 0,
    identities: IdentitySet | None = None,
    stores: StoreSettings | None = None,
) -> bytes:
    """Return ``path`` with one more key group, of ``recipients`` (sops's ``groups add``).

    The data key is unwrapped and split again into one Shamir share per group (every key of
    every group gets its new share); values, ``lastmodified`` and ``mac`` stay as they are.
    ``threshold`` 0 keeps the file's (0 there: every group must open it, as sops). Where sops
    writes a file nobody can open (an empty new group, a recipient it cannot parse, a
    threshold above the number of groups) this refuses. Nothing is written.
    """
    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()
    fmt, sops_file = _read_sops_file(path, None, missing=ExitCode.COULD_NOT_READ_INPUT_FILE)
    if not recipients:
        raise SecretsctlError(
            f"{path}: the new key group has no keys",
            hint="give its keys with --age RECIPIENT or --pgp FINGERPRINT",
        )
    from secretsctl.keys.kinds import parse_recipient

    for recipient in recipients:
        parse_recipient(recipient)
    metadata = sops_file.metadata
    groups = [*_wrappable_groups(path, metadata, "add a key group"), list(recipients)]
    threshold = threshold or metadata.shamir_threshold
    _check_threshold(path, threshold, len(groups), "adding this key group")
    data_key = _groups_data_key(path, sops_file, identities)
    return _rewrap(path, fmt, sops_file, data_key, groups, threshold, identities, stores)[1]


def parse_group_index(text: str) -> int:
    """Parse ``groups delete``'s INDEX as sops does (a decimal uint32); errors are exit 1."""
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**32:
        raise SecretsctlError(
            f"failed to parse [index] argument: {text!r} is not a key group index",
            hint="key groups are numbered from 0, in the order the file lists them",
        )
    return int(text)


def delete_key_group(
    path: str,
    index: int,
    *,
    threshold: int = 0,
    identities: IdentitySet | None = None,
    stores: StoreSettings | None = None,
) -> bytes:
    """Return ``path`` without key group ``index`` (from 0), as sops's ``groups delete``.

    The data key is split again for the groups left, so the deleted group's keys no longer
    open the file. ``threshold`` 0 keeps the file's. Refused, before any key is needed: an
    index past the last group (sops panics), deleting the only group (sops writes a file
    without keys), and a threshold above the groups left (sops's own refusal).
    """
    if identities is None:
        from secretsctl.keys.sources import load_identities

        identities = load_identities()
    fmt, sops_file = _read_sops_file(path, None, missing=ExitCode.COULD_NOT_READ_INPUT_FILE)
    metadata = sops_file.metadata
    count = len(metadata.key_groups)
    if index >= count:
        raise SecretsctlError(
            f"{path}: there is no key group {index}: the file has {count}"
            f" (numbered from 0 to {count - 1})"
        )
    if count == 1:
        raise SecretsctlError(
            f"{path}: cannot delete key group 0: it is the file's only key group",
            hint="add another group first (`groups add`), or change its keys with updatekeys",
        )
    kept = metadata.key_groups[:index] + metadata.key_groups[index + 1 :]
    # Only the groups left need a new share: a cloud key in the deleted one is no obstacle.
    groups = _wrappable_groups(path, metadata._replace(key_groups=kept), "delete a key group")
    threshold = threshold or metadata.shamir_threshold
    _check_threshold(path, threshold, len(groups), "removing this key group")
    data_key = _groups_data_key(path, sops_file, identities)
    return _rewrap(path, fmt, sops_file, data_key, groups, threshold, identities, stores)[1]
