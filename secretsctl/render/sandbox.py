"""The sandbox Jinja templates render in: jinja2's immutable sandbox, with bounded sizes.

Why: Python computes what it is asked to. ``{{ 10 ** 20000000 }}`` costs half a minute of CPU
(Jinja folds it while compiling) and then a number too long to print; ``{{ "a" * 10**9 }}`` a
gigabyte. A template is configuration, so passing a limit is a configuration error naming
the template and line (:class:`TooLarge`, which :mod:`secretsctl.render.jinja` reports),
checked before the work is done wherever the size can be told in advance.

Limits, generous for real templates:

- integers: at most :data:`MAX_INT_BITS` (4096) bits, as operands and results of arithmetic,
  and as results of filters and methods;
- text and lists: at most :data:`MAX_LENGTH` (16 Mi) characters or items, as results of
  operators (``+``, ``*``, ``%``, ``~``), filters and methods, and as the rendered output;
- sizes: an integer argument of a filter or of a method of text (a width, a count:
  ``center(n)``, ``batch(n)``, ``"x".ljust(n)``) at most :data:`MAX_SIZE_ARGUMENT` (1 Mi),
  and so is a width or precision in a format (``"%5d" % n``, ``"{:>5}".format(n)``,
  ``format``); the filters whose arguments are values rather than sizes (``default``,
  ``format``, ``int``, ``float``, ``round``, ``sum``) take any integer;
- ``lipsum(n, …, max)``: at most :data:`MAX_SIZE_ARGUMENT` words.

Operators the sandbox intercepts are never folded while compiling
(``jinja2.nodes.BinExpr.as_const``), and a filter that refuses is not folded either, so every
limit is met while rendering, where the error has a line. jinja2's own limit stays: ``range``
gives at most 100 000 numbers.

This module imports jinja2: :mod:`secretsctl.render.jinja` imports it only for a template
that needs jinja2.
"""

from __future__ import annotations

import functools
import re
import string
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.nodes import Concat
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

__all__ = ["MAX_INT_BITS", "MAX_LENGTH", "MAX_SIZE_ARGUMENT", "BoundedSandbox", "TooLarge"]

MAX_INT_BITS: Final = 4096
MAX_LENGTH: Final = 16 * 1024 * 1024
MAX_SIZE_ARGUMENT: Final = 1024 * 1024

# What a template did, said after its line (fixed words: never a value).
BIG_INTEGER: Final = f"makes an integer of more than {MAX_INT_BITS} bits"
LONG_TEXT: Final = f"makes text or a list longer than {MAX_LENGTH} characters or items"
BIG_SIZE: Final = f"asks for a width or count above {MAX_SIZE_ARGUMENT}"

_SIZED: Final = (str, list, tuple, dict)
# Filters whose integer arguments are values, not sizes.
_VALUE_FILTERS: Final = frozenset(("default", "d", "format", "int", "float", "round", "sum"))
_PERCENT_SPEC: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?", re.ASCII)
_DIGITS: Final = re.compile(r"\d+", re.ASCII)


class TooLarge(Exception):
    """A template passed a size limit; ``what`` says which, in fixed words."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def check_result(value: Any) -> Any:
    """Return ``value``, or raise :class:`TooLarge` for an integer or text over the limits."""
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise TooLarge(BIG_INTEGER)
    elif isinstance(value, _SIZED) and len(value) > MAX_LENGTH:
        raise TooLarge(LONG_TEXT)
    return value


def _check_length(estimate: int) -> None:
    if estimate > MAX_LENGTH:
        raise TooLarge(LONG_TEXT)


def _check_sizes(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and abs(value) > MAX_SIZE_ARGUMENT:
            raise TooLarge(BIG_SIZE)


def _check_digits(text: str) -> None:
    for digits in _DIGITS.findall(text):
        if len(digits) > 7 or int(digits) > MAX_SIZE_ARGUMENT:
            raise TooLarge(BIG_SIZE)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    for operand in (left, right):
        if isinstance(operand, int) and operand.bit_length() > MAX_INT_BITS:
            raise TooLarge(BIG_INTEGER)
    if operator == "**":
        # left ** right has at least right * (bits(left) - 1) + 1 bits
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and right * (abs(left).bit_length() - 1) >= MAX_INT_BITS
        ):
            raise TooLarge(BIG_INTEGER)
    elif operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                _check_length(len(sequence) * count)
    elif operator == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _check_length(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def check_percent_format(text: str, arguments: Any) -> None:
    """Refuse a ``%`` format whose widths or precisions, given or taken (``*``), are too big."""
    taken = False
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.group(1, 2):
            if number == "*":
                taken = True
            elif number:
                _check_digits(number)
    if taken:
        _check_sizes(arguments if isinstance(arguments, tuple) else (arguments,))


def _check_format_template(template: str, arguments: Iterable[Any]) -> None:
    nested = False
    for _, _, spec, _ in string.Formatter().parse(template):
        if spec:
            nested = nested or "{" in spec
            _check_digits(spec)
    if nested:  # widths taken from the arguments
        for value in arguments:
            if isinstance(value, str):
                _check_digits(value)
            else:
                _check_sizes((value,))


def _replaced_length(text: str, old: str, new: str, count: int | None) -> int:
    found = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * len(new)


def _argument(options: tuple[Any, ...], kwargs: Mapping[str, Any], at: int, name: str) -> Any:
    if len(options) > at:
        return options[at]
    return kwargs.get(name)


def _estimate_filter(name: str, value: Any, options: tuple[Any, ...], kwargs: Any) -> None:
    """Refuse a filter call whose result would be too long, before it is computed."""
    if name == "format":
        check_percent_format(str(value), options or tuple(kwargs.values()))
    elif name == "join" and isinstance(value, _SIZED):
        separator = _argument(options, kwargs, 0, "d") or ""
        _check_length(len(str(separator)) * len(value))
    elif name == "replace":
        old, new, count = (
            _argument(options, kwargs, at, key) for at, key in enumerate(("old", "new", "count"))
        )
        if isinstance(count, int) or count is None:
            _check_length(_replaced_length(str(value), str(old), str(new), count))
    elif name == "indent":
        width = _argument(options, kwargs, 0, "width")
        prefix = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
        _check_length(len(str(value)) + (str(value).count("\n") + 1) * prefix)
    elif name == "wordwrap":
        wrapstring = _argument(options, kwargs, 2, "wrapstring")
        if isinstance(wrapstring, str):
            _check_length((len(str(value)) + 1) * (len(wrapstring) + 1))


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: size arguments and an estimate checked before, the result after."""
    leading = 2 if hasattr(function, "jinja_pass_arg") else 1  # context/environment, value
    sizes = name not in _VALUE_FILTERS

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        options = args[leading:]
        if sizes:
            _check_sizes(options)
            _check_sizes(kwargs.values())
        if len(args) >= leading:
            _estimate_filter(name, args[leading - 1], options, kwargs)
        return check_result(function(*args, **kwargs))

    return bounded


def _estimate_text_method(text: str, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    if name == "join" and args and isinstance(args[0], _SIZED):
        _check_length(len(text) * len(args[0]))
    elif name == "replace" and len(args) >= 2:
        count = _argument(args, kwargs, 2, "count")
        if isinstance(count, int) or count is None:
            _check_length(_replaced_length(text, str(args[0]), str(args[1]), count))
    elif name == "expandtabs":
        size = _argument(args, kwargs, 0, "tabsize")
        if isinstance(size, int):
            _check_length(len(text) + text.count("\t") * size)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to the environment's bounded join instead of jinja2's own."""

    @optimizeconst
    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)  # Markup joins: no autoescape here, never used
            return
        self.write("environment.join_text((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with the size limits of this module."""

    intercepted_binops = frozenset(("+", "-", "*", "/", "//", "%", "**"))
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, filters: Mapping[str, Callable[..., Any]], **options: Any) -> None:
        super().__init__(**options)
        self.filters.update(filters)
        self.filters = {name: bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Do an arithmetic operator, refusing results over the limits (before, if it can)."""
        _check_binop(operator, left, right)
        return check_result(self.binop_table[operator](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call a function or method; size arguments checked before, the result after."""
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
            _check_sizes(args)
            _check_sizes(kwargs.values())
            _estimate_text_method(owner, obj.__name__, args, kwargs)
        elif obj is generate_lorem_ipsum:
            _check_sizes(args)
            _check_sizes(kwargs.values())
            paragraphs = _argument(args, kwargs, 0, "n")
            words = _argument(args, kwargs, 3, "max")
            paragraphs = paragraphs if isinstance(paragraphs, int) else 5
            words = words if isinstance(words, int) else 100
            if paragraphs * words > MAX_SIZE_ARGUMENT:
                raise TooLarge(BIG_SIZE)
        return check_result(super().call(context, obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox ``str.format`` as jinja2 does, refusing widths over the limit."""
        format_text = super().wrap_str_format(value)
        if format_text is None:
            return None
        template: str = value.__self__
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map and args and isinstance(args[0], Mapping):
                _check_format_template(template, args[0].values())
            else:
                _check_format_template(template, (*args, *kwargs.values()))
            result: str = check_result(format_text(*args, **kwargs))
            return result

        return bounded

    def concat(self, parts: Iterable[str]) -> str:
        """Join rendered text (the output, a block, a macro) of at most :data:`MAX_LENGTH`."""
        pieces: list[str] = []
        length = 0
        for part in parts:
            length += len(part)
            if length > MAX_LENGTH:
                raise TooLarge(LONG_TEXT)
            pieces.append(part)
        return "".join(pieces)

    def join_text(self, parts: Iterable[Any]) -> str:
        """Join the parts of ``a ~ b`` as text, within :data:`MAX_LENGTH`."""
        return self.concat(map(str, parts))
