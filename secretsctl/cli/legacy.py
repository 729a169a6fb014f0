"""sops's old top-level forms (``sops -d FILE``, ``sops -e -i FILE``, ``sops FILE``) as commands.

sops 3.11 still accepts the actions as flags of the bare program. :func:`rewrite` turns such
a command line into the subcommand it means (``-d`` → ``decrypt``, ``-e`` → ``encrypt``,
``-r`` → ``rotate``, ``--set 'PATH VALUE'`` → ``set FILE PATH VALUE``, none → ``edit``), so
the existing commands parse and run it; nothing here reads or writes a secret.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

_ACTIONS = {
    "-d": "decrypt",
    "--decrypt": "decrypt",
    "-e": "encrypt",
    "--encrypt": "encrypt",
    "-r": "rotate",
    "--rotate": "rotate",
}
_SET = "--set"
# sops's top-level options that take a value: the word after them is never an action or FILE.
_VALUE_OPTIONS = frozenset(
    {
        "-k", "--kms", "--aws-profile", "--gcp-kms", "--hckms", "--azure-kv",
        "--hc-vault-transit", "-p", "--pgp", "-a", "--age", "--extract", "--input-type",
        "--output-type", "--output", "--config", "--unencrypted-suffix", "--encrypted-suffix",
        "--unencrypted-regex", "--encrypted-regex", "--unencrypted-comment-regex",
        "--encrypted-comment-regex", "--shamir-secret-sharing-threshold", "--indent",
        "--filename-override", "--decryption-order", "--keyservice", "--add-age", "--rm-age",
        "--add-pgp", "--rm-pgp", "--add-kms", "--rm-kms", "--add-gcp-kms", "--rm-gcp-kms",
        "--add-azure-kv", "--rm-azure-kv", "--add-hc-vault-transit", "--rm-hc-vault-transit",
        "--add-hckms", "--rm-hckms",
    }
)  # fmt: skip
_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".env", ".ini")
# sops's global flags that change nothing secretsctl does: dropped, not refused.
_NO_OP_FLAGS = frozenset({"--verbose", "--disable-version-check"})


class LegacyFormError(ValueError):
    """An old form that names two actions or a malformed ``--set``: a usage error."""


def _split_set(text: str) -> tuple[str, str]:
    """Split sops's ``--set '["a"]["b"] VALUE'`` at its first ``"] "``, as sops does."""
    path, separator, value = text.partition("] ")
    if not separator:
        from secretsctl.change import SetFormatError

        raise SetFormatError(
            "invalid --set format", hint="--set takes one argument: '[\"key\"] VALUE' (JSON value)"
        )
    return path + "]", value


def _looks_like_file(word: str) -> bool:
    """Tell whether a bare first word is a file to edit (it exists or has a sops extension)."""
    return os.path.isfile(word) or word.lower().endswith(_FILE_SUFFIXES)


def rewrite(args: Sequence[str], commands: Collection[str]) -> list[str]:
    """Return ``args`` (after the group's own options) with an old form made a subcommand.

    Anything else (a command name, help, a word that is no file) comes back unchanged, so
    click reports it as always.
    """
    if not args or args[0] in commands or args[0] in ("-h", "--help", "-v", "--version", "--"):
        return list(args)
    first = args[0]
    if not first.startswith("-"):
        return ["edit", *args] if _looks_like_file(first) else list(args)
    actions: list[str] = []
    rest: list[str] = []
    set_words: list[str] = []
    position = 0
    while position < len(args):
        word = args[position]
        option, equals, value = word.partition("=")
        if word == "--":
            rest.extend(args[position:])
            break
        if word in _NO_OP_FLAGS or option in _NO_OP_FLAGS:
            pass
        elif word in commands and not actions and not word.startswith("-"):
            # sops's global flags before a subcommand (`sops --config X updatekeys F`): the
            # subcommand's own options, as urfave/cli reads them there.
            return [word, *rest, *args[position + 1 :]]
        elif word in _ACTIONS:
            actions.append(_ACTIONS[word])
        elif option == _SET:
            if not equals:
                position += 1
                if position >= len(args):
                    raise LegacyFormError("--set needs a value")
                value = args[position]
            actions.append("set")
            set_words = list(_split_set(value))
        else:
            rest.append(word)
            if word in _VALUE_OPTIONS and position + 1 < len(args):
                position += 1
                rest.append(args[position])
        position += 1
    if len(actions) > 1:
        raise LegacyFormError("use only one of -d, -e, -r and --set")
    command = actions[0] if actions else "edit"
    if set_words:
        return [command, *rest, "--", *set_words]
    return [command, *rest]
