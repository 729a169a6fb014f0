r"""Jinja templates for ``secretsctl.yaml``: sandboxed, strict, with quoting filters.

The environment is jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with
:class:`~jinja2.StrictUndefined` (a missing name is an error, never an empty string), no
autoescaping, and the final newline kept. A template sees every secret by name as a string
(``{{ github_token }}``), and all of them in the mapping ``secrets``, which also reaches names
that are not identifiers (``{{ secrets["db/password"] }}``); a secret named ``secrets`` is
reachable only through the mapping. Filters for the quoting people need:

- ``shell``: a POSIX shell word in single quotes (``'it'\''s'``);
- ``env`` (also ``systemd_env``): a double-quoted value for a systemd ``EnvironmentFile=``
  (:func:`secretsctl.envfile.quote`);
- ``json``: a JSON string (or any JSON value), not HTML-escaped as ``tojson`` is.

Problems never quote a value. Names a template uses are checked before anything is rendered
(:func:`compile_template`), so an unknown secret is reported from the template's text. An
error while rendering is rebuilt from the template alone: its line, that line's text, and
fixed words for the kind of error; never the exception's message, which Jinja and Python
build from the values (``'dict object' has no attribute "<the value>"``).

Templates render in :class:`secretsctl.render.sandbox.BoundedSandbox`, which bounds numbers,
text and sizes (``{{ 10 ** 5000 }}`` is a configuration error, not minutes of CPU).

jinja2 costs ~30 ms to import, so it is imported only for a template that needs it: text,
comments and ``{{ name | filter }}`` (the shipped templates) are rendered by a small reader
that gives exactly Jinja's output (property-tested), and the filters are plain functions.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from secretsctl.config.model import TemplateSpec
from secretsctl.envfile import EnvFileError, quote
from secretsctl.errors import ManifestError, SecretsctlError

__all__ = [
    "FilterError",
    "JinjaTemplate",
    "compile_template",
    "env_quote",
    "json_quote",
    "render",
    "shell_quote",
]

SECRETS_MAPPING: Final = "secrets"
_TEMPLATE_FILENAME: Final = "<template>"


class FilterError(SecretsctlError):
    """A filter cannot quote its value; the message says why without quoting it."""


def _text(value: object, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise FilterError(f"the {name} filter quotes text, not {type(value).__name__}")


def shell_quote(value: object) -> str:
    r"""Quote text as one POSIX shell word: single quotes, each ``'`` written ``'\''``."""
    text = _text(value, "shell")
    if "\0" in text:
        raise FilterError("the shell filter cannot pass a NUL character to a shell")
    return "'" + text.replace("'", "'\\''") + "'"


def env_quote(value: object) -> str:
    """Quote text as a systemd ``EnvironmentFile=`` value (see :mod:`secretsctl.envfile`)."""
    try:
        return quote(_text(value, "env"))
    except EnvFileError as error:
        raise FilterError(f"the env filter: {error.message}") from None


def json_quote(value: object) -> str:
    """Write a value as JSON (a string becomes a JSON string); non-ASCII text stays as is."""
    try:
        text = _json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError("the json filter: the value is not valid UTF-8 text") from None
    except (TypeError, ValueError) as error:
        raise FilterError(f"the json filter cannot write {type(value).__name__}") from error
    return text


FILTERS: Final = {
    "shell": shell_quote,
    "env": env_quote,
    "systemd_env": env_quote,
    "json": json_quote,
}

_ENVIRONMENT: list[Any] = []


def environment() -> Any:
    """Return the one sandboxed environment (created, and jinja2 imported, on first use)."""
    if not _ENVIRONMENT:
        from jinja2 import StrictUndefined

        from secretsctl.render.sandbox import BoundedSandbox

        env = BoundedSandbox(
            FILTERS,
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        _ENVIRONMENT.append(env)
    return _ENVIRONMENT[0]


class JinjaTemplate:
    """A compiled template and the secret names its text uses.

    (A plain class: a dataclass would cost ~1 ms of import time at boot.)
    """

    __slots__ = ("dynamic", "names", "spec", "template")

    def __init__(
        self, spec: TemplateSpec, template: Any, names: frozenset[str], dynamic: bool
    ) -> None:
        self.spec = spec
        self.template = template  # a jinja2 Template, or the substitution-only reader's
        self.names = names  # secrets named in the text, directly or as secrets["…"]
        self.dynamic = dynamic  # the text also looks secrets up by computed names

    def __repr__(self) -> str:
        return f"JinjaTemplate({self.spec.name!r}, names={sorted(self.names)!r})"


def where(spec: TemplateSpec, line: int | None) -> str:
    """Name a line of a template: ``source:line: templates.x`` or the inline content's place."""
    label = spec.origin.path or f"templates.{spec.name}"
    if spec.source is not None:
        place = f"{spec.source}:{line}" if line is not None else spec.source
        return f"{place}: {label}"
    inline = spec.origin.of("content")
    return f"{inline}: line {line}" if line is not None else inline


def _names(ast: Any, known: Collection[str]) -> tuple[dict[str, int], dict[str, int], bool]:
    """Return (names used, unknown names) with their first lines, and whether any is dynamic."""
    from jinja2 import meta, nodes

    undeclared = meta.find_undeclared_variables(ast)
    used: dict[str, int] = {}
    unknown: dict[str, int] = {}
    mapping_uses = 0
    constant_uses = 0
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name in undeclared:
            if node.name == SECRETS_MAPPING:
                mapping_uses += 1
                continue
            target = used if node.name in known else unknown
            target.setdefault(node.name, node.lineno)
    if SECRETS_MAPPING in undeclared:
        for node in ast.find_all((nodes.Getitem, nodes.Getattr)):
            base = node.node
            if not (isinstance(base, nodes.Name) and base.name == SECRETS_MAPPING):
                continue
            if isinstance(node, nodes.Getattr):
                name: object = node.attr
            elif isinstance(node.arg, nodes.Const):
                name = node.arg.value
            else:
                continue
            if not isinstance(name, str):
                continue
            constant_uses += 1
            target = used if name in known else unknown
            target.setdefault(name, node.lineno)
    return used, unknown, mapping_uses > constant_uses


def compile_template(
    spec: TemplateSpec, known: Collection[str]
) -> tuple[JinjaTemplate | None, list[ManifestError]]:
    """Compile ``spec`` and check that it names only secrets in ``known``.

    Returns the template (None when it cannot be used) and its problems: a syntax error, an
    unknown name, an ``include``/``import``/``extends`` (templates stand alone), a template
    too large or too deeply nested to compile.
    """
    simple = _Simple.parse(spec.text)
    if simple is not None:
        unknown = {name: line for name, line in simple.names.items() if name not in known}
        if unknown:
            return None, [
                ManifestError(f"{where(spec, line)}: {_unknown_name(name, known)}")
                for name, line in unknown.items()
            ]
        return JinjaTemplate(spec, simple, frozenset(simple.names), False), []
    try:
        return _compile_jinja(spec, known)
    except (ValueError, OverflowError, MemoryError, RecursionError) as error:
        # e.g. a number literal of more than 4300 digits, or thousands of nested brackets
        kind = type(error).__name__
    return None, [ManifestError(f"{where(spec, None)}: the template cannot be compiled ({kind})")]


def _compile_jinja(
    spec: TemplateSpec, known: Collection[str]
) -> tuple[JinjaTemplate | None, list[ManifestError]]:
    from jinja2 import TemplateSyntaxError, nodes

    env = environment()
    try:
        ast = env.parse(spec.text)
    except TemplateSyntaxError as error:
        return None, [ManifestError(f"{where(spec, error.lineno)}: {error.message}")]
    problems: list[ManifestError] = []
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        problems.append(
            ManifestError(
                f"{where(spec, node.lineno)}: templates cannot include, import or extend"
                " other templates"
            )
        )
    used, unknown, dynamic = _names(ast, known)
    for name, line in unknown.items():
        problems.append(ManifestError(f"{where(spec, line)}: {_unknown_name(name, known)}"))
    if problems:
        return None, problems
    try:
        template = env.from_string(ast)
    except TemplateSyntaxError as error:  # pragma: no cover - parse already succeeded
        return None, [ManifestError(f"{where(spec, error.lineno)}: {error.message}")]
    return JinjaTemplate(spec, template, frozenset(used), dynamic), []


def _unknown_name(name: str, known: Collection[str]) -> str:
    import difflib

    shown = name if len(name) <= 60 else name[:59] + "…"
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"'{shown}' is not a secret of this configuration{hint}"


def render(compiled: JinjaTemplate, values: Mapping[str, str]) -> str:
    """Render with every secret as a variable and in ``secrets``.

    Raises :class:`ManifestError` naming the template and line, with that line's text and
    fixed words for what went wrong; never text computed from a value. The error is raised
    outside the handler, so it chains nothing (no ``__context__`` holding the original).
    """
    if isinstance(compiled.template, _Simple):
        try:
            return compiled.template.render(values)
        except _SimpleFilterError as error:
            message = f"{where(compiled.spec, error.line)}: {error.message}"
        raise ManifestError(message)
    context: dict[str, Any] = dict(values)
    context[SECRETS_MAPPING] = values
    try:
        text: str = compiled.template.render(context)
    except Exception as error:  # any failure of the template's own code is a problem
        message = _runtime_message(compiled.spec, error)
        _forget(error)
    else:
        return text
    raise ManifestError(message)


def _runtime_message(spec: TemplateSpec, error: BaseException) -> str:
    """Say where a template failed and what kind of failure it was, from the template alone."""
    import traceback

    line = None
    for frame, number in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = number
    if isinstance(error, FilterError):
        return f"{where(spec, line)}: {error.message}"  # our filters' words, never a value
    snippet = _source_line(spec.text, line)
    subject = f"`{snippet}`" if snippet else "the template"
    return f"{where(spec, line)}: {subject} {_failure(error)}"


def _failure(error: BaseException) -> str:
    from jinja2.exceptions import SecurityError, UndefinedError

    from secretsctl.render.sandbox import TooLarge

    if isinstance(error, TooLarge):
        return error.what
    if isinstance(error, SecurityError):
        return "does something the sandbox forbids"
    if isinstance(error, UndefinedError):
        return "looks up a name, key or attribute that does not exist"
    if isinstance(error, ZeroDivisionError):
        return "divides by zero"
    if isinstance(error, RecursionError):
        return "recurses too deeply"
    if isinstance(error, MemoryError):
        return "needs more memory than there is"
    return f"fails ({type(error).__name__})"


_SNIPPET_LENGTH: Final = 60


def _source_line(text: str, line: int | None) -> str:
    """Return line ``line`` of the template's own text (configuration), stripped and cut short."""
    if line is None:
        return ""
    lines = _normalise(text).split("\n")
    if not 0 < line <= len(lines):
        return ""
    snippet = lines[line - 1].strip()
    if len(snippet) > _SNIPPET_LENGTH:
        snippet = snippet[: _SNIPPET_LENGTH - 1] + "…"
    return snippet.replace("`", "'")


def _forget(error: BaseException) -> None:
    """Drop the frames (and their locals: the values) of an error and of what it chains."""
    import traceback

    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        pending += [current.__cause__, current.__context__]


# --- templates that only substitute: no jinja2 import ----------------------------------------

# Names Jinja gives another meaning (constants, operators, globals, the mapping itself):
# a template using them as a variable goes to jinja2.
_RESERVED: Final = frozenset(
    (
        *("true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is"),
        *("if", "else", "elif", "for", "endfor", "block", "endblock", "extends", "include"),
        *("import", "from", "as", "with", "without", "recursive", "set", "macro", "call"),
        *("filter", "raw", "loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace"),
        *("secrets", "self", "caller", "varargs", "kwargs"),
    )
)
_NEWLINES: Final = ("\r\n", "\r")
_OPEN = re.compile(r"\{([{%#])([-+]?)")
_COMMENT_END = re.compile(r"(\+?)(-?)#\}")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_EXPRESSION = re.compile(
    rf"""\s*(?:({_NAME})|secrets\s*\[\s*(?:"([^"\\\r\n]*)"|'([^'\\\r\n]*)')\s*\]"""
    rf"""|secrets\s*\.\s*({_NAME}))((?:\s*\|\s*{_NAME})*)\s*(-?)\}}\}}"""
)
_FILTER_NAME = re.compile(_NAME)


class _SimpleFilterError(Exception):
    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line


class _Simple:
    """A template of text, comments and ``{{ name | filter }}`` only, rendered without jinja2.

    Why: jinja2 costs ~30 ms to import, and the usual template (``KEY={{ token | env }}``)
    needs none of it. :meth:`parse` accepts exactly what it renders as Jinja does (with this
    module's environment: no autoescape, final newline kept); anything else (blocks, other
    filters or expressions, ``+`` markers) returns None and goes to jinja2. Property tests
    compare both on generated templates.
    """

    __slots__ = ("names", "parts")

    def __init__(self, parts: list[Any], names: dict[str, int]) -> None:
        self.parts = parts  # text, or (name, filters, line)
        self.names = names  # secret name -> first line

    @classmethod
    def parse(cls, text: str) -> _Simple | None:
        """Return the template, or None when jinja2 must handle it."""
        if "{" not in text:
            return cls([_normalise(text)], {})
        source = _normalise(text)
        parts: list[Any] = []
        names: dict[str, int] = {}
        pos = 0
        lstrip = False
        while True:
            opening = _OPEN.search(source, pos)
            data = source[pos : opening.start() if opening else len(source)]
            if lstrip:
                data = data.lstrip()
            if opening is None:
                parts.append(data)
                return cls([p for p in parts if p != ""], names)
            kind, sign = opening.groups()
            if kind == "%" or sign == "+":
                return None
            parts.append(data.rstrip() if sign == "-" else data)
            if kind == "#":
                end = _COMMENT_END.search(source, opening.end())
                if end is None or end.group(1):
                    return None
                lstrip = end.group(2) == "-"
                pos = end.end()
                continue
            expression = _EXPRESSION.match(source, opening.end())
            if expression is None:
                return None
            name, double, single, attribute, filters, strip = expression.groups()
            if name is not None:
                if name in _RESERVED:
                    return None
            elif attribute is not None:
                if hasattr(dict, attribute):
                    return None  # Jinja would return the dict's method
                name = attribute
            else:
                name = double if double is not None else single
            chain = _FILTER_NAME.findall(filters)
            if any(f not in FILTERS for f in chain):
                return None
            line = source.count("\n", 0, opening.start()) + 1
            names.setdefault(name, line)
            parts.append((name, tuple(FILTERS[f] for f in chain), line))
            lstrip = strip == "-"
            pos = expression.end()

    def render(self, values: Mapping[str, str]) -> str:
        """Substitute ``values``; raises :class:`_SimpleFilterError` with the line."""
        out: list[str] = []
        for part in self.parts:
            if part.__class__ is str:
                out.append(part)
                continue
            name, filters, line = part
            value: Any = values[name]
            try:
                for function in filters:
                    value = function(value)
            except FilterError as error:
                raise _SimpleFilterError(error.message, line) from None
            out.append(value)
        return "".join(out)


def _normalise(text: str) -> str:
    """Turn every newline (CR LF, CR) into LF, as Jinja's lexer does."""
    if "\r" in text:
        for newline in _NEWLINES:
            text = text.replace(newline, "\n")
    return text
