"""The ``sops`` metadata block: reading, validating and writing it in sops's field order.

Stores hand this module the metadata as a tree (a :class:`Branch`); dotenv and INI flatten and
unflatten it first (:func:`flatten`, :func:`unflatten`). Master keys other than age (PGP, cloud
KMS, Vault) cannot be used here but are kept, field for field, so an edited file still opens
for the people who use them.
"""

from __future__ import annotations

from secretsctl.errors import MetadataError
from secretsctl.record import Record, repr_without
from secretsctl.sops.grammar import GoTime, is_go_int, mac_aad, parse_go_float, parse_rfc3339
from secretsctl.sops.tree import DEFAULT_UNENCRYPTED_SUFFIX, RULE_FIELDS, Branch, CryptRule, Seq

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from typing import Any, Final

SOPS_VERSION: Final = "3.11.0"
METADATA_KEY: Final = "sops"

# Field order of each foreign master-key struct in sops 3.11 (stores/stores.go); omitempty ones
# are written only when set.
FOREIGN_KEY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "kms": ("arn", "role", "context", "created_at", "enc", "aws_profile"),
    "gcp_kms": ("resource_id", "created_at", "enc"),
    "azure_kv": ("vault_url", "name", "version", "created_at", "enc"),
    "hc_vault": ("vault_address", "engine_path", "key_name", "created_at", "enc"),
    "pgp": ("created_at", "enc", "fp"),
}
_OMIT_EMPTY_KEY_FIELDS: Final = frozenset({"role", "context"})
# Order of the key lists in the flat metadata (before lastmodified) and in a key group.
_FLAT_BEFORE: Final = ("kms", "gcp_kms", "azure_kv", "hc_vault")
_GROUP_ORDER: Final = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "age")


class NilList(Seq):
    """An empty list that Go marshals as ``null`` in JSON and ``[]`` in YAML."""

    __slots__ = ()


class AgeKey(Record):
    """One age recipient and the armoured age file that wraps the data key for it."""

    recipient: str
    enc: str

    def __repr__(self) -> str:
        return repr_without(self, "enc")


class ForeignKey(Record):
    """A non-age master key (``pgp``, ``kms``, …), kept as its fields in sops's order."""

    kind: str
    fields: tuple[tuple[str, Any], ...]

    @property
    def recipient(self) -> str | None:
        """The key's own name, as sops's ``ToString``: fingerprint, ARN, resource or key."""
        wanted = {"pgp": "fp", "kms": "arn", "gcp_kms": "resource_id", "azure_kv": "name",
                  "hc_vault": "key_name"}[self.kind]  # fmt: skip
        for name, value in self.fields:
            if name == wanted:
                return str(value)
        return None

    @property
    def label(self) -> str:
        """A public name for messages: the kind and :attr:`recipient`."""
        recipient = self.recipient
        return self.kind if recipient is None else f"{self.kind}:{recipient}"

    def __repr__(self) -> str:
        return repr_without(self, "fields")


class KeyGroup(Record):
    """One key group: every key in it wraps the same data key (or the same Shamir share)."""

    age: tuple[AgeKey, ...] = ()
    foreign: tuple[ForeignKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.age or self.foreign)


class Metadata(Record):
    """The parsed ``sops`` block of a file."""

    key_groups: tuple[KeyGroup, ...]
    lastmodified: str
    mac: str
    version: str = SOPS_VERSION
    rule: CryptRule = CryptRule()
    mac_only_encrypted: bool = False
    shamir_threshold: int = 0

    @property
    def threshold(self) -> int:
        """How many key groups must open to rebuild the data key."""
        return self.shamir_threshold or len(self.key_groups)

    @property
    def recipients(self) -> list[str]:
        """Every master key of the file, age recipients by their public string."""
        names: list[str] = []
        for group in self.key_groups:
            names.extend(key.recipient for key in group.age)
            names.extend(key.label for key in group.foreign)
        return names

    def with_mac(self, mac: str, lastmodified: str) -> Metadata:
        """Return a copy with a new MAC and timestamp."""
        return self._replace(mac=mac, lastmodified=lastmodified)

    # --- reading -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return repr_without(self, "mac")


def _scalar_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, GoTime):
        return value.source
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MetadataError(f"sops metadata field `{name}` must be a string")


def _as_branch(value: Any, name: str) -> Branch:
    if isinstance(value, Branch):
        return value
    raise MetadataError(f"sops metadata field `{name}` must be a mapping")


def _as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list) and not isinstance(value, Branch):
        return value
    raise MetadataError(f"sops metadata field `{name}` must be a list")


def _read_keys(container: Branch, where: str) -> KeyGroup:
    age: list[AgeKey] = []
    foreign: list[ForeignKey] = []
    for kind in _GROUP_ORDER:
        for index, entry in enumerate(_as_list(container.get(kind), f"{where}{kind}")):
            entry_name = f"{where}{kind}[{index}]"
            entry = _as_branch(entry, entry_name)
            if kind == "age":
                age.append(
                    AgeKey(
                        _scalar_text(entry.get("recipient"), entry_name + ".recipient"),
                        _scalar_text(entry.get("enc"), entry_name + ".enc"),
                    )
                )
                continue
            fields = []
            for field_name in FOREIGN_KEY_FIELDS[kind]:
                value = entry.get(field_name)
                if field_name == "context":
                    if value:
                        fields.append((field_name, value))
                    continue
                text = _scalar_text(value, f"{entry_name}.{field_name}")
                if field_name == "created_at":
                    try:
                        text = mac_aad(text)
                    except ValueError:
                        raise MetadataError(
                            f"sops metadata field `{entry_name}.created_at` is not RFC 3339"
                        ) from None
                if text or field_name not in _OMIT_EMPTY_KEY_FIELDS:
                    fields.append((field_name, text))
            foreign.append(ForeignKey(kind, tuple(fields)))
    return KeyGroup(tuple(age), tuple(foreign))


_ALPHANUMERIC: Final = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")


def _semver_number(text: str) -> bool:
    return (
        text.isascii() and text.isdigit() and (text == "0" or text[0] != "0") and int(text) < 2**64
    )


def check_version(version: str) -> None:
    """Accept ``version`` exactly when sops 3.11's version check (blang/semver) does.

    sops compares every file's version with the one that fixed a KMS bug: ``1.x`` passes as
    it is; anything else, after one leading ``v``, must be strict semver.
    """
    if version.startswith("1."):
        return
    text = version[1:] if version.startswith("v") else version
    if not text:
        raise MetadataError("sops metadata `version` is empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise MetadataError(
            f"sops metadata `version` {version!r} has no Major.Minor.Patch elements"
        )
    major, minor, patch = parts
    build: list[str] = []
    prerelease: list[str] = []
    if "+" in patch:
        patch, _, rest = patch.partition("+")
        build = rest.split(".")
    if "-" in patch:
        patch, _, rest = patch.partition("-")
        prerelease = rest.split(".")
    valid = (
        all(_semver_number(number) for number in (major, minor, patch))
        and all(
            part and (_semver_number(part) if part.isdigit() else set(part) <= _ALPHANUMERIC)
            for part in prerelease
        )
        and all(part and set(part) <= _ALPHANUMERIC for part in build)
    )
    if not valid:
        raise MetadataError(f"sops metadata `version` {version!r} is not a valid semver version")


def from_tree(tree: Any) -> Metadata:
    """Validate the metadata tree of a file, with sops's rules and in sops's order."""
    tree = _as_branch(tree, METADATA_KEY)
    lastmodified = _scalar_text(tree.get("lastmodified"), "lastmodified")
    try:
        parse_rfc3339(lastmodified)
    except ValueError:
        raise MetadataError(
            f"sops metadata `lastmodified` is not an RFC 3339 timestamp: {lastmodified!r}"
        ) from None
    if tree.get("key_groups") is not None and not any(tree.get(kind) for kind in _GROUP_ORDER):
        groups = tuple(
            _read_keys(_as_branch(group, f"key_groups[{i}]"), f"key_groups[{i}].")
            for i, group in enumerate(_as_list(tree.get("key_groups"), "key_groups"))
        )
    else:
        groups = (_read_keys(tree, ""),)
    if not any(groups):
        raise MetadataError("No keys found in file", hint="the sops block lists no master key")
    rules = [(name, _scalar_text(tree.get(name), name)) for name in RULE_FIELDS]
    rules = [(name, value) for name, value in rules if value]
    if len(rules) > 1:
        raise MetadataError(
            "Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex,"
            " unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the"
            " same file"
        )
    rule = CryptRule(*rules[0]) if rules else CryptRule()
    version = _scalar_text(tree.get("version"), "version")
    check_version(version)
    mac_only = tree.get("mac_only_encrypted")
    if isinstance(mac_only, str):
        mac_only = mac_only == "true"
    threshold = tree.get("shamir_threshold") or 0
    if isinstance(threshold, str):
        if not threshold.isdigit():
            raise MetadataError("sops metadata `shamir_threshold` must be a whole number")
        threshold = int(threshold)
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise MetadataError("sops metadata `shamir_threshold` must be a whole number")
    return Metadata(
        key_groups=groups,
        lastmodified=lastmodified,
        mac=_scalar_text(tree.get("mac"), "mac"),
        version=version,
        rule=rule,
        mac_only_encrypted=bool(mac_only),
        shamir_threshold=threshold,
    )


# --- writing -------------------------------------------------------------------------------


def _key_entries(group: KeyGroup, kind: str) -> list[Branch]:
    if kind == "age":
        return [Branch([("recipient", k.recipient), ("enc", k.enc)]) for k in group.age]
    return [Branch(list(k.fields)) for k in group.foreign if k.kind == kind]


def to_tree(meta: Metadata, *, single_value_store: bool = False) -> Branch:
    """Build the metadata tree as sops writes it: struct order, no empty lists, one rule.

    ``single_value_store`` (the binary store) writes no rule field at all.
    """
    out = Branch()
    # sops writes a threshold whenever it is set, with a single key group too.
    if meta.shamir_threshold:
        out.append(("shamir_threshold", meta.shamir_threshold))
    if len(meta.key_groups) > 1:
        groups = Seq()
        for group in meta.key_groups:
            entry = Branch()
            for kind in _GROUP_ORDER:
                keys = _key_entries(group, kind)
                if keys:
                    entry.append((kind, Seq(keys)))
                elif kind in ("hc_vault", "age"):
                    entry.append((kind, NilList()))
            groups.append(entry)
        out.append(("key_groups", groups))
    group = meta.key_groups[0] if len(meta.key_groups) == 1 else KeyGroup()
    for kind in (*_FLAT_BEFORE, "age"):
        keys = _key_entries(group, kind)
        if keys:
            out.append((kind, Seq(keys)))
    out.append(("lastmodified", meta.lastmodified))
    out.append(("mac", meta.mac))
    pgp = _key_entries(group, "pgp")
    if pgp:
        out.append(("pgp", Seq(pgp)))
    if not single_value_store:
        out.append((meta.rule.field, meta.rule.value))
    if meta.mac_only_encrypted:
        out.append(("mac_only_encrypted", True))
    out.append(("version", meta.version))
    return out


def default_rule(rule: CryptRule | None) -> CryptRule:
    """Return the rule sops writes when none is configured."""
    return rule if rule is not None else CryptRule("unencrypted_suffix", DEFAULT_UNENCRYPTED_SUFFIX)


# --- dotenv and INI: flattened metadata -------------------------------------------------------

MAP_SEPARATOR: Final = "__map_"
LIST_SEPARATOR: Final = "__list_"


def _flat_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def flatten(tree: Branch) -> list[tuple[str, str]]:
    """Flatten a metadata tree as sops's ``FlattenMetadata``: sorted ``a__map_b__list_0`` keys.

    Values become text (``true``, ``2``). Nulls and empty lists leave no entry; empty strings
    stay (sops writes ``sops_kms__list_0__map_aws_profile=``).
    """
    flat: dict[str, str] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Branch):
            for key, child in value:
                visit(f"{prefix}{MAP_SEPARATOR}{key}" if prefix else key, child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                visit(f"{prefix}{LIST_SEPARATOR}{index}", child)
        elif value is not None:
            flat[prefix] = _flat_text(value)

    visit("", tree)
    return sorted(flat.items())


def _flat_part_pattern() -> re.Pattern[str]:
    import re  # on first use only (dotenv and INI): the boot path does without re

    return re.compile(r"(__map_|__list_)")


def unflatten(pairs: list[tuple[str, str]]) -> Branch:
    """Rebuild the metadata tree from flattened ``(key, text)`` pairs, in any order.

    ``mac_only_encrypted`` and ``shamir_threshold`` get their native types back.
    """
    root: dict[str, Any] = {}
    for flat_key, text in pairs:
        parts = _flat_part_pattern().split(flat_key)
        # parts: name, sep, name, sep, name ...
        node: Any = root
        key: Any = parts[0]
        for i in range(1, len(parts), 2):
            separator, name = parts[i], parts[i + 1]
            child = node.get(key) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[key] = child
            if not isinstance(child, dict):
                raise MetadataError(f"sops metadata key `{flat_key}` conflicts with another")
            node = child
            if separator == MAP_SEPARATOR:
                key = name
            elif name.isascii() and name.isdigit():
                key = int(name)
            else:
                raise MetadataError(f"sops metadata key `{flat_key}` has a bad list index")
        if not isinstance(node, dict):
            raise MetadataError(f"sops metadata key `{flat_key}` conflicts with another")
        node[key] = text

    def build(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if value and all(isinstance(k, int) for k in value):
            return Seq(build(value[k]) for k in sorted(value))
        return Branch((k, build(v)) for k, v in value.items())

    tree = build(root)
    assert isinstance(tree, Branch)  # noqa: S101 - root is a dict, so build returns a Branch
    for index, (key, value) in enumerate(tree):
        if key == "mac_only_encrypted":
            tree[index] = (key, value == "true")
        elif key == "shamir_threshold" and isinstance(value, str):
            tree[index] = (key, _flat_threshold(value))
    return tree


def _flat_threshold(text: str) -> int | str:
    """Read a flat threshold as sops's ``DecodeNonStrings``: ``Atoi``, else a whole float.

    Older sops versions wrote the threshold as a float. Anything else stays text, which
    :func:`from_tree` rejects.
    """
    if is_go_int(text):
        return int(text)
    try:
        number = parse_go_float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else text
