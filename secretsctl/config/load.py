r"""secretsctl's own configuration, ``secretsctl.yaml``, read into a :class:`Manifest`.

The file has three sections, all optional::

    defaults:            # what every secret and template gets unless it says otherwise
      sops_file: secrets.yaml
      format: yaml
      age_key_file: /var/lib/secretsctl/age-keys.txt
      ssh_key_paths: [/etc/ssh/ssh_host_ed25519_key]
      gnupg_home: /var/lib/secretsctl/gnupg   # for PGP-encrypted files
      mount_point: /run/secrets.d
      symlink_path: /run/secrets
      keep_generations: 1
      use_tmpfs: false
      use_environment: false
      keyservices: ["unix:///run/sops-keyservice.sock"]  # sops key services, asked in order
      enable_local_keyservice: true                     # false: no key on this host at all
      owner: root        # or uid; group or gid; mode
    secrets:
      github_token: {}   # key defaults to the name
      db/password: {owner: postgres, mode: "0440", restart_units: [postgresql.service]}
    templates:
      github_token_env: {source: templates/github_token_env.j2, owner: desktop}
      inline: {content: "x={{ github_token }}\n"}

Relative input paths (sops files, key files, template sources) resolve against the
configuration's folder. Unknown fields are errors, so a typo never passes silently. Every
problem is collected and reported together, one line each, naming the file, the line and
column, and the field (``secretsctl.yaml:12:11: secrets.db/password.mode: …``); a value of the
configuration is quoted only where it is public by nature (a mode, a format, a unit name), and
a secret value put into the file by mistake is never echoed.

YAML is read by :mod:`secretsctl.config._yaml`: a line-based reader for the usual shape, and
libyaml for anything else. Plain scalars follow YAML 1.2's core schema (``yes`` is a string,
``0440`` is not octal), which is why a mode is read from its written digits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Final, TypeAlias

from secretsctl.config import _yaml
from secretsctl.config._yaml import MAP, SCALAR, SEQ, Node, YMap
from secretsctl.config.model import (
    DEFAULT_MODE,
    DEFAULT_MOUNT_POINT,
    DEFAULT_SYMLINK_PATH,
    KeySettings,
    Manifest,
    Origin,
    Ownership,
    SecretSpec,
    TemplateEngine,
    TemplateSpec,
)
from secretsctl.config.validate import (
    MAX_ID,
    check_mode_bits,
    check_name,
    check_unit,
    format_problems,
    parse_octal,
    path_error,
    rendered_layout_problems,
    shorten,
)
from secretsctl.errors import InputLimitError, ManifestError, ProblemsError, SecretsctlError
from secretsctl.limits import read_file
from secretsctl.paths import normal_runtime_path
from secretsctl.record import Record
from secretsctl.sops.stores import Format

__all__ = [
    "DEFAULTS_FIELDS",
    "SECRET_FIELDS",
    "TEMPLATE_FIELDS",
    "ConfigRead",
    "load_config",
    "parse_config",
    "read_config",
]

TOP_FIELDS: Final = ("defaults", "secrets", "templates")
OWNERSHIP_FIELDS: Final = ("owner", "uid", "group", "gid", "mode")
DEFAULTS_FIELDS: Final = (
    "sops_file",
    "format",
    "age_key_file",
    "ssh_key_paths",
    "gnupg_home",
    "mount_point",
    "symlink_path",
    "keep_generations",
    "use_tmpfs",
    "use_environment",
    "keyservices",
    "enable_local_keyservice",
    *OWNERSHIP_FIELDS,
)
SECRET_FIELDS: Final = (
    "key",
    "sops_file",
    "format",
    *OWNERSHIP_FIELDS,
    "path",
    "restart_units",
    "reload_units",
)
TEMPLATE_FIELDS: Final = (
    "content",
    "source",
    *OWNERSHIP_FIELDS,
    "path",
    "restart_units",
    "reload_units",
)
_FORMATS: Final = {fmt.value: fmt for fmt in Format}
_WHOLE_FILE_FORMATS: Final = frozenset((Format.BINARY, Format.DOTENV, Format.INI))

# YAML 1.2 core schema: which plain scalars are not strings.
_NULLS: Final = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS: Final = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
                 "FALSE": False}  # fmt: skip
_TYPED_START: Final = frozenset("0123456789+-.~nNtTfF")
_FIELD_LIKE: Final = re.compile(r"[a-z][a-z_]{0,23}")
_INT: Final = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT: Final = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)


def _plain_type(text: str) -> str | None:
    """Name the type a plain scalar resolves to, or None for a string."""
    if not text:
        return "null"
    if text[0] not in _TYPED_START:
        return None
    if text in _NULLS:
        return "null"
    if text in _BOOLS:
        return "a boolean"
    if _INT.fullmatch(text):
        return "an integer"
    if _FLOAT.fullmatch(text):
        return "a number"
    return None


def _describe(node: Node) -> str:
    kind = node[0]
    if kind == MAP:
        return "a mapping"
    if kind == SEQ:
        return "a list"
    if node[4]:
        return _plain_type(node[1]) or "a string"
    return "a string"


def _is_null(node: Node) -> bool:
    return node[0] == SCALAR and node[4] and node[1] in _NULLS


class _Positions(Mapping[str, tuple[int, int]]):
    """The line and column of each field, read from the nodes only when an error asks."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Node]) -> None:
        self._fields = fields

    def __getitem__(self, name: str) -> tuple[int, int]:
        node = self._fields[name]
        return node[2], node[3]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"_Positions({dict(self)!r})"


class _Ownership:
    """Owner, group and mode as one level (defaults, or one item) writes them."""

    __slots__ = ("gid", "group", "mode", "owner", "uid")

    def __init__(self) -> None:
        self.owner: str | None = None
        self.uid: int | None = None
        self.group: str | None = None
        self.gid: int | None = None
        self.mode: int | None = None


class _Loader:
    def __init__(self, path: str, *, defer: bool = False) -> None:
        self.file = path
        # With defer, problems of single items are kept for the plan to report with its own;
        # the items are marked flawed (secrets) or left out (templates).
        self.defer = defer
        self.flawed: set[str] = set()
        self.flawed_templates: set[str] = set()
        self.base = os.path.dirname(os.path.abspath(path))
        self.problems: list[SecretsctlError] = []
        self.ownerships: dict[tuple[str | None, int, str | None, int | None], Ownership] = {}
        self.sources: dict[str, str | None] = {}
        self.bad_formats: set[str] = set()
        self.common_cache: dict[object, tuple[Ownership, int]] = {}
        self.unit_cache: dict[tuple[tuple[str, bool], ...], tuple[str, ...]] = {}
        # Texts already read without a problem: uids, gids and modes repeat across secrets.
        self.id_cache: dict[str, int] = {}
        self.mode_cache: dict[str, int] = {}

    def position(self, error: SecretsctlError) -> tuple[int, int]:
        """Sort key: the line and column a problem names (problems without one go last)."""
        match = re.match(r"(\d+):(\d+): ", error.message[len(self.file) + 1 :])
        return (int(match[1]), int(match[2])) if match else (1 << 30, 0)

    # --- reporting -----------------------------------------------------------------------

    def fail(self, node: Node, label: str, message: str) -> None:
        self.problems.append(ManifestError(f"{self.file}:{node[2]}:{node[3]}: {label}: {message}"))

    def wrong_type(self, node: Node, label: str, expected: str, hint: str = "") -> None:
        self.fail(node, label, f"expected {expected}, found {_describe(node)}{hint}")

    # --- typed values --------------------------------------------------------------------

    def fields(self, node: Node, label: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """Return the non-null fields of a mapping; report unknown and repeated ones."""
        if node[0] != MAP:
            if _is_null(node):
                return {}
            self.wrong_type(node, label, "a mapping")
            return {}
        entries: YMap = node[1]
        if entries.duplicates:
            for key, first in entries.duplicates:
                self.fail(key, f"{label}.{key[1]}", f"repeated (first at line {first[2]})")
        found: dict[str, Node] = {}
        for name, (key, value) in entries.items():
            if name not in allowed:
                self.unknown(key, label, name, allowed)
            elif value[0] != SCALAR or not value[4] or value[1] not in _NULLS:
                found[name] = value
        return found

    def unknown(self, key: Node, label: str, name: str, allowed: tuple[str, ...]) -> None:
        import difflib

        if name == "<<":
            self.fail(key, label, "YAML merge keys (<<) are not supported; use defaults:")
            return
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f" (known: {', '.join(allowed)})"
        if close or _FIELD_LIKE.fullmatch(name):
            self.fail(key, f"{label}.{name}", f"unknown field{hint}")
        else:
            # A key that looks nothing like a field may be a value pasted in the wrong place.
            self.fail(key, label, f"an unknown field, whose name is not shown{hint}")

    def string(
        self, node: Node, label: str, expected: str = "a string", hint: str = ""
    ) -> str | None:
        if node[0] == SCALAR and (not node[4] or _plain_type(node[1]) is None):
            text: str = node[1]
            return text
        self.wrong_type(node, label, expected, hint)
        return None

    def input_path(self, node: Node, label: str) -> str | None:
        """Read an input file's path; a relative one resolves against the configuration's folder."""
        text = self.string(node, label, "a path")
        if text is None:
            return None
        if not text or "\0" in text:
            self.fail(node, label, "expected a path")
            return None
        return os.path.normpath(os.path.join(self.base, text))

    def runtime_path(self, node: Node, label: str) -> str | None:
        text = self.string(node, label, "an absolute path")
        if text is None:
            return None
        error = path_error(f"{self.file}:{node[2]}:{node[3]}: {label}", text)
        if error is not None:
            self.problems.append(error)
            return None
        return normal_runtime_path(text)

    def integer(self, node: Node, label: str, maximum: int) -> int | None:
        text = node[1] if node[0] == SCALAR else ""
        if not text.isdigit() or not text.isascii():
            if text[:1] == "-" and text[1:].isdigit():
                self.fail(node, label, "must not be negative")
            else:
                self.wrong_type(node, label, "a whole number")
            return None
        if len(text) > 1 and text[0] == "0":
            self.fail(node, label, f"write `{shorten(text)}` without leading zeros")
            return None
        value = int(text)
        if value > maximum:
            self.fail(node, label, f"{value} is out of range (at most {maximum})")
            return None
        return value

    def boolean(self, node: Node, label: str) -> bool | None:
        if node[0] == SCALAR and node[4] and node[1] in _BOOLS:
            return _BOOLS[node[1]]
        self.wrong_type(node, label, "true or false")
        return None

    def mode(self, node: Node, label: str) -> int | None:
        """Read a mode from its written digits, quoted or not: ``0440``, ``"440"``, ``0o440``."""
        if node[0] != SCALAR:
            self.wrong_type(node, label, 'an octal mode such as "0440"')
            return None
        text: str = node[1]
        value = parse_octal(text[2:] if text[:2] == "0o" else text)
        if value is None:
            self.fail(node, label, f'`{shorten(text)}` is not an octal mode such as "0440"')
            return None
        message = check_mode_bits(value)
        if message is not None:
            self.fail(node, label, message)
            return None
        return value

    def units(self, node: Node, label: str) -> tuple[str, ...]:
        if node[0] != SEQ:
            self.wrong_type(node, label, "a list of unit names", " (write [name.service])")
            return ()
        items: list[Node] = node[1]
        signature = tuple((item[1], item[4]) for item in items if item[0] == SCALAR)
        found = self.unit_cache.get(signature) if len(signature) == len(items) else None
        if found is not None:
            return found
        units: list[str] = []
        for item in node[1]:
            unit = self.string(item, label, "a unit name")
            if unit is None:
                continue
            message = check_unit(unit)
            if message is not None:
                self.fail(item, label, message)
            else:
                units.append(unit)
        result = tuple(units)
        if len(units) == len(items):  # all valid, so no problem is lost by caching
            self.unit_cache[signature] = result
        return result

    def fmt(self, node: Node, label: str) -> Format | None:
        text = self.string(node, label, "a format")
        if text is None:
            return None
        fmt = _FORMATS.get(text)
        if fmt is None:
            self.fail(
                node,
                label,
                f"unknown format `{shorten(text)}` (one of: yaml, json, binary, dotenv, ini)",
            )
        return fmt

    def ownership(self, fields: dict[str, Node], label: str) -> _Ownership:
        """Read owner/uid, group/gid and mode of one level."""
        level = _Ownership()
        owner, uid, group, gid = (fields.get(name) for name in ("owner", "uid", "group", "gid"))
        if owner is not None and uid is not None:
            self.fail(uid, f"{label}.uid", "give owner or uid, not both")
        elif owner is not None:
            level.owner = self.string(
                owner, f"{label}.owner", "a user name", " (use uid for a number)"
            )
        elif uid is not None:
            level.uid = self.account_id(uid, label, "uid")
        if group is not None and gid is not None:
            self.fail(gid, f"{label}.gid", "give group or gid, not both")
        elif group is not None:
            level.group = self.string(
                group, f"{label}.group", "a group name", " (use gid for a number)"
            )
        elif gid is not None:
            level.gid = self.account_id(gid, label, "gid")
        mode = fields.get("mode")
        if mode is not None:
            found = self.mode_cache.get(mode[1]) if mode[0] == SCALAR else None
            if found is None:
                found = self.mode(mode, f"{label}.mode")
                if found is not None:
                    self.mode_cache[mode[1]] = found
            level.mode = found
        return level

    def account_id(self, node: Node, label: str, field: str) -> int | None:
        """Read a uid or gid."""
        found = self.id_cache.get(node[1]) if node[0] == SCALAR else None
        if found is None:
            found = self.integer(node, f"{label}.{field}", MAX_ID)
            if found is not None:
                self.id_cache[node[1]] = found
        return found

    def merged_ownership(
        self, item: _Ownership, fields: dict[str, Node], defaults: _Ownership
    ) -> Ownership:
        """Item values win pairwise (owner/uid, group/gid) over the defaults."""
        if "owner" in fields or "uid" in fields:
            owner, uid = item.owner, item.uid
        else:
            owner, uid = defaults.owner, defaults.uid
        if "group" in fields or "gid" in fields:
            group, gid = item.group, item.gid
        else:
            group, gid = defaults.group, defaults.gid
        key = (owner, uid or 0, group, gid)
        found = self.ownerships.get(key)
        if found is None:
            found = self.ownerships[key] = Ownership(
                owner=owner, uid=uid or 0, group=group, gid=gid
            )
        return found

    # --- sections ------------------------------------------------------------------------

    def origin(self, key: Node, path: str, fields: dict[str, Node]) -> Origin:
        return Origin(
            file=self.file,
            line=key[2],
            column=key[3],
            path=path,
            fields=_Positions(fields),
        )

    def load(self, root: Node | None, fast: _FastBlock | None = None) -> Manifest:
        if root is None or _is_null(root):
            raise ManifestError(
                f"{self.file}: the configuration is empty",
                hint="add a secrets: section (see examples/secretsctl.yaml)",
            )
        top = self.fields(root, "(top level)", TOP_FIELDS)
        if root[0] != MAP:
            raise ProblemsError(self.problems)  # nothing else can be read
        defaults_node = top.get("defaults")
        d = self.fields(defaults_node, "defaults", DEFAULTS_FIELDS) if defaults_node else {}
        defaults = self.ownership(d, "defaults")
        sops_file = (
            self.input_path(d["sops_file"], "defaults.sops_file") if "sops_file" in d else None
        )
        fmt = self.fmt(d["format"], "defaults.format") if "format" in d else None
        keys = KeySettings(
            age_key_file=(
                self.input_path(d["age_key_file"], "defaults.age_key_file")
                if "age_key_file" in d
                else None
            ),
            age_ssh_key_paths=self.paths(d.get("ssh_key_paths"), "defaults.ssh_key_paths"),
            gnupg_home=(
                self.input_path(d["gnupg_home"], "defaults.gnupg_home")
                if "gnupg_home" in d
                else None
            ),
            use_environment=bool(
                "use_environment" in d
                and self.boolean(d["use_environment"], "defaults.use_environment")
            ),
            keyservices=self.keyservices(d.get("keyservices"), "defaults.keyservices"),
            enable_local_keyservice="enable_local_keyservice" not in d
            or self.boolean(d["enable_local_keyservice"], "defaults.enable_local_keyservice")
            is not False,
        )
        mount_point = symlink_path = None
        if "mount_point" in d:
            mount_point = self.runtime_path(d["mount_point"], "defaults.mount_point")
        if "symlink_path" in d:
            symlink_path = self.runtime_path(d["symlink_path"], "defaults.symlink_path")
        keep = 1
        if "keep_generations" in d:
            keep = self.integer(d["keep_generations"], "defaults.keep_generations", 10**6) or 0
        use_tmpfs = bool("use_tmpfs" in d and self.boolean(d["use_tmpfs"], "defaults.use_tmpfs"))
        general_problems = len(self.problems)  # of the file or its defaults: they touch all
        if fast is None:
            secrets = self.secrets(top.get("secrets"), defaults, sops_file, fmt or Format.YAML)
        else:
            secrets_key = root[1].get("secrets")
            if secrets_key is None or secrets_key[0][2] != fast.line or sops_file is None:
                raise _NotFast
            secrets = self.fast_secrets(fast.entries, defaults, sops_file, fmt or Format.YAML)
        templates = self.templates(top.get("templates"), defaults)
        self.problems += format_problems(s for s in secrets if s.name not in self.bad_formats)
        self.problems += rendered_layout_problems(secrets, ((t.name, t.origin) for t in templates))
        if self.problems:
            self.problems.sort(key=self.position)
            if not self.defer or general_problems:
                raise ProblemsError(self.problems)
            self.flawed.update(self.bad_formats)
            templates = [t for t in templates if t.name not in self.flawed_templates]
        return Manifest(
            source=self.file,
            secrets=tuple(secrets),
            templates=tuple(templates),
            mount_point=mount_point or DEFAULT_MOUNT_POINT,
            symlink_path=symlink_path or DEFAULT_SYMLINK_PATH,
            keep_generations=keep,
            use_tmpfs=use_tmpfs,
            keys=keys,
        )

    def keyservices(self, node: Node | None, label: str) -> tuple[str, ...]:
        """Read a list of sops key service URIs (``unix:///path``, ``tcp://host:port``)."""
        if node is None:
            return ()
        if node[0] != SEQ:
            self.wrong_type(node, label, "a list of key service URIs")
            return ()
        from secretsctl.keyservice.client import uri_problem

        uris = []
        for item in node[1]:
            uri = self.string(item, label, "a key service URI")
            if uri is None:
                continue
            problem = uri_problem(uri)
            if problem is not None:
                self.fail(item, label, f"`{shorten(uri)}`: {problem}")
            else:
                uris.append(uri)
        return tuple(uris)

    def paths(self, node: Node | None, label: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if node[0] != SEQ:
            self.wrong_type(node, label, "a list of paths")
            return ()
        found = (self.input_path(item, label) for item in node[1])
        return tuple(path for path in found if path is not None)

    def entries(self, node: Node | None, section: str) -> list[tuple[Node, Node]]:
        if node is None:
            return []
        if node[0] != MAP:
            self.wrong_type(node, section, "a mapping of names")
            return []
        entries: YMap = node[1]
        for key, first in entries.duplicates or ():
            self.fail(key, f"{section}.{key[1]}", f"defined twice (first at line {first[2]})")
        return list(entries.values())

    def secrets(
        self, node: Node | None, defaults: _Ownership, sops_file: str | None, fmt: Format
    ) -> list[SecretSpec]:
        specs: list[SecretSpec] = []
        for key, value in self.entries(node, "secrets"):
            before = len(self.problems)
            name: str = key[1]
            label = f"secrets.{name}"
            message = check_name(name)
            if message is not None:
                self.fail(key, label, message)
                continue
            if value[0] != MAP and not _is_null(value):
                self.wrong_type(value, label, "a mapping of settings", " (use {} for the defaults)")
                continue
            fields = self.fields(value, label, SECRET_FIELDS)
            ownership, mode = self.common(fields, label, defaults)
            secret_file = sops_file
            if "sops_file" in fields:
                secret_file = self.input_path(fields["sops_file"], f"{label}.sops_file")
            elif secret_file is None:
                self.fail(key, label, "no sops_file (set it here or in defaults)")
            secret_fmt = fmt
            if "format" in fields:
                found_fmt = self.fmt(fields["format"], f"{label}.format")
                if found_fmt is None:
                    self.bad_formats.add(name)
                secret_fmt = found_fmt or fmt
            secret_key = self.key(fields, label, name, secret_fmt)
            specs.append(
                SecretSpec(
                    name,
                    secret_file or "",
                    secret_key,
                    secret_fmt,
                    ownership,
                    mode,
                    *self.placement(fields, label),
                    self.origin(key, label, fields),
                )
            )
            if len(self.problems) != before:
                self.flawed.add(name)
        return specs

    def placement(
        self, fields: dict[str, Node], label: str
    ) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
        """Read an item's custom ``path``, ``restart_units`` and ``reload_units``."""
        path = None
        if "path" in fields:
            path = self.runtime_path(fields["path"], f"{label}.path")
        restart: tuple[str, ...] = ()
        if "restart_units" in fields:
            restart = self.units(fields["restart_units"], f"{label}.restart_units")
        reload: tuple[str, ...] = ()
        if "reload_units" in fields:
            reload = self.units(fields["reload_units"], f"{label}.reload_units")
        return path, restart, reload

    def fast_secrets(
        self, entries: list[_FastEntry], defaults: _Ownership, sops_file: str, fmt: Format
    ) -> list[SecretSpec]:
        """Build the specs of a ``secrets:`` block read by :func:`_fast_block`.

        The same steps as :meth:`secrets` for the one shape that block allows; anything
        that would be a problem raises :class:`_NotFast` (the generic path then reports it).
        """
        specs: list[SecretSpec] = []
        seen: set[str] = set()
        file = self.file
        before = len(self.problems)
        whole_file = fmt in _WHOLE_FILE_FORMATS
        for name, line, pieces in entries:
            if name in seen:
                raise _NotFast
            seen.add(name)
            label = "secrets." + name
            fields: dict[str, Node] = {}
            for field_name, text, column, plain in pieces:
                if not (plain and text in _NULLS):
                    fields[field_name] = (SCALAR, text, line, column, plain)
            if len({piece[0] for piece in pieces}) != len(pieces):
                raise _NotFast  # a repeated field
            ownership, mode = self.fast_ownership(fields, label, defaults)
            if "key" in fields:
                secret_key = self.key(fields, label, name, fmt)
            else:
                secret_key = "" if whole_file else name
            origin = Origin(file, line, 3, label, _Positions(fields))
            specs.append(
                SecretSpec(name, sops_file, secret_key, fmt, ownership, mode, None, (), (), origin)
            )
        if len(self.problems) != before:
            raise _NotFast
        return specs

    def fast_ownership(
        self, fields: dict[str, Node], label: str, defaults: _Ownership
    ) -> tuple[Ownership, int]:
        """:meth:`common` for fields that are all scalars, without its intermediate steps."""
        get = fields.get
        owner_node, uid_node, group_node, gid_node, mode_node = (
            get("owner"),
            get("uid"),
            get("group"),
            get("gid"),
            get("mode"),
        )
        owner: str | None
        uid: int | None
        if owner_node is not None:
            if uid_node is not None or (owner_node[4] and _plain_type(owner_node[1]) is not None):
                raise _NotFast
            owner, uid = owner_node[1], None
        elif uid_node is not None:
            owner, uid = None, self.id_cache.get(uid_node[1])
            if uid is None:
                uid = self.account_id(uid_node, label, "uid")
                if uid is None:
                    raise _NotFast
        else:
            owner, uid = defaults.owner, defaults.uid
        group: str | None
        gid: int | None
        if group_node is not None:
            if gid_node is not None or (group_node[4] and _plain_type(group_node[1]) is not None):
                raise _NotFast
            group, gid = group_node[1], None
        elif gid_node is not None:
            group, gid = None, self.id_cache.get(gid_node[1])
            if gid is None:
                gid = self.account_id(gid_node, label, "gid")
                if gid is None:
                    raise _NotFast
        else:
            group, gid = defaults.group, defaults.gid
        if mode_node is not None:
            mode = self.mode_cache.get(mode_node[1])
            if mode is None:
                found = self.mode(mode_node, f"{label}.mode")
                if found is None:
                    raise _NotFast
                mode = self.mode_cache[mode_node[1]] = found
        else:
            mode = defaults.mode if defaults.mode is not None else DEFAULT_MODE
        key = (owner, uid or 0, group, gid)
        ownership = self.ownerships.get(key)
        if ownership is None:
            ownership = self.ownerships[key] = Ownership(owner, uid or 0, group, gid)
        return ownership, mode

    def common(
        self, fields: dict[str, Node], label: str, defaults: _Ownership
    ) -> tuple[Ownership, int]:
        """Read an item's owner, group and mode; identical texts are read once."""
        get = fields.get
        owner, uid, group, gid, mode = (
            get("owner"),
            get("uid"),
            get("group"),
            get("gid"),
            get("mode"),
        )
        signature: object = (
            owner and (owner[1], owner[4]),
            uid and (uid[1], uid[4]),
            group and (group[1], group[4]),
            gid and (gid[1], gid[4]),
            mode and (mode[1], mode[4]),
        )
        try:
            found = self.common_cache.get(signature)
        except TypeError:  # a mapping or a list where a scalar belongs: no caching
            signature = None
            found = None
        if found is not None:
            return found
        before = len(self.problems)
        item = self.ownership(fields, label) if fields else _NO_OWNERSHIP
        result = self.merged_ownership(item, fields, defaults), _mode(item, defaults)
        if signature is not None and len(self.problems) == before:
            self.common_cache[signature] = result
        return result

    def key(self, fields: dict[str, Node], label: str, name: str, fmt: Format) -> str:
        node = fields.get("key")
        if node is None:
            return "" if fmt in _WHOLE_FILE_FORMATS else name
        text = self.string(node, f"{label}.key", "a key path", " (quote it)")
        if text is None:
            return ""
        if fmt in _WHOLE_FILE_FORMATS:
            self.fail(
                node,
                f"{label}.key",
                f"{'an' if fmt is Format.INI else 'a'} {fmt.value} secret is always the whole"
                " file; remove key (it would select nothing)",
            )
        elif text == "sops" or text.startswith("sops/"):
            self.fail(node, f"{label}.key", "`sops` is the metadata of the file, not a secret")
        return text

    def templates(self, node: Node | None, defaults: _Ownership) -> list[TemplateSpec]:
        specs: list[TemplateSpec] = []
        for key, value in self.entries(node, "templates"):
            before = len(self.problems)
            name: str = key[1]
            label = f"templates.{name}"
            message = check_name(name)
            if message is not None:
                self.fail(key, label, message)
                continue
            if value[0] != MAP:
                self.wrong_type(value, label, "a mapping with content or source")
                continue
            fields = self.fields(value, label, TEMPLATE_FIELDS)
            ownership, mode = self.common(fields, label, defaults)
            content, source = fields.get("content"), fields.get("source")
            text: str | None = None
            source_path: str | None = None
            if content is not None and source is not None:
                self.fail(source, f"{label}.source", "give content or source, not both")
            elif content is not None:
                text = self.string(content, f"{label}.content", "template text", " (quote it)")
            elif source is not None:
                source_path = self.input_path(source, f"{label}.source")
                if source_path is not None:
                    text = self.read_source(source, f"{label}.source", source_path)
            else:
                self.fail(key, label, "give the template's content or its source file")
            specs.append(
                TemplateSpec(
                    name,
                    text or "",
                    TemplateEngine.JINJA,
                    source_path,
                    ownership,
                    mode,
                    *self.placement(fields, label),
                    self.origin(key, label, fields),
                )
            )
            if len(self.problems) != before:
                self.flawed_templates.add(name)
        return specs

    def read_source(self, node: Node, label: str, path: str) -> str | None:
        if path in self.sources:
            return self.sources[path]
        text: str | None = None
        try:
            data = read_file(path)
        except OSError as error:
            self.fail(node, label, f"cannot read {path}: {error.strerror or type(error).__name__}")
        except InputLimitError as error:
            self.fail(node, label, error.message)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                self.fail(node, label, f"{path} is not UTF-8 text (line {line})")
        self.sources[path] = text
        return text


_NO_OWNERSHIP: Final = _Ownership()


def _mode(item: _Ownership, defaults: _Ownership) -> int:
    if item.mode is not None:
        return item.mode
    return defaults.mode if defaults.mode is not None else DEFAULT_MODE


class _NotFast(Exception):
    """The configuration is not in the shape the fast path reads; read it the generic way."""


# One secret per line under `secrets:`, the shape of large generated configurations:
#   name: {owner: alice, group: users, mode: '0440', key: a/b}
# Names are relative paths of plain words; values are plain words or single-quoted words, so
# no comma, colon, quote or escape hides inside one. Anything else takes the generic path.
_FAST_NAME: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*"
_FAST_VALUE: Final = r"[A-Za-z0-9_][A-Za-z0-9_./-]*|'[A-Za-z0-9_./-]*'"
_FAST_FIELD: Final = rf"(?:owner|uid|group|gid|mode|key): (?:{_FAST_VALUE})"
_FAST_ENTRY: Final = re.compile(
    rf"  ({_FAST_NAME}): \{{((?:{_FAST_FIELD})(?:, {_FAST_FIELD})*)?\}}\Z"
)

# (name, line, [(field, text, column, plain)]); lines and columns are 1-based.
_FastEntry: TypeAlias = tuple[str, int, list[tuple[str, str, int, bool]]]


class _FastBlock(Record):
    line: int  # of the `secrets:` key
    entries: list[_FastEntry]


def _fast_block(text: str) -> tuple[str, _FastBlock] | None:
    """Find a ``secrets:`` block of one-line entries; return the text without it, and it.

    The block's lines are blanked (so every other line keeps its number) and read here with
    one regular expression each, rather than as YAML nodes: a 10,000-secret configuration
    reads in a quarter of the time. Returns None when any line of the block has another
    shape.
    """
    if text.startswith("secrets:\n"):
        key_index = 0
    else:
        at = text.find("\nsecrets:\n")
        if at < 0:
            return None
        key_index = text.count("\n", 0, at + 1)
    lines = text.split("\n")
    first = key_index + 1
    end = len(lines)
    entries: list[_FastEntry] = []
    match_entry = _FAST_ENTRY.match
    for index in range(first, len(lines)):
        line = lines[index]
        if not line:
            continue
        if line[0] != " ":
            if line[0] == "#":
                continue
            end = index
            break
        match = match_entry(line)
        if match is None:
            if line.lstrip(" ")[:1] in ("", "#"):
                continue
            return None
        name, inner = match.groups()
        pieces = []
        if inner:
            offset = match.start(2) + 1  # the 1-based column of the first field
            for piece in inner.split(", "):
                field_name, _, value = piece.partition(": ")
                column = offset + len(field_name) + 2
                if value[0] == "'":
                    pieces.append((field_name, value[1:-1], column, False))
                else:
                    pieces.append((field_name, value, column, True))
                offset += len(piece) + 2
        entries.append((name, index + 1, pieces))
    blanked = "\n".join(lines[:first] + [""] * (end - first) + lines[end:])
    return blanked, _FastBlock(key_index + 1, entries)


class ConfigRead(Record):
    """A configuration read without raising for the problems of single items.

    ``manifest`` holds every well-formed item and the secrets named in ``flawed``, whose
    problems are in ``problems``; templates with a problem are left out. Planning reports
    these problems together with its own (:func:`~secretsctl.render.plan.build_plan`'s
    ``earlier`` and ``skip``), so one run names every problem of a configuration.
    """

    manifest: Manifest
    problems: tuple[SecretsctlError, ...] = ()
    flawed: frozenset[str] = frozenset()


def parse_config(text: str, path: str) -> Manifest:
    """Read configuration text as if it were the file ``path`` (relative paths use its folder).

    Raises :class:`ManifestError` for YAML that cannot be read, and :class:`ProblemsError`
    holding one :class:`ManifestError` per problem otherwise.
    """
    return _parse(text, path, defer=False).manifest


def _parse(text: str, path: str, *, defer: bool) -> ConfigRead:
    found = _fast_block(text)
    if found is not None:
        blanked, block = found
        try:
            root = _yaml.read(blanked)
            loader = _Loader(path, defer=True)
            manifest = loader.load(root, block)
            if not loader.problems:
                return ConfigRead(manifest)
        except (_NotFast, _yaml.YamlSyntaxError, SecretsctlError):
            pass  # the generic path finds and reports whatever it is
    try:
        root = _yaml.read(text)
    except _yaml.YamlSyntaxError as error:
        where = path
        if error.line is not None:
            where += f":{error.line}:{error.column}"
        what = "" if isinstance(error, _yaml.YamlLimitError) else "invalid YAML: "
        raise ManifestError(f"{where}: {what}{error.message}") from None
    loader = _Loader(path, defer=defer)
    manifest = loader.load(root)
    return ConfigRead(manifest, tuple(loader.problems), frozenset(loader.flawed))


def load_config(path: str | os.PathLike[str]) -> Manifest:
    """Read ``secretsctl.yaml`` (the default is ``/etc/secretsctl/secretsctl.yaml``).

    Raises :class:`ManifestError` (exit 5) when the file cannot be read or is not YAML, and
    :class:`ProblemsError` with every problem found otherwise.
    """
    name = os.fspath(path)
    return _parse(_read_text(name), name, defer=False).manifest


def read_config(path: str | os.PathLike[str]) -> ConfigRead:
    """Read ``secretsctl.yaml``, keeping the problems of single items for the plan to report.

    Raises as :func:`load_config` does for a file that cannot be read, is not YAML, or whose
    top level or defaults have a problem (those touch every item).
    """
    name = os.fspath(path)
    return _parse(_read_text(name), name, defer=True)


def _read_text(name: str) -> str:
    try:
        data = read_file(name)
    except OSError as error:
        raise ManifestError(
            f"cannot read {name}: {error.strerror or type(error).__name__}",
            hint="pass the configuration with --manifest, or set SECRETSCTL_MANIFEST",
        ) from None
    except InputLimitError as error:
        raise ManifestError(error.message, hint=error.hint) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ManifestError(f"{name}:{line}: the configuration is not UTF-8 text") from None
    if text[:1] == "\ufeff":
        text = text[1:]
    return text
