"""Round trips and fuzzing of the JSON, binary, dotenv and INI stores (no subprocess).

- ``load_plain(emit_plain(tree)) == tree`` for every tree the format can hold. For INI the
  generator leaves out what ini.v1 itself cannot read back (documented per rule below).
- Random bytes and mutated sops-written files reach the loaders: only ``SecretsctlError``
  may come out, and the metadata they return passes ``metadata.from_tree`` or fails cleanly.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl.errors import SecretsctlError
from secretsctl.sops import metadata as md
from secretsctl.sops.stores import binary, dotenv, ini, json_store
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.flat_stores_support import CORPUS, VECTORS, canonical

STORES = {"json": json_store, "binary": binary, "dotenv": dotenv, "ini": ini}

# --- JSON ----------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(Seq),
        st.lists(st.tuples(st.text(max_size=8), children), max_size=4).map(Branch),
    ),
    max_leaves=25,
)
json_documents = st.lists(st.tuples(st.text(max_size=8), json_values), max_size=6).map(Branch)


@settings(max_examples=300)
@given(json_documents, st.sampled_from([None, 0, 1, 4]))
def test_json_round_trip(document: Branch, indent: int | None) -> None:
    out = json_store.emit_plain([document], indent=indent)
    assert canonical(json_store.load_plain(out)) == canonical([document])


# --- dotenv --------------------------------------------------------------------------------

# A key holds no newline or '=', and cannot start with '#'. A value is free except for the
# two characters backslash-n, which mean a newline on reading.
dotenv_keys = st.text(max_size=10).filter(lambda k: not ({"\n", "="} & set(k)) and k[:1] != "#")
dotenv_values = st.text(max_size=20).filter(lambda v: "\\n" not in v)
dotenv_items = st.one_of(
    st.tuples(dotenv_keys, dotenv_values),
    st.tuples(st.text(max_size=15).filter(lambda t: "\n" not in t).map(Comment), st.none()),
)


@settings(max_examples=300)
@given(st.lists(dotenv_items, max_size=8).map(Branch))
def test_dotenv_round_trip(document: Branch) -> None:
    assert canonical(dotenv.load_plain(dotenv.emit_plain([document]))) == canonical([document])


# --- INI -----------------------------------------------------------------------------------

# Go's unicode.IsSpace: the ASCII spaces, U+0085, U+00A0 and every Z character (ini.v1 trims
# keys with strings.TrimSpace).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# U+FEFF would be taken for a byte-order mark at the start of the file.
_ini_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("abc =:;#\"`'[]\\-\r\t\xa0é\u3000")),
        st.characters(exclude_characters="\n\ufeff", exclude_categories=("Cs",)),
    ),
    max_size=12,
)


def _ini_key_ok(key: str) -> bool:
    # Trimmed by ini.v1; '#', ';' and '[' start other lines; '-' is an auto-numbered key;
    # a key with a backquote and a quote or delimiter cannot be quoted either way.
    return (
        key != ""
        and key == key.strip(_GO_SPACE)
        and key[0] not in "#;["
        and key != "-"
        and not ("`" in key and any(ch in key for ch in '"=:'))
    )


def _ini_value_ok(value: str) -> bool:
    if '"""' in value:
        return False
    if "\n" in value or "`" in value or "#" in value or ";" in value:
        return True  # written in triple quotes or backquotes, read back verbatim
    if value != value.strip(_GO_SPACE):
        # written in double quotes, which ini.v1 only strips when there are no others
        return '"' not in value
    surrounded = (
        len(value) >= 2
        and value[0] == value[-1]
        and value[0] in "'\""
        and (value.find(value[0], 1) == len(value) - 1)
    )
    return not (surrounded or value.endswith("\\") or value.startswith('"""'))


def _ini_comment_ok(text: str) -> bool:
    # One line, and nothing that the ';'/'#' stripping or the trimming would eat.
    return text != "" and text == text.strip(_GO_SPACE) and text[0] not in ";# "


ini_keys = _ini_text.filter(_ini_key_ok)
ini_values = _ini_text.filter(_ini_value_ok)
ini_comments = st.one_of(st.none(), _ini_text.filter(_ini_comment_ok))


@st.composite
def ini_sections(draw: st.DrawFn, with_comment: bool) -> Branch:
    items = Branch()
    comment = draw(ini_comments) if with_comment else None
    if comment is not None:
        items.append((Comment(comment), None))
    for key, value, key_comment in draw(
        st.lists(
            st.tuples(ini_keys, ini_values, ini_comments), max_size=4, unique_by=lambda t: t[0]
        )
    ):
        items.append((key, value))
        if key_comment is not None:
            items.append((Comment(key_comment), None))
    return items


ini_documents = st.builds(
    lambda default, sections: Branch([("DEFAULT", default), *sections]),
    ini_sections(with_comment=False),
    st.lists(
        st.tuples(_ini_text.filter(lambda name: name != ""), ini_sections(with_comment=True)),
        max_size=4,
    ),
)


@settings(max_examples=300)
@given(ini_documents)
def test_ini_round_trip(document: Branch) -> None:
    assert canonical(ini.load_plain(ini.emit_plain([document]))) == canonical([document])


# --- binary --------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_binary_round_trip(data: bytes) -> None:
    documents = binary.load_plain(data)
    assert binary.emit_plain(documents) == data
    assert binary.load_plain(binary.emit_plain(documents)) == documents


# --- fuzzing -------------------------------------------------------------------------------


def _load_everything(data: bytes) -> None:
    """Feed ``data`` to every loader; anything but a SecretsctlError fails the test."""
    for store in STORES.values():
        for load in (store.load_plain, store.load_encrypted):
            try:
                result: Any = load(data)
                if load is store.load_encrypted:
                    md.from_tree(result[1])
            except SecretsctlError:
                pass


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_secretsctl_errors(data: bytes) -> None:
    _load_everything(data)


_SEEDS = sorted(
    [path.read_bytes() for path in VECTORS.glob("*/*.enc")]
    + [data for cases in CORPUS.values() for data in cases.values()]
)
_MUTATION_BYTES = st.sampled_from(list(b'[]{}=:;#"`\\\n\r ,0-_e')) | st.integers(0, 255)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        if action == "replace":
            data[at] = draw(_MUTATION_BYTES)
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif action == "insert":
            data.insert(at, draw(_MUTATION_BYTES))
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=400)
@given(mutated_files())
def test_mutated_files_only_raise_secretsctl_errors(data: bytes) -> None:
    _load_everything(data)


@pytest.mark.parametrize("fmt", sorted(STORES))
def test_every_seed_loads_cleanly_as_its_own_store(fmt: str) -> None:
    store = STORES[fmt]
    for path in sorted((VECTORS / fmt).glob("*.enc")):
        documents, metadata = store.load_encrypted(path.read_bytes())
        md.from_tree(metadata)
        assert documents, path.name
