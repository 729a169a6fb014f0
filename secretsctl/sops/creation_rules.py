"""``.sops.yaml``: finding it, its creation rules, and its store settings.

The file is found as sops 3.11 finds it: ``--config``/``SOPS_CONFIG``, else ``.sops.yaml`` in the
current directory or one of up to 100 parents (``.sops.yml`` is ignored, with a warning). The
first creation rule whose ``path_regex`` is found in the file's path, relative to the config's
directory, wins.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

from secretsctl.errors import ConfigError, ExitCode
from secretsctl.record import Record
from secretsctl.sops.tree import RULE_FIELDS, Branch, CryptRule

_UNSUPPORTED_KEYS: Final = ("kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri")


class StoreSettings(Record):
    """Per-store indentation from the ``stores:`` section (None: the store's default)."""

    yaml_indent: int | None = None
    json_indent: int | None = None
    json_binary_indent: int | None = None


class EncryptionSettings(Record):
    """How a new file is encrypted: recipients per key group, the crypt rule, the MAC scope.

    A creation rule gives one; command-line flags override its parts.
    """

    key_groups: tuple[tuple[str, ...], ...]
    rule: CryptRule | None = None
    mac_only_encrypted: bool = False
    shamir_threshold: int | None = None
    indent: int | None = None


class SopsConfig(Record):
    """A parsed ``.sops.yaml``."""

    path: Path
    creation_rules: tuple[Branch, ...]
    stores: StoreSettings


def _indent(stores: Any, name: str) -> int | None:
    if not isinstance(stores, Branch):
        return None
    section = stores.get(name)
    if not isinstance(section, Branch):
        return None
    value = section.get("indent")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load_config(path: str | os.PathLike[str]) -> SopsConfig:
    """Read and parse ``.sops.yaml``."""
    path = Path(path)
    from secretsctl.errors import InputLimitError, SecretsctlError
    from secretsctl.limits import read_file
    from secretsctl.sops.stores import yaml as yaml_store

    try:
        data = read_file(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", exit_code=ExitCode.ERROR_READING_CONFIG
        ) from None
    except InputLimitError as exc:
        raise ConfigError(
            exc.message, hint=exc.hint, exit_code=ExitCode.ERROR_READING_CONFIG
        ) from None
    try:
        documents = yaml_store.load_plain(data) if data.strip() else [Branch()]
    except SecretsctlError as exc:
        raise ConfigError(
            f"{path}: {exc.message}", exit_code=ExitCode.ERROR_READING_CONFIG
        ) from None
    root = documents[0]
    rules = root.get("creation_rules")
    if rules is not None and not isinstance(rules, list):
        raise ConfigError(f"{path}: `creation_rules` must be a list")
    stores = root.get("stores")
    return SopsConfig(
        path=path,
        creation_rules=tuple(r for r in (rules or []) if isinstance(r, Branch)),
        stores=StoreSettings(
            _indent(stores, "yaml"), _indent(stores, "json"), _indent(stores, "json_binary")
        ),
    )


def _key_list(value: Any, name: str, where: str) -> list[str]:
    """Read a key field: a comma-separated string (entries trimmed) or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and not isinstance(value, Branch):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: invalid {name} key configuration: expected strings")
        return list(value)
    raise ConfigError(f"{where}: invalid {name} key configuration: expected a string or a list")


def _recipients(container: Branch, where: str) -> list[str]:
    """Return the age and PGP recipients of a rule or key group, each checked for its kind."""
    from secretsctl.keys.kinds import RecipientError, recipients_for

    try:
        return [
            *recipients_for("age", _key_list(container.get("age"), "age", where)),
            *recipients_for("pgp", _key_list(container.get("pgp"), "pgp", where)),
        ]
    except RecipientError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None


def _group_recipients(group: Branch, where: str) -> list[str]:
    for name in ("kms", "gcp_kms", "azure_keyvault", "hc_vault"):
        if group.get(name):
            raise ConfigError(
                f"{where}: the key group lists {name} keys; secretsctl encrypts to age"
                " and PGP recipients only",
                hint="use age recipients (age1… or ssh-ed25519 …) or PGP fingerprints",
            )
    recipients = _recipients(group, where)
    for merged in group.get("merge") or []:
        if isinstance(merged, Branch):
            recipients.extend(_group_recipients(merged, where))
    return list(dict.fromkeys(recipients))


def _rule_settings(raw: Branch, where: str) -> EncryptionSettings:
    rules = [(name, raw.get(name)) for name in RULE_FIELDS if raw.get(name)]
    if len(rules) > 1:
        raise ConfigError(
            f"{where}: cannot use more than one of encrypted_suffix, unencrypted_suffix,"
            " encrypted_regex, unencrypted_regex, encrypted_comment_regex, or"
            " unencrypted_comment_regex for the same rule"
        )
    raw_groups = raw.get("key_groups")
    if raw_groups:
        groups = tuple(
            tuple(_group_recipients(g, f"{where} key_groups[{i}]"))
            for i, g in enumerate(raw_groups)
            if isinstance(g, Branch)
        )
    else:
        for name in _UNSUPPORTED_KEYS:
            if raw.get(name):
                raise ConfigError(
                    f"{where}: the rule lists {name} keys; secretsctl encrypts to age"
                    " and PGP recipients only",
                    hint="use age recipients (age1… or ssh-ed25519 …) or PGP fingerprints",
                )
        groups = (tuple(_recipients(raw, where)),)
    threshold = raw.get("shamir_threshold")
    return EncryptionSettings(
        key_groups=groups,
        rule=CryptRule(rules[0][0], str(rules[0][1])) if rules else None,
        mac_only_encrypted=raw.get("mac_only_encrypted") is True,
        shamir_threshold=threshold if isinstance(threshold, int) and threshold else None,
    )


def rule_for(config: SopsConfig, file_path: str | os.PathLike[str]) -> EncryptionSettings:
    """Return the settings of the first creation rule matching ``file_path``."""
    file_path = Path(file_path)
    if not config.creation_rules:
        raise ConfigError(
            f"{config.path} has no creation rules, and no keys were given on the command line",
            hint="pass recipients with --age, or add a creation rule to .sops.yaml",
        )
    config_dir = str(config.path.resolve().parent) + os.sep
    path = str(file_path if file_path.is_absolute() else Path.cwd() / file_path)
    relative = path[len(config_dir) :] if path.startswith(config_dir) else path
    for index, raw in enumerate(config.creation_rules):
        where = f"{config.path} creation_rules[{index}]"
        pattern = raw.get("path_regex")
        if not pattern:
            return _rule_settings(raw, where)
        try:
            matched = re.search(str(pattern), relative)
        except re.error as exc:
            raise ConfigError(f"{where}: can not compile path_regex: {exc}") from None
        if matched:
            return _rule_settings(raw, where)
    raise ConfigError(
        f"error loading config: no matching creation rules found in {config.path} for {path}",
        hint="add a rule whose path_regex matches this file, or pass --age",
    )
