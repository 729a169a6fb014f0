"""YAML to sops tree, the fast way: libyaml events (ruamel's C extension), no comments.

libyaml's parser produces the same event stream as yaml.v3's for valid input, so the tree is
built directly from it, with yaml.v3's scalar typing (:mod:`._yaml_resolve`). Files that hold
comments go through :mod:`._yaml_comments` instead, which also reproduces where yaml.v3 (and so
sops) attaches each comment.

``load_plain`` also runs the checks of sops's first pass over a plaintext file (yaml.v3
decoding its first document into a ``map[string]interface{}``): duplicate keys, keys that are
collections, merge keys whose value is not a mapping, scalars that cannot take their tag.
"""

from __future__ import annotations

from secretsctl import limits
from secretsctl.errors import ExitCode, InputError, InputLimitError
from secretsctl.sops.stores._yaml_resolve import (
    _HINTS,
    MERGE_TAG,
    ResolveError,
    _resolve_untyped,
    scalar_value,
    short_tag,
)
from secretsctl.sops.tree import Branch, Seq

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, Final

# Node kinds, as yaml.v3 numbers them (they matter for duplicate-key detection).
SCALAR: Final = 8
ALIAS: Final = 16
MAPPING: Final = 4
SEQUENCE: Final = 2

_IN_PROGRESS: Final = object()


def decode_text(data: bytes) -> str:
    """Decode the document text: UTF-8 (a leading BOM dropped) or UTF-16 with a BOM.

    Line breaks stay as they are: yaml.v3's comment scanning sees CRLF as two breaks.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("yaml: invalid UTF-16 input") from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise InputError(f"yaml: invalid UTF-8 at line {line}, column {column}") from None
    if text[:1] == "\ufeff":
        text = text[1:]
    return text


def parse_error(exc: Exception, text: str) -> InputError:
    """Turn a libyaml error into an :class:`InputError`: the problem, line and column only."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem is None:
        # A reader error: a character YAML does not allow (control characters).
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return InputError(f"yaml: line {line}, column {column}: control characters are not allowed")
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "end"
    message = f"yaml: {where}: {problem}"
    if context:
        message += f" ({context})"
    return InputError(message)


def structure_error(message: str, line: int | None = None) -> InputError:
    """Build an :class:`InputError` about the document structure (never naming a value)."""
    where = f"line {line}: " if line else ""
    return InputError(f"Error unmarshaling input YAML: {where}{message}")


def empty_file_error() -> InputError:
    """Build sops's error for a file without any document."""
    return InputError(
        "File cannot be completely empty, it must contain at least one document",
        exit_code=ExitCode.NEED_AT_LEAST_ONE_DOCUMENT,
    )


def copy_value(value: Any) -> Any:
    """Copy containers deeply (an alias is a copy of its anchor); leaves are shared."""
    cls = value.__class__
    if cls is Branch:
        return Branch([(copy_value(k), copy_value(v)) for k, v in value])
    if cls is Seq:
        return Seq([copy_value(v) for v in value])
    return value


class Strict:
    """The checks yaml.v3 makes when it decodes a document into ``map[string]interface{}``."""

    __slots__ = ("root_only",)

    def __init__(self, root_only: bool = False) -> None:
        # root_only: the lighter checks of sops's first pass over an encrypted file, which
        # decodes the first document into a struct (only its top-level keys are looked at).
        self.root_only = root_only


def too_deep_error(line: int) -> InputLimitError:
    """Build the error for nesting past :data:`~secretsctl.limits.MAX_NESTING_DEPTH`."""
    return InputLimitError(f"yaml: line {line}: {limits.TOO_DEEP}")


def too_many_aliases_error(line: int) -> InputLimitError:
    """Build the error for an alias that would expand the document past the allowed share."""
    return InputLimitError(f"yaml: line {line}: {limits.TOO_MANY_ALIASES}")


class _Frame:
    __slots__ = ("anchor", "bad", "container", "is_map", "key", "key_info", "keys", "line",
                 "marks", "merge", "values")  # fmt: skip

    def __init__(self, container: Any, is_map: bool, anchor: str | None, line: int) -> None:
        self.container = container
        self.is_map = is_map
        self.anchor = anchor
        self.line = line
        self.key: Any = _IN_PROGRESS
        self.key_info: tuple[int, str, int, int] | None = None
        self.keys: list[tuple[int, str, int, int]] = []
        # Per key: (value, kind or ALIAS, bad) for merge keys, else None.
        self.values: list[tuple[Any, int, int] | None] = []
        self.merge = False
        # The line of a merge key, inside this value, whose value cannot be merged.
        self.bad = 0
        # Counts when the container opened, for its size and height as an anchor's value.
        self.marks = (0, 0, 0)


def _strict_scalar_error(exc: ResolveError, line: int) -> InputError:
    return structure_error(str(exc), line)


def first_document_checks(first_checks: str | None) -> Strict | None:
    """Return the checker for the first document: ``"plain"``, ``"encrypted"`` or none."""
    if first_checks is None:
        return None
    return Strict(root_only=first_checks == "encrypted")


def compose_events(text: str, first_checks: str | None) -> list[tuple[Any, int, int]]:
    """Parse every document; return (root value, root kind, root line) per document.

    ``first_checks`` selects the checks sops's first pass makes on the first document:
    ``"plain"`` (``load_plain``: the whole document decoded into a map) or ``"encrypted"``
    (``load_encrypted``: its top-level keys decoded into a struct). Raises
    :class:`InputError` on a syntax error.
    """
    from _ruamel_yaml import CParser
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _compose(CParser(text), first_checks)
    except MarkedYAMLError as exc:
        raise parse_error(exc, text) from None
    except YAMLError as exc:
        raise parse_error(exc, text) from None


def _compose(parser: Any, first_checks: str | None) -> list[tuple[Any, int, int]]:
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )

    get = parser.get_event
    hints = _HINTS
    documents: list[tuple[Any, int, int]] = []
    get()  # stream start
    while True:
        event = get()
        cls = event.__class__
        if cls is StreamEndEvent:
            return documents
        if cls is not DocumentStartEvent:  # pragma: no cover - libyaml guarantees the order
            raise structure_error("unexpected event")
        version = event.version
        if version is not None and tuple(version) != (1, 1):
            raise InputError(
                f"yaml: line {event.start_mark.line + 1}: found incompatible YAML document"
            )
        strict = first_document_checks(first_checks) if not documents else None
        plain_checks = strict is not None and not strict.root_only
        # An anchor's entry: (value, kind, bad merge line, size, height), aliases expanded.
        anchors: dict[str, Any] = {}
        stack: list[_Frame] = []
        # Nodes decoded directly and through aliases, and the deepest level since the
        # innermost open container began (the limits of secretsctl.limits).
        direct = aliased_nodes = deepest = 0
        max_depth = limits.MAX_NESTING_DEPTH
        root: Any = _IN_PROGRESS
        root_kind = SCALAR
        root_line = 0
        while root is _IN_PROGRESS:
            event = get()
            cls = event.__class__
            kind = SCALAR
            aliased = False
            bad = 0
            if cls is ScalarEvent:
                raw = event.value
                tag = event.tag
                style = event.style
                if tag is None and not style:
                    # Most values start with a character that no other type can start with.
                    plain_string = raw and hints.get(raw[:1]) is None
                    value = raw if plain_string else _resolve_untyped("", raw)[1]
                elif tag is None:
                    value = raw
                else:
                    try:
                        value = scalar_value(short_tag(tag), raw, bool(style))
                    except ResolveError as exc:
                        if plain_checks:
                            raise _strict_scalar_error(exc, event.start_mark.line + 1) from None
                        value = None
                if event.anchor is not None:
                    anchors[event.anchor] = (value, SCALAR, 0, 1, 0)
                direct += 1
                key_raw = raw
                merge_candidate = raw == "<<" and (
                    (tag is None and not style) or tag == "!" or short_tag(tag or "") == MERGE_TAG
                )
                event_line = event.start_mark.line + 1
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                is_map = cls is MappingStartEvent
                level = len(stack) + 1
                if level > max_depth:
                    # Before libyaml goes deeper: its scanner's time per token grows with depth.
                    raise too_deep_error(event.start_mark.line + 1)
                frame = _Frame(
                    Branch() if is_map else Seq(), is_map, event.anchor, event.start_mark.line + 1
                )
                frame.marks = (direct + aliased_nodes, deepest, level)
                deepest = level
                if event.anchor is not None:
                    anchors[event.anchor] = _IN_PROGRESS
                stack.append(frame)
                continue
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                value = frame.container
                kind = MAPPING if frame.is_map else SEQUENCE
                direct += 1
                decoded_before, deepest_before, level = frame.marks
                height = deepest - level + 1
                deepest = max(deepest, deepest_before)
                if strict is not None:
                    bad = (
                        _check_frame(frame, plain_checks, plain_checks or not stack)
                        if (frame.is_map)
                        else frame.bad
                    )
                if frame.anchor is not None:
                    size = direct + aliased_nodes - decoded_before
                    anchors[frame.anchor] = (value, kind, bad, size, height)
                key_raw = ""
                merge_candidate = False
                event_line = frame.line
            elif cls is AliasEvent:
                target = anchors.get(event.anchor)
                event_line = event.start_mark.line + 1
                if target is None:
                    raise structure_error("unknown anchor referenced", event_line)
                if target is _IN_PROGRESS:
                    raise structure_error("anchor value contains itself", event_line)
                value, kind, bad, size, height = target
                # Checked before copying: the copy is what would exhaust memory.
                if len(stack) + height > max_depth:
                    raise too_deep_error(event_line)
                if not limits.alias_expansion_allowed(direct, aliased_nodes + size):
                    raise too_many_aliases_error(event_line)
                aliased_nodes += size
                deepest = max(deepest, len(stack) + height)
                value = copy_value(value)
                key_raw = event.anchor
                aliased = True
                merge_candidate = False
            else:  # pragma: no cover
                raise structure_error("unexpected event")
            if not stack:
                root, root_kind, root_line = value, kind, event_line
                break
            top = stack[-1]
            if not top.is_map:
                top.container.append(value)
                if bad and not top.bad:
                    top.bad = bad
            elif top.key is _IN_PROGRESS:
                top.key = value
                top.key_info = (ALIAS if aliased else kind, key_raw, event_line, kind)
                top.merge = merge_candidate
            else:
                top.container.append((top.key, value))
                if strict is not None:
                    assert top.key_info is not None  # noqa: S101 - set with the key
                    top.keys.append(top.key_info)
                    top.values.append(
                        (value, ALIAS if aliased else kind, bad) if top.merge else None
                    )
                top.key = _IN_PROGRESS
        get()  # document end
        documents.append((root, root_kind, root_line))


def _check_frame(frame: _Frame, plain: bool, raise_now: bool) -> int:
    """Check one mapping; return the line of a merge that cannot be applied (0 if none).

    ``plain`` adds the duplicate-key check of map decoding; ``raise_now`` raises for keys that
    are collections and for bad merges (every mapping in plain mode, the top-level mapping in
    encrypted mode, where a merged mapping is checked when something merges it).
    """
    keys = frame.keys
    if plain and len(keys) > 1:
        seen: dict[tuple[int, str], int] = {}
        for kind, raw, line, _target in keys:
            first = seen.get((kind, raw))
            if first is not None:
                raise structure_error(f"mapping key already defined at line {first}", line)
            seen[(kind, raw)] = line
    bad = 0
    for (_kind, _raw, line, target), merged in zip(keys, frame.values, strict=True):
        if raise_now and target in (MAPPING, SEQUENCE):
            raise structure_error("invalid map key: a mapping or sequence is used as a key", line)
        if merged is not None:
            value, value_kind, inner_bad = merged
            if not merge_value_ok(value, value_kind):
                bad = bad or line
            bad = bad or inner_bad
    if bad and raise_now:
        raise structure_error("map merge requires map or sequence of maps as the value", bad)
    return bad


def merge_value_ok(value: Any, kind: int) -> bool:
    """Tell whether a merge key's value is a mapping or a sequence of mappings.

    ``kind`` is ALIAS for an alias, which yaml.v3 accepts only when it names a mapping.
    """
    if kind == ALIAS:
        return value.__class__ is Branch
    return kind == MAPPING or (kind == SEQUENCE and all(item.__class__ is Branch for item in value))


def documents_to_branches(
    documents: list[tuple[Any, int, int]], first_checks: str | None
) -> list[Branch]:
    """Apply sops's document rules: a mapping, or nothing; never a sequence or a value."""
    branches: list[Branch] = []
    for index, (root, kind, line) in enumerate(documents):
        if kind == MAPPING:
            branches.append(root)
        elif kind == SEQUENCE:
            if index == 0 and first_checks == "plain":
                raise structure_error("cannot unmarshal !!seq into map[string]interface {}", line)
            raise structure_error("YAML documents that are sequences are not supported")
        elif root is None:
            branches.append(Branch())
        else:
            if index == 0 and first_checks == "plain":
                raise structure_error(
                    "cannot unmarshal a scalar into map[string]interface {}", line
                )
            raise structure_error("YAML documents that are values are not supported")
    return branches
