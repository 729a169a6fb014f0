"""The age v1 format (keys/ageformat.py): the C2SP age test kit, and properties.

The test kit (tests/vectors/age-testkit, from C2SP/CCTV's age/testdata; the scrypt vectors are
left out) drives the whole reader: armour, header, MAC and STREAM. Its X25519 vectors need an
X25519 stanza opener; the one below (test-only, made of cryptography's primitives) follows
the age specification, so those vectors test the format code, not pyrage.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretsctl.keys import ageformat
from secretsctl.keys.ageformat import Stanza
from secretsctl.keys.kinds import mlkem768x25519
from secretsctl.keys.ssh_to_age import bech32_decode

KIT = Path(__file__).parents[2] / "vectors" / "age-testkit"
FAILURES = {"armor failure", "header failure", "HMAC failure", "payload failure"}


def open_x25519(stanzas: tuple[Stanza, ...], scalars: list[bytes]) -> bytes | str | None:
    """age's X25519 stanza, for the test kit only."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    for scalar in scalars:
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            share = ageformat.b64decode(stanza.args[0]) if len(stanza.args) == 1 else None
            if share is None or len(share) != 32 or len(stanza.body) != 32:
                return "malformed X25519 stanza"
            private = x25519.X25519PrivateKey.from_private_bytes(scalar)
            try:
                shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(share))
            except ValueError:
                return "low-order X25519 share"
            salt = share + private.public_key().public_bytes_raw()
            key = HKDF(hashes.SHA256(), 32, salt, b"age-encryption.org/v1/X25519").derive(shared)
            try:
                return ChaCha20Poly1305(key).decrypt(b"\0" * 12, stanza.body, None)
            except InvalidTag:
                continue
    return None


class Vector:
    def __init__(self, path: Path) -> None:
        head, _, body = path.read_bytes().partition(b"\n\n")
        self.fields: dict[str, str] = {}
        self.identities: list[str] = []
        for line in head.decode().splitlines():
            key, _, value = line.partition(": ")
            if key == "identity":
                self.identities.append(value)
            else:
                self.fields[key] = value
        self.file = zlib.decompress(body) if self.fields.get("compressed") == "zlib" else body
        self.expect = self.fields["expect"]
        self.armoured = self.fields.get("armored") == "yes"

    def unwrap(self, stanzas: tuple[Stanza, ...]) -> bytes | str | None:
        hybrid = [
            mlkem768x25519.parse_identity(text.encode(), "kit")[0]
            for text in self.identities
            if text.startswith("AGE-SECRET-KEY-PQ-")
        ]
        scalars = [bech32_decode(t)[1] for t in self.identities if t.startswith("AGE-SECRET-KEY-1")]
        found = mlkem768x25519._open(stanzas, hybrid) if hybrid else None
        return found if found is not None else open_x25519(stanzas, scalars)

    def run(self) -> tuple[str, bytes | str | None]:
        data = ageformat.dearmour(self.file) if self.armoured else self.file
        if isinstance(data, str):
            return "armor failure", data
        result = ageformat.decrypt(data, self.unwrap)
        if result is None:
            return "no match", None
        if isinstance(result, str):
            return "failure", result
        return "success", result


VECTORS = sorted(path for path in KIT.iterdir() if path.name != "README.md")


def test_the_kit_is_there() -> None:
    names = {path.name for path in VECTORS}
    assert len(names) > 100
    assert {"hybrid", "hybrid_low_order", "armor_hybrid", "stream_two_chunks"} <= names


@pytest.mark.parametrize("path", VECTORS, ids=[p.name for p in VECTORS])
def test_age_test_kit(path: Path) -> None:
    vector = Vector(path)
    outcome, result = vector.run()
    if vector.expect == "success":
        assert outcome == "success", result
        assert isinstance(result, bytes)
        assert hashlib.sha256(result).hexdigest() == vector.fields["payload"]
    elif vector.expect == "no match":
        assert outcome == "no match", result
    else:
        assert vector.expect in FAILURES
        assert outcome in ("failure", "armor failure"), f"{outcome}: expected {vector.expect}"
        if vector.expect == "armor failure":
            assert outcome == "armor failure"
        assert isinstance(result, str)
        assert len(result) < 120


@pytest.mark.parametrize(
    "path", [p for p in VECTORS if Vector(p).expect == "success"], ids=lambda p: p.name
)
def test_success_vectors_round_trip(path: Path) -> None:
    """Header and STREAM re-encode to the same bytes; armour too, up to its whitespace."""
    vector = Vector(path)
    data = ageformat.dearmour(vector.file) if vector.armoured else vector.file
    assert isinstance(data, bytes)
    parsed = ageformat.parse_header(data)
    assert not isinstance(parsed, str)
    header, start = parsed
    assert ageformat.encode_header(header.stanzas, header.mac) == data[:start]
    file_key = bytes.fromhex(vector.fields["file key"])
    plaintext = ageformat.decrypt_payload(file_key, data[start:])
    assert isinstance(plaintext, bytes)
    nonce = data[start : start + ageformat.NONCE_SIZE]
    assert ageformat.encrypt_payload(file_key, plaintext, nonce) == data[start:]
    if vector.armoured:
        assert ageformat.armour(data) == vector.file.decode().strip().replace("\r\n", "\n") + "\n"


# --- properties ------------------------------------------------------------------------------


@cache
def hybrid_pair() -> tuple[object, object]:
    recipient, secret = mlkem768x25519.generate()
    identity = mlkem768x25519.parse_identity(secret.reveal().encode(), "test")[0]
    return mlkem768x25519.parse_recipient(recipient), identity


def seal(plaintext: bytes) -> str:
    recipient, _ = hybrid_pair()
    return mlkem768x25519.wrap(plaintext, recipient).enc  # type: ignore[arg-type]


def open_armour(text: str) -> bytes | str:
    from secretsctl.sops.metadata import AgeKey

    _, identity = hybrid_pair()
    return mlkem768x25519.unwrap(AgeKey("r", text), [identity])  # type: ignore[list-item]


arguments = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
stanza = st.builds(
    Stanza,
    arguments,
    st.lists(arguments, max_size=3).map(tuple),
    st.binary(max_size=200),
)
stanzas = st.lists(stanza, max_size=4)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_base64_round_trip_and_canonical(data: bytes) -> None:
    text = ageformat.b64encode(data)
    assert "=" not in text
    assert ageformat.b64decode(text) == data
    if len(data) % 3:
        # The last character's lowest bit is unused: set, it makes a non-canonical encoding.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        changed = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
        assert ageformat.b64decode(changed) is None


@given(stanzas, st.binary(min_size=32, max_size=32))
@settings(max_examples=200, deadline=None)
def test_header_round_trip(parsed: list[Stanza], mac: bytes) -> None:
    encoded = ageformat.encode_header(parsed, mac)
    result = ageformat.parse_header(encoded + b"payload")
    assert not isinstance(result, str), result
    header, start = result
    assert header == ageformat.Header(tuple(parsed), mac)
    assert start == len(encoded)


@given(st.binary(max_size=3 * 64 * 1024 + 5), st.binary(min_size=16, max_size=16))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
def test_payload_round_trip(plaintext: bytes, file_key: bytes) -> None:
    payload = ageformat.encrypt_payload(file_key, plaintext)
    chunks = max(1, -(-len(plaintext) // ageformat.CHUNK_SIZE))
    assert len(payload) == ageformat.NONCE_SIZE + len(plaintext) + chunks * ageformat.TAG_SIZE
    assert ageformat.decrypt_payload(file_key, payload) == plaintext


@given(st.binary(max_size=500))
@settings(max_examples=200, deadline=None)
def test_armour_round_trip_in_sops_layout(data: bytes) -> None:
    text = ageformat.armour(data)
    lines = text.split("\n")
    assert lines[0] == ageformat.ARMOUR_BEGIN
    assert lines[-2:] == [ageformat.ARMOUR_END, ""]
    assert all(len(line) == 64 for line in lines[1:-3])
    assert 0 < len(lines[-3]) <= 64 or not data
    assert ageformat.dearmour(text) == data
    assert ageformat.dearmour("\n  \n" + text.replace("\n", "\r\n") + " \n") == data


@given(st.binary(max_size=64))
@settings(max_examples=30, deadline=None)
def test_whole_file_round_trip(plaintext: bytes) -> None:
    assert open_armour(seal(plaintext)) == plaintext


@cache
def sealed_sample() -> tuple[str, bytes]:
    data_key = os.urandom(32)
    return seal(data_key), data_key


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_any_change_to_a_file_is_refused(data: st.DataObject) -> None:
    """Flip, drop or insert bytes anywhere in the binary file: never the key, never a raise."""
    text, data_key = sealed_sample()
    binary = ageformat.dearmour(text)
    assert isinstance(binary, bytes)
    position = data.draw(st.integers(0, len(binary) - 1))
    how = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    if how == "flip":
        bit = data.draw(st.integers(0, 7))
        changed = (
            binary[:position] + bytes([binary[position] ^ (1 << bit)]) + binary[position + 1 :]
        )
    elif how == "drop":
        changed = binary[:position] + binary[position + 1 :]
    else:
        byte = data.draw(st.integers(0, 255))
        changed = binary[:position] + bytes([byte]) + binary[position:]
    result = open_armour(ageformat.armour(changed))
    assert isinstance(result, str), "a changed file opened"
    assert result.startswith("malformed age data") or result == "no identity matched"
    assert data_key.hex() not in result, "key material in a reason"


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_garbage_gives_a_reason_never_an_exception(garbage: bytes) -> None:
    assert isinstance(ageformat.dearmour(garbage), (bytes, str))
    assert isinstance(ageformat.parse_header(garbage), (tuple, str))
    assert isinstance(ageformat.decrypt(garbage, lambda _: None), (bytes, str, type(None)))
    text = garbage.decode("utf-8", "replace")
    for candidate in (text, ageformat.ARMOUR_BEGIN + "\n" + text, ageformat.armour(garbage)):
        assert isinstance(open_armour(candidate), str)


# --- stanzas as a stream (the age plugin protocol's framing) ---------------------------------


def read_back(text: bytes) -> Stanza | str:
    lines = iter(text.split(b"\n"))
    return ageformat.read_stanza(next(lines), lambda: next(lines))


@given(stanza)
@settings(max_examples=200, deadline=None)
def test_stanza_text_round_trips(made: Stanza) -> None:
    text = ageformat.encode_stanza(made)
    assert text.endswith(b"\n")
    assert all(len(line) <= 64 for line in text.split(b"\n")[1:])
    assert read_back(text) == made
    assert ageformat.encode_header([made]) == ageformat.INTRO + text + b"---"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"-> a\nAA=\n", "malformed stanza body line"),
        (b"-> a\nAB\n", "malformed stanza body line"),
        (b"-> a\nAA\r\n", "malformed stanza body line"),
        (b"-> a\n!!!!\n", "malformed stanza body line"),
        (b"-> a  b\n\n", "malformed stanza line"),
        (b"->a\n\n", "malformed stanza line"),
        (b"->\n\n", "malformed stanza line"),
        (b"-> a\n" + b"A" * 65 + b"\n", "a stanza body line is too long"),
        (b"-> a\n" + b"A" * 64 + b"\n--- x\n", "a stanza body ended without a short line"),
    ],
)
def test_malformed_stanzas(text: bytes, reason: str) -> None:
    assert read_back(text) == reason
    header = ageformat.parse_header(ageformat.INTRO + text + b"--- " + b"A" * 43 + b"\n")
    assert header == f"{reason} in the age header"


def test_a_stanza_body_is_read_to_a_bound() -> None:
    calls = 0

    def endless() -> bytes:
        nonlocal calls
        calls += 1
        return b"A" * 64

    assert ageformat.read_stanza(b"-> a", endless) == "a stanza body does not end"
    assert calls == ageformat.MAX_BODY_LINES


def test_the_readers_failure_passes_through() -> None:
    class Closed(Exception):
        pass

    def closed() -> bytes:
        raise Closed

    with pytest.raises(Closed):
        ageformat.read_stanza(b"-> a", closed)


@given(st.lists(st.binary(max_size=80), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_lines_give_a_stanza_or_a_reason(lines: list[bytes]) -> None:
    rest = iter([*lines[1:], b""])
    assert isinstance(ageformat.read_stanza(lines[0], lambda: next(rest)), (Stanza, str))


# --- whole files with a stanza from elsewhere (plugins), and pyrage's files ------------------


@given(st.lists(stanza, min_size=1, max_size=4), st.binary(max_size=100))
@settings(max_examples=50, deadline=None)
def test_a_file_opens_with_its_file_key_only(made: list[Stanza], plaintext: bytes) -> None:
    keys: list[bytes] = []

    def wrap(file_key: bytes) -> list[Stanza]:
        keys.append(file_key)
        return made

    data = ageformat.encrypt(plaintext, wrap)
    parsed = ageformat.parse_header(data)
    assert not isinstance(parsed, str), parsed
    header, start = parsed
    assert header.stanzas == tuple(made)
    assert ageformat.open_payload(keys[0], header, data[start:]) == plaintext
    wrong = ageformat.open_payload(os.urandom(ageformat.FILE_KEY_SIZE), header, data[start:])
    assert wrong == "the age header MAC does not match (corrupted or tampered with)"


def test_pyrage_files_parse_and_open() -> None:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(32)
    data = ageformat.dearmour(pyrage.encrypt(plaintext, [identity.to_public()], armored=True))
    assert isinstance(data, bytes)
    parsed = ageformat.parse_header(data)
    assert not isinstance(parsed, str), parsed
    assert "X25519" in [stanza.type for stanza in parsed[0].stanzas]
    scalar = bech32_decode(str(identity))[1]
    opened = ageformat.decrypt(data, lambda found: open_x25519(found, [scalar]))
    assert opened == plaintext, "pyrage's file did not open"


@given(st.binary(max_size=400), st.integers(0, 400), st.integers(0, 3199))
@settings(max_examples=300, deadline=None)
def test_damaged_files_never_raise_nor_open(body: bytes, cut: int, flip: int) -> None:
    sealed = bytearray(ageformat.encrypt(b"k" * 32, lambda _: [Stanza("t", ("a",), body)]))
    sealed[flip % len(sealed)] ^= 1 << (flip % 8)
    for candidate in (bytes(sealed), bytes(sealed[:cut]), body):
        parsed = ageformat.parse_header(candidate)
        if isinstance(parsed, str):
            continue
        header, start = parsed
        result = ageformat.open_payload(os.urandom(16), header, candidate[start:])
        assert isinstance(result, str), "a damaged file opened with a random key"
