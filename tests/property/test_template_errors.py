"""No template error quotes a value: any text (quotes, backslashes, newlines, any Unicode)
through every error path a template can take, in the core and through `secretsctl render`.

Jinja and Python build their messages from the values (``has no attribute "<value>"``,
``unknown encoding: <value>``, ``No filter named '<value>'``); the renderer must never show one.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from secretsctl.config.model import Origin, TemplateSpec
from secretsctl.errors import ExitCode, ManifestError
from secretsctl.render import jinja
from tests.cli.test_render import make_cli, template_config
from tests.conftest import AgeKey

# Each fails whatever the values are (a and b have at least 4 characters, so neither is a
# secret's name): a value, or text made from one, used as a key, an attribute, a format, an
# encoding, a filter's or test's name, an operand, an argument.
FAILING = {
    "lookup": "{{ secrets[a] }}",
    "lookup_upper": "{{ {}[b|upper] }}",
    "lookup_slice": "{{ {}[a[1:]] }}",
    "lookup_reversed": "{{ {}[a|reverse|join] }}",
    "lookup_joined": "{{ {}[a ~ b] }}",
    "lookup_replaced": '{{ {}[a|replace("x", "y")|title] }}',
    "lookup_nested": "{{ secrets[a][0] }}",
    "lookup_then": '{{ a[1:] ~ secrets[a ~ "x"] }}',
    "lookup_self": "{{ self[a] }}",
    "attribute": "{{ a.foo }}",
    "attribute_twice": "{{ a.nope.nope }}",
    "private": "{{ a.__class__ }}",
    "call": "{{ a() }}",
    "int_floor_zero": "{{ a|int // 0 }}",
    "float_div_zero": "{{ a|float / 0 }}",
    "json_int_zero": "{{ a|tojson|int // 0 }}",
    "divide": "{{ a / 0 }}",
    "add": "{{ a + 1 }}",
    "subtract": "{{ a - b }}",
    "multiply": "{{ a * b }}",
    "mixed": "{{ (a|int) + a }}",
    "percent_short": '{{ "%s%s" % a }}',
    "range": "{{ range(a) }}",
    "center": "{{ a|center(b) }}",
    "split": "{{ a.split(a, a) }}",
    "lipsum": "{{ lipsum(a) }}",
    "wordwrap": "{{ a|wordwrap(0) }}",
    "join_zero": "{{ a|join(1 / 0) }}",
    "sum": "{{ a|sum }}",
    "round": "{{ a|round }}",
    "dictsort": "{{ a|dictsort }}",
    "huge": "{{ a * 10**9 }}",
    "huge_power": "{{ (a|length) ** 100000 }}",
    "encode_ascii_then_zero": '{{ a.encode("utf-8")|length // 0 }}',
}
# These fail for most values, and succeed for some (a value that is a format, an encoding,
# a filter's name...): a success is fine, a failure must not quote.
MAY_FAIL = {
    "format_braces": '{{ ("{" ~ a ~ "}").format() }}',
    "format_value": "{{ (a ~ '{}').format() }}",
    "percent": "{{ a % 1 }}",
    "format_filter": "{{ a|format(1) }}",
    "encoding": "{{ a.encode(a) }}",
    "attr_filter": "{{ a|attr(a) }}",
    "map_filter": "{{ a|map(a)|list }}",
    "select_test": "{{ a|select(a)|list }}",
    "selectattr": "{{ a|selectattr(a)|list }}",
    "dict_key": "{{ {a: 1}[b] }}",
    "truncate": "{{ a|truncate(1) }}",
    "divisible": "{{ a is divisibleby 0 }}",
    "quoting": "{{ a | shell }}{{ b | env }}{{ a | json }}",  # NUL, or not UTF-8
}
TEMPLATES = {**FAILING, **MAY_FAIL}

# Any text: the characters that quoting trips over, and any other Unicode (NUL too).
values = st.text(
    st.one_of(
        st.sampled_from("'\"\\\n\r\t{}%:!.[]é€秘\u2028\0 "),
        st.characters(blacklist_categories=("Cs",)),
    ),
    min_size=4,
    max_size=24,
)
SPECIAL = "Pa'ss\\word\"é\n{0}%d"


def _spec(name: str, text: str) -> TemplateSpec:
    place = {"content": (8, 14)}
    origin = Origin("/etc/secretsctl/secretsctl.yaml", 7, 3, f"templates.{name}", place)
    return TemplateSpec(name=name, text=text, source=None, origin=origin)


def _compiled() -> dict[str, jinja.JinjaTemplate]:
    out = {}
    for name, text in TEMPLATES.items():
        compiled, problems = jinja.compile_template(_spec(name, text), ["a", "b"])
        assert not problems, [p.message for p in problems]
        assert compiled is not None
        out[name] = compiled
    return out


COMPILED = _compiled()


# What a message may say after the template's line: fixed words, an exception's class name,
# or one of our filters' messages. Nothing else, so no text made from a value.
PREDICATES = frozenset(
    (
        "looks up a name, key or attribute that does not exist",
        "does something the sandbox forbids",
        "divides by zero",
        "recurses too deeply",
        "needs more memory than there is",
        "makes an integer of more than 4096 bits",
        "makes text or a list longer than 16777216 characters or items",
        "asks for a width or count above 1048576",
    )
)
FILTER_MESSAGES = re.compile(
    r"the (shell|env|json) filter quotes text, not \w+"
    r"|the shell filter cannot pass a NUL character to a shell"
    r"|the env filter: the value holds a NUL character, which no environment value can"
    r"|the env filter: the value is not valid UTF-8 text \(or holds a Unicode noncharacter\),"
    r" which systemd refuses in an environment file"
    r"|the json filter: the value is not valid UTF-8 text"
    r"|the json filter cannot write \w+"
)


def public_detail(name: str, detail: str) -> bool:
    """Tell whether ``detail`` (what follows ``line 1: ``) is made of public words only."""
    subject = f"`{TEMPLATES[name]}` "
    if detail.startswith(subject):
        predicate = detail[len(subject) :]
        return predicate in PREDICATES or re.fullmatch(r"fails \(\w+\)", predicate) is not None
    return FILTER_MESSAGES.fullmatch(detail) is not None


PREFIX = "/etc/secretsctl/secretsctl.yaml:8:14: templates."


@settings(max_examples=300, deadline=None)
@given(a=values, b=values)
@example(a=SPECIAL, b=SPECIAL[::-1])
@example(a="utf-8", b="upper")
@example(a="x\ufdd0y", b="\U0010ffff")
def test_no_error_path_quotes_a_value(a: str, b: str) -> None:
    failed: set[str] = set()
    for name, compiled in COMPILED.items():
        error = _failure(compiled, {"a": a, "b": b})
        if error is None:
            continue
        failed.add(name)
        prefix = f"{PREFIX}{name}.content: line 1: "
        public = error.message.startswith(prefix) and public_detail(
            name, error.message[len(prefix) :]
        )
        assert public, f"the error of template {name} says more than its line and kind"
        assert str(error) == error.message, "str() of the error differs from its message"
        assert error.hint is None, "the error has a hint"
        assert error.__context__ is None, "the error chains the original"
        assert error.__cause__ is None, "the error chains the original"
        assert error.exit_code == ExitCode.ERROR_READING_CONFIG
    missing = sorted(set(FAILING) - failed)
    assert not missing, f"templates that should fail rendered: {missing}"


def _failure(compiled: jinja.JinjaTemplate, values: dict[str, str]) -> ManifestError | None:
    try:
        jinja.render(compiled, values)
    except ManifestError as error:
        return error
    return None


@pytest.mark.parametrize("flags", [(), ("--debug",)], ids=["plain", "debug"])
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(a=values, b=values)
@example(a=SPECIAL, b=SPECIAL[::-1])
def test_render_dry_run_quotes_no_value(
    tmp_path: Path, age_key: AgeKey, flags: tuple[str, ...], a: str, b: str
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    config = template_config(folder / "in", age_key, {"a": a, "b": b}, TEMPLATES)
    cli = make_cli(folder)
    done = cli(*flags, "render", "-m", str(config), "--root", str(folder / "root"), "--dry-run")
    # Every line must be made of public words only (a fragment check alone would trip over
    # values that hypothesis draws from the very words of the messages).
    assert done.returncode == ExitCode.ERROR_READING_CONFIG, "not a configuration error"
    assert done.stdout == "", "something on stdout"
    summary, *rest = done.stderr.splitlines()
    summary_ok = re.fullmatch(
        r"secretsctl: error: \d+ problems found; nothing was changed",
        summary,
    )
    assert summary_ok, "the first line is not the summary"
    place = re.escape(str(config))
    seen = []
    for line in rest:
        match = re.fullmatch(rf"  {place}:\d+:14: templates\.(\w+)\.content: line 1: (.*)", line)
        public = match is not None and public_detail(match[1], match[2])
        assert public, "a line says more than a template's line and the kind of error"
        seen.append(match[1] if match else "")
    assert set(FAILING) <= set(seen), "a template that should fail was not reported"
    assert len(seen) == len(set(seen)), "a template was reported twice"
    assert not (folder / "root").exists()
