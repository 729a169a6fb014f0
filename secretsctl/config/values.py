"""Typed values of the configuration's YAML nodes, each problem kept as a one-line error.

A :class:`ValueReader` reads strings, paths, numbers, booleans, modes, unit lists, formats and
mappings of known fields from the nodes of :mod:`secretsctl.config._yaml`, and collects every
problem as a :class:`~secretsctl.errors.ManifestError` naming the file, the line and column,
and the field. Plain scalars follow YAML 1.2's core schema (``yes`` is a string, ``0440`` is
not octal), which is why a mode is read from its written digits.
"""

from __future__ import annotations

import os

from secretsctl.config._yaml import MAP, SCALAR, SEQ, Node, YMap
from secretsctl.config.validate import (
    check_mode_bits,
    check_unit,
    parse_octal,
    path_error,
    shorten,
)
from secretsctl.errors import InputLimitError, ManifestError, SecretsctlError
from secretsctl.limits import read_file
from secretsctl.paths import normal_runtime_path
from secretsctl.sops.stores import Format

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

FORMATS: Final = {fmt.value: fmt for fmt in Format}
# YAML 1.2 core schema: which plain scalars are not strings.
NULLS: Final = frozenset(("", "~", "null", "Null", "NULL"))
BOOLS: Final = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
                 "FALSE": False}  # fmt: skip
_TYPED_START: Final = frozenset("0123456789+-.~nNtTfF")
# Words that are neither null nor boolean are strings, so only text starting with one of these,
# and written with the characters of numbers only, can be a number. The patterns below are
# compiled (and cached by re) on first use: the boot path rarely needs them.
_NUMBER_START: Final = frozenset("0123456789+-.")
_NUMBER_CHARS: Final = frozenset("0123456789+-.eEoxabcdfABCDFinNI")
_FIELD_LIKE: Final = r"[a-z][a-z_]{0,23}"
_INT: Final = r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
_FLOAT: Final = (
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN)"
)


def plain_type(text: str) -> str | None:
    """Name the type a plain scalar resolves to, or None for a string."""
    if not text:
        return "null"
    if text[0] not in _TYPED_START:
        return None
    if text in NULLS:
        return "null"
    if text in BOOLS:
        return "a boolean"
    if text[0] not in _NUMBER_START or not _NUMBER_CHARS.issuperset(text):
        return None
    import re  # only for text that looks like a number: the boot path does without re

    if re.fullmatch(_INT, text):
        return "an integer"
    if re.fullmatch(_FLOAT, text):
        return "a number"
    return None


def describe(node: Node) -> str:
    """Name the type of a node for a message (``a mapping``, ``an integer``, …)."""
    kind = node[0]
    if kind == MAP:
        return "a mapping"
    if kind == SEQ:
        return "a list"
    if node[4]:
        return plain_type(node[1]) or "a string"
    return "a string"


def is_null(node: Node) -> bool:
    """Whether a node is YAML's null (``~``, ``null``, or nothing)."""
    return node[0] == SCALAR and node[4] and node[1] in NULLS


class ValueReader:
    """Reads typed values of one configuration file and collects their problems."""

    def __init__(self, path: str) -> None:
        self.file = path
        self.base = os.path.dirname(os.path.abspath(path))
        self.problems: list[SecretsctlError] = []
        self.sources: dict[str, str | None] = {}
        self.unit_cache: dict[tuple[tuple[str, bool], ...], tuple[str, ...]] = {}

    def fail(self, node: Node, label: str, message: str) -> None:
        """Keep a problem of the field ``label`` at ``node``'s position."""
        self.problems.append(ManifestError(f"{self.file}:{node[2]}:{node[3]}: {label}: {message}"))

    def wrong_type(self, node: Node, label: str, expected: str, hint: str = "") -> None:
        """Keep a problem: the node is not of the ``expected`` type."""
        self.fail(node, label, f"expected {expected}, found {describe(node)}{hint}")

    def fields(self, node: Node, label: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """Return the non-null fields of a mapping; report unknown and repeated ones."""
        if node[0] != MAP:
            if is_null(node):
                return {}
            self.wrong_type(node, label, "a mapping")
            return {}
        entries: YMap = node[1]
        if entries.duplicates:
            for key, first in entries.duplicates:
                self.fail(key, f"{label}.{key[1]}", f"repeated (first at line {first[2]})")
        found: dict[str, Node] = {}
        for name, (key, value) in entries.items():
            if name not in allowed:
                self.unknown(key, label, name, allowed)
            elif value[0] != SCALAR or not value[4] or value[1] not in NULLS:
                found[name] = value
        return found

    def unknown(self, key: Node, label: str, name: str, allowed: tuple[str, ...]) -> None:
        """Keep a problem: an unknown field, with the closest known one as a hint."""
        import difflib
        import re

        if name == "<<":
            self.fail(key, label, "YAML merge keys (<<) are not supported; use defaults:")
            return
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f" (known: {', '.join(allowed)})"
        if close or re.fullmatch(_FIELD_LIKE, name):
            self.fail(key, f"{label}.{name}", f"unknown field{hint}")
        else:
            # A key that looks nothing like a field may be a value pasted in the wrong place.
            self.fail(key, label, f"an unknown field, whose name is not shown{hint}")

    def string(
        self, node: Node, label: str, expected: str = "a string", hint: str = ""
    ) -> str | None:
        """Read a string; a plain scalar of another type (``12``, ``true``) is a problem."""
        if node[0] == SCALAR and (not node[4] or plain_type(node[1]) is None):
            text: str = node[1]
            return text
        self.wrong_type(node, label, expected, hint)
        return None

    def input_path(self, node: Node, label: str) -> str | None:
        """Read an input file's path; a relative one resolves against the configuration's folder."""
        text = self.string(node, label, "a path")
        if text is None:
            return None
        if not text or "\0" in text:
            self.fail(node, label, "expected a path")
            return None
        return os.path.normpath(os.path.join(self.base, text))

    def runtime_path(self, node: Node, label: str) -> str | None:
        """Read an absolute path under the runtime folders (a secret's ``path``)."""
        text = self.string(node, label, "an absolute path")
        if text is None:
            return None
        error = path_error(f"{self.file}:{node[2]}:{node[3]}: {label}", text)
        if error is not None:
            self.problems.append(error)
            return None
        return normal_runtime_path(text)

    def integer(self, node: Node, label: str, maximum: int) -> int | None:
        """Read a whole number from 0 to ``maximum``, written in decimal."""
        text = node[1] if node[0] == SCALAR else ""
        if not text.isdigit() or not text.isascii():
            if text[:1] == "-" and text[1:].isdigit():
                self.fail(node, label, "must not be negative")
            else:
                self.wrong_type(node, label, "a whole number")
            return None
        if len(text) > 1 and text[0] == "0":
            self.fail(node, label, f"write `{shorten(text)}` without leading zeros")
            return None
        value = int(text)
        if value > maximum:
            self.fail(node, label, f"{value} is out of range (at most {maximum})")
            return None
        return value

    def boolean(self, node: Node, label: str) -> bool | None:
        """Read ``true`` or ``false``."""
        if node[0] == SCALAR and node[4] and node[1] in BOOLS:
            return BOOLS[node[1]]
        self.wrong_type(node, label, "true or false")
        return None

    def mode(self, node: Node, label: str) -> int | None:
        """Read a mode from its written digits, quoted or not: ``0440``, ``"440"``, ``0o440``."""
        if node[0] != SCALAR:
            self.wrong_type(node, label, 'an octal mode such as "0440"')
            return None
        text: str = node[1]
        value = parse_octal(text[2:] if text[:2] == "0o" else text)
        if value is None:
            self.fail(node, label, f'`{shorten(text)}` is not an octal mode such as "0440"')
            return None
        message = check_mode_bits(value)
        if message is not None:
            self.fail(node, label, message)
            return None
        return value

    def units(self, node: Node, label: str) -> tuple[str, ...]:
        """Read a list of systemd unit names; identical lists are read once."""
        items = self.list_items(node, label, "a list of unit names", " (write [name.service])")
        if not items:
            return ()
        signature = tuple((item[1], item[4]) for item in items if item[0] == SCALAR)
        found = self.unit_cache.get(signature) if len(signature) == len(items) else None
        if found is not None:
            return found
        result = tuple(self.checked_strings(items, label, "a unit name", check_unit, False))
        if len(result) == len(items):  # all valid, so no problem is lost by caching
            self.unit_cache[signature] = result
        return result

    def list_items(
        self, node: Node | None, label: str, expected: str, hint: str = ""
    ) -> list[Node]:
        """Return the items of a list; nothing for a missing node or (a problem) another kind."""
        if node is None:
            return []
        if node[0] != SEQ:
            self.wrong_type(node, label, expected, hint)
            return []
        items: list[Node] = node[1]
        return items

    def checked_strings(
        self,
        items: list[Node],
        label: str,
        what: str,
        check: Callable[[str], str | None],
        quote: bool,
    ) -> list[str]:
        """Read the strings that ``check`` finds no problem with; quote the others' text."""
        found = []
        for item in items:
            text = self.string(item, label, what)
            if text is None:
                continue
            message = check(text)
            if message is not None:
                self.fail(item, label, f"`{shorten(text)}`: {message}" if quote else message)
            else:
                found.append(text)
        return found

    def fmt(self, node: Node, label: str) -> Format | None:
        """Read a sops file format."""
        text = self.string(node, label, "a format")
        if text is None:
            return None
        fmt = FORMATS.get(text)
        if fmt is None:
            self.fail(
                node,
                label,
                f"unknown format `{shorten(text)}` (one of: yaml, json, binary, dotenv, ini)",
            )
        return fmt

    def keyservices(self, node: Node | None, label: str) -> tuple[str, ...]:
        """Read a list of sops key service URIs (``unix:///path``, ``tcp://host:port``)."""
        items = self.list_items(node, label, "a list of key service URIs")
        if not items:
            return ()
        from secretsctl.keyservice.client import uri_problem

        return tuple(self.checked_strings(items, label, "a key service URI", uri_problem, True))

    def paths(self, node: Node | None, label: str) -> tuple[str, ...]:
        """Read a list of input paths."""
        found = (
            self.input_path(item, label) for item in self.list_items(node, label, "a list of paths")
        )
        return tuple(path for path in found if path is not None)

    def entries(self, node: Node | None, section: str) -> list[tuple[Node, Node]]:
        """Read the named entries of a section; a name given twice is a problem."""
        if node is None:
            return []
        if node[0] != MAP:
            self.wrong_type(node, section, "a mapping of names")
            return []
        entries: YMap = node[1]
        for key, first in entries.duplicates or ():
            self.fail(key, f"{section}.{key[1]}", f"defined twice (first at line {first[2]})")
        return list(entries.values())

    def read_source(self, node: Node, label: str, path: str) -> str | None:
        """Read a template's source file as UTF-8 text (each path once)."""
        if path in self.sources:
            return self.sources[path]
        text: str | None = None
        try:
            data = read_file(path)
        except OSError as error:
            self.fail(node, label, f"cannot read {path}: {error.strerror or type(error).__name__}")
        except InputLimitError as error:
            self.fail(node, label, error.message)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                self.fail(node, label, f"{path} is not UTF-8 text (line {line})")
        self.sources[path] = text
        return text
