"""The checks over a composed document before it is converted: limits and yaml.v3's strictness.

Used by the comment reader (:mod:`._yaml_comments`): the nesting and alias limits of
:mod:`secretsctl.limits`, yaml.v3's checks when decoding into ``map[string]interface{}``, and
sops's checks of an encrypted file's merge keys.
"""

from __future__ import annotations

from secretsctl import limits
from secretsctl.errors import InputError
from secretsctl.sops.stores._yaml_compose import Composer, Node
from secretsctl.sops.stores._yaml_load import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    Strict,
    merge_value_ok,
    structure_error,
    too_deep_error,
    too_many_aliases_error,
)
from secretsctl.sops.stores._yaml_parse import QUOTED_STYLES
from secretsctl.sops.stores._yaml_resolve import (
    MERGE_TAG,
    ResolveError,
    scalar_value,
    short_tag,
)
from secretsctl.sops.tree import Branch


class Limits:
    """The nesting and alias limits (:mod:`secretsctl.limits`) over one document's nodes.

    Nodes are visited in document order and counted as :mod:`._yaml_load` counts events, so
    both loaders refuse the same documents; this runs before anything expands an alias.
    """

    __slots__ = ("aliased", "anchored", "direct", "expanded")

    def __init__(self, composer: Composer) -> None:
        self.anchored = composer.anchored
        self.expanded = composer.expanded
        self.direct = 0
        self.aliased = 0

    def visit(self, node: Node, level: int) -> tuple[int, int]:
        """Check ``node`` under ``level`` open containers; return its size and height."""
        kind = node.kind
        if kind == ALIAS:
            found = self.expanded.get(id(node.alias)) if node.alias is not None else None
            if found is None:
                return 0, 0  # an alias to its own container: the converter refuses it
            size, height = found
            if level + height > limits.MAX_NESTING_DEPTH:
                raise too_deep_error(node.line)
            if not limits.alias_expansion_allowed(self.direct, self.aliased + size):
                raise too_many_aliases_error(node.line)
            self.aliased += size
            return size, height
        size, height = 1, 0
        if kind in (MAPPING, SEQUENCE):
            if level >= limits.MAX_NESTING_DEPTH:
                raise too_deep_error(node.line)
            for child in node.content:
                child_size, child_height = self.visit(child, level + 1)
                size += child_size
                height = max(height, child_height)
            height += 1
        self.direct += 1
        if id(node) in self.anchored:
            self.expanded[id(node)] = (size, height)
        return size, height


def check_strict(node: Node, strict: Strict, root: bool, active: set[int]) -> None:
    """yaml.v3's checks when decoding into ``map[string]interface{}`` (see _yaml_load)."""
    kind = node.kind
    if kind == ALIAS:
        target = node.alias
        if target is None:
            return
        if id(target) in active:
            raise structure_error("anchor value contains itself", node.line)
        active.add(id(target))
        check_strict(target, strict, root, active)
        active.discard(id(target))
        return
    if kind == SCALAR:
        try:
            if not node.indicated_string():
                scalar_value(
                    "" if node.tag == "!" else node.tag,
                    node.value,
                    bool(node.style & QUOTED_STYLES),
                )
        except ResolveError as exc:
            raise structure_error(str(exc), node.line) from None
        return
    if kind == SEQUENCE:
        for child in node.content:
            check_strict(child, strict, False, active)
        return
    if kind != MAPPING:
        return
    content = node.content
    seen: dict[tuple[int, str], int] = {}
    for i in range(0, len(content) - 1, 2):
        key = content[i]
        first = seen.get((key.kind, key.value))
        if first is not None:
            raise structure_error(f"mapping key already defined at line {first}", key.line)
        seen[(key.kind, key.value)] = key.line
    for i in range(0, len(content) - 1, 2):
        key, value = content[i], content[i + 1]
        if _is_merge_key(key):
            _check_merge_node(value, key.line, False, set())
            check_strict(value, strict, False, active)
            continue
        resolved_key = key.alias if key.kind == ALIAS else key
        if resolved_key is not None and resolved_key.kind in (MAPPING, SEQUENCE):
            raise structure_error(
                "invalid map key: a mapping or sequence is used as a key", key.line
            )
        check_strict(key, strict, False, active)
        check_strict(value, strict, False, active)


def _is_merge_key(key: Node) -> bool:
    return (
        key.kind == SCALAR
        and key.value == "<<"
        and (key.tag in ("", "!") or short_tag(key.tag) == MERGE_TAG)
    )


def _target(node: Node) -> Node | None:
    return node.alias if node.kind == ALIAS else node


def _merge_error(line: int) -> InputError:
    return structure_error("map merge requires map or sequence of maps as the value", line)


def _check_merge_node(value: Node, line: int, nested: bool, active: set[int]) -> None:
    """Check that a merge value is a mapping or a sequence of mappings.

    With ``nested``, the merged mappings' own merge keys are checked too (sops's struct
    decoding of an encrypted file merges them recursively).
    """
    target = _target(value)
    if target is None:
        return
    merged = [_target(child) for child in target.content] if target.kind == SEQUENCE else [target]
    items = [Branch() if m is not None and m.kind == MAPPING else None for m in merged]
    if value.kind == ALIAS:
        kind, items = ALIAS, (Branch() if target.kind == MAPPING else None)  # type: ignore[assignment]
    else:
        kind = target.kind
    if not merge_value_ok(items, kind):
        raise _merge_error(line)
    if nested:
        for mapping in merged:
            if mapping is not None and id(mapping) not in active:
                active.add(id(mapping))
                check_root_keys(mapping, active)


def check_root_keys(root: Node, active: set[int]) -> None:
    """Check what sops's struct decoding checks in an encrypted file's first document."""
    content = root.content
    for i in range(0, len(content) - 1, 2):
        key, value = content[i], content[i + 1]
        if _is_merge_key(key):
            _check_merge_node(value, key.line, True, active)
            continue
        target = _target(key)
        if target is not None and target.kind in (MAPPING, SEQUENCE):
            raise structure_error("a mapping or sequence is used as a key", key.line)
