"""The configuration parser: the fast reader agrees with libyaml, and only SecretsctlError escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.config import _yaml
from secretsctl.config.load import DEFAULTS_FIELDS, SECRET_FIELDS, TEMPLATE_FIELDS, parse_config
from secretsctl.errors import ProblemsError, SecretsctlError

# --- a generator of configuration-shaped YAML text ------------------------------------------

_KEY_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyz_./-0123456789 ") + ["é", "秘"])
plain_keys = st.text(_KEY_CHARS, min_size=1, max_size=10).filter(
    lambda k: (k.strip() == k and k[0] not in "-./0123456789") or k[:1].isalpha()
)
_SCALAR_CHARS = st.sampled_from(list("abcXYZ019_-./:@%#!&*'\"[]{},|>? ~=+") + ["é", "€", "\u00a0"])
plain_texts = st.text(_SCALAR_CHARS, min_size=1, max_size=14)


def quote_single(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_double(text: str) -> str:
    return '"' + text + '"'


@st.composite
def scalar_text(draw: st.DrawFn) -> str:
    text = draw(plain_texts)
    style = draw(st.sampled_from(["plain", "single", "double"]))
    if style == "single":
        return quote_single(text)
    if style == "double":
        return quote_double(text.replace('"', "").replace("\\", ""))
    return text


@st.composite
def flow(draw: st.DrawFn, depth: int = 0) -> str:
    items = draw(st.lists(scalar_text(), max_size=3))
    if draw(st.booleans()) or depth > 0:
        spaces = draw(st.sampled_from(["", " ", "  "]))
        return "[" + spaces + ("," + spaces).join(items) + spaces + "]"
    keys = draw(st.lists(plain_keys, max_size=3, unique=True))
    parts = []
    for key in keys:
        value = draw(st.one_of(scalar_text(), flow(depth + 1)))
        parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


def comment() -> st.SearchStrategy[str]:
    return st.sampled_from(["", "", "", "  # note", " #x", "    # a: b"])


@st.composite
def block(draw: st.DrawFn, indent: int, depth: int) -> list[str]:
    """Lines of a block mapping at ``indent``."""
    lines: list[str] = []
    pad = " " * indent
    for key in draw(st.lists(plain_keys, min_size=1, max_size=4)):
        if draw(st.booleans()):
            key = quote_single(key) if draw(st.booleans()) else quote_double(key)
        kind = draw(
            st.sampled_from(["scalar", "flow", "nested", "list", "literal", "empty"])
            if depth < 3
            else st.sampled_from(["scalar", "flow", "empty"])
        )
        if draw(st.integers(0, 5)) == 0:
            lines.append(" " * draw(st.integers(0, 8)) + "# comment")
        if draw(st.integers(0, 6)) == 0:
            lines.append("")
        if kind == "scalar":
            lines.append(f"{pad}{key}: {draw(scalar_text())}{draw(comment())}")
        elif kind == "flow":
            lines.append(f"{pad}{key}: {draw(flow())}{draw(comment())}")
        elif kind == "empty":
            lines.append(f"{pad}{key}:{draw(comment())}")
        elif kind == "nested":
            lines.append(f"{pad}{key}:{draw(comment())}")
            lines += draw(block(indent + draw(st.integers(1, 4)), depth + 1))
        elif kind == "list":
            lines.append(f"{pad}{key}:")
            inner = indent + draw(st.sampled_from([0, 2, 4]))
            for item in draw(st.lists(scalar_text(), min_size=1, max_size=3)):
                lines.append(" " * inner + "- " + item + draw(comment()))
        else:
            header = draw(st.sampled_from(["|", "|-", "|+", "| # c"]))
            lines.append(f"{pad}{key}: {header}")
            inner = indent + draw(st.integers(1, 4))
            for text in draw(st.lists(st.text(_SCALAR_CHARS, max_size=12), min_size=1, max_size=4)):
                if text.strip():
                    lines.append(" " * (inner + draw(st.integers(0, 2))) + text)
                else:
                    lines.append("")
    return lines


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = draw(block(0, 0))
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        # A random edit, to reach the fallback and the error paths too.
        position = draw(st.integers(0, len(text)))
        insert = draw(st.sampled_from(["\t", " ", ":", "- ", "\n", "#", '"', "'", "[", "{", "&a ", "*a"]))
        text = text[:position] + insert + text[position:]
    return text


def strip_plain(node: Any) -> Any:
    return node


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents())
@example("a: |+\n  x\n\n\nb: 1\n")
@example("a: |\n  x\n  \nb: 1\n")
@example("a:\n- x\nb: 2\n")
@example("a:\n  - x\n  -\n")
@example("a: 'x''\n")
@example("\na: [0?]\n")
@example("a: {b: c?}\n")
@example("a: {a: [0?]}\n")
# Key service URIs: plain in a block list, quoted in a flow list (libyaml ends a flow plain
# scalar at its colon), and the unquoted flow form libyaml rejects.
@example("defaults:\n  keyservices:\n    - unix:///run/ks.sock\n    - tcp://h:5000\n")
@example("defaults:\n  keyservices: [\"unix:///run/ks.sock\", 'tcp://h:1']\n")
@example("defaults:\n  keyservices: [unix:///run/ks.sock]\n")
@example("defaults: {enable_local_keyservice: false, keyservices: []}\n")
def test_the_fast_reader_reads_as_libyaml_does(text: str) -> None:
    try:
        expected = _yaml.compose(text)
    except _yaml.YamlSyntaxError:
        expected = None
        invalid = True
    else:
        invalid = False
    try:
        found = _yaml._FastReader(text).root()
    except _yaml._Fallback:
        return
    assert not invalid, "the fast reader accepted text libyaml rejects"
    assert found == expected


# --- fuzzing the loader ---------------------------------------------------------------------

field_names = st.sampled_from(
    sorted({*DEFAULTS_FIELDS, *SECRET_FIELDS, *TEMPLATE_FIELDS}) + ["nope", "<<", "Owner"]
)
values = st.one_of(
    scalar_text(),
    flow(),
    st.sampled_from(["0440", "4755", "0o777", "-1", "true", "~", "1e3", "99999999999", '""']),
)


@st.composite
def configs(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(["defaults", "secrets", "templates", "x"]))):
        lines.append(f"{section}:")
        if section == "defaults":
            for name in draw(st.lists(field_names, max_size=4)):
                lines.append(f"  {name}: {draw(values)}")
            continue
        for entry in draw(st.lists(plain_keys, max_size=3)):
            lines.append(f"  {entry}:")
            for name in draw(st.lists(field_names, max_size=4)):
                lines.append(f"    {name}: {draw(values)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(configs(), documents(), st.text(max_size=200)))
@example("secrets: [a]\n")
@example("secrets:\n  a: {mode: [1]}\n")
@example("- a\n")
@example("\ufeffsecrets: {}\n")
def test_only_secretsctl_errors_escape(text: str) -> None:
    try:
        manifest = parse_config(text, "/nonexistent/secretsctl.yaml")
    except ProblemsError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.message.startswith("/nonexistent/secretsctl.yaml")
            assert "\n" not in problem.message
    except SecretsctlError as error:
        assert error.message.startswith("/nonexistent/secretsctl.yaml")
    else:
        for spec in manifest.secrets:
            assert spec.mode <= 0o777


_ANY_CHARS = st.sampled_from(
    [c for c in __import__("string").printable if c not in "\n\r\x0b\x0c"] + ["é", "\u00a0", "\u2028"]
)
_TOKENS = st.text(_ANY_CHARS, min_size=1, max_size=8)
_FORMS = ["k: v", "k: [v, w]", "k: {v: w}", "k: [v]", "k:\n  - v", "k:\n- v", "k: 'v'", 'k: "v"',
          "k: |\n  v", "x:\n  k: v  # w"]  # fmt: skip


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(_FORMS), _TOKENS, _TOKENS, _TOKENS)
def test_any_printable_scalar_reads_as_libyaml_does(form: str, k: str, v: str, w: str) -> None:
    text = form.replace("k", "\0K", 1).replace("v", "\0V").replace("w", "\0W")
    text = text.replace("\0K", k).replace("\0V", v).replace("\0W", w) + "\n"
    try:
        expected = _yaml.compose(text)
    except _yaml.YamlSyntaxError:
        invalid = True
    else:
        invalid = False
    try:
        found = _yaml._FastReader(text).root()
    except _yaml._Fallback:
        return
    assert not invalid, "the fast reader accepted text libyaml rejects"
    assert found == expected
