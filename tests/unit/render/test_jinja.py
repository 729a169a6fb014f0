"""The Jinja environment: sandboxed, strict, quoting filters, and errors that never leak a value."""

from __future__ import annotations

import traceback

import pytest

from secretsctl.config.model import Origin, TemplateSpec
from secretsctl.errors import ManifestError
from secretsctl.render import jinja
from secretsctl.render.jinja import FilterError, env_quote, json_quote, shell_quote

VALUES = {"token": "tok-SECRET-1234", "db/password": "pw-SECRET-5678", "secrets": "shadowed"}


def spec(text: str, source: str | None = None) -> TemplateSpec:
    origin = Origin("/etc/secretsctl/secretsctl.yaml", 7, 3, "templates.t", {"content": (8, 14)})
    return TemplateSpec(name="t", text=text, source=source, origin=origin)


def render(text: str, values: dict[str, str] | None = None) -> str:
    values = VALUES if values is None else values
    compiled, problems = jinja.compile_template(spec(text), list(values))
    assert not problems, problems
    assert compiled is not None
    return jinja.render(compiled, values)


def failure(text: str, source: str | None = None) -> str:
    compiled, problems = jinja.compile_template(spec(text, source), list(VALUES))
    if problems:
        return "\n".join(p.message for p in problems)
    assert compiled is not None
    with pytest.raises(ManifestError) as caught:
        jinja.render(compiled, VALUES)
    return caught.value.message


def test_secrets_by_name_and_through_the_mapping() -> None:
    assert render("{{ token }}|{{ secrets['db/password'] }}|{{ secrets.token }}") == (
        "tok-SECRET-1234|pw-SECRET-5678|tok-SECRET-1234"
    )
    # a secret named `secrets` is reachable through the mapping only
    assert render("{{ secrets['secrets'] }}") == "shadowed"


def test_no_autoescape_and_the_final_newline_is_kept() -> None:
    assert render("<{{ '&' }}>\n", {}) == "<&>\n"
    assert render("a\n\n", {}) == "a\n\n"


def test_names_are_checked_before_rendering() -> None:
    message = failure("ok\n{{ tokn }}")
    assert message == (
        "/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: line 2: 'tokn' is not a"
        " secret of this configuration; did you mean 'token'?"
    )
    assert "not a secret" in failure("{{ secrets['nope'] }}")
    assert "not a secret" in failure("{{ secrets.nope }}")
    compiled, problems = jinja.compile_template(spec("{{ token }}{{ secrets['db/password'] }}"), VALUES)
    assert compiled is not None
    assert not problems
    assert compiled.names == {"token", "db/password"}
    assert not compiled.dynamic
    compiled, _ = jinja.compile_template(spec("{% for k in secrets %}{{ secrets[k] }}{% endfor %}"), VALUES)
    assert compiled is not None
    assert compiled.dynamic


def test_locals_and_globals_are_not_secrets() -> None:
    assert render("{% set x = 'a' %}{{ x }}{% for i in range(2) %}{{ i }}{% endfor %}", {}) == "a01"


def test_syntax_errors_name_the_source_file_and_line() -> None:
    message = failure("a\n{% if %}\n", source="/srv/t.j2")
    assert message.startswith("/srv/t.j2:2: templates.t: ")


def test_includes_are_refused() -> None:
    for text in ("{% include 'x' %}", "{% import 'x' as y %}", "{% extends 'x' %}"):
        assert "cannot include, import or extend" in failure(text)


def test_the_sandbox_holds() -> None:
    message = failure("{{ token.__class__.__mro__ }}")
    assert message.endswith("line 1: `{{ token.__class__.__mro__ }}` does something the sandbox forbids")
    message = failure("{{ [].append(1) }}")
    assert message.endswith("line 1: `{{ [].append(1) }}` does something the sandbox forbids")


@pytest.mark.parametrize(
    "text",
    [
        "{{ secrets[token] }}",  # the undefined name would be the token
        "{{ secrets[token[:6]] }}",  # or a piece of it
        "{{ secrets[token | lower] }}",
        "{{ token | attr(token) | upper }}",
        "{{ token ~ 1 / 0 }}",
        "{{ token + 1 }}",
        "{{ secrets['db/password'][99] }}",
        "{{ token.nope }}",
        "{{ (token | list)[0:4] | join | int + [] }}",
    ],
)
def test_runtime_errors_never_quote_a_value(text: str) -> None:
    message = failure(text)
    assert message.startswith("/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: line 1")
    for value in VALUES.values():
        pieces = {value[start : start + 4] for start in range(len(value) - 3)}
        assert not any(piece in message for piece in pieces), "a value leaked into the error"


def test_runtime_errors_name_the_line_its_text_and_the_kind_of_failure() -> None:
    assert failure("ok\n  {{ token.nope }}  \n") == (
        "/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: line 2: `{{ token.nope }}`"
        " looks up a name, key or attribute that does not exist"
    )
    assert failure("{{ 1 // (token | length - 15) }}").endswith("divides by zero")
    assert failure("{{ token + 1 }}").endswith("`{{ token + 1 }}` fails (TypeError)")
    long_line = "{{ token.nope }}" + "x" * 100
    assert failure(long_line).endswith(f"line 1: `{long_line[:59]}…` looks up a name, key or"
                                       " attribute that does not exist")
    message = failure("{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}", source="/srv/t.j2")
    assert message.startswith("/srv/t.j2:1: templates.t: `{% macro f() %}")
    assert message.endswith("recurses too deeply")


# A value with a quote and a backslash: Jinja quotes it in double quotes, backslash doubled.
QUOTED = {"a": "Pa'ss\\word-4f1c9e", "b": "it's-b-7d2a"}


@pytest.mark.parametrize(
    "text",
    [
        "{{ secrets[a] }}",  # a typo for secrets["a"]: the lookup key is a's value
        "{{ {}[b|upper] }}",
        "{{ {}[b[1:]] }}",
        "{{ {}[a ~ b] }}",
        "{{ a.nope }}",
        "{{ (a ~ '{}').format() }}",
        "{{ ('{' ~ a ~ '}').format() }}",  # KeyError quoting the value
        "{{ a % 1 }}",  # ValueError quoting a character of the value and its index
        "{{ a | format(1) }}",
        "{{ a.encode(a) }}",  # LookupError: unknown encoding <the value>
    ],
)
def test_a_value_with_quotes_and_backslashes_is_never_quoted(text: str) -> None:
    compiled, problems = jinja.compile_template(spec(text), list(QUOTED))
    assert not problems
    assert compiled is not None
    with pytest.raises(ManifestError) as caught:
        jinja.render(compiled, QUOTED)
    error = caught.value
    assert error.__context__ is None
    assert error.__cause__ is None
    shown = "".join(traceback.format_exception(error))
    for value in QUOTED.values():
        pieces = {value[i : i + 4] for i in range(len(value) - 3)} - {"word"}
        assert not any(piece in shown for piece in pieces), "a value leaked into the error"


def test_filters() -> None:
    assert render("{{ token | shell }}", {"token": "it's"}) == "'it'\\''s'"
    assert render("{{ token | env }}", {"token": 'a"$b'}) == '"a\\"\\$b"'
    assert render("{{ token | systemd_env }}", {"token": "x"}) == '"x"'
    assert render("{{ token | json }}", {"token": 'é"\n'}) == '"é\\"\\n"'
    assert render("{{ 5 | json }}{{ 7 | shell }}", {}) == "5'7'"


@pytest.mark.parametrize(
    ("function", "value", "fragment"),
    [
        (shell_quote, "a\0b", "NUL"),
        (env_quote, "a\0b", "NUL"),
        (env_quote, "a\udcffb", "UTF-8"),
        (json_quote, "a\udcffb", "UTF-8"),
        (json_quote, object(), "cannot write object"),
        (shell_quote, ["x"], "not list"),
        (shell_quote, True, "not bool"),
    ],
)
def test_filters_refuse_what_they_cannot_quote(function: object, value: object, fragment: str) -> None:
    with pytest.raises(FilterError) as caught:
        function(value)  # type: ignore[operator]
    assert fragment in caught.value.message


def test_filter_errors_in_a_template_name_the_line() -> None:
    compiled, _ = jinja.compile_template(spec("x\n{{ token | shell }}"), ["token"])
    assert compiled is not None
    with pytest.raises(ManifestError) as caught:
        jinja.render(compiled, {"token": "a\0-SECRET"})
    assert caught.value.message.endswith("line 2: the shell filter cannot pass a NUL character to a shell")
    assert caught.value.__context__ is None, "the error chains the filter's"
    assert caught.value.__cause__ is None


# --- size limits (secretsctl.render.sandbox) -------------------------------------------------

BIG_INTEGER = "makes an integer of more than 4096 bits"
LONG_TEXT = "makes text or a list longer than 16777216 characters or items"
BIG_SIZE = "asks for a width or count above 1048576"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("{{ 10 ** 5000 }}", BIG_INTEGER),  # folded while compiling, before: int->str ValueError
        ("{{ 10 ** 20000000 }}", BIG_INTEGER),  # before: ~36 s of CPU
        ("{{ 3 ** 2600 }}", BIG_INTEGER),  # under the estimate, over once computed
        ("{{ (2 ** 4000) * (2 ** 4000) }}", BIG_INTEGER),
        ('{{ "a" * 10**9 }}', LONG_TEXT),
        ("{{ [1, 2] * 10**8 }}", LONG_TEXT),
        ('{{ "x"|center(10**9) }}', BIG_SIZE),
        ('{{ "x"|center(1000000000) }}', BIG_SIZE),  # a constant: jinja2 tries to fold it
        ('{{ "%999999999d" % 1 }}', BIG_SIZE),
        ('{{ "%*d" % (10**8, 1) }}', BIG_SIZE),
        ('{{ "%999999999s"|format("x") }}', BIG_SIZE),
        ('{{ "{:>999999999}".format(1) }}', BIG_SIZE),
        ('{{ "{:>{}}".format(1, 10**8) }}', BIG_SIZE),
        ('{{ "x".ljust(10**9) }}', BIG_SIZE),
        ("{{ [1]|batch(10**8, 0)|list }}", BIG_SIZE),
        ("{{ lipsum(10**6) }}", BIG_SIZE),
        ('{{ range(100000)|join("x" * 1000) }}', LONG_TEXT),
        ('{{ ("a" * 100000)|replace("a", "b" * 1000) }}', LONG_TEXT),
        ('{{ ("a" * 100000).replace("a", "b" * 1000) }}', LONG_TEXT),
        ('{{ ("a\\n" * 100000)|indent("x" * 1000) }}', LONG_TEXT),
        (
            '{% set ns = namespace(s="ab") %}{% for i in range(40) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            LONG_TEXT,
        ),
    ],
)
def test_sizes_are_bounded_and_named_by_line(text: str, what: str) -> None:
    message = failure(f"ok\n{text}\n")
    assert message == f"/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: line 2: `{text[:59] + '…' if len(text) > 60 else text}` {what}"


def test_the_output_is_bounded() -> None:
    message = failure('{% for i in range(100000) %}{{ "x" * 1000 }}{% endfor %}')
    assert message == f"/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: the template {LONG_TEXT}"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{{ " + "1" * 5000 + " }}", "ValueError"),  # int() refuses more than 4300 digits
        ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "RecursionError"),
    ],
)
def test_a_template_too_large_to_compile_is_a_configuration_error(text: str, kind: str) -> None:
    compiled, problems = jinja.compile_template(spec(text), list(VALUES))
    assert compiled is None
    assert [p.message for p in problems] == [
        f"/etc/secretsctl/secretsctl.yaml:8:14: templates.t.content: the template cannot be compiled ({kind})"
    ]


def test_ordinary_arithmetic_and_sizes_still_work() -> None:
    values = {"n": "12", "token": "abc"}
    assert render("{{ 2 ** 10 }} {{ n | int * 3 }} {{ 2 ** 4095 > 0 }} {{ -7 // 2 }} {{ 7 % 3 }}", values) == (
        "1024 36 True -4 1"
    )
    assert render('{{ "%5d|%-4s|" % (3, token) }}{{ "{:>5}".format(token) }}', values) == "    3|abc |  abc"
    assert render('{{ token|center(7) }}|{{ token.ljust(5) }}|{{ "x" * 3 }}|{{ [0] * 2 }}', values) == (
        "  abc  |abc  |xxx|[0, 0]"
    )
    assert render('{{ token ~ n }} {{ range(3)|join(", ") }} {{ token|replace("b", "BB") }}', values) == (
        "abc12 0, 1, 2 aBBc"
    )
    assert render("{{ [1, 2, 3]|batch(2)|list }} {{ 1700000000|default(0) }}", values) == "[[1, 2], [3]] 1700000000"
    assert render('{{ ("x" * 1048576) | length }}', values) == "1048576"
