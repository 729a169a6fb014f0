"""yaml.v3 nodes to the sops tree, as sops's stores/yaml/store.go does, comments included.

The last stage of the comment reader (:mod:`._yaml_comments`), after the checks of
:mod:`._yaml_checks`.
"""

from __future__ import annotations

from typing import Any

from secretsctl.sops.stores._yaml_compose import Node
from secretsctl.sops.stores._yaml_load import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    Strict,
    structure_error,
)
from secretsctl.sops.stores._yaml_parse import QUOTED_STYLES
from secretsctl.sops.stores._yaml_resolve import (
    NULL_TAG,
    ResolveError,
    scalar_value,
)
from secretsctl.sops.tree import Branch, Comment, Seq

# --- nodes to the sops tree (stores/yaml/store.go) -----------------------------------------


def _comment_items(comment: str) -> list[Comment]:
    return [Comment(line[1:]) for line in comment.split("\n") if line]


class Converter:
    """sops's appendYamlNodeToTreeBranch/nodeToTreeValue over yaml.v3 nodes."""

    def __init__(self, strict: Strict | None) -> None:
        self.strict = strict
        self.active: set[int] = set()

    def decode_scalar(self, node: Node) -> Any:
        tag = "" if node.tag == "!" else node.tag
        quoted = bool(node.style & QUOTED_STYLES)
        try:
            if node.indicated_string():
                return node.value
            return scalar_value(tag, node.value, quoted)
        except ResolveError as exc:
            if self.strict is not None:
                raise structure_error(str(exc), node.line) from None
            return None

    def decode_key(self, node: Node) -> Any:
        """``key.Decode(&keyValue)``: the generic decoding of any node."""
        if node.kind == ALIAS and node.alias is not None:
            if id(node.alias) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(node.alias))
            try:
                return self.decode_key(node.alias)
            finally:
                self.active.discard(id(node.alias))
        if node.kind == SCALAR:
            return self.decode_scalar(node)
        if node.kind == MAPPING:
            return self.branch(node, Branch(), True)
        if node.kind == SEQUENCE:
            return Seq(self.decode_key(child) for child in node.content)
        return None

    def value(self, node: Node, comments_handled: bool, depth: int = 0) -> Any:
        kind = node.kind
        if kind == SEQUENCE:
            result = Seq()
            if not comments_handled:
                result.extend(_comment_items(node.head))
                result.extend(_comment_items(node.line_comment))
            for item in node.content:
                result.extend(_comment_items(item.head))
                result.extend(_comment_items(item.line_comment))
                result.append(self.value(item, True, depth + 1))
                result.extend(_comment_items(item.foot))
            if not comments_handled:
                result.extend(_comment_items(node.foot))
            return result
        if kind == MAPPING:
            return self.branch(node, Branch(), comments_handled, depth + 1)
        if kind == SCALAR:
            return self.decode_scalar(node)
        if kind == ALIAS:
            target = node.alias
            if target is None:
                return None
            if id(target) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(target))
            try:
                return self.value(target, False, depth + 1)
            finally:
                self.active.discard(id(target))
        return None

    def branch(self, node: Node, branch: Branch, comments_handled: bool, depth: int = 0) -> Branch:
        if not comments_handled:
            branch.extend((c, None) for c in _comment_items(node.head))
            branch.extend((c, None) for c in _comment_items(node.line_comment))
        kind = node.kind
        if kind == 0:
            for child in node.content:
                self.branch(child, branch, False, depth)
        elif kind == SEQUENCE:
            raise structure_error("YAML documents that are sequences are not supported")
        elif kind == MAPPING:
            content = node.content
            for i in range(0, len(content) - 1, 2):
                key, value = content[i], content[i + 1]
                branch.extend((c, None) for c in _comment_items(key.head))
                branch.extend((c, None) for c in _comment_items(key.line_comment))
                handle_value_comments = value.kind in (SCALAR, ALIAS)
                if handle_value_comments:
                    branch.extend((c, None) for c in _comment_items(value.head))
                    branch.extend((c, None) for c in _comment_items(value.line_comment))
                key_value = self.decode_key(key)
                branch.append((key_value, self.value(value, handle_value_comments, depth)))
                if handle_value_comments:
                    branch.extend((c, None) for c in _comment_items(value.foot))
                branch.extend((c, None) for c in _comment_items(key.foot))
        elif kind == SCALAR:
            if node.short_tag() != NULL_TAG:
                raise structure_error("YAML documents that are values are not supported")
            # sops returns here, before the node's foot comment.
            return branch
        elif kind == ALIAS and node.alias is not None:
            if id(node.alias) in self.active:
                raise structure_error("anchor value contains itself", node.line)
            self.active.add(id(node.alias))
            self.branch(node.alias, branch, False, depth + 1)
            self.active.discard(id(node.alias))
        if not comments_handled:
            branch.extend((c, None) for c in _comment_items(node.foot))
        return branch
