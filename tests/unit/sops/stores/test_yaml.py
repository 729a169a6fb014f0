"""The YAML store without subprocesses: typing, structure, errors, comments, exact output.

Every expected text below was produced by sops 3.11.0 (``sops decrypt`` of ``sops encrypt``)
when the test was written; tests/interop/test_yaml_store_sops.py re-checks the same behaviour
against the binary.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode, InputError, MetadataError, SecretsctlError
from secretsctl.sops.grammar import GoTime
from secretsctl.sops.metadata import NilList
from secretsctl.sops.stores import _yaml_comments, _yaml_load
from secretsctl.sops.stores import yaml as store
from secretsctl.sops.stores._yaml_resolve import resolve
from secretsctl.sops.tree import Branch, Comment, Seq


def load_one(text: str) -> Branch:
    documents = store.load_plain(text.encode())
    assert len(documents) == 1
    return documents[0]


def value_of(text: str) -> object:
    return load_one(f"k: {text}\n").get("k")


def round_trip(text: str, indent: int | None = None) -> str:
    return store.emit_plain(store.load_plain(text.encode()), indent=indent).decode()


# --- scalar typing (yaml.v3 resolve) -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False),
        ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
        ("tRUE", "tRUE"), ("~", None), ("null", None), ("Null", None), ("NULL", None), ("", None),
        ("42", 42), ("-7", -7), ("+5", 5), ("017", 15), ("0o17", 15), ("0x1F", 31),
        ("-0x1F", -31), ("0b101", 5), ("0b-101", -5), ("1_000", 1000), ("12345_54321", 1234554321),
        ("0", 0), ("00", 0), ("9223372036854775807", 2**63 - 1),
        ("18446744073709551615", 2**64 - 1),
        ("1.5", 1.5), ("5.", 5.0), (".5", 0.5), (".5_0", 0.5), ("1e3", 1000.0), ("-1E-2", -0.01),
        ("08", 8.0), ("09.5", 9.5), ("18446744073709551616", 1.8446744073709552e19),
        (".inf", math.inf), ("+.inf", math.inf), ("-.Inf", -math.inf), (".INF", math.inf),
        ("1e400", "1e400"), ("-.nan", "-.nan"), (".iNf", ".iNf"), ("0x", "0x"), ("0b", "0b"),
        ("<<", "<<"), ("'42'", "42"), ('"true"', "true"), ("!!str 12", "12"), ("!!float 3", 3.0),
        ("!!int '7'", 7), ("! 12", 12), ("! '12'", "12"), ("!custom 12", "12"),
        ("!!binary aGVsbG8=", "hello"), ("!!binary /w==", "\udcff"), ("!!null ~", None),
    ],
)  # fmt: skip
def test_scalar_typing_follows_yaml_v3(text: str, expected: object) -> None:
    value = value_of(text)
    assert type(value) is type(expected)
    assert value == expected


def test_nan_is_a_float() -> None:
    for text in (".nan", ".NaN", ".NAN"):
        value = value_of(text)
        assert isinstance(value, float)
        assert math.isnan(value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2024-01-02", "2024-01-02T00:00:00Z"),
        ("2024-1-2", "2024-01-02T00:00:00Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02t03:04:05.5+02:00", "2024-01-02T03:04:05.5+02:00"),
        ("2001-12-14  21:59:43,10", "2001-12-14T21:59:43.1Z"),
        ("2001-12-14 21:59:43.1234567891", "2001-12-14T21:59:43.123456789Z"),
        ("2024-01-02T03:04:05-00:00", "2024-01-02T03:04:05Z"),
        ("2024-02-29", "2024-02-29T00:00:00Z"),
    ],
)
def test_timestamps_become_go_times(text: str, canonical: str) -> None:
    value = value_of(text)
    assert isinstance(value, GoTime)
    assert value.text == canonical
    assert value.source == text


@pytest.mark.parametrize(
    "text",
    ["2023-02-29", "2024-13-01", "2024-01-02T03:04:05", "2024-01-02 03:04:05Z", "20240-01-02",
     "2024-01-02T24:00:00Z", "2024-01-02T03:04:05z", "'2024-01-02'"],
)  # fmt: skip
def test_not_timestamps(text: str) -> None:
    assert isinstance(value_of(text), str)


def test_resolve_rejects_impossible_tags() -> None:
    with pytest.raises(ValueError, match="cannot decode"):
        resolve("!!int", "abc")
    with pytest.raises(InputError, match="line 1"):
        store.load_plain(b"a: !!bool yes\n")


# --- structure -----------------------------------------------------------------------------


def test_nested_structure_and_order() -> None:
    doc = load_one("b: 1\na:\n  - x\n  - k: v\n    l: [1, 2]\n  - []\n  - {}\n")
    assert doc.keys() == ["b", "a"]
    items = doc.get("a")
    assert isinstance(items, Seq)
    assert items[0] == "x"
    assert isinstance(items[1], Branch)
    assert items[1].keys() == ["k", "l"]
    assert items[1].get("l") == Seq([1, 2])
    assert items[2] == Seq()
    assert items[3] == Branch()


def test_aliases_are_copies_and_merge_keys_stay_literal() -> None:
    doc = load_one("base: &b\n  x: 1\nprod:\n  <<: *b\n  z: 3\nagain: *b\nlist: &l [1]\nl2: *l\n")
    prod = doc.get("prod")
    assert prod.keys() == ["<<", "z"]
    assert prod.get("<<") == Branch([("x", 1)])
    assert doc.get("again") == Branch([("x", 1)])
    assert doc.get("again") is not doc.get("base")
    assert doc.get("l2") == Seq([1])


def test_non_string_keys_keep_their_type() -> None:
    doc = load_one("1: a\ntrue: b\n~: c\n1.5: d\n2024-01-02: e\n")
    keys = [k for k, _ in doc]
    assert keys[:4] == [1, True, None, 1.5]
    assert isinstance(keys[4], GoTime)


def test_several_documents() -> None:
    documents = store.load_plain(b"a: 1\n---\nb: 2\n---\n---\nc: [1]\n")
    assert [d.keys() for d in documents] == [["a"], ["b"], [], ["c"]]


def test_a_lone_document_start_is_an_empty_document() -> None:
    # sops 3.11 accepts this (and prints {}), though its YAML documentation says otherwise.
    assert store.load_plain(b"---\n") == [Branch()]
    assert round_trip("---\n") == "{}\n"


def test_crlf_input() -> None:
    assert load_one("a: 1\r\nb: |\r\n  x\r\n  y\r\n") == Branch([("a", 1), ("b", "x\ny\n")])


def test_utf16_input() -> None:
    assert store.load_plain("a: é\n".encode("utf-16")) == [Branch([("a", "é")])]


# --- errors --------------------------------------------------------------------------------


def test_empty_file_needs_a_document() -> None:
    with pytest.raises(InputError) as info:
        store.load_plain(b"")
    assert info.value.exit_code == ExitCode.NEED_AT_LEAST_ONE_DOCUMENT
    assert "completely empty" in info.value.message


@pytest.mark.parametrize("text", ["# only a comment\n", "\n\n", "  \n"])
def test_no_document_is_an_eof_error(text: str) -> None:
    with pytest.raises(InputError, match="EOF") as info:
        store.load_plain(text.encode())
    assert info.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n", "!!seq"),
        ("just text\n", "scalar"),
        ("a: 1\n---\n- x\n", "sequences are not supported"),
        ("a: 1\n---\nplain\n", "values are not supported"),
        ("a: 1\na: 2\n", "already defined at line 1"),
        ("a:\n  b: 1\n  b: 2\n", "already defined"),
        ("a: *x\n", "unknown anchor"),
        ("a: &x [*x]\n", "contains itself"),
        ("a: &x [*x]  # comment\n", "contains itself"),
        ("? [a]\n: 1\n", "invalid map key"),
        ("<<: 1\n", "map merge"),
        ("a: &s [1]\n<<: *s\n", "map merge"),
        ("a: !!int abc\n", "cannot decode"),
        ("a: !!binary '!!'\n", "invalid base64"),
        ("%YAML 1.2\n---\na: 1\n", "incompatible"),
    ],
)
def test_refused_like_sops(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as info:
        store.load_plain(text.encode())
    assert info.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE


def test_only_the_first_document_is_decoded_strictly() -> None:
    documents = store.load_plain(b"a: 1\n---\nb: 1\nb: 2\nc: !!int abc\n")
    assert documents[1] == Branch([("b", 1), ("b", 2), ("c", None)])


def test_parse_errors_give_line_and_column_and_never_the_value() -> None:
    secret = "hunter2-secret"
    with pytest.raises(InputError) as info:
        store.load_plain(f"a: 1\nb: [{secret}\n".encode())
    assert "line 3, column 1" in info.value.message
    assert secret not in info.value.message
    with pytest.raises(InputError) as info:
        store.load_plain(f"a: 1\n{secret}: !!int {secret}\n".encode())
    assert secret not in info.value.message
    with pytest.raises(InputError) as info:
        store.load_plain(f"{secret}: 1\n{secret}: 2\n".encode())
    assert secret not in info.value.message


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(InputError, match="UTF-8 at line 2, column 4"):
        store.load_plain(b"a: 1\nb: \xff\n")


def test_control_characters_are_refused() -> None:
    with pytest.raises(InputError, match="control characters"):
        store.load_plain(b"a: \x01\n")


def test_deep_nesting_is_an_input_error() -> None:
    with pytest.raises(InputError, match="nested more than 256 levels deep"):
        store.load_plain(b"a: " + b"[" * 3000 + b"]" * 3000 + b"  # c\n")


# --- encrypted files -----------------------------------------------------------------------

ENCRYPTED = b"""\
a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:int]
#ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:comment]
list:
    - ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]
    - ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:comment]
sops:
    age:
        - recipient: age1qqq
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdl
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-11-25T08:29:37Z"
    mac: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.11.0
---
b: ""
sops:
    version: garbage
"""


def test_load_encrypted_takes_the_first_metadata_and_strips_every_document() -> None:
    documents, metadata = store.load_encrypted(ENCRYPTED)
    assert [d.keys() for d in documents] == [["a", "list"], ["b"]]
    assert isinstance(documents[0][1][0], Comment)
    assert metadata.get("lastmodified") == "2026-11-25T08:29:37Z"
    assert metadata.get("version") == "3.11.0"
    age = metadata.get("age")
    assert age[0].get("enc").startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")


def test_emit_encrypted_reproduces_the_file() -> None:
    documents, metadata = store.load_encrypted(ENCRYPTED)
    first = ENCRYPTED.split(b"\n---\n")[0] + b"\n"
    assert store.emit_encrypted(documents[:1], metadata) == first


def test_load_encrypted_accepts_duplicate_keys() -> None:
    documents, _ = store.load_encrypted(b"a: x\na: y\nsops:\n    version: 3.11.0\n")
    assert documents[0] == Branch([("a", "x"), ("a", "y")])


@pytest.mark.parametrize("text", [b"", b"a: 1\n", b"a: 1\nsops: ~\n", b"a: 1\n---\nsops: {}\n"])
def test_missing_metadata(text: bytes) -> None:
    with pytest.raises(MetadataError, match="sops metadata not found"):
        store.load_encrypted(text)


def test_metadata_twice_or_not_a_mapping() -> None:
    with pytest.raises(InputError):
        store.load_encrypted(b"sops: {}\nsops: {}\n")
    with pytest.raises(InputError):
        store.load_encrypted(b"sops: text\n")


def test_encrypted_files_refuse_unmergeable_merges_like_sops() -> None:
    # sops encrypts a key "<<" with a scalar value but cannot decrypt the result.
    with pytest.raises(InputError, match="map merge"):
        store.load_encrypted(b"!!merge <<: ENC[x]\nsops:\n    version: 3.11.0\n")
    with pytest.raises(InputError, match="map merge"):
        store.load_encrypted(b"!!merge <<:\n    !!merge <<: x\nsops:\n    version: 3.11.0\n")


# --- output --------------------------------------------------------------------------------

STYLES = """\
a: 1
b: two
c: 1.5
d: true
e: null
f: ""
g: "no"
h: "1e3"
i: "0x1F"
j: "~"
k: "null"
l: ' lead'
m: 'trail '
n: "multi\\nline"
o: "multi\\nline\\n"
p: "multi\\nline\\n\\n"
s: "a: b"
t: "x #y"
u: "[x]"
v: "-"
w: "- x"
x: ":x"
y: "it's"
z: "tab\\there"
aa: "é ü 日本"
ab: "emoji 🎉"
ac: "\\u0007bell"
ad: "\\ufeffbom"
ae: "---"
ba: "1:20"
bd: "True"
be: "y"
bh: " "
bi: "\\n"
bj: "a\\n b"
bk: "a \\nb"
bm: "\\r\\n"
float: 1234567.5
small: 0.000001
negzero: -0.0
big: 1e20
date: 2024-01-02
"N": x
nest:
  "<<": merge
"": empty
"""

STYLES_EXPECTED = """\
a: 1
b: two
c: 1.5
d: true
e: null
f: ""
g: "no"
h: "1e3"
i: "0x1F"
j: "~"
k: "null"
l: ' lead'
m: 'trail '
"n": |-
    multi
    line
o: |
    multi
    line
p: |+
    multi
    line

s: 'a: b'
t: 'x #y'
u: '[x]'
v: '-'
w: '- x'
x: :x
"y": it's
z: "tab\\there"
aa: é ü 日本
ab: "emoji \\U0001F389"
ac: "\\abell"
ad: "\\uFEFF\\x62\\x6F\\x6D"
ae: '---'
ba: "1:20"
bd: "True"
be: "y"
bh: ' '
bi: |4+

bj: |-
    a
     b
bk: "a \\nb"
bm: "\\r\\n"
float: 1.2345675e+06
small: 1e-06
negzero: -0
big: 1e+20
date: 2024-01-02T00:00:00Z
"N": x
nest:
    !!merge <<: merge
"": empty
"""


def test_scalar_styles_match_sops() -> None:
    assert round_trip(STYLES) == STYLES_EXPECTED


def test_binary_and_invalid_utf8() -> None:
    text = "a: !!binary aGVsbG8=\nb: !!binary /w==\nc: !!binary " + "/" * 88 + "\n"
    assert round_trip(text) == (
        "a: hello\nb: !!binary /w==\nc: !!binary |\n    " + "/" * 70 + "\n    " + "/" * 18 + "\n"
    )


def test_collections_and_indentation() -> None:
    text = "l:\n  - b: 1\n    c: [1, 2]\n  - - a\n    - [x, y]\ne: []\nm: {}\nn: [[]]\n"
    expected = (
        "l:\n    - b: 1\n      c:\n        - 1\n        - 2\n    - - a\n      - - x\n"
        '        - "y"\ne: []\nm: {}\n"n":\n    - []\n'
    )
    assert round_trip(text) == expected


@pytest.mark.parametrize(
    ("indent", "expected"),
    [
        (2, "a:\n  b:\n    - c\n    - d: 1\n      e: 2\n"),
        (1, "a:\n  b:\n    - c\n    - d: 1\n      e: 2\n"),
        (10, "a:\n  b:\n    - c\n    - d: 1\n      e: 2\n"),
        (None, "a:\n    b:\n        - c\n        - d: 1\n          e: 2\n"),
        (3, "a:\n   b:\n      - c\n      - d: 1\n        e: 2\n"),
    ],
)
def test_indent(indent: int | None, expected: str) -> None:
    assert round_trip("a:\n  b:\n  - c\n  - d: 1\n    e: 2\n", indent) == expected


def test_negative_indent_is_refused() -> None:
    with pytest.raises(SecretsctlError) as info:
        store.emit_plain([Branch([("a", 1)])], indent=-1)
    assert info.value.exit_code == ExitCode.ERROR_DUMPING_TREE


def test_documents_are_separated() -> None:
    assert round_trip("a: 1\n---\nb: 2\n") == "a: 1\n---\nb: 2\n"
    assert store.emit_plain([]) == b""


def test_long_and_multiline_keys_are_complex_keys() -> None:
    long_key = "k" * 129
    text = f'"{long_key}": 1\n"{"k" * 128}": 2\n? "a\\nb"\n: 3\n'
    assert round_trip(text) == (f"? {long_key}\n: 1\n{'k' * 128}: 2\n? |-\n    a\n    b\n: 3\n")


def test_values_sops_builds() -> None:
    tree = Branch(
        [("nil", NilList()), ("time", GoTime("2024-01-02T03:04:05.5+02:00")), ("big", 2**64 - 1),
         ("nan", math.nan), ("inf", -math.inf), ("bytes", "\udcff\udcfe")]
    )  # fmt: skip
    assert store.emit_plain([tree]) == (
        b"nil: []\ntime: 2024-01-02T03:04:05.5+02:00\nbig: 18446744073709551615\nnan: .nan\n"
        b"inf: -.inf\nbytes: !!binary //4=\n"
    )


def test_long_lines_are_not_wrapped() -> None:
    words = " ".join(["word"] * 50)
    assert round_trip(f"a: {words}\n") == f"a: {words}\n"


# --- comments ------------------------------------------------------------------------------

COMMENTS = """\
# top comment
a: 1 # inline a
# before b
b:
  # inside b first
  c: 2
  d: 3 # inline d
  # end of b
# dedented after b
e:
  - x # inline x
  # between items
  - y
  # end of list
f: |
  block
# after block
g: "quoted # not comment"
h: 'x' # c
i: &anc
  k: v # kv
j: *anc
# final
"""

COMMENTS_EXPECTED = """\
# top comment
# inline a
a: 1
# before b
b:
    # inside b first
    c: 2
    # inline d
    d: 3
    # end of b
# dedented after b
e:
    # inline x
    - x
    # between items
    - "y"
    # end of list
f: |
    block
# after block
g: 'quoted # not comment'
# c
h: x
i:
    # kv
    k: v
j:
    # kv
    k: v
# final
"""


def test_comments_are_placed_as_sops_places_them() -> None:
    assert round_trip(COMMENTS) == COMMENTS_EXPECTED


def test_comment_items_in_the_tree() -> None:
    doc = load_one("# head\na: 1 # line\nl:\n  - x # item\n  # foot\n")
    assert doc == Branch(
        [
            (Comment(" head"), None),
            (Comment(" line"), None),
            ("a", 1),
            ("l", Seq([Comment(" item"), "x", Comment(" foot")])),
        ]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A comment after a deeper block moves into that block (yaml.v3).
        (
            "k:\n    # c1\n    k10:\n        k0: 1\n    # c3\n# c4\nk03: z\n",
            "k:\n    # c1\n    k10:\n        k0: 1\n        # c3\n# c4\nk03: z\n",
        ),
        # A comment after "- " heads the item's mapping, which is written right after the "- "
        # of the outer item (sops's own decryption then moves them to the outer list).
        (
            "a:\n  -\n    - # c3\n      k40: x # c28\n      k41: y\n",
            'a:\n    - # c3\n      # c28\n      - k40: x\n        k41: "y"\n',
        ),
        # Blank lines split the document head.
        ("# h1\n\n# h2\na: 1\n", "# h1\n# h2\na: 1\n"),
        # Flow collections and block scalar headers.
        (
            "a: [1, # in flow\n  2]\nd: |  # header\n  text\n",
            "a:\n    # in flow\n    - 1\n    - 2\n# header\nd: |\n    text\n",
        ),
        # Documents keep their own comments.
        (
            "---\n# after start\na: 1 # l\n---\n# head2\nb: 2\n# foot2\n",
            "# after start\n# l\na: 1\n---\n# head2\nb: 2\n# foot2\n",
        ),
        # A trailing comment of an item that is a mapping is written after the next item.
        (
            "l:\n  - a: 1\n    # foot of item\n  - b\n",
            "l:\n    - a: 1\n      # foot of item\n    - b\n",
        ),
        # Tabs between comment lines (libyaml alone would refuse them).
        ("# one\n\t\n\t# two\na: 1\n", "# one\n# two\na: 1\n"),
    ],
)
def test_comment_placement_cases(text: str, expected: str) -> None:
    assert round_trip(text) == expected


def test_crlf_changes_comment_grouping_like_yaml_v3() -> None:
    # yaml.v3 sees CR and LF as two line breaks while it scans comments.
    lf = "a:\n  - b\n  # c\n  - d\n"
    assert round_trip(lf.replace("\n", "\r\n")) == round_trip(lf)


def test_comments_inside_empty_flow_collections_are_dropped() -> None:
    assert round_trip("a: { # only\n}\nb: [ # c\n]\n") == "a: {}\nb: []\n"


# --- emit_value (sops EmitValue) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, b"42\n"),
        (1.5, b"1.5\n"),
        (True, b"true\n"),
        (None, b"null\n"),
        (GoTime("2024-01-02T00:00:00Z"), b"2024-01-02T00:00:00Z\n"),
        (Seq(), b"[]\n"),
        (Seq(["a", Comment(" c"), Branch([("b", 1), ("c", Seq([1, 2]))]), Seq(["x"])]),
         b"- a\n# c\n- b: 1\n  c:\n    - 1\n    - 2\n- - x\n"),
        (Comment(" line comment"), b"value: ' line comment'\n"),
        ("text", b"text\n"),
    ],
)  # fmt: skip
def test_emit_value(value: object, expected: bytes) -> None:
    assert store.emit_value(value) == expected
    assert store.emit_value(value, indent=2) == expected


# --- the two loaders agree -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [STYLES, "l:\n  - b: 1\n    c: [1, 2]\n  - - a\n", "a: &x {b: [1, {c: d}]}\nb: *x\n",
     "a: 1\n---\nb: 2\n", "? [a, b]\n: c\n", "a: !!binary aGVsbG8=\n"],
)  # fmt: skip
def test_event_and_replay_loaders_agree(text: str) -> None:
    events = _yaml_load.compose_events(text, None)
    replay = _yaml_comments.compose(text, None)
    assert events == replay


def test_sops_nix_vector_reemits_byte_for_byte(sops_nix_vectors: Path) -> None:
    data = (sops_nix_vectors / "secrets.yaml").read_bytes()
    documents, metadata = store.load_encrypted(data)
    assert metadata.get("version") == "3.7.1"
    assert store.emit_encrypted(documents, metadata) == data


def test_yaml_v3_indentation_indicator_in_lists_is_reproduced() -> None:
    # yaml.v3 writes "|4-" where the content is not 4 deeper than the list; sops writes the
    # same bytes and cannot read them back either.
    tree = Branch([("", Seq(["\n0"])), ("b", Seq([Branch([("k", " lead\nx")])]))])
    text = store.emit_plain([tree])
    assert text == b'"":\n    - |4-\n\n      0\nb:\n    - k: |4-\n         lead\n        x\n'
    with pytest.raises(InputError):
        store.load_plain(text)
    assert store.emit_plain([Branch([("top", "\n0")])]) == b"top: |4-\n\n    0\n"


def test_negative_zero() -> None:
    # Plaintext output is sops's (-0, which reads back as the int 0); an encrypted file keeps
    # the float, because there the value is unencrypted and part of the MAC.
    tree = Branch([("z_unencrypted", -0.0), ("l", Seq([-0.0]))])
    assert store.emit_plain([tree]) == b"z_unencrypted: -0\nl:\n    - -0\n"
    metadata = Branch([("version", "3.11.0")])
    text = store.emit_encrypted([tree], metadata)
    assert text == b"z_unencrypted: -0.0\nl:\n    - -0.0\nsops:\n    version: 3.11.0\n"
    documents, _ = store.load_encrypted(text)
    value = documents[0].get("z_unencrypted")
    assert isinstance(value, float)
    assert math.copysign(1.0, value) == -1.0
