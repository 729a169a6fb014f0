"""The configuration's YAML reader: the fast path reads exactly as libyaml does, with positions."""

from __future__ import annotations

import pytest

from secretsctl.config import _yaml
from secretsctl.config._yaml import MAP, SCALAR, SEQ

EXAMPLE = """\
defaults:            # all optional
  sops_file: secrets.yaml      # relative
  ssh_key_paths: [/etc/ssh/ssh_host_ed25519_key]
  keep_generations: 1
secrets:
  github_token: {}                     # key defaults to the name
  db/password: {key: db/password, owner: postgres, mode: "0440", restart_units: [pg.service]}
  other:
    mode: 0400
    restart_units:
    - a.service
    - 'b.service'
  indented:
    reload_units:
      - "c.service"
  quoted: 'it''s'
  "quoted key": x
templates:
  inline: {content: "x={{ github_token }}"}
  block:
    content: |
      a={{ x }}

      b
    mode: '0400'
  keep:
    content: |+
      a

  strip:
    content: |-
      a
  # a comment between entries
  empty:
  last: |
    z
"""


def fast(text: str) -> _yaml.Node | None:
    return _yaml._FastReader(text).root()


def test_fast_reader_reads_the_usual_shape_as_libyaml_does() -> None:
    assert fast(EXAMPLE) == _yaml.compose(EXAMPLE)


def test_positions_are_libyaml_marks() -> None:
    root = _yaml.read(EXAMPLE)
    assert root is not None
    secrets = root[1]["secrets"][1]
    key, value = secrets[1]["db/password"]
    assert (key[2], key[3]) == (7, 3)
    assert value[0] == MAP and (value[2], value[3]) == (7, 16)
    mode = value[1]["mode"][1]
    assert mode == (SCALAR, "0440", 7, 58, False)
    units = value[1]["restart_units"][1]
    line = EXAMPLE.splitlines()[6]
    assert units[0] == SEQ and units[3] == line.index("[") + 1
    assert units[1][0] == (SCALAR, "pg.service", 7, line.index("pg.service") + 1, True)
    block = root[1]["templates"][1][1]["block"][1][1]["content"][1]
    assert block == (SCALAR, "a={{ x }}\n\nb\n", 21, 14, False)


def test_an_empty_value_is_a_plain_null_at_its_key() -> None:
    root = _yaml.read("a:\nb: # comment\nc: 1\n")
    assert root is not None
    assert root[1]["a"][1] == (SCALAR, "", 1, 1, True)
    assert root[1]["b"][1] == (SCALAR, "", 2, 1, True)
    assert _yaml.compose("a:\nb: # comment\nc: 1\n") == root


def test_repeated_keys_are_kept_aside_with_the_first() -> None:
    text = "a: 1\nb: 2\na: 3\n"
    root = _yaml.read(text)
    assert root is not None
    entries = root[1]
    assert entries["a"][1][1] == "1"
    assert entries.duplicates == [((SCALAR, "a", 3, 1, True), (SCALAR, "a", 1, 1, True))]
    assert _yaml.compose(text) == root


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors
        "a: !!str 1\n",  # tags
        "a: >\n  folded\n",  # folded block
        "a: plain\n  continued\n",  # multi-line plain scalar
        'a: "esc\\n"\n',  # escapes
        "a: [x, [y]]\n",  # nested flow
        "a: {b: {c: d}}\n",  # nested flow mapping
        "a:\n- b: c\n",  # mapping in a list
        "---\na: 1\n",  # document marker
        "a: 1",  # no final newline
        "a:\tb\n",  # tab
        "a: |2\n   x\n",  # explicit indentation
        "a: |\n\n  x\n",  # leading blank line in a block
        "? a\n: b\n",  # complex key
        "a: b: c\n",  # invalid
        "a: x # c\n  b: y\n",  # invalid indentation
        "a: [x,]\n",  # trailing comma
        "a: {b: http://x}\n",  # a colon inside a flow scalar
    ],
)
def test_anything_else_goes_to_libyaml(text: str) -> None:
    with pytest.raises(_yaml._Fallback):
        fast(text)


def test_libyaml_resolves_aliases_and_str_tags() -> None:
    root = _yaml.read("a: &x [p, q]\nb: *x\nc: !!str 12\nd: ! 13\n")
    assert root is not None
    assert root[1]["b"][1][1] == root[1]["a"][1][1]
    assert root[1]["c"][1] == (SCALAR, "12", 3, 4, False)  # a string, not a plain number
    assert root[1]["d"][1] == (SCALAR, "13", 4, 4, False)


@pytest.mark.parametrize("text", ["a: http://x\n", "a: b#c\n", "a: x  # c\n", "a: [ p ,q ]\n"])
def test_plain_scalars_agree(text: str) -> None:
    assert fast(text) == _yaml.compose(text)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a: b: c\n", 1, 5, "mapping values are not allowed"),
        ("a: [x\n", 2, 1, "flow sequence"),
        ("a: !!int 1\n", 1, 4, "tags are not supported"),
        ("a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document"),
        ("a: *nope\n", 1, 4, "unknown anchor"),
        ("[a]: 1\n", 1, 1, "cannot be a key"),
    ],
)
def test_syntax_errors_have_a_position(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(_yaml.YamlSyntaxError) as caught:
        _yaml.read(text)
    assert fragment in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


def test_no_document_is_none() -> None:
    assert _yaml.read("# only a comment\n\n") is None
    assert _yaml.read("") is None
