"""The one error root of secretsctl and the table of exit codes.

Every expected failure is a :class:`SecretsctlError`. The command line catches only that class
and prints ``secretsctl: error: …`` (plus ``secretsctl: hint: …``) and exits with the error's
code. Anything else is a bug and shows a traceback only with ``--debug``.

Messages quote public material (file names, key paths, recipients, stanza types) and never a
secret value or a line of a decrypted document.
"""

from __future__ import annotations

from secretsctl.choice import IntChoice


class ExitCode(IntChoice):
    """Exit statuses. Where sops has a code for the same failure, it is sops's number."""

    OK = 0
    GENERIC = 1
    COULD_NOT_READ_INPUT_FILE = 2
    COULD_NOT_WRITE_OUTPUT_FILE = 3
    ERROR_DUMPING_TREE = 4
    ERROR_READING_CONFIG = 5
    INVALID_SET_FORMAT = 7
    CONFLICTING_PARAMETERS = 8
    ERROR_ENCRYPTING_MAC = 21
    ERROR_ENCRYPTING_TREE = 23
    ERROR_DECRYPTING_TREE = 25
    CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE = 49
    MAC_MISMATCH = 51
    CONFIG_FILE_NOT_FOUND = 61
    KEYBOARD_INTERRUPT = 85
    ACTIVATION_FAILED = 10
    LOCK_HELD = 11
    NO_ROLLBACK_TARGET = 12
    INVALID_TREE_PATH_FORMAT = 91
    NEED_AT_LEAST_ONE_DOCUMENT = 92
    NO_FILE_SPECIFIED = 100
    NO_ENCRYPTION_KEY_FOUND = 111
    COULD_NOT_RETRIEVE_KEY = 128
    FILE_HAS_NOT_BEEN_MODIFIED = 200
    NO_EDITOR_FOUND = 201
    FILE_ALREADY_ENCRYPTED = 203


class SecretsctlError(Exception):
    """An expected failure: one line for the user, an exit code and an optional hint."""

    exit_code: ExitCode = ExitCode.GENERIC

    def __init__(
        self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def with_file(self, path: str) -> SecretsctlError:
        """Prefix the message with the file it concerns, keeping class, code and hint."""
        if self.message.startswith(f"{path}: "):
            return self
        self.message = f"{path}: {self.message}"
        self.args = (self.message,)
        return self


class UsageError(SecretsctlError):
    """Contradictory or invalid command-line arguments."""

    exit_code = ExitCode.CONFLICTING_PARAMETERS


class InputError(SecretsctlError):
    """The input file cannot be read or parsed (sops's CouldNotReadInputFile)."""

    exit_code = ExitCode.COULD_NOT_READ_INPUT_FILE


class InputLimitError(InputError):
    """The input passes a bound of :mod:`secretsctl.limits`: size, nesting or aliasing.

    Exit 2 in every store and mode, also where a parse error of an encrypted file is exit 1.
    """


class MetadataError(SecretsctlError):
    """The ``sops`` metadata is missing or invalid (sops's generic error)."""

    exit_code = ExitCode.GENERIC


class MetadataNotFoundError(MetadataError):
    """The file has no ``sops`` metadata at all: it is not encrypted (``filestatus`` says so)."""


class ValueDecryptionError(SecretsctlError):
    """A value failed to decrypt: tampered, moved, or not in ``ENC[…]`` form."""

    exit_code = ExitCode.ERROR_DECRYPTING_TREE


class MacMismatchError(SecretsctlError):
    """The file's MAC is missing, does not decrypt, or does not match its content."""

    exit_code = ExitCode.MAC_MISMATCH


class NoIdentityError(SecretsctlError):
    """No available identity could unwrap the data key."""

    exit_code = ExitCode.COULD_NOT_RETRIEVE_KEY


class EncryptionError(SecretsctlError):
    """The tree cannot be encrypted (non-string key, unsupported value, bad rule)."""

    exit_code = ExitCode.ERROR_ENCRYPTING_TREE


class TreePathError(SecretsctlError):
    """An ``--extract`` path is malformed (sops's InvalidTreePathFormat)."""

    exit_code = ExitCode.INVALID_TREE_PATH_FORMAT


class ConfigError(SecretsctlError):
    """``.sops.yaml`` cannot be read or has no matching creation rule."""

    exit_code = ExitCode.GENERIC


class NoEncryptionKeyError(SecretsctlError):
    """Encryption was asked for with no recipient at all."""

    exit_code = ExitCode.NO_ENCRYPTION_KEY_FOUND


class AlreadyEncryptedError(SecretsctlError):
    """The plaintext to encrypt already carries sops metadata."""

    exit_code = ExitCode.FILE_ALREADY_ENCRYPTED


class OutputError(SecretsctlError):
    """The output cannot be written."""

    exit_code = ExitCode.COULD_NOT_WRITE_OUTPUT_FILE


class ManifestError(SecretsctlError):
    """The configuration or manifest is invalid; the message names file, line and field."""

    exit_code = ExitCode.ERROR_READING_CONFIG


class ActivationError(SecretsctlError):
    """Installing failed (mount, write, switch); the live generation was left as it was."""

    exit_code = ExitCode.ACTIVATION_FAILED


class ProblemsError(SecretsctlError):
    """Several problems found together (all-or-nothing): every one is reported, by name.

    The exit code is the problems' own when they all share one, else 1.
    """

    def __init__(self, problems: list[SecretsctlError], *, hint: str | None = None) -> None:
        self.problems = tuple(problems)
        codes = {problem.exit_code for problem in problems}
        count = len(problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} found; nothing was changed"]
        lines += [problem.message for problem in problems]
        # The problems' own hints are kept (once each): the CLI prints only this error's.
        hints = dict.fromkeys(h for h in (hint, *(p.hint for p in problems)) if h)
        super().__init__(
            "\n".join(lines),
            hint="; ".join(hints) or None,
            exit_code=codes.pop() if len(codes) == 1 else ExitCode.GENERIC,
        )
