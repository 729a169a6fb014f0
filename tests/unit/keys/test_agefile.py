"""The age v1 file format used around plugin stanzas: stanza text, header MAC, payload, armour.

Debian's age reads every plugin entry secretsctl writes (tests/interop/test_plugin_sops.py);
here: round trips, pyrage's files, and damaged input that must end in ``ValueError`` only.
"""

from __future__ import annotations

import os

import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl.keys.kinds import _agefile
from secretsctl.keys.kinds._agefile import Stanza

args = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
stanzas = st.builds(
    Stanza,
    type=args,
    args=st.lists(args, max_size=4).map(tuple),
    body=st.binary(max_size=300),
)


def read_back(text: bytes) -> Stanza:
    lines = iter(text.split(b"\n"))
    return _agefile.read_stanza(next(lines), lambda: next(lines))


@given(stanza=stanzas)
def test_stanza_text_round_trips(stanza: Stanza) -> None:
    text = _agefile.encode_stanza(stanza)
    assert text.endswith(b"\n")
    assert all(len(line) <= 64 for line in text.split(b"\n")[1:])
    assert read_back(text) == stanza


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"-> a\nAA=\n", "non-canonical base64"),
        (b"-> a\nAB\n", "non-canonical base64"),
        (b"-> a  b\n\n", "invalid argument"),
        (b"->a\n\n", "does not start with"),
        (b"-> a\n" + b"A" * 65 + b"\n", "too long"),
        (b"-> a\n!!!!\n", "invalid base64"),
    ],
)
def test_malformed_stanzas(text: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_back(text)


@settings(max_examples=50)
@given(
    plaintext=st.one_of(
        st.binary(max_size=100), st.sampled_from([b"", bytes(64 * 1024), bytes(64 * 1024 + 1)])
    ),
    stanza=stanzas,
)
def test_seal_and_open_round_trip(plaintext: bytes, stanza: Stanza) -> None:
    file_key = os.urandom(_agefile.FILE_KEY_SIZE)
    data = _agefile.dearmour(_agefile.armour(_agefile.seal(file_key, [stanza], plaintext)))
    header = _agefile.parse(data)
    assert header.stanzas == (stanza,)
    assert _agefile.open_payload(file_key, header) == plaintext
    with pytest.raises(ValueError, match="header MAC"):
        _agefile.open_payload(os.urandom(_agefile.FILE_KEY_SIZE), header)


def test_armour_is_laid_out_as_sops_writes_it() -> None:
    from secretsctl.keys.kinds._pyrage import check_armour

    check_armour(_agefile.armour(_agefile.seal(os.urandom(16), [Stanza("x", (), b"")], b"k" * 32)))


def test_pyrage_files_parse() -> None:
    identity = pyrage.x25519.Identity.generate()
    data = pyrage.encrypt(b"k" * 32, [identity.to_public()], armored=True)
    header = _agefile.parse(_agefile.dearmour(data.decode()))
    assert "X25519" in [stanza.type for stanza in header.stanzas]


@settings(max_examples=300)
@given(data=st.binary(max_size=400), cut=st.integers(0, 400), flip=st.integers(0, 3199))
def test_damaged_files_raise_only_value_error(data: bytes, cut: int, flip: int) -> None:
    sealed = bytearray(_agefile.seal(os.urandom(16), [Stanza("t", ("a",), data)], b"k" * 32))
    sealed[flip % len(sealed)] ^= 1 << (flip % 8)
    for candidate in (bytes(sealed), bytes(sealed[:cut]), data):
        try:
            header = _agefile.parse(candidate)
            _agefile.open_payload(os.urandom(16), header)
        except ValueError:
            continue
        raise AssertionError("a damaged file opened with a random key")
