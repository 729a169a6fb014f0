"""The sops metadata block: validation, field order, flattening for dotenv and INI."""

from __future__ import annotations

import pytest

from secretsctl.errors import MetadataError
from secretsctl.sops import metadata as md
from secretsctl.sops.grammar import GoTime
from secretsctl.sops.tree import Branch, CryptRule, Seq


def tree(**extra: object) -> Branch:
    base = Branch(
        [
            ("age", Seq([Branch([("recipient", "age1abc"), ("enc", "ARMOUR\n")])])),
            ("lastmodified", "2026-11-25T08:30:20Z"),
            ("mac", "ENC[...]"),
            ("unencrypted_suffix", "_unencrypted"),
            ("version", "3.11.0"),
        ]
    )
    for key, value in extra.items():
        base = Branch([(k, v) for k, v in base if k != key])
        if value is not None:
            base.append((key, value))
    return base


def test_round_trip_keeps_sops_field_order() -> None:
    meta = md.from_tree(tree())
    assert meta.recipients == ["age1abc"]
    assert meta.rule == CryptRule()
    assert md.to_tree(meta) == tree()


def test_no_rule_means_unencrypted_suffix_written() -> None:
    meta = md.from_tree(tree(unencrypted_suffix=None))
    assert [k for k, _ in md.to_tree(meta)][-2:] == ["unencrypted_suffix", "version"]


def test_binary_store_writes_no_rule() -> None:
    keys = [k for k, _ in md.to_tree(md.from_tree(tree()), single_value_store=True)]
    assert "unencrypted_suffix" not in keys


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lastmodified": None}, "lastmodified"),
        ({"lastmodified": "yesterday"}, "lastmodified"),
        ({"version": None}, "version"),
        ({"version": "three"}, "Major.Minor.Patch"),
        ({"age": None}, "No keys found"),
        ({"encrypted_regex": "x"}, "more than one"),
    ],
)
def test_invalid_metadata(change: dict[str, object], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        md.from_tree(tree(**change))


def test_unquoted_yaml_timestamp_keeps_its_text() -> None:
    meta = md.from_tree(tree(lastmodified=GoTime("2026-11-25T08:30:20Z", "2026-11-25T08:30:20Z")))
    assert meta.lastmodified == "2026-11-25T08:30:20Z"


def test_key_groups_and_nil_lists() -> None:
    groups = Seq(
        [
            Branch([("age", Seq([Branch([("recipient", "age1a"), ("enc", "A")])]))]),
            Branch([("age", Seq([Branch([("recipient", "age1b"), ("enc", "B")])]))]),
        ]
    )
    meta = md.from_tree(tree(age=None, key_groups=groups, shamir_threshold=2))
    assert len(meta.key_groups) == 2 and meta.threshold == 2
    out = md.to_tree(meta)
    assert [k for k, _ in out][:2] == ["shamir_threshold", "key_groups"]
    first_group = out.get("key_groups")[0]
    assert [k for k, _ in first_group] == ["hc_vault", "age"]
    assert isinstance(first_group.get("hc_vault"), md.NilList)


def test_foreign_keys_are_kept_in_struct_order() -> None:
    pgp = Seq([Branch([("fp", "FINGERPRINT"), ("created_at", "2020-07-18T10:16:47Z"), ("enc", "PGP")])])
    meta = md.from_tree(tree(pgp=pgp))
    assert "pgp:FINGERPRINT" in meta.recipients
    written = md.to_tree(meta).get("pgp")[0]
    assert [k for k, _ in written] == ["created_at", "enc", "fp"]


def test_flatten_round_trip() -> None:
    meta = md.from_tree(tree(mac_only_encrypted=True))
    flat = md.flatten(md.to_tree(meta))
    assert flat == sorted(flat)
    assert ("age__list_0__map_recipient", "age1abc") in flat
    assert ("mac_only_encrypted", "true") in flat
    assert md.from_tree(md.unflatten(flat)) == meta


def test_metadata_repr_hides_the_mac_and_armour() -> None:
    meta = md.from_tree(tree())
    assert "ARMOUR" not in repr(meta) and "ENC[" not in repr(meta)
