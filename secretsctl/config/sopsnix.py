"""sops-nix's ``manifest.json``, read as ``sops-install-secrets`` reads it, into a Manifest.

Decoding follows Go's ``encoding/json`` into sops-install-secrets' structs: unknown fields
are ignored, field names match case-insensitively (an
exact match first), a repeated field keeps its last value, ``null`` and missing fields take the
zero value (``""``, ``0``, ``false``, ``[]``), and a value of the wrong JSON type is an error.
The semantics follow sops-nix too: an ``owner``/``group`` name wins over ``uid``/``gid``, a
non-empty ``content`` beats ``file``, ``keepGenerations`` 0 (or missing) turns pruning off,
``logging`` missing means no logging, and placeholders are looked up by the secret's ``name``.
In user mode, ``%r`` in the mount point, the symlink path and every ``path`` becomes
``$XDG_RUNTIME_DIR`` and ``%%`` becomes ``%``.

Where secretsctl does better, it says so instead of guessing: an unknown ``format`` is an
error (missing, ``null`` and ``""`` still mean yaml), a mode must be permission bits only
``key: sops`` is refused, and names that would leave the generation directory
(``../x``, ``/x``) or clash (``a`` and ``a/b``, two secrets of one name) are refused. Every
problem is collected; sops-nix stops at the first. ``gnupgHome`` is the GnuPG home for PGP
entries, and ``sshKeyPaths`` are SSH RSA keys imported into a temporary one, as in sops-nix
(:func:`~secretsctl.render.plan.build_plan`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from secretsctl.config.model import (
    DEFAULT_SYMLINK_PATH,
    RENDERED_DIR,
    KeySettings,
    Manifest,
    Origin,
    Ownership,
    SecretSpec,
    TemplateEngine,
    TemplateSpec,
)
from secretsctl.config.validate import (
    check_mode_bits,
    check_name,
    check_unit,
    format_problems,
    parse_octal,
    path_error,
    problem,
    rendered_layout_problems,
    shorten,
)
from secretsctl.errors import InputLimitError, ManifestError, ProblemsError, SecretsctlError
from secretsctl.limits import MAX_NESTING_DEPTH, TOO_DEEP, read_file
from secretsctl.paths import normal_runtime_path
from secretsctl.sops.stores import Format

__all__ = ["load_manifest", "parse_manifest", "replace_runtime_dir"]

_FORMATS: Final = {fmt.value: fmt for fmt in Format}
_MAX_MODE: Final = 0o177777  # strconv.ParseUint(mode, 8, 16)
_INT64: Final = 1 << 63
_GNUPG_EXCLUSIVE: Final = (
    "gnupgHome and {} were specified in the manifest. Both options are mutually exclusive."
)

_Pairs = list[tuple[str, Any]]


class _Reject(Exception):
    """A value has the wrong JSON type for its Go field."""

    def __init__(self, message: str) -> None:
        self.message = message


def _json_type(value: Any) -> str:
    if isinstance(value, _ObjectPairs):
        return "object"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fields(pairs: _Pairs, names: tuple[str, ...]) -> dict[str, Any]:
    """Assign JSON object members to Go struct fields as ``encoding/json`` does."""
    folded = {name.casefold(): name for name in names}
    found: dict[str, Any] = {}
    for key, value in pairs:
        name = key if key in names else folded.get(key.casefold())
        if name is not None:
            found[name] = value
    return found


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _Reject(f"cannot unmarshal {_json_type(value)} into a string")


def _nullable_string(value: Any) -> str | None:
    return None if value is None else _string(value)


def _int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float):
            raise _Reject(f"cannot unmarshal number {value!r} into an int")
        raise _Reject(f"cannot unmarshal {_json_type(value)} into an int")
    if not -_INT64 <= value < _INT64:
        raise _Reject(f"cannot unmarshal number {value} into an int (out of range)")
    return value


def _bool(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise _Reject(f"cannot unmarshal {_json_type(value)} into a bool")


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise _Reject(f"cannot unmarshal {_json_type(value)} into a list of strings")
    return tuple(_string(item) for item in value)


def _object(value: Any) -> _Pairs:
    if value is None:
        return []
    if not isinstance(value, _ObjectPairs):
        raise _Reject(f"cannot unmarshal {_json_type(value)} into an object")
    return value


class _ObjectPairs(list[tuple[str, Any]]):
    """A JSON object as its members in order (Go keeps the last of a repeated field)."""


def _too_deep(document: Any) -> bool:
    """Whether objects and arrays nest past :data:`~secretsctl.limits.MAX_NESTING_DEPTH`."""
    pending = [(document, 1)] if isinstance(document, list) else []
    while pending:
        value, level = pending.pop()
        if level > MAX_NESTING_DEPTH:
            return True
        items = (item for _, item in value) if isinstance(value, _ObjectPairs) else value
        pending.extend((item, level + 1) for item in items if isinstance(item, list))
    return False


def replace_runtime_dir(path: str, runtime_dir: str) -> str:
    """Replace ``%r`` with ``runtime_dir`` and ``%%`` with ``%`` (sops-nix's user mode)."""
    return "%".join(part.replace("%r", runtime_dir) for part in path.split("%%"))


_SECRET_FIELDS: Final = (
    "name",
    "key",
    "path",
    "owner",
    "uid",
    "group",
    "gid",
    "sopsFile",
    "format",
    "mode",
    "restartUnits",
    "reloadUnits",
)
_TEMPLATE_FIELDS: Final = (
    "name",
    "content",
    "path",
    "mode",
    "owner",
    "uid",
    "group",
    "gid",
    "file",
    "restartUnits",
    "reloadUnits",
)
_TOP_FIELDS: Final = (
    "secrets",
    "templates",
    "placeholderBySecretName",
    "secretsMountPoint",
    "symlinkPath",
    "keepGenerations",
    "sshKeyPaths",
    "gnupgHome",
    "ageKeyFile",
    "ageSshKeyPaths",
    "useTmpfs",
    "userMode",
    "logging",
)


class _Reader:
    def __init__(self, file: str, runtime_dir: str | None) -> None:
        self.file = file
        self.runtime_dir = runtime_dir
        self.problems: list[SecretsctlError] = []
        self.bad_formats: set[int] = set()

    def get(
        self, found: dict[str, Any], name: str, convert: Callable[[Any], Any], origin: Origin
    ) -> Any:
        try:
            return convert(found.get(name))
        except _Reject as reject:
            self.problems.append(problem(origin, name, reject.message))
            return convert(None)

    def runtime(self, path: str) -> str:
        return path if self.runtime_dir is None else replace_runtime_dir(path, self.runtime_dir)

    def runtime_path(
        self, found: dict[str, Any], name: str, origin: Origin, *, required: bool = False
    ) -> str:
        """Read a runtime path field (``%r`` replaced); "" when missing or refused."""
        path = self.runtime(self.get(found, name, _string, origin))
        if not path and not required:
            return ""
        error = path_error(origin.of(name), path)
        if error is not None:
            self.problems.append(error)
            return ""
        return normal_runtime_path(path)

    def mode(self, text: str, origin: Origin) -> int:
        value = parse_octal(text)
        if value is None or value > _MAX_MODE:
            self.problems.append(
                problem(
                    origin,
                    "mode",
                    f"invalid number in mode: {shorten(text)}: not an octal number of at most"
                    " 16 bits",
                )
            )
            return 0
        message = check_mode_bits(value)
        if message is not None:
            self.problems.append(problem(origin, "mode", message))
        return value

    def ownership(self, found: dict[str, Any], origin: Origin) -> Ownership:
        owner = self.get(found, "owner", _nullable_string, origin)
        group = self.get(found, "group", _nullable_string, origin)
        uid = self.get(found, "uid", _int, origin)
        gid = self.get(found, "gid", _int, origin)
        for name, number in (("uid", uid), ("gid", gid)):
            if number < 0 or number > 0xFFFFFFFE:
                self.problems.append(problem(origin, name, f"{number} is not a valid id"))
        return Ownership(owner=owner, uid=uid, group=group, gid=gid)

    def units(self, found: dict[str, Any], name: str, origin: Origin) -> tuple[str, ...]:
        units: tuple[str, ...] = self.get(found, name, _strings, origin)
        for unit in units:
            message = check_unit(unit)
            if message is not None:
                self.problems.append(problem(origin, name, message))
        return tuple(unit for unit in units if check_unit(unit) is None)

    def secret(self, index: int, value: Any, symlink_path: str) -> SecretSpec | None:
        origin = Origin(self.file, path=f"secrets[{index}]")
        try:
            pairs = _object(value)
        except _Reject as reject:
            self.problems.append(problem(origin, "", reject.message))
            return None
        found = _fields(pairs, _SECRET_FIELDS)
        name: str = self.get(found, "name", _string, origin)
        origin = Origin(file=self.file, path=f"secrets[{index}] ({shorten(name, 60)})")
        message = check_name(name)
        if message is not None:
            self.problems.append(problem(origin, "name", message))
        fmt_text: str = self.get(found, "format", _string, origin)
        fmt = _FORMATS.get(fmt_text or "yaml")
        if fmt is None:
            self.bad_formats.add(index)
            self.problems.append(
                problem(
                    origin,
                    "format",
                    f"unsupported format {shorten(fmt_text)} for secret {name} (one of: yaml,"
                    " json, binary, dotenv, ini)",
                )
            )
        key: str = self.get(found, "key", _string, origin)
        if fmt in (Format.YAML, Format.JSON) and (key == "sops" or key.startswith("sops/")):
            self.problems.append(
                problem(origin, "key", "`sops` is the metadata of the file, not a secret")
            )
        sops_file: str = self.get(found, "sopsFile", _string, origin)
        path = self.runtime_path(found, "path", origin)
        return SecretSpec(
            name=name,
            sops_file=os.path.abspath(sops_file) if sops_file else "",
            key=key,
            format=fmt or Format.YAML,
            ownership=self.ownership(found, origin),
            mode=self.mode(self.get(found, "mode", _string, origin), origin),
            path=_custom_path(path, symlink_path, name),
            restart_units=self.units(found, "restartUnits", origin),
            reload_units=self.units(found, "reloadUnits", origin),
            origin=origin,
        )

    def template(self, index: int, value: Any, symlink_path: str) -> TemplateSpec | None:
        origin = Origin(self.file, path=f"templates[{index}]")
        try:
            pairs = _object(value)
        except _Reject as reject:
            self.problems.append(problem(origin, "", reject.message))
            return None
        found = _fields(pairs, _TEMPLATE_FIELDS)
        name: str = self.get(found, "name", _string, origin)
        origin = Origin(self.file, path=f"templates[{index}] ({shorten(name, 60)})")
        message = check_name(name)
        if message is not None:
            self.problems.append(problem(origin, "name", message))
        mode = self.mode(self.get(found, "mode", _string, origin), origin)
        ownership = self.ownership(found, origin)
        content: str = self.get(found, "content", _string, origin)
        file: str = self.get(found, "file", _string, origin)
        source: str | None = None
        if not content:
            if file:
                source = file
                try:
                    content = read_file(file).decode("utf-8", "surrogateescape")
                except OSError as error:
                    self.problems.append(
                        problem(origin, "file", f"cannot read {file}: {error.strerror or 'error'}")
                    )
                except InputLimitError as error:
                    self.problems.append(problem(origin, "file", error.message))
            else:
                self.problems.append(
                    problem(
                        origin,
                        "",
                        f"neither content nor file was specified for template {name}",
                    )
                )
        path = self.runtime_path(found, "path", origin)
        return TemplateSpec(
            name=name,
            text=content,
            engine=TemplateEngine.PLACEHOLDER,
            source=source,
            ownership=ownership,
            mode=mode,
            path=_custom_path(path, f"{symlink_path}/{RENDERED_DIR}", name),
            restart_units=self.units(found, "restartUnits", origin),
            reload_units=self.units(found, "reloadUnits", origin),
            origin=origin,
        )


def _custom_path(path: str, directory: str, name: str) -> str | None:
    """Return ``path`` unless it is the default ``<directory>/<name>`` (or empty)."""
    if not path or path == os.path.normpath(os.path.join(directory, name)):
        return None
    return path


def parse_manifest(
    data: bytes | str,
    path: str,
    *,
    environ: Mapping[str, str] | None = None,
    check_only: bool = False,
    ignore_passwd: bool = False,
) -> Manifest:
    """Read manifest text as if it were the file ``path``; see :func:`load_manifest`."""
    origin = Origin(path)
    try:
        document = json.loads(data, object_pairs_hook=_ObjectPairs)
    except (ValueError, RecursionError) as error:
        where = path
        if isinstance(error, json.JSONDecodeError):
            where += f":{error.lineno}:{error.colno}"
            error_text = error.msg
        elif isinstance(error, RecursionError):
            error_text = TOO_DEEP
        else:
            error_text = "not JSON text"
        raise ManifestError(f"{where}: failed to parse manifest: {error_text}") from None
    if _too_deep(document):
        raise ManifestError(f"{path}: failed to parse manifest: {TOO_DEEP}")
    reader = _Reader(path, None)
    try:
        top = _fields(_object(document), _TOP_FIELDS)
    except _Reject as reject:
        raise ManifestError(f"{path}: failed to parse manifest: {reject.message}") from None
    user_mode: bool = reader.get(top, "userMode", _bool, origin)
    if user_mode:
        env = os.environ if environ is None else environ
        runtime_dir = env.get("XDG_RUNTIME_DIR")
        if runtime_dir is None and not check_only:
            reader.problems.append(
                ManifestError(
                    f"{path}: cannot figure out runtime directory: $XDG_RUNTIME_DIR is not set"
                )
            )
        reader.runtime_dir = runtime_dir or ""
    mount_point = reader.runtime_path(top, "secretsMountPoint", origin, required=True)
    symlink_path = reader.runtime_path(top, "symlinkPath", origin, required=True)
    keep: int = reader.get(top, "keepGenerations", _int, origin)
    if keep < 0:
        reader.problems.append(problem(origin, "keepGenerations", "must not be negative"))
    gnupg_home: str = reader.get(top, "gnupgHome", _string, origin)
    ssh_key_paths: tuple[str, ...] = reader.get(top, "sshKeyPaths", _strings, origin)
    age_key_file: str = reader.get(top, "ageKeyFile", _string, origin)
    if gnupg_home and ssh_key_paths:
        reader.problems.append(ManifestError(f"{path}: {_GNUPG_EXCLUSIVE.format('sshKeyPaths')}"))
    if gnupg_home and age_key_file:
        reader.problems.append(ManifestError(f"{path}: {_GNUPG_EXCLUSIVE.format('ageKeyFile')}"))
    placeholders = {
        key: _string(value) if isinstance(value, str) or value is None else None
        for key, value in reader.get(top, "placeholderBySecretName", _object, origin)
    }
    if None in placeholders.values():
        reader.problems.append(
            problem(origin, "placeholderBySecretName", "cannot unmarshal a non-string value")
        )
    logging = _fields(reader.get(top, "logging", _object, origin), ("keyImport", "secretChanges"))
    log_origin = Origin(path, path="logging")
    log_changes: bool = reader.get(logging, "secretChanges", _bool, log_origin)
    log_keys: bool = reader.get(logging, "keyImport", _bool, log_origin)
    secret_values = reader.get(top, "secrets", _list, origin)
    template_values = reader.get(top, "templates", _list, origin)
    link_root = symlink_path or DEFAULT_SYMLINK_PATH
    secrets = [reader.secret(i, value, link_root) for i, value in enumerate(secret_values)]
    templates = [reader.template(i, value, link_root) for i, value in enumerate(template_values)]
    secret_specs = [spec for spec in secrets if spec is not None]
    template_specs = [spec for spec in templates if spec is not None]
    if template_values:
        for spec in secret_specs:
            if spec.name not in placeholders:
                reader.problems.append(
                    problem(spec.origin, "", f"placeholder for {spec.name} not found in manifest")
                )
    reader.problems += format_problems(
        spec
        for index, spec in enumerate(secrets)
        if spec is not None and index not in reader.bad_formats
    )
    reader.problems += _duplicate_names(secret_specs, "secret")
    reader.problems += _duplicate_names(template_specs, "template")
    reader.problems += rendered_layout_problems(
        secret_specs, ((t.name, t.origin) for t in template_specs)
    )
    use_tmpfs: bool = reader.get(top, "useTmpfs", _bool, origin)
    age_ssh_key_paths: tuple[str, ...] = reader.get(top, "ageSshKeyPaths", _strings, origin)
    if reader.problems:
        raise ProblemsError(reader.problems, hint="the manifest is not valid")
    if ignore_passwd:
        secret_specs = [_root_owned(spec) for spec in secret_specs]
        template_specs = [_root_owned(spec) for spec in template_specs]
    return Manifest(
        source=path,
        secrets=tuple(secret_specs),
        templates=tuple(template_specs),
        placeholders={k: v for k, v in placeholders.items() if v is not None},
        mount_point=mount_point,
        symlink_path=symlink_path,
        keep_generations=keep,
        use_tmpfs=use_tmpfs,
        user_mode=user_mode,
        keys=KeySettings(
            age_key_file=age_key_file or None,
            age_ssh_key_paths=age_ssh_key_paths,
            ssh_key_paths=ssh_key_paths,
            gnupg_home=gnupg_home or None,
            # sops's library, which sops-install-secrets decrypts with, reads the process
            # environment (the NixOS module's sops.environment) and HOME besides these, and
            # sops-nix sets SOPS_AGE_KEY_FILE to its own combined key file when it writes one.
            use_environment=True,
            unread_variables=(("SOPS_AGE_KEY_FILE",) if age_key_file or age_ssh_key_paths else ()),
        ),
        log_secret_changes=log_changes,
        log_key_import=log_keys,
    )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _Reject(f"cannot unmarshal {_json_type(value)} into a list")
    return value


_ROOT: Final = Ownership(uid=0, gid=0)


def _root_owned(spec: Any) -> Any:
    return spec._replace(ownership=_ROOT)


def _duplicate_names(specs: list[Any], what: str) -> list[ManifestError]:
    seen: dict[str, Any] = {}
    problems: list[ManifestError] = []
    for spec in specs:
        first = seen.setdefault(spec.name, spec)
        if first is not spec:
            problems.append(
                problem(
                    spec.origin,
                    "name",
                    f"a second {what} named {spec.name} (the first is {first.origin.path})",
                )
            )
    return problems


def load_manifest(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    check_only: bool = False,
    ignore_passwd: bool = False,
) -> Manifest:
    """Read sops-nix's ``manifest.json`` as sops-install-secrets does (see the module).

    ``environ`` (default ``os.environ``) gives ``XDG_RUNTIME_DIR`` for a user-mode manifest;
    without it ``check_only`` turns ``%r`` into the empty string (sops-nix's check modes) and
    otherwise it is a problem. ``ignore_passwd`` is sops-install-secrets' ``-ignore-passwd``:
    every secret and template becomes 0:0, with no user or group looked up.

    Raises :class:`ManifestError` (exit 5) when the file cannot be read or is not JSON, and
    :class:`ProblemsError` listing every problem otherwise.
    """
    name = os.fspath(path)
    try:
        data = read_file(name)
    except OSError as error:
        raise ManifestError(
            f"failed to open manifest: {name}: {error.strerror or type(error).__name__}"
        ) from None
    except InputLimitError as error:
        raise ManifestError(error.message, hint=error.hint) from None
    return parse_manifest(
        data, name, environ=environ, check_only=check_only, ignore_passwd=ignore_passwd
    )
