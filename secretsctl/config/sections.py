"""The sections of ``secretsctl.yaml``: defaults, secrets and templates, read into a Manifest.

:class:`SectionLoader` checks each section's fields against its schema (unknown fields are
errors, so a typo never passes silently), resolves relative input paths against the
configuration's folder, and collects every problem; with ``defer``, the problems of single
items are kept for the plan to report with its own.
"""

from __future__ import annotations

from secretsctl.config._yaml import MAP, SCALAR, Node
from secretsctl.config.fastblock import FastBlock, FastEntry, NotFast
from secretsctl.config.model import (
    DEFAULT_MODE,
    DEFAULT_MOUNT_POINT,
    DEFAULT_SYMLINK_PATH,
    KeySettings,
    Manifest,
    Origin,
    SecretSpec,
    TemplateEngine,
    TemplateSpec,
)
from secretsctl.config.ownership import OWNERSHIP_FIELDS, ItemOwnership, Level, OwnershipReader
from secretsctl.config.validate import (
    check_name,
    format_problems,
    rendered_layout_problems,
)
from secretsctl.config.values import NULLS, is_null, plain_type
from secretsctl.errors import ManifestError, ProblemsError, SecretsctlError
from secretsctl.sops.stores import Format

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Final
else:
    # The same class, without importing the collections package on the boot path.
    from _collections_abc import Mapping

TOP_FIELDS: Final = ("defaults", "secrets", "templates")
FAST_FIELDS: Final = (*OWNERSHIP_FIELDS, "key")  # in the order fast_secrets reads them
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
WHOLE_FILE_FORMATS: Final = frozenset((Format.BINARY, Format.DOTENV, Format.INI))


class Positions(Mapping[str, tuple[int, int]]):
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
        return f"Positions({dict(self)!r})"


class LinePositions(Mapping[str, tuple[int, int]]):
    """The line and column of each field of a one-line entry, read only when an error asks.

    ``base`` is the column of the first field, ``fields`` the text between the braces.
    """

    __slots__ = ("_base", "_fields", "_line", "_read")

    def __init__(self, line: int, base: int, fields: str | None) -> None:
        self._line = line
        self._base = base
        self._fields = fields
        self._read: dict[str, tuple[int, int]] | None = None

    def _positions(self) -> dict[str, tuple[int, int]]:
        if self._read is None:
            self._read = {}
            column = self._base
            for piece in self._fields.split(", ") if self._fields is not None else ():
                field_name, _, value = piece.partition(": ")
                if value[0] == "'" or value not in NULLS:
                    self._read[field_name] = (self._line, column + len(field_name) + 2)
                column += len(piece) + 2
        return self._read

    def __getitem__(self, name: str) -> tuple[int, int]:
        return self._positions()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions())

    def __len__(self) -> int:
        return len(self._positions())

    def __repr__(self) -> str:
        return f"Positions({dict(self)!r})"


class SectionLoader(OwnershipReader):
    """Reads the sections of one configuration file into a :class:`Manifest`."""

    def __init__(self, path: str, *, defer: bool = False) -> None:
        super().__init__(path)
        # With defer, problems of single items are kept for the plan to report with its own;
        # the items are marked flawed (secrets) or left out (templates).
        self.defer = defer
        self.flawed: set[str] = set()
        self.flawed_templates: set[str] = set()
        self.bad_formats: set[str] = set()

    def position(self, error: SecretsctlError) -> tuple[int, int]:
        """Sort key: the line and column a problem names (problems without one go last)."""
        import re  # an error path: the boot path does without re

        match = re.match(r"(\d+):(\d+): ", error.message[len(self.file) + 1 :])
        return (int(match[1]), int(match[2])) if match else (1 << 30, 0)

    def origin(self, key: Node, path: str, fields: dict[str, Node]) -> Origin:
        """Where an item is: file, line and column of its key, and of each field."""
        return Origin(
            file=self.file,
            line=key[2],
            column=key[3],
            path=path,
            fields=Positions(fields),
        )

    def load(self, root: Node | None, fast: FastBlock | None = None) -> Manifest:
        """Read the whole configuration; raise when a problem touches every item."""
        if root is None or is_null(root):
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
                raise NotFast
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

    def secrets(
        self, node: Node | None, defaults: Level, sops_file: str | None, fmt: Format
    ) -> list[SecretSpec]:
        """Read the ``secrets:`` section, the generic way."""
        specs: list[SecretSpec] = []
        expected = ("a mapping of settings", " (use {} for the defaults)")
        items = self.items(node, "secrets", SECRET_FIELDS, defaults, expected, self.flawed)
        for key, name, label, fields, (ownership, mode) in items:
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
        return specs

    def items(
        self,
        node: Node | None,
        section: str,
        allowed: tuple[str, ...],
        defaults: Level,
        expected: tuple[str, str],
        flawed: set[str],
    ) -> Iterator[tuple[Node, str, str, dict[str, Node], ItemOwnership]]:
        """Yield each well-named entry of a section with its fields, and its ownership and mode.

        A secret's value may be null (all defaults); anything else that is not a mapping is
        reported as not ``expected``. The names of the entries that have a problem once the
        caller has read them go into ``flawed``.
        """
        null_ok = section == "secrets"
        for key, value in self.entries(node, section):
            before = len(self.problems)
            name: str = key[1]
            label = f"{section}.{name}"
            message = check_name(name)
            if message is not None:
                self.fail(key, label, message)
                continue
            if value[0] != MAP and not (null_ok and is_null(value)):
                self.wrong_type(value, label, *expected)
                continue
            fields = self.fields(value, label, allowed)
            yield key, name, label, fields, self.common(fields, label, defaults)
            if len(self.problems) != before:
                flawed.add(name)

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
        self, entries: list[FastEntry], defaults: Level, sops_file: str, fmt: Format
    ) -> list[SecretSpec]:
        """Build the specs of a ``secrets:`` block read by :func:`fast_block`.

        The same steps as :meth:`secrets` for the one shape that block allows, each distinct
        field text read once (generated configurations repeat them); anything that would be
        a problem raises :class:`NotFast` (the generic path then reports it).
        """
        specs: list[SecretSpec] = []
        seen: set[str] = set()
        file = self.file
        whole_file = fmt in WHOLE_FILE_FORMATS
        default_mode = defaults.mode if defaults.mode is not None else DEFAULT_MODE
        read: dict[str, tuple[int, int, str | int | None]] = {}
        for name, line, inner in entries:
            if name in seen:
                raise NotFast
            seen.add(name)
            label = "secrets." + name
            # owner, uid, group, gid, mode, key; None where not given (or null)
            found: list[str | int | None] = [None] * 6
            if inner is not None:
                given = 0
                for piece in inner.split(", "):
                    known = read.get(piece)
                    if known is None:
                        known = read[piece] = self.fast_field(piece, label, fmt)
                    bit, index, value = known
                    if given & bit:
                        raise NotFast  # a repeated field
                    given |= bit
                    found[index] = value
            owner, uid, group, gid, mode, key = found
            if owner is None and uid is None:
                owner, uid = defaults.owner, defaults.uid
            elif owner is not None and uid is not None:
                raise NotFast
            if group is None and gid is None:
                group, gid = defaults.group, defaults.gid
            elif group is not None and gid is not None:
                raise NotFast
            ownership = self.shared(owner, uid, group, gid)  # type: ignore[arg-type]
            secret_key = key if key is not None else "" if whole_file else name
            origin = Origin(file, line, 3, label, LinePositions(line, len(name) + 6, inner))
            specs.append(
                SecretSpec(
                    name,
                    sops_file,
                    secret_key,  # type: ignore[arg-type]
                    fmt,
                    ownership,
                    default_mode if mode is None else mode,  # type: ignore[arg-type]
                    None,
                    (),
                    (),
                    origin,
                )
            )
        return specs

    def fast_field(self, piece: str, label: str, fmt: Format) -> tuple[int, int, str | int | None]:
        """Read one ``field: value`` of a one-line entry: its bit, its index, and its value.

        The value is None for a null; a problem raises :class:`NotFast`.
        """
        field_name, _, value = piece.partition(": ")
        index = FAST_FIELDS.index(field_name)
        plain = value[0] not in "'\""
        text = value if plain else value[1:-1]
        if plain and text in NULLS:
            return 1 << index, index, None
        node: Node = (SCALAR, text, 0, 0, plain)
        before = len(self.problems)
        result: str | int | None
        if field_name in ("owner", "group"):
            result = None if plain and plain_type(text) is not None else text
        elif field_name == "mode":
            result = self.cached_mode(node, label)
        elif field_name == "key":
            result = self.key({"key": node}, label, "", fmt)
        else:
            result = self.account_id(node, label, field_name)
        if result is None or len(self.problems) != before:
            raise NotFast
        return 1 << index, index, result

    def key(self, fields: dict[str, Node], label: str, name: str, fmt: Format) -> str:
        """Read a secret's key path in its sops file (its name unless given)."""
        node = fields.get("key")
        if node is None:
            return "" if fmt in WHOLE_FILE_FORMATS else name
        text = self.string(node, f"{label}.key", "a key path", " (quote it)")
        if text is None:
            return ""
        if fmt in WHOLE_FILE_FORMATS:
            self.fail(
                node,
                f"{label}.key",
                f"{'an' if fmt is Format.INI else 'a'} {fmt.value} secret is always the whole"
                " file; remove key (it would select nothing)",
            )
        elif text == "sops" or text.startswith("sops/"):
            self.fail(node, f"{label}.key", "`sops` is the metadata of the file, not a secret")
        return text

    def templates(self, node: Node | None, defaults: Level) -> list[TemplateSpec]:
        """Read the ``templates:`` section."""
        specs: list[TemplateSpec] = []
        expected = ("a mapping with content or source", "")
        items = self.items(
            node, "templates", TEMPLATE_FIELDS, defaults, expected, self.flawed_templates
        )
        for key, name, label, fields, (ownership, mode) in items:
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
        return specs
