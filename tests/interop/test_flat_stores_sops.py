"""The JSON, binary, dotenv and INI stores against the real sops 3.11.0 binary.

For every input, sops is the oracle: what ``sops decrypt`` prints after ``sops encrypt`` is what
``emit_plain(load_plain(input))`` must print; the file sops wrote must load into the same tree
shape and re-emit byte for byte (INI: after sorting sops's randomly ordered ``[sops]``); inputs
sops refuses we refuse too. Files written through secretsctl's codec decrypt with sops.
"""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.sops import codec
from secretsctl.sops.creation_rules import EncryptionSettings
from secretsctl.sops.stores import Format, binary, dotenv, ini, json_store
from tests.conftest import AgeKey, Sops
from tests.flat_stores_support import (
    CONVERSIONS,
    CORPUS,
    MALFORMED,
    STRICTER_THAN_SOPS,
    VECTORS,
    first_difference,
    shape,
    sorted_sops_section,
)
from tests.property.test_flat_stores import json_documents

pytestmark = pytest.mark.interop

STORES: dict[str, Any] = {"json": json_store, "binary": binary, "dotenv": dotenv, "ini": ini}
CORPUS_CASES = [(fmt, name) for fmt, cases in CORPUS.items() for name in sorted(cases)]
# ini.v1 panics while writing a comment that has an empty line (sops exits 2).
SOPS_INI_PANIC = b"panic: runtime error: index out of range"


def sops_encrypt(sops: Sops, fmt: str, data: bytes) -> Any:
    types = ("--input-type", fmt, "--output-type", fmt)
    return sops.run("encrypt", *types, "--age", sops.key.recipient, "/dev/stdin", input=data)


def sops_decrypt(sops: Sops, fmt: str, data: bytes, output: str | None = None) -> Any:
    types = ("--input-type", fmt, "--output-type", output or fmt)
    return sops.run("decrypt", *types, "/dev/stdin", input=data)


def _unwritable_key(key: object) -> bool:
    # ini.v1 writes these keys in a form it reads back differently: "#1" (from "- = v") and
    # other keys starting with '#', ';' or '[' (from quoted keys), keys holding a backquote
    # together with '"', '=' or ':' (no quoting fits), and a key starting with U+FEFF (taken
    # for a byte-order mark when it comes first in the file).
    return isinstance(key, str) and (
        key[:1] in ("#", ";", "[", "\ufeff") or ("`" in key and any(c in key for c in '"=:'))
    )


def _ini_keys_sops_cannot_write(fmt: str, documents: list[Any]) -> bool:
    return fmt == "ini" and any(
        _unwritable_key(key) for _, section in documents[0] for key, _ in section
    )


def check_against_sops(sops: Sops, fmt: str, data: bytes) -> None:
    """The three store properties for one input, or the same refusal as sops."""
    store = STORES[fmt]
    encrypted = sops_encrypt(sops, fmt, data)
    if encrypted.returncode:
        if encrypted.returncode == ExitCode.FILE_ALREADY_ENCRYPTED:
            assert store.has_metadata(store.load_plain(data)), "sops saw metadata, we did not"
        else:
            with pytest.raises(SecretsctlError):
                store.load_plain(data)
        return
    plain = store.load_plain(data)
    assert not store.has_metadata(plain), "we saw metadata, sops did not"
    decrypted = sops_decrypt(sops, fmt, encrypted.stdout)
    unreadable = decrypted.returncode and SOPS_INI_PANIC not in decrypted.stderr
    if unreadable or _ini_keys_sops_cannot_write(fmt, plain):
        # sops cannot read back what it wrote (an INI key it cannot write). Neither can we.
        assert fmt == "ini", "sops could not decrypt its own file"
        with contextlib.suppress(SecretsctlError):
            store.load_encrypted(encrypted.stdout)
        return
    documents, metadata = store.load_encrypted(encrypted.stdout)
    assert shape(documents) == shape(plain, encrypted=fmt == "ini"), "encrypted tree shape differs"
    expected = encrypted.stdout
    if fmt == "ini":
        expected = sorted_sops_section(expected)
    problem = first_difference(store.emit_encrypted(documents, metadata), expected)
    assert problem is None, f"re-emitted encrypted file: {problem}"
    if decrypted.returncode:
        return  # the ini.v1 panic: our plaintext output is the documented deviation
    problem = first_difference(store.emit_plain(plain), decrypted.stdout)
    assert problem is None, f"plaintext output: {problem}"


@pytest.mark.parametrize(("fmt", "name"), CORPUS_CASES)
def test_corpus_matches_sops(session_sops: Sops, fmt: str, name: str) -> None:
    check_against_sops(session_sops, fmt, CORPUS[fmt][name])


@pytest.mark.parametrize(
    ("fmt", "name"), [(fmt, name) for fmt, cases in MALFORMED.items() for name in sorted(cases)]
)
def test_malformed_inputs_are_refused_like_sops(session_sops: Sops, fmt: str, name: str) -> None:
    data, sops_exit = MALFORMED[fmt][name]
    assert sops_encrypt(session_sops, fmt, data).returncode == sops_exit
    check_against_sops(session_sops, fmt, data)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [(fmt, name) for fmt, cases in STRICTER_THAN_SOPS.items() for name in sorted(cases)],
)
def test_documented_stricter_cases(session_sops: Sops, fmt: str, name: str) -> None:
    data = STRICTER_THAN_SOPS[fmt][name]
    assert sops_encrypt(session_sops, fmt, data).returncode == 0, "sops now refuses this too"
    with pytest.raises(SecretsctlError):
        STORES[fmt].load_plain(data)


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversions_between_stores_match_sops(session_sops: Sops, name: str) -> None:
    source, data, target = CONVERSIONS[name]
    encrypted = sops_encrypt(session_sops, source, data)
    assert encrypted.returncode == 0
    decrypted = sops_decrypt(session_sops, source, encrypted.stdout, output=target)
    documents = STORES[source].load_plain(data)
    if decrypted.returncode:
        with pytest.raises(SecretsctlError) as caught:
            STORES[target].emit_plain(documents)
        assert caught.value.exit_code == decrypted.returncode
        return
    assert first_difference(STORES[target].emit_plain(documents), decrypted.stdout) is None


@pytest.mark.parametrize(
    "path", sorted(VECTORS.glob("*/*.enc")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_stored_vectors_still_decrypt_to_their_plaintext(path: Path, tmp_path: Path) -> None:
    from tests.conftest import sops_binary

    key = AgeKey("", "", VECTORS / "key.txt")
    fmt = path.parent.name
    decrypted = sops_decrypt(Sops(sops_binary(), key), fmt, path.read_bytes())
    assert decrypted.returncode == 0
    assert decrypted.stdout == path.with_suffix(".plain").read_bytes()


@pytest.mark.parametrize(("fmt", "name"), CORPUS_CASES)
def test_files_written_by_our_codec_decrypt_with_sops(
    session_sops: Sops, fmt: str, name: str
) -> None:
    data = CORPUS[fmt][name]
    settings_ = EncryptionSettings(key_groups=((session_sops.key.recipient,),))
    ours = codec.encrypt(STORES[fmt].load_plain(data), Format(fmt), settings_)
    decrypted = sops_decrypt(session_sops, fmt, ours)
    if decrypted.returncode and fmt == "ini" and SOPS_INI_PANIC in decrypted.stderr:
        return
    assert decrypted.returncode == 0, "sops could not decrypt a file we wrote"
    assert decrypted.stderr == b"", "sops warned about a file we wrote"
    expected = sops_decrypt(session_sops, fmt, sops_encrypt(session_sops, fmt, data).stdout)
    assert first_difference(decrypted.stdout, expected.stdout) is None


# --- differential properties ----------------------------------------------------------------

DIFFERENTIAL = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def json_files(draw: st.DrawFn) -> bytes:
    """Generated objects serialised in varied layouts, escapes and number spellings."""
    text = json.dumps(
        {k: _plain(v) for k, v in draw(json_documents)},
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2, "\t"])),
        separators=draw(st.sampled_from([None, (",", ":"), (" ,", " : ")])),
    )
    return text.encode()


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "keys"):
        # keep duplicate keys: rebuild as a list of pairs is not expressible in json.dumps,
        # so duplicates collapse here; the corpus covers them
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_DOTENV_PIECES = ["A", "b_2", " ", "=", "#", '"', "'", "\\n", "\r", "export ", "é", "😀", "sops"]
_INI_PIECES = [
    "[", "]", "k", "v", " ", "=", ":", ";", "#", '"', "'", "`", '"""', "\\", "-", "\r", "\t",
    "DEFAULT", "é", "\u00a0", "s",
]  # fmt: skip


def _lines(pieces: list[str], max_lines: int) -> st.SearchStrategy[bytes]:
    line = st.lists(st.sampled_from(pieces), max_size=6).map("".join)
    return st.lists(line, max_size=max_lines).map(lambda lines: "\n".join(lines).encode())


@DIFFERENTIAL
@given(data=json_files())
def test_json_differential(session_sops: Sops, data: bytes) -> None:
    check_against_sops(session_sops, "json", data)


@DIFFERENTIAL
@given(data=_lines(_DOTENV_PIECES, 6))
def test_dotenv_differential(session_sops: Sops, data: bytes) -> None:
    check_against_sops(session_sops, "dotenv", data)


@DIFFERENTIAL
@given(data=_lines(_INI_PIECES, 8))
@example(data=b"]=;")  # an empty inline comment: sops drops it when it encrypts
def test_ini_differential(session_sops: Sops, data: bytes) -> None:
    check_against_sops(session_sops, "ini", data)


@DIFFERENTIAL
@given(data=st.binary(max_size=64) | st.just(random.Random(7).randbytes(2000)))
def test_binary_differential(session_sops: Sops, data: bytes) -> None:
    check_against_sops(session_sops, "binary", data)
