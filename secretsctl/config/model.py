"""The activation model both inputs map onto (``secretsctl.yaml`` and sops-nix's manifest.json).

Field semantics are those of sops-nix's manifest, with secretsctl's
changes: exact modes, known formats only, nested keys in JSON, Jinja templates for the
native configuration. Every spec carries its :class:`Origin`, so any later error can name the
file, line and field it came from.
"""

from __future__ import annotations

from types import MappingProxyType

from secretsctl.choice import Choice
from secretsctl.record import Record, repr_without
from secretsctl.sops.stores import Format

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_MOUNT_POINT = "/run/secrets.d"
DEFAULT_SYMLINK_PATH = "/run/secrets"
DEFAULT_MODE = 0o400
RENDERED_DIR = "rendered"
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class Origin(Record):
    """Where a value was written: a file, and the line and column when known (1-based).

    ``path`` names the item inside the file (``secrets.db/password``, ``secrets[3]``) and
    ``fields`` holds the line and column of each of its fields, so that an error found later
    (an unknown owner, a missing key) can point at the very field (:meth:`of`).
    """

    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    fields: Mapping[str, tuple[int, int]] = _NOTHING

    # Positions are a detail of where: two origins naming the same place are equal.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Origin):
            return NotImplemented
        return self[:4] == other[:4]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:4])

    def at(self, field_name: str) -> str:
        """Name the place for a message: ``file:line:column: field``."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {field_name}"

    def of(self, field_name: str = "") -> str:
        """Name one field of the item: ``file:line:column: path.field``, at the field if known."""
        label = f"{self.path}.{field_name}" if self.path and field_name else self.path or field_name
        position = self.fields.get(field_name) if field_name else None
        if position is None:
            return self.at(label)
        return f"{self.file}:{position[0]}:{position[1]}: {label}"

    def __repr__(self) -> str:
        return repr_without(self, "fields")


class Ownership(Record):
    """Who owns an installed file, as configured (names are looked up at activation).

    A name wins over a number. With ``owner`` set and neither ``group`` nor ``gid`` given,
    the group is the owner's primary group (sops-nix's NixOS default).
    """

    owner: str | None = None
    uid: int = 0
    group: str | None = None
    gid: int | None = None


class TemplateEngine(Choice):
    """How a template's text becomes its content."""

    JINJA = "jinja"  # secretsctl.yaml: sandboxed Jinja, secrets by name
    PLACEHOLDER = "placeholder"  # manifest.json: sops-nix's <SOPS:…:PLACEHOLDER> substitution


class SecretSpec(Record):
    """One secret: which value of which sops file goes to which file, owned how."""

    name: str  # path relative to the generation directory; '/' makes subdirectories
    sops_file: str  # absolute
    key: str = ""  # '/'-separated path in yaml/json; "" is the whole file
    format: Format = Format.YAML
    ownership: Ownership = Ownership()
    mode: int = DEFAULT_MODE  # permission bits only (validated)
    path: str | None = None  # a custom absolute path to link, or None for the default
    restart_units: tuple[str, ...] = ()
    reload_units: tuple[str, ...] = ()
    origin: Origin = Origin("<unknown>")


class TemplateSpec(Record):
    """One template, rendered from the secrets into ``rendered/<name>``."""

    name: str
    text: str  # the template source (inline content or the source file); not in the repr
    engine: TemplateEngine = TemplateEngine.JINJA
    source: str | None = None  # the file the text was read from; None for inline content
    ownership: Ownership = Ownership()
    mode: int = DEFAULT_MODE
    path: str | None = None
    restart_units: tuple[str, ...] = ()
    reload_units: tuple[str, ...] = ()
    origin: Origin = Origin("<unknown>")

    def __repr__(self) -> str:
        return repr_without(self, "text")


class KeySettings(Record):
    """Where identities come from in system mode: exactly these, never the environment."""

    age_key_file: str | None = None
    age_ssh_key_paths: tuple[str, ...] = ()
    ssh_key_paths: tuple[str, ...] = ()  # SSH RSA keys imported as GPG keys (sops-nix)
    gnupg_home: str | None = None  # the GnuPG home gpg decrypts PGP entries with
    use_environment: bool = False  # also read SOPS_AGE_* and ~/.ssh, as the sops CLI does
    # Environment variables use_environment leaves unread: sops-nix points SOPS_AGE_KEY_FILE at
    # its own key file whenever the manifest names age keys, hiding the caller's.
    unread_variables: tuple[str, ...] = ()
    keyservices: tuple[str, ...] = ()  # sops key services asked after the local keys
    enable_local_keyservice: bool = True  # False: only the key services, no key on the host


class Manifest(Record):
    """Everything an activation needs to know, whichever file it was read from."""

    source: str
    secrets: tuple[SecretSpec, ...] = ()
    templates: tuple[TemplateSpec, ...] = ()
    placeholders: Mapping[str, str] = _NOTHING  # secret name -> placeholder
    mount_point: str = DEFAULT_MOUNT_POINT
    symlink_path: str = DEFAULT_SYMLINK_PATH
    keep_generations: int = 1  # 0 keeps every generation
    use_tmpfs: bool = False
    user_mode: bool = False
    keys: KeySettings = KeySettings()
    log_secret_changes: bool = True
    log_key_import: bool = True
