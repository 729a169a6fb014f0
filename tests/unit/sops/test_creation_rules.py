"""`.sops.yaml`: lookup, rule matching and settings, as sops 3.11 reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretsctl.errors import ConfigError
from secretsctl.sops.config_lookup import find_config
from secretsctl.sops.creation_rules import load_config, rule_for
from secretsctl.sops.tree import CryptRule

CONFIG = """\
stores:
    yaml:
        indent: 2
    json:
        indent: 3
creation_rules:
    - path_regex: prod/.*\\.yaml$
      age: age1prod, age1second ,
      encrypted_regex: ^(data|token)$
      mac_only_encrypted: true
    - path_regex: groups\\.json$
      shamir_threshold: 2
      key_groups:
          - age: [age1a]
            merge:
                - age: [age1b, age1a]
          - age: [age1c]
    - path_regex: pgp\\.yaml$
      pgp: 85D7 7543 B3D6 24B6 3CEA  9E6D BC17 301B 491B 3F21, 7FB89715AADA920D!
      age: age1mixed
    - path_regex: kms\\.yaml$
      kms: arn:aws:kms:us-east-1:0:key/x
    - path_regex: pgp-groups\\.yaml$
      key_groups:
          - pgp: [2504791468B153B8A3963CC97BA53D1919C5DFD4]
            age: [age1g]
          - merge:
                - pgp: [7FB89715AADA920D65D25E63F9BA9DEBD03F57C0]
    - path_regex: wrong-fp\\.yaml$
      pgp: age1notafingerprint
    - path_regex: hex-age\\.yaml$
      age: 2504791468B153B8A3963CC97BA53D1919C5DFD4
    - age:
          - age1default
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / ".sops.yaml"
    path.write_text(CONFIG)
    return path


def test_first_matching_rule_wins_relative_to_the_config(config: Path) -> None:
    settings = rule_for(load_config(config), config.parent / "prod" / "app.yaml")
    assert settings.key_groups == (("age1prod", "age1second"),)
    assert settings.rule == CryptRule("encrypted_regex", "^(data|token)$")
    assert settings.mac_only_encrypted is True
    assert settings.shamir_threshold is None


def test_rule_without_path_regex_matches_everything(config: Path) -> None:
    settings = rule_for(load_config(config), config.parent / "other.env")
    assert settings.key_groups == (("age1default",),)
    assert settings.rule is None


def test_key_groups_merge_and_deduplicate(config: Path) -> None:
    settings = rule_for(load_config(config), config.parent / "groups.json")
    assert settings.key_groups == (("age1a", "age1b"), ("age1c",))
    assert settings.shamir_threshold == 2


def test_cloud_keys_are_refused_not_dropped(config: Path) -> None:
    with pytest.raises(ConfigError, match="kms keys") as info:
        rule_for(load_config(config), config.parent / "kms.yaml")
    assert info.value.hint


def test_pgp_fingerprints_join_the_group_without_spaces(config: Path) -> None:
    settings = rule_for(load_config(config), config.parent / "pgp.yaml")
    assert settings.key_groups == (
        ("age1mixed", "85D77543B3D624B63CEA9E6DBC17301B491B3F21", "7FB89715AADA920D!"),
    )


def test_pgp_in_key_groups_and_merges(config: Path) -> None:
    settings = rule_for(load_config(config), config.parent / "pgp-groups.yaml")
    assert settings.key_groups == (
        ("age1g", "2504791468B153B8A3963CC97BA53D1919C5DFD4"),
        ("7FB89715AADA920D65D25E63F9BA9DEBD03F57C0",),
    )


def test_a_pgp_field_takes_fingerprints_only(config: Path) -> None:
    with pytest.raises(ConfigError, match="malformed PGP fingerprint"):
        rule_for(load_config(config), config.parent / "wrong-fp.yaml")


def test_a_fingerprint_under_age_is_refused_not_taken_as_pgp(config: Path) -> None:
    with pytest.raises(ConfigError, match="unknown age recipient type") as info:
        rule_for(load_config(config), config.parent / "hex-age.yaml")
    assert info.value.hint is not None
    assert "--pgp" in info.value.hint


def test_no_matching_rule(tmp_path: Path) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text("creation_rules:\n    - path_regex: nothing$\n      age: age1x\n")
    with pytest.raises(ConfigError, match="no matching creation rules"):
        rule_for(load_config(path), tmp_path / "a.yaml")


def test_two_crypt_rules_in_one_rule(tmp_path: Path) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text("creation_rules:\n    - age: age1x\n      encrypted_regex: a\n      unencrypted_suffix: _u\n")
    with pytest.raises(ConfigError, match="more than one"):
        rule_for(load_config(path), tmp_path / "a.yaml")


def test_store_indents(config: Path) -> None:
    stores = load_config(config).stores
    assert (stores.yaml_indent, stores.json_indent, stores.json_binary_indent) == (2, 3, None)


def test_unparsable_config_is_exit_5(tmp_path: Path) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text("creation_rules: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 5


def test_lookup_walks_up_and_ignores_sops_yml(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(CONFIG)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / ".sops.yml").write_text(CONFIG)
    found, warning = find_config(str(deep))
    assert found == str(tmp_path / ".sops.yaml")
    assert warning is not None and ".sops.yml" in warning


def test_explicit_config_wins(tmp_path: Path) -> None:
    assert find_config(str(tmp_path), "/elsewhere/x.yaml") == ("/elsewhere/x.yaml", None)
