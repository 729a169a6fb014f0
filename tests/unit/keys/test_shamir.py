"""Shamir shares over GF(2^8): the field, split and combine, and shares from real sops files."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pyrage
import pytest

from secretsctl.keys import shamir
from secretsctl.redact import Secret
from tests.keys_support import mac_opens, read_metadata

KEYS = Path(__file__).resolve().parents[2] / "vectors" / "keys"


def reference_mul(a: int, b: int) -> int:
    """Carry-less multiplication reduced by x^8 + x^4 + x^3 + x + 1, bit by bit."""
    product = 0
    for bit in range(8):
        if (b >> bit) & 1:
            product ^= a << bit
    for bit in range(14, 7, -1):
        if (product >> bit) & 1:
            product ^= 0x11B << (bit - 8)
    return product


def test_multiplication_table_is_the_aes_field() -> None:
    for a in range(256):
        for b in range(256):
            assert shamir._mul(a, b) == reference_mul(a, b)


def test_division_inverts_multiplication() -> None:
    for a in range(256):
        for b in range(1, 256):
            assert shamir._mul(shamir._div(a, b), b) == a


def test_known_aes_products() -> None:
    # FIPS-197 section 4.2: {57} • {83} = {c1}, {57} • {13} = {fe}.
    assert shamir._mul(0x57, 0x83) == 0xC1
    assert shamir._mul(0x57, 0x13) == 0xFE


def test_split_layout_with_fixed_randomness() -> None:
    secret = bytes([0x00, 0x42, 0xFF])
    shares = shamir.split(secret, 3, 2, randbytes=lambda n: bytes([0x07] * n))
    assert [share[-1] for share in shares] == [1, 2, 3]
    for share in shares:
        x = share[-1]
        # Degree-1 polynomial: y = s + 7·x.
        assert list(share[:-1]) == [s ^ reference_mul(0x07, x) for s in secret]
    assert shamir.combine(shares[:2]) == secret
    assert shamir.combine([shares[2], shares[0]]) == secret


def test_every_threshold_subset_combines() -> None:
    secret = os.urandom(32)
    shares = shamir.split(secret, 5, 3)
    assert all(len(share) == 33 for share in shares)
    for size in (3, 4, 5):
        for subset in itertools.permutations(shares, size):
            assert Secret(shamir.combine(list(subset))) == Secret(secret)


def test_fewer_shares_than_threshold_give_another_secret() -> None:
    secret = os.urandom(32)
    shares = shamir.split(secret, 3, 3)
    assert Secret(shamir.combine(shares[:2])) != Secret(secret)


@pytest.mark.parametrize(
    ("parts", "threshold", "secret", "match"),
    [
        (2, 3, b"k", "parts cannot be less than threshold"),
        (256, 2, b"k", "parts cannot exceed 255"),
        (2, 1, b"k", "threshold must be at least 2"),
        (2, 2, b"", "cannot split an empty secret"),
    ],
)
def test_split_refuses(parts: int, threshold: int, secret: bytes, match: str) -> None:
    with pytest.raises(shamir.ShamirError, match=match):
        shamir.split(secret, parts, threshold)


def test_split_refuses_a_short_random_source() -> None:
    with pytest.raises(shamir.ShamirError, match="too few bytes"):
        shamir.split(b"k", 2, 2, randbytes=lambda n: b"")


@pytest.mark.parametrize(
    ("shares", "match"),
    [
        ([b"\x01\x01"], "less than two parts"),
        ([b"\x01", b"\x02"], "at least two bytes"),
        ([b"\x01\x01", b"\x01\x01\x02"], "same length"),
        ([b"\x01\x01", b"\x02\x01"], "duplicate part"),
        ([b"\x01\x00", b"\x02\x01"], "x-coordinate 0"),
    ],
)
def test_combine_refuses(shares: list[bytes], match: str) -> None:
    with pytest.raises(shamir.ShamirError, match=match):
        shamir.combine(shares)


def _shares(path: Path, keys: str) -> list[bytes]:
    """Open each key group of a sops file with the named test key (a, b, c) by pyrage alone."""
    metadata = read_metadata(path)
    shares = []
    for group, name in zip(metadata.key_groups, keys, strict=False):
        if name == "-":
            continue
        identity = pyrage.x25519.Identity.from_str(
            (KEYS / f"age-{name}.txt").read_text().splitlines()[1]
        )
        (entry,) = group.age
        shares.append(pyrage.decrypt(entry.enc.encode(), [identity]))
    return shares


def test_sops_2_of_2_shares_rebuild_the_data_key() -> None:
    shares = _shares(KEYS / "shamir-2of2.yaml", "ab")
    assert [len(s) for s in shares] == [33, 33]
    assert sorted(s[-1] for s in shares) == [1, 2]
    key = shamir.combine(shares)
    assert len(key) == 32
    assert mac_opens(KEYS / "shamir-2of2.yaml", key)
    assert not mac_opens(KEYS / "shamir-2of2.yaml", shares[0][:32])


@pytest.mark.parametrize("keys", ["ab-", "a-c", "-bc", "abc"])
def test_sops_2_of_3_any_two_shares_rebuild_the_data_key(keys: str) -> None:
    key = shamir.combine(_shares(KEYS / "shamir-2of3.yaml", keys))
    assert mac_opens(KEYS / "shamir-2of3.yaml", key)
