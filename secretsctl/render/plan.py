"""From a :class:`Manifest` to a :class:`RenderPlan`: every file's bytes, owner and mode.

:func:`build_plan` does everything an activation does before it writes anything:

1. loads the identities the manifest names, and nothing else;
2. reads, parses and decrypts each distinct ``(sops file, format)`` exactly once, MAC
   verified;
3. selects each secret's value: for yaml and json the ``/``-separated key path
   through mappings (nested JSON works), a string at the end; ``key: ""`` the whole file as
   ``sops decrypt`` prints it; binary, dotenv and ini always the whole file;
4. renders the templates: Jinja for ``secretsctl.yaml``, sops-nix's placeholders in one pass for
   a manifest.json;
5. resolves owners and groups with the system's user database (``-ignore-passwd``: 0:0).

Every problem on the way (key files, each sops file, each key path, each template, each
unknown user or group) is collected and raised together as one
:class:`~secretsctl.errors.ProblemsError`; nothing is returned until all is well.
Messages name files, key paths, secrets, users and placeholders, never a value: values exist
only inside :class:`~secretsctl.redact.Secret`.

``check_only`` is ``secretsctl check`` at build time: the sops files are parsed and each key
path is walked through the *encrypted* tree (an encrypted value carries its type, so an
encrypted number is caught too), templates are compiled and checked for unknown names, owners
and groups are looked up; nothing is decrypted and no key is loaded. The plan it returns has
empty contents and ``check_only`` set.
"""

from __future__ import annotations

import os

from secretsctl.config.model import Manifest, Origin, Ownership, SecretSpec, TemplateEngine
from secretsctl.errors import InputError, ManifestError, ProblemsError, SecretsctlError
from secretsctl.redact import Secret
from secretsctl.render.model import ItemKind, PlannedFile, RenderPlan
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import Branch, Seq

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from collections.abc import Collection, Sequence
    from contextlib import AbstractContextManager
    from typing import Any, Final, Protocol

    from secretsctl.keys.sources import IdentitySet
    from secretsctl.render.jinja import JinjaTemplate

    # Only for the type checker: defining a Protocol costs start-up time on the boot path.
    class Accounts(Protocol):
        """The user database: names to ids and back (tests substitute their own)."""

        def user(self, name: str) -> tuple[int, int] | None:
            """Return the uid and primary gid of user ``name``, or None if there is none."""

        def group(self, name: str) -> int | None:
            """Return the gid of group ``name``, or None."""

        def user_name(self, uid: int) -> str | None:
            """Return the name of ``uid``, or None."""

        def group_name(self, gid: int) -> str | None:
            """Return the name of ``gid``, or None."""


__all__ = ["SystemAccounts", "build_plan"]

_WHOLE_FILE: Final = frozenset((Format.BINARY, Format.DOTENV, Format.INI))


def _leftover_placeholder() -> re.Pattern[bytes]:
    import re  # on first use only: the boot path does without re

    return re.compile(rb"<SOPS:[^:<>\s]*:PLACEHOLDER>")


_ENC_PREFIX: Final = "ENC[AES256_GCM,"
_ENC_TYPES: Final = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "time": "timestamp",
    "comment": "comment",
}


class SystemAccounts:
    """The system's users and groups through :mod:`pwd` and :mod:`grp` (NSS)."""

    def user(self, name: str) -> tuple[int, int] | None:
        """Look up a user by name."""
        import pwd

        try:
            entry = pwd.getpwnam(name)
        except (KeyError, ValueError):
            return None
        return entry.pw_uid, entry.pw_gid

    def group(self, name: str) -> int | None:
        """Look up a group by name."""
        import grp

        try:
            return grp.getgrnam(name).gr_gid
        except (KeyError, ValueError):
            return None

    def user_name(self, uid: int) -> str | None:
        """Look up a user by uid."""
        import pwd

        try:
            return pwd.getpwuid(uid).pw_name
        except (KeyError, ValueError, OverflowError):
            return None

    def group_name(self, gid: int) -> str | None:
        """Look up a group by gid."""
        import grp

        try:
            return grp.getgrgid(gid).gr_name
        except (KeyError, ValueError, OverflowError):
            return None


class _Owner:
    # Plain classes here: each dataclass costs ~1 ms of import time at boot.
    __slots__ = ("gid", "group_label", "owner_label", "uid")

    def __init__(self, uid: int, gid: int, owner_label: str, group_label: str) -> None:
        self.uid = uid
        self.gid = gid
        self.owner_label = owner_label
        self.group_label = group_label


class _Owners:
    """Resolves ownerships once each; unknown names are reported once, with their uses."""

    def __init__(self, accounts: Accounts, ignore_passwd: bool, unprivileged: bool = False) -> None:
        self.accounts = accounts
        self.ignore_passwd = ignore_passwd
        self.unprivileged = unprivileged
        self.resolved: dict[Ownership, _Owner | None] = {}
        self.missing: dict[tuple[str, str], list[Origin]] = {}
        self.group_names: dict[int, str] = {}

    def resolve(self, ownership: Ownership, origin: Origin) -> _Owner | None:
        if self.ignore_passwd:
            return _ROOT
        try:
            found = self.resolved[ownership]
        except KeyError:
            found = self.resolved[ownership] = self._lookup(ownership)
        if found is None:
            for what, name in (("owner", ownership.owner), ("group", ownership.group)):
                if name is not None and (what, name) in self.missing:
                    self.missing[(what, name)].append(origin)
        return found

    def _lookup(self, ownership: Ownership) -> _Owner | None:
        accounts = self.accounts
        ok = True
        primary: int | None = None
        if ownership.owner is not None:
            user = accounts.user(ownership.owner)
            if user is None:
                self.missing.setdefault(("owner", ownership.owner), [])
                ok = self.unprivileged
                uid = os.geteuid()
            else:
                uid, primary = user
            owner_label = ownership.owner
        else:
            # A configured number is shown as it was written: a failed reverse lookup costs
            # ~80 µs (NSS reads the whole database), which thousands of secrets would pay.
            uid = ownership.uid
            owner_label = "root" if uid == 0 else str(uid)
        if ownership.group is not None:
            found_gid = accounts.group(ownership.group)
            if found_gid is None:
                self.missing.setdefault(("group", ownership.group), [])
                if not self.unprivileged:
                    return None
            gid = os.getegid() if found_gid is None else found_gid
            group_label = ownership.group
        else:
            if ownership.gid is not None:
                gid = ownership.gid
                group_label = "root" if gid == 0 else str(gid)
            elif primary is not None:
                gid = primary
                group_label = self._group_name(primary)
            else:
                gid = 0
                group_label = "root"
        return _Owner(uid, gid, owner_label, group_label) if ok else None

    def _group_name(self, gid: int) -> str:
        found = self.group_names.get(gid)
        if found is None:
            found = self.group_names[gid] = self.accounts.group_name(gid) or str(gid)
        return found

    def problems(self) -> list[SecretsctlError]:
        if self.unprivileged:
            return []
        found: list[SecretsctlError] = []
        for (what, name), origins in self.missing.items():
            kind = "user" if what == "owner" else "group"
            others = len(origins) - 1
            also = f" (named by {others} more)" if others > 0 else ""
            found.append(ManifestError(f"{origins[0].of(what)}: unknown {kind} '{name}'{also}"))
        return found


_ROOT: Final = _Owner(0, 0, "0", "0")


class _WalkError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _type_name(value: Any) -> str:
    cls = value.__class__
    if cls is Branch:
        return "a mapping"
    if cls is Seq:
        return "a list"
    if cls is str:
        return "a string"
    if cls is bool:
        return "a boolean"
    if cls is int:
        return "an integer"
    if cls is float:
        return "a number"
    if value is None:
        return "null"
    if cls.__name__ == "GoTime":
        return "a timestamp"
    return f"a {cls.__name__}"


class _Walker:
    """Key paths through one file's first document; mappings are indexed on first use."""

    def __init__(self, root: Branch, encrypted: bool) -> None:
        self.root = root
        self.encrypted = encrypted
        self.indexes: dict[int, dict[str, Any]] = {}

    def index(self, branch: Branch) -> dict[str, Any]:
        found = self.indexes.get(id(branch))
        if found is None:
            found = {}
            for key, value in branch:
                # The first of repeated keys wins, as in `sops decrypt --extract`.
                if key.__class__ is str and key not in found:
                    found[key] = value
            self.indexes[id(branch)] = found
        return found

    def walk(self, key: str) -> Any:
        parts = key.split("/")
        current: Any = self.root
        for depth, part in enumerate(parts):
            if current.__class__ is not Branch:
                prefix = "/".join(parts[:depth])
                raise _WalkError(f"the key '{prefix}' is {self.describe(current)}, not a mapping")
            found = self.index(current).get(part, _MISSING)
            if found is _MISSING:
                raise _WalkError(f"the key '{'/'.join(parts[: depth + 1])}' cannot be found")
            current = found
        if current.__class__ is not str:
            raise _WalkError(f"the value at key '{key}' is {self.describe(current)}, not a string")
        if self.encrypted and current.startswith(_ENC_PREFIX) and current.endswith("]"):
            tag = current[current.rfind(",type:") + 6 : -1]
            if tag != "str":
                kind = _ENC_TYPES.get(tag, "value of another type")
                raise _WalkError(f"the value at key '{key}' is an encrypted {kind}, not a string")
        return current

    @staticmethod
    def describe(value: Any) -> str:
        return _type_name(value)


_MISSING: Final = object()


class _Group:
    """The secrets of one (sops file, format)."""

    __slots__ = ("fmt", "indices", "path")

    def __init__(self, path: str, fmt: Format) -> None:
        self.path = path
        self.fmt = fmt
        self.indices: list[int] = []


def _group_secrets(secrets: Sequence[SecretSpec], skip: Collection[str]) -> list[_Group]:
    groups: dict[tuple[str, Format], _Group] = {}
    for index, spec in enumerate(secrets):
        if skip and spec.name in skip:
            continue
        key = (spec.sops_file, spec.format)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(spec.sops_file, spec.format)
        group.indices.append(index)
    return list(groups.values())


def _with_origin(error: SecretsctlError, origin: Origin, field_name: str) -> SecretsctlError:
    """Prefix an error with the configuration place that led to it (class and code kept)."""
    error.message = f"{origin.of(field_name)}: {error.message}"
    error.args = (error.message,)
    return error


def _gpg_home_for_ssh_keys(
    manifest: Manifest,
    cleanup: list[AbstractContextManager[Any]],
    problems: list[SecretsctlError],
    warnings: list[str],
    imported: list[tuple[str, str]],
) -> str | None:
    """Import ``sshKeyPaths`` into a temporary GnuPG home, as sops-nix does; return it.

    The home lives on a RAM-backed folder (``$XDG_RUNTIME_DIR`` or ``/dev/shm``) until the
    plan is built. A key that cannot be imported is skipped with a warning, as in sops-nix.
    """
    from secretsctl.edit import temp_location
    from secretsctl.keys.kinds import pgp

    try:
        parent = temp_location(os.environ).path
    except SecretsctlError as error:
        problems.append(
            InputError(f"{manifest.source}: cannot import sshKeyPaths as GPG keys: {error}")
        )
        return None
    try:
        home = pgp.imported_home(manifest.keys.ssh_key_paths, parent)
        result = home.__enter__()
        cleanup.append(home)
    except OSError as error:
        problems.append(
            InputError(
                f"{manifest.source}: cannot create a GnuPG home in {parent}: {error.strerror}"
            )
        )
        return None
    warnings.extend(f"sshKeyPaths {path}: {message} (skipped)" for path, message in result.problems)
    imported.extend(result.imported)
    return result.home


def _load_identities(
    manifest: Manifest,
    problems: list[SecretsctlError],
    warnings: list[str],
    cleanup: list[AbstractContextManager[Any]],
    imported: list[tuple[str, str]],
) -> IdentitySet | None:
    from secretsctl.keys.sources import LocationStatus, load_identities

    keys = manifest.keys
    if not keys.enable_local_keyservice:
        return _remote_identities(manifest, problems)
    if (
        keys.age_key_file is None
        and not keys.age_ssh_key_paths
        and not keys.use_environment
        and not keys.gnupg_home
        and not keys.ssh_key_paths
        and not keys.keyservices
    ):
        problems.append(
            ManifestError(
                f"{manifest.source}: no key source is configured, so no secret can be decrypted",
                hint="set age_key_file, ssh_key_paths, gnupg_home or keyservices under defaults"
                " (ageKeyFile, ageSshKeyPaths, gnupgHome or sshKeyPaths in a sops-nix manifest)",
            )
        )
        return None
    gnupg_home = keys.gnupg_home
    if keys.ssh_key_paths:
        gnupg_home = _gpg_home_for_ssh_keys(manifest, cleanup, problems, warnings, imported)
    environ = None
    if keys.use_environment and keys.unread_variables:
        environ = {k: v for k, v in os.environ.items() if k not in keys.unread_variables}
    identities = load_identities(
        use_environment=keys.use_environment,
        age_key_file=keys.age_key_file,
        ssh_key_paths=keys.age_ssh_key_paths,
        gnupg_home=gnupg_home,
        environ=environ,
    )
    failed = {
        location.name
        for location in identities.locations
        if location.status is LocationStatus.FAILED
    }
    for source_problem in identities.problems:
        fatal = source_problem.location == keys.age_key_file and source_problem.location in failed
        text = f"key source {source_problem.location}: {source_problem.message}"
        if fatal:
            from secretsctl.keys.sources import KeySourceError

            problems.append(
                KeySourceError(f"{manifest.source}: cannot use the age key file: {text}")
            )
        else:
            warnings.append(f"{text} (skipped)")
    if keys.keyservices:
        return _remote_identities(manifest, problems, identities)
    return identities


def _remote_identities(
    manifest: Manifest, problems: list[SecretsctlError], local: IdentitySet | None = None
) -> IdentitySet | None:
    """Add the manifest's key services to the local identities (none when local is off)."""
    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices

    keys = manifest.keys
    if not keys.enable_local_keyservice and not keys.keyservices:
        problems.append(
            ManifestError(
                f"{manifest.source}: enable_local_keyservice is false and no keyservices are"
                " configured, so no secret can be decrypted",
                hint="list key service URIs under defaults.keyservices",
            )
        )
        return None
    services = KeyServices(keys.enable_local_keyservice, keys.keyservices)
    identities = (local or IdentitySet((), (), ())).with_services(services)
    try:
        identities.remotes()
    except SecretsctlError as error:
        problems.append(error)
        return None
    return identities


def _read(path: str) -> bytes:
    from secretsctl.limits import read_file

    try:
        return read_file(path)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or type(error).__name__}") from None


def build_plan(
    manifest: Manifest,
    *,
    identities: IdentitySet | None = None,
    ignore_passwd: bool = False,
    check_only: bool = False,
    accounts: Accounts | None = None,
    unprivileged: bool = False,
    earlier: Sequence[SecretsctlError] = (),
    skip: Collection[str] = frozenset(),
) -> RenderPlan:
    """Decrypt, select, render and resolve everything ``manifest`` asks for, in memory.

    ``identities`` defaults to the key sources of ``manifest.keys`` only (never the
    environment unless the manifest says so). ``ignore_passwd`` is sops-nix's
    ``-ignore-passwd``: every file 0:0 and no lookups. ``unprivileged`` is a run that cannot
    chown (not root): an unknown user or group is a warning, not a problem. ``accounts``
    replaces the system's user database (tests). ``earlier`` holds problems already found in
    the configuration, reported first with the plan's own; the secrets named in ``skip`` had
    one of them and are neither decrypted nor resolved (templates still know their names).
    Raises :class:`ProblemsError` with every problem found.
    """
    # A GnuPG home made for sshKeyPaths lives until every file is decrypted. (A list rather
    # than contextlib's ExitStack: contextlib stays off the boot path.)
    cleanup: list[AbstractContextManager[Any]] = []
    try:
        return _build_plan(
            manifest,
            identities=identities,
            ignore_passwd=ignore_passwd,
            check_only=check_only,
            accounts=accounts,
            unprivileged=unprivileged,
            earlier=earlier,
            skip=skip,
            cleanup=cleanup,
        )
    finally:
        for context in reversed(cleanup):
            context.__exit__(None, None, None)


def _build_plan(
    manifest: Manifest,
    *,
    identities: IdentitySet | None,
    ignore_passwd: bool,
    check_only: bool,
    accounts: Accounts | None,
    unprivileged: bool,
    earlier: Sequence[SecretsctlError],
    skip: Collection[str],
    cleanup: list[AbstractContextManager[Any]],
) -> RenderPlan:
    from secretsctl.sops import codec

    problems: list[SecretsctlError] = list(earlier)
    warnings: list[str] = []
    imported_gpg: list[tuple[str, str]] = []
    secrets = manifest.secrets
    contents: list[bytes | None] = [None] * len(secrets)
    owners = _Owners(accounts or SystemAccounts(), ignore_passwd, unprivileged)
    secret_owners = [
        None if skip and spec.name in skip else owners.resolve(spec.ownership, spec.origin)
        for spec in secrets
    ]
    template_owners = [owners.resolve(spec.ownership, spec.origin) for spec in manifest.templates]
    if unprivileged:
        for what, name in owners.missing:
            kind = "user" if what == "owner" else "group"
            warnings.append(
                f"{kind} '{name}' does not exist here; not running as root, secretsctl sets no"
                " owner anyway: every file belongs to the running user"
            )
    failed_files = False
    if secrets and not check_only and identities is None:
        identities = _load_identities(manifest, problems, warnings, cleanup, imported_gpg)
    if secrets and (identities is not None or check_only):
        for group in _group_secrets(secrets, skip):
            first = secrets[group.indices[0]]
            try:
                sops_file = codec.parse(_read(group.path), group.fmt)
            except SecretsctlError as error:
                problems.append(
                    _with_origin(error.with_file(group.path), first.origin, "sops_file")
                )
                failed_files = True
                continue
            if check_only:
                _select(group, secrets, sops_file.documents, True, None, contents, problems)
                continue
            assert identities is not None  # noqa: S101 - loaded above
            try:
                decrypted = codec.decrypt_file(sops_file, identities, label=group.path)
            except SecretsctlError as error:
                problems.append(_with_origin(error, first.origin, "sops_file"))
                failed_files = True
                continue
            warnings.extend(f"{group.path}: {warning}" for warning in decrypted.warnings)
            _select(group, secrets, decrypted.documents, False, group.fmt, contents, problems)
    rendered = _render_templates(manifest, contents, check_only, failed_files, problems, warnings)
    problems += owners.problems()
    if problems:
        raise ProblemsError(problems)
    files: list[PlannedFile] = []
    empty: Secret[bytes] = Secret(b"")
    for spec, owner, content in zip(secrets, secret_owners, contents, strict=True):
        assert owner is not None  # noqa: S101 - a missing owner is a problem above
        files.append(
            _planned(ItemKind.SECRET, spec, owner, empty if check_only else Secret(content or b""))
        )
    for template, owner, text in zip(manifest.templates, template_owners, rendered, strict=True):
        assert owner is not None  # noqa: S101
        files.append(
            _planned(
                ItemKind.TEMPLATE, template, owner, empty if check_only else Secret(text or b"")
            )
        )
    imported = tuple(
        (loaded.location, loaded.recipient)
        for loaded in (identities.identities if identities is not None else ())
        if loaded.converted and loaded.recipient is not None
    )
    return RenderPlan(tuple(files), tuple(warnings), check_only, imported, tuple(imported_gpg))


def _planned(kind: ItemKind, spec: Any, owner: _Owner, content: Secret[bytes]) -> PlannedFile:
    return PlannedFile(
        kind,
        spec.name,
        content,
        owner.uid,
        owner.gid,
        spec.mode,
        owner.owner_label,
        owner.group_label,
        spec.path,
        spec.restart_units,
        spec.reload_units,
    )


def _select(
    group: _Group,
    secrets: Sequence[SecretSpec],
    documents: list[Branch],
    encrypted: bool,
    fmt: Format | None,
    contents: list[bytes | None],
    problems: list[SecretsctlError],
) -> None:
    """Set each secret's value from its file's documents (or, encrypted, only check it)."""
    walker = _Walker(documents[0] if documents else Branch(), encrypted)
    top = walker.index(walker.root)
    whole: bytes | None = None
    whole_file = group.fmt in _WHOLE_FILE
    for index in group.indices:
        spec = secrets[index]
        key = spec.key
        if not encrypted and not whole_file and "/" not in key:
            # The usual case, inline: a top-level string.
            value = top.get(key)
            if value.__class__ is str:
                contents[index] = value.encode("utf-8", "surrogateescape")
                continue
        if whole_file or key == "":
            if encrypted:
                continue
            if whole is None:
                assert fmt is not None  # noqa: S101 - given when decrypted
                try:
                    whole = bytes(fmt.store.emit_plain(documents))
                except SecretsctlError as error:
                    problems.append(
                        _with_origin(error.with_file(group.path), spec.origin, "format")
                    )
                    return
            contents[index] = whole
            continue
        try:
            value = walker.walk(key)
        except _WalkError as error:
            field_name = "key" if "key" in spec.origin.fields or spec.origin.line is None else ""
            problems.append(
                ManifestError(
                    f"{spec.origin.of(field_name)}: secret '{spec.name}' in {group.path} is not"
                    f" valid: {error.message}"
                )
            )
            continue
        if not encrypted:
            contents[index] = value.encode("utf-8", "surrogateescape")


def _render_templates(
    manifest: Manifest,
    contents: list[bytes | None],
    check_only: bool,
    failed_files: bool,
    problems: list[SecretsctlError],
    warnings: list[str],
) -> list[bytes | None]:
    templates = manifest.templates
    rendered: list[bytes | None] = [None] * len(templates)
    if not templates:
        return rendered
    if any(spec.engine is TemplateEngine.JINJA for spec in templates):
        _render_jinja(manifest, contents, check_only, failed_files, problems, rendered)
    if any(spec.engine is TemplateEngine.PLACEHOLDER for spec in templates):
        substitute = _placeholder_substitution(manifest, contents)
        for index, spec in enumerate(templates):
            if spec.engine is not TemplateEngine.PLACEHOLDER:
                continue
            text = spec.text.encode("utf-8", "surrogateescape")
            for token in dict.fromkeys(_leftover_placeholder().findall(text)):
                if token not in substitute.values:
                    warnings.append(
                        f"{spec.origin.of('')}: template '{spec.name}' keeps the placeholder"
                        f" {token.decode('ascii', 'replace')}: no secret of this manifest has it"
                    )
            if check_only:
                continue
            result = substitute(text)
            if result is not None:
                rendered[index] = result
    return rendered


class _Substitution:
    """sops-nix's placeholder rendering, in one pass: inserted values are never re-scanned."""

    __slots__ = ("pattern", "values")

    def __init__(
        self, values: dict[bytes, bytes | None], pattern: re.Pattern[bytes] | None
    ) -> None:
        self.values = values  # placeholder -> value (None: its secret failed)
        self.pattern = pattern

    def __call__(self, text: bytes) -> bytes | None:
        if self.pattern is None:
            return text
        values = self.values
        for token in set(self.pattern.findall(text)):
            if values[token] is None:
                return None  # its secret already failed, and said so

        def replace(match: re.Match[bytes]) -> bytes:
            return values[match[0]] or b""

        return self.pattern.sub(replace, text)


def _placeholder_substitution(manifest: Manifest, contents: list[bytes | None]) -> _Substitution:
    values: dict[bytes, bytes | None] = {}
    for spec, content in zip(manifest.secrets, contents, strict=True):
        placeholder = manifest.placeholders.get(spec.name)
        if placeholder:
            values[placeholder.encode("utf-8", "surrogateescape")] = content
    if not values:
        return _Substitution(values, None)
    import re  # only with placeholders (templates): the boot path does without re

    # Longest first, so that a placeholder that is a prefix of another never cuts it short.
    ordered = sorted(values, key=len, reverse=True)
    return _Substitution(values, re.compile(b"|".join(re.escape(p) for p in ordered)))


def _render_jinja(
    manifest: Manifest,
    contents: list[bytes | None],
    check_only: bool,
    failed_files: bool,
    problems: list[SecretsctlError],
    rendered: list[bytes | None],
) -> None:
    from secretsctl.render import jinja

    known = [spec.name for spec in manifest.secrets]
    values: dict[str, str] | None = None
    missing = {
        spec.name
        for spec, content in zip(manifest.secrets, contents, strict=True)
        if content is None
    }
    for index, spec in enumerate(manifest.templates):
        if spec.engine is not TemplateEngine.JINJA:
            continue
        compiled: JinjaTemplate | None
        compiled, found = jinja.compile_template(spec, known)
        problems.extend(found)
        if compiled is None or check_only:
            continue
        if compiled.names & missing or (compiled.dynamic and (missing or failed_files)):
            continue  # a secret it needs failed, and said so
        if values is None:
            values = {
                spec.name: content.decode("utf-8", "surrogateescape")
                for spec, content in zip(manifest.secrets, contents, strict=True)
                if content is not None
            }
        try:
            text = jinja.render(compiled, values)
        except SecretsctlError as error:
            problems.append(error)
            continue
        rendered[index] = text.encode("utf-8", "surrogateescape")
