"""The sops tree: ordered mappings, sequences, scalar leaves and comments as items.

The model mirrors sops's ``TreeBranch``:

- a **mapping** is a :class:`Branch`, a list of ``(key, value)`` pairs. Keys are strings, or
  a :class:`Comment` whose value is ``None`` (a comment line inside the mapping). Duplicate
  keys are allowed, because sops keeps them in JSON and INI;
- a **sequence** is a :class:`Seq`; a comment inside it is a :class:`Comment` element;
- a **leaf** is ``str`` (non-UTF-8 bytes are carried with ``surrogateescape``), ``int``,
  ``float``, ``bool``, :class:`~secretsctl.sops.grammar.GoTime` or ``None``.

A file is a list of documents, one :class:`Branch` each. ``repr`` of every container hides its
content, so a tree that reaches a log or a traceback shows its shape only.

The walk (:func:`walk`) visits leaves in document order with their AAD (the ``:``-joined path
of mapping keys plus ``:``; list indices are not part of it) and the crypt-rule decision for
each leaf, exactly as ``Tree.Encrypt``/``Tree.Decrypt`` of sops 3.11 do.
"""

from __future__ import annotations

from secretsctl.errors import EncryptionError
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from collections.abc import Callable
    from typing import Any, Final, TypeAlias


class Comment:
    """A comment line: the text after the ``#`` (or ``;`` in INI), leading space kept."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Comment) and other.text == self.text

    def __hash__(self) -> int:
        return hash((Comment, self.text))

    def __repr__(self) -> str:
        return "Comment(<redacted>)"


class Branch(list):  # type: ignore[type-arg]
    """A mapping: an ordered list of ``(key, value)`` pairs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Branch(<{len(self)} items>)"

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of the first item named ``key``."""
        for item_key, value in self:
            if item_key == key and not isinstance(item_key, Comment):
                return value
        return default

    def keys(self) -> list[str]:
        """Return the keys that are not comments, in order."""
        return [k for k, _ in self if not isinstance(k, Comment)]


class Seq(list):  # type: ignore[type-arg]
    """A sequence. Comments inside it are :class:`Comment` elements."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Seq(<{len(self)} items>)"


Documents: TypeAlias = list[Branch]

# on_leaf(value, aad, encrypted, is_comment) -> replacement value
LeafCallback: TypeAlias = "Callable[[Any, str, bool, bool], Any]"

RULE_FIELDS: Final = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_UNENCRYPTED_SUFFIX: Final = "_unencrypted"


class CryptRule(Record):
    """The one crypt rule of a file: which field, and its suffix or pattern."""

    field: str = "unencrypted_suffix"
    value: str = DEFAULT_UNENCRYPTED_SUFFIX

    @property
    def uses_comments(self) -> bool:
        """Whether the rule looks at active comments rather than keys."""
        return self.field.endswith("_comment_regex")


def compile_rule_pattern(field: str, pattern: str) -> re.Pattern[str]:
    """Compile a rule regex, refusing syntax whose meaning differs between Python and Go RE2."""
    import re  # only files with a regex rule need it: the boot path does without re

    # RE2 has no backreferences or lookaround; Python would silently give them a meaning.
    if re.search(r"\(\?[=!<]|\\[1-9]|\(\?P=", pattern):
        raise EncryptionError(
            f"`{field}` uses lookaround or a backreference, which sops (Go RE2) does not support",
            hint="use a pattern that Go's regexp package accepts",
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise EncryptionError(f"`{field}` is not a valid regular expression: {exc}") from None


def _non_string_key(key: object) -> EncryptionError:
    return EncryptionError(
        f"Tree contains a non-string key (type {type(key).__name__})."
        " Only string keys are supported"
    )


def walk(
    documents: Documents, rule: CryptRule, on_leaf: LeafCallback, *, in_place: bool = True
) -> None:
    """Visit every leaf in document order and replace it with ``on_leaf``'s result.

    The decision and the AAD follow ``TreeBranch.walkBranch``/``walkSlice`` and
    ``Tree.shouldBeEncrypted`` of sops 3.11: a rule on keys matches when any key on the leaf's
    path matches; comment rules look at the stack of active comments; comments take the path
    of their container.
    """
    field, value = rule.field, rule.value
    if rule.uses_comments:
        _CommentRuleWalker(field, compile_rule_pattern(field, value), on_leaf).walk(documents)
        return
    if field.endswith("_suffix"):
        suffix = value

        def key_matches(key: str) -> bool:
            return key.endswith(suffix)

    else:
        key_matches = compile_rule_pattern(field, value).search  # type: ignore[assignment]
    # For unencrypted_*, a match on the path means "not encrypted"; for encrypted_*, the reverse.
    encrypt_when_matched = field.startswith("encrypted_")
    seq_type, branch_type, comment_type = Seq, Branch, Comment

    def walk_branch(branch: Branch, prefix: str, matched: bool) -> None:
        for index, (key, val) in enumerate(branch):
            if key.__class__ is comment_type:
                new = on_leaf(key, prefix or ":", matched is encrypt_when_matched, True)
                branch[index] = (new if isinstance(new, Comment) else Comment(new), None)
                continue
            if key.__class__ is not str:
                raise _non_string_key(key)
            child_matched = matched or bool(key_matches(key))
            child_prefix = prefix + key + ":"
            cls = val.__class__
            if cls is branch_type:
                walk_branch(val, child_prefix, child_matched)
            elif cls is seq_type:
                walk_seq(val, child_prefix, child_matched)
            elif val is not None:
                branch[index] = (
                    key,
                    on_leaf(val, child_prefix, child_matched is encrypt_when_matched, False),
                )

    def walk_seq(seq: Seq, prefix: str, matched: bool) -> None:
        encrypted = matched is encrypt_when_matched
        for index, val in enumerate(seq):
            cls = val.__class__
            if cls is branch_type:
                walk_branch(val, prefix, matched)
            elif cls is seq_type:
                walk_seq(val, prefix, matched)
            elif val is not None:
                seq[index] = on_leaf(val, prefix or ":", encrypted, cls is comment_type)

    for document in documents:
        walk_branch(document, "", False)


class _CommentRuleWalker:
    """The slow walk for ``*_comment_regex`` rules, which keeps sops's active-comment stack."""

    def __init__(self, field: str, pattern: re.Pattern[str], on_leaf: LeafCallback) -> None:
        self.encrypted_rule = field == "encrypted_comment_regex"
        self.pattern = pattern
        self.on_leaf = on_leaf

    def walk(self, documents: Documents) -> None:
        for document in documents:
            self.branch(document, "", [])

    def should_encrypt(self, stack: list[list[str]], is_comment: bool) -> bool:
        search = self.pattern.search
        if not self.encrypted_rule:
            return not any(search(c) for level in stack for c in level)
        last_level = len(stack) - 1
        for i, level in enumerate(stack):
            for j, text in enumerate(level):
                if is_comment and i == last_level and j == len(level) - 1:
                    continue
                if search(text):
                    return True
        return False

    def branch(self, branch: Branch, prefix: str, stack: list[list[str]]) -> None:
        stack = [*stack, []]
        for index, (key, val) in enumerate(branch):
            if isinstance(key, Comment):
                stack[-1].append(key.text)
                new = self.on_leaf(key, prefix or ":", self.should_encrypt(stack, True), True)
                branch[index] = (new if isinstance(new, Comment) else Comment(new), None)
                continue
            if not isinstance(key, str):
                raise _non_string_key(key)
            branch[index] = (key, self.value(val, prefix + key + ":", stack))
            stack[-1] = []

    def seq(self, seq: Seq, prefix: str, stack: list[list[str]]) -> None:
        stack = [*stack, []]
        for index, val in enumerate(seq):
            is_comment = isinstance(val, Comment)
            if is_comment:
                stack[-1].append(val.text)
            seq[index] = self.value(val, prefix, stack)
            if not is_comment:
                stack[-1] = []

    def value(self, val: Any, prefix: str, stack: list[list[str]]) -> Any:
        if isinstance(val, Branch):
            self.branch(val, prefix, stack)
            return val
        if isinstance(val, Seq):
            self.seq(val, prefix, stack)
            return val
        if val is None:
            return None
        is_comment = isinstance(val, Comment)
        return self.on_leaf(val, prefix or ":", self.should_encrypt(stack, is_comment), is_comment)
