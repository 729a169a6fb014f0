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
        for start in range(len(value) - 3):
            assert value[start : start + 4] not in message


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

