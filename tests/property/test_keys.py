"""Properties of the key code: conversions against cryptography and pyrage, Shamir, round trips."""

from __future__ import annotations

import contextlib
import hashlib
from functools import cache

import pyrage
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretsctl.keys import shamir, ssh_to_age
from secretsctl.keys.keyring import NoMatchingIdentityError, unwrap_data_key, wrap_data_key
from secretsctl.keys.sources import load_identities, parse_key_text
from secretsctl.redact import Secret
from secretsctl.sops.metadata import Metadata
from tests.keys_support import ed25519_openssh, openssh_armour, openssh_body

seeds = st.binary(min_size=32, max_size=32)


@cache
def pool() -> tuple[tuple[str, str], ...]:
    """Eight X25519 key pairs shared by the round-trip examples."""
    identities = [pyrage.x25519.Identity.generate() for _ in range(8)]
    return tuple((str(i), str(i.to_public())) for i in identities)


@given(seeds)
@settings(max_examples=200, deadline=None)
def test_conversion_agrees_with_cryptography_and_pyrage(seed: bytes) -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import x25519

    private, public = ed25519_openssh(seed)
    identity, recipient = ssh_to_age.ssh_private_key_to_age(private)
    scalar = hashlib.sha512(seed).digest()[:32]
    expected = (
        x25519.X25519PrivateKey.from_private_bytes(scalar)
        .public_key()
        .public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    )
    assert recipient == ssh_to_age.x25519_recipient_string(expected)
    assert ssh_to_age.ssh_public_key_to_age_recipient(public) == recipient
    assert str(pyrage.x25519.Identity.from_str(identity.reveal()).to_public()) == recipient


@given(st.binary(min_size=32, max_size=32))
def test_any_32_bytes_convert_or_fail_cleanly(point: bytes) -> None:
    try:
        u = ssh_to_age.ed25519_public_to_x25519(point)
    except ssh_to_age.SshKeyError:
        return
    assert len(u) == 32
    assert int.from_bytes(u, "little") < 2**255 - 19


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20), st.binary())
def test_bech32_round_trip(hrp: str, data: bytes) -> None:
    text = ssh_to_age.bech32_encode(hrp, data)
    assert ssh_to_age.bech32_decode(text) == (hrp, data)
    assert ssh_to_age.bech32_decode(text.upper()) == (hrp, data)


@given(st.text(max_size=80))
def test_bech32_decode_fails_only_with_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        ssh_to_age.bech32_decode(text)


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[bytes, int, int, list[int]]:
    secret = draw(st.binary(min_size=1, max_size=40))
    parts = draw(st.integers(min_value=2, max_value=8))
    threshold = draw(st.integers(min_value=2, max_value=parts))
    order = draw(st.permutations(range(parts)))
    size = draw(st.integers(min_value=threshold, max_value=parts))
    return secret, parts, threshold, list(order[:size])


@given(split_cases())
def test_shamir_any_threshold_subset_rebuilds_the_secret(
    case: tuple[bytes, int, int, list[int]],
) -> None:
    secret, parts, threshold, chosen = case
    shares = shamir.split(secret, parts, threshold)
    assert Secret(shamir.combine([shares[i] for i in chosen])) == Secret(secret)


@given(st.binary(min_size=16, max_size=32), st.integers(min_value=3, max_value=6))
def test_shamir_below_threshold_does_not_rebuild(secret: bytes, threshold: int) -> None:
    shares = shamir.split(secret, threshold, threshold)
    # With 16+ random bytes a chance match is below 2^-128.
    assert Secret(shamir.combine(shares[: threshold - 1])) != Secret(secret)


@given(st.binary(max_size=300))
def test_any_key_text_parses_or_fails_cleanly(data: bytes) -> None:
    result = load_identities(environ={"SOPS_AGE_KEY": data.decode("latin-1")}, home="/nonexistent")
    assert len(result.identities) + len(result.problems) >= 0


@st.composite
def key_texts(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    keys = draw(st.lists(st.sampled_from(pool()), min_size=1, max_size=4))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    for identity, _ in keys:
        lines.extend(draw(st.lists(st.sampled_from(["", "#", "# public key: x"]), max_size=2)))
        lines.append(identity)
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return text.encode(), [recipient for _, recipient in keys]


@given(key_texts())
def test_key_text_with_comments_blank_lines_and_crlf(case: tuple[bytes, list[str]]) -> None:
    data, expected = case
    found, notes = parse_key_text(data, "test")
    assert [i.recipient for i in found] == expected
    assert notes == []


@given(seeds, st.data())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mangled_private_keys_fail_only_with_ssh_key_error(
    seed: bytes, data: st.DataObject
) -> None:
    private, _ = ed25519_openssh(seed)
    body = bytearray(openssh_body(private))
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    body[position] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=1, max_value=len(body)))
    with contextlib.suppress(ssh_to_age.SshKeyError):
        ssh_to_age.ssh_private_key_to_age(openssh_armour(bytes(body[:cut])))


@st.composite
def group_layouts(draw: st.DrawFn) -> tuple[list[list[int]], int | None]:
    count = draw(st.integers(min_value=1, max_value=4))
    members = draw(st.permutations(range(8)))
    sizes = [draw(st.integers(min_value=1, max_value=2)) for _ in range(count)]
    groups, start = [], 0
    for size in sizes:
        groups.append(list(members[start : start + size]))
        start += size
    threshold = draw(st.none() | st.integers(min_value=2, max_value=count)) if count > 1 else None
    return groups, threshold


@given(group_layouts(), seeds, st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_wrap_then_unwrap_with_any_threshold_of_groups(
    layout: tuple[list[list[int]], int | None], data_key: bytes, data: st.DataObject
) -> None:
    groups, threshold = layout
    keys = pool()
    wrapped = wrap_data_key(data_key, [[keys[i][1] for i in g] for g in groups], threshold)
    metadata = Metadata(
        key_groups=wrapped,
        lastmodified="2026-01-01T00:00:00Z",
        mac="",
        shamir_threshold=threshold or 0,
    )
    needed = (threshold or len(groups)) if len(groups) > 1 else 1
    chosen = data.draw(st.permutations(range(len(groups))))[:needed]
    # One member of each chosen group is enough; the groups share no member.
    holders = [data.draw(st.sampled_from(groups[g])) for g in chosen]
    identities = load_identities(
        environ={"SOPS_AGE_KEY": "\n".join(keys[i][0] for i in holders)}, home="/nonexistent"
    )
    assert unwrap_data_key(metadata, identities, file="f") == Secret(data_key)
    if needed > 1:
        fewer = load_identities(
            environ={"SOPS_AGE_KEY": "\n".join(keys[i][0] for i in holders[:-1])},
            home="/nonexistent",
        )
        with pytest.raises(NoMatchingIdentityError):
            unwrap_data_key(metadata, fewer, file="f")
