"""YAML with comments: where yaml.v3 (and so sops) attaches every comment.

libyaml drops comments, and yaml.v3 attaches them with logic spread over its scanner (which
decides whether a comment is a head, line or foot comment and which token it follows), its
parser (which hands the pending comments to the next event) and its node composer (which moves
foot comments between keys). The placement depends on scanner state at the moment a comment is
read: the current indentation, the last tokens produced, how far the parser lags behind.

:func:`compose` replays that, one module a stage: it takes libyaml's tokens for the file (the
same tokens yaml.v3's scanner produces; :mod:`._yaml_tokens`), re-walks the text between them
with yaml.v3's comment scanning, regenerating the structural tokens (block starts and ends,
simple keys) with yaml.v3's indentation and simple-key bookkeeping (:mod:`._yaml_scan`), runs
yaml.v3's parser state machine over that token queue with the same look-ahead
(:mod:`._yaml_parse`), and composes yaml.v3 nodes (:mod:`._yaml_compose`). After the limits and
strict checks (:mod:`._yaml_checks`) it turns the nodes into the sops tree the way sops's
``appendYamlNodeToTreeBranch``/``nodeToTreeValue`` do (:mod:`._yaml_convert`).

Validity is decided by libyaml's own event parser first, so the replay only ever sees files
that parse.
"""

from __future__ import annotations

from typing import Any

from secretsctl.sops.stores._yaml_checks import Limits, check_root_keys, check_strict
from secretsctl.sops.stores._yaml_compose import Composer
from secretsctl.sops.stores._yaml_convert import Converter
from secretsctl.sops.stores._yaml_load import (
    ALIAS,
    MAPPING,
    SCALAR,
    SEQUENCE,
    first_document_checks,
    structure_error,
)
from secretsctl.sops.stores._yaml_parse import Parser
from secretsctl.sops.stores._yaml_resolve import NULL_TAG
from secretsctl.sops.stores._yaml_scan import Scanner
from secretsctl.sops.stores._yaml_tokens import libyaml_tokens
from secretsctl.sops.tree import Branch


def compose(text: str, first_checks: str | None) -> list[tuple[Any, int, int]]:
    """Parse every document with comments; return (root value, root kind, root line) each.

    The root value of a mapping document is its :class:`Branch` with the document's head and
    foot comments; other roots are returned as plain values for the caller's checks.
    """
    tokens = libyaml_tokens(text)
    composer = Composer(Parser(Scanner(text, tokens)))
    documents: list[tuple[Any, int, int]] = []
    while True:
        document = composer.parse()
        if document is None:
            return documents
        root = document.content[0]
        Limits(composer).visit(root, 0)
        strict = first_document_checks(first_checks) if not documents else None
        if strict is not None and strict.root_only:
            if root.kind == MAPPING:
                check_root_keys(root, {id(root)})
            strict = None
        if strict is not None:
            if root.kind == MAPPING:
                check_strict(root, strict, True, set())
            elif root.kind == SEQUENCE:
                raise structure_error(
                    "cannot unmarshal !!seq into map[string]interface {}", root.line
                )
            elif root.kind == SCALAR and root.short_tag() != NULL_TAG:
                raise structure_error(
                    "cannot unmarshal a scalar into map[string]interface {}", root.line
                )
        converter = Converter(strict)
        kind = root.kind if root.kind != ALIAS else SCALAR
        if kind == MAPPING:
            documents.append((converter.branch(document, Branch(), False), MAPPING, root.line))
        elif kind == SEQUENCE:
            documents.append((None, SEQUENCE, root.line))
        else:
            value = None if root.short_tag() == NULL_TAG else converter.decode_scalar(root)
            if value is None:
                documents.append((converter.branch(document, Branch(), False), MAPPING, root.line))
            else:
                documents.append((value, SCALAR, root.line))
