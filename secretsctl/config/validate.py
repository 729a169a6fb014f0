"""Checks both inputs share: names, modes, unit names, file layout, one format per sops file.

Every check returns a short message (or None) and never quotes a secret value; the loaders
turn messages into :class:`~secretsctl.errors.ManifestError` lines naming file, line and
field.
"""

from __future__ import annotations

from secretsctl.config.model import RENDERED_DIR, Origin, SecretSpec
from secretsctl.errors import ManifestError
from secretsctl.paths import PARENT_HINT, runtime_path_problem

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Final, TypeVar

    T = TypeVar("T")


PERMISSION_BITS: Final = 0o777
SPECIAL_BITS: Final = 0o7000
MAX_ID: Final = 0xFFFFFFFE  # (uid_t)-1 means "leave unchanged" to chown(2)
_OCTAL_DIGITS: Final = frozenset("01234567")


def problem(origin: Origin, field: str, message: str) -> ManifestError:
    """Build the one-line error for a field of an item: ``file:line:col: path.field: …``."""
    return ManifestError(f"{origin.of(field)}: {message}")


def shorten(text: str, limit: int = 24) -> str:
    """Quote a piece of public configuration text for a message, cut to ``limit``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_mode_bits(mode: int) -> str | None:
    """Refuse setuid, setgid and sticky bits and anything beyond them."""
    if mode > 0o7777:
        return f"mode {mode:o} is not a file permission mode (at most 0777)"
    if mode & SPECIAL_BITS:
        return (
            f"mode {mode:04o} sets setuid, setgid or sticky bits, which are refused"
            " (permission bits only, at most 0777)"
        )
    return None


def parse_octal(text: str) -> int | None:
    """Return the value of a string of octal digits (``0`` prefixes allowed), else None."""
    if not text or any(c not in _OCTAL_DIGITS for c in text):
        return None
    return int(text, 8)


def check_name(name: str) -> str | None:
    """Check a secret or template name: a relative path without empty, ``.`` or ``..`` parts."""
    if not name:
        return "the name is empty"
    if not name.isprintable():
        return "the name holds a control character"
    if name.startswith("/"):
        return "the name must be a relative path (no leading /)"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "the name must not have empty, '.' or '..' parts"
    return None


def check_unit(unit: str) -> str | None:
    """Check a systemd unit name as far as it matters here: one word, no path."""
    if not unit:
        return "a unit name is empty"
    if not unit.isprintable() or any(c.isspace() for c in unit) or "/" in unit:
        return f"`{shorten(unit)}` is not a unit name"
    return None


def check_path(path: str) -> str | None:
    """Check a runtime path (a custom link, the mount point): absolute, no ``..``, printable."""
    message = runtime_path_problem(path)
    if message is not None:
        return message
    if not path.isprintable():
        return "the path holds a control character"
    return None


def path_error(where: str, path: str) -> ManifestError | None:
    """Check a runtime path; the error names ``where`` (``file:line:column: field``).

    A ``..`` component is refused outright, not resolved (see :mod:`secretsctl.paths`).
    """
    message = check_path(path)
    if message is None:
        return None
    climbs = path.startswith("/") and runtime_path_problem(path) is not None
    hint = PARENT_HINT if climbs else None
    return ManifestError(f"{where}: {message}", hint=hint)


def layout_problems(
    names: Iterable[tuple[str, Origin]], what: str, *, reserved: str | None = None
) -> list[ManifestError]:
    """Find names that cannot all be files: ``a`` next to ``a/b``, or under ``reserved``."""
    problems: list[ManifestError] = []
    files: dict[str, Origin] = {}
    entries = list(names)
    for name, origin in entries:
        files.setdefault(name, origin)
    for name, origin in entries:
        if reserved is not None and (name == reserved or name.startswith(reserved + "/")):
            problems.append(
                problem(
                    origin,
                    "",
                    f"{what} '{name}' collides with the {reserved}/ directory of the templates",
                )
            )
            continue
        if "/" not in name:
            continue
        parts = name.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in files:
                problems.append(
                    problem(
                        origin,
                        "",
                        f"{what} '{name}' needs '{prefix}' to be a directory, but {what}"
                        f" '{prefix}' is a file",
                    )
                )
                break
    return problems


def format_problems(secrets: Iterable[SecretSpec]) -> list[ManifestError]:
    """Require one format per sops file (sops-nix's ``validateSopsFile``)."""
    first: dict[str, SecretSpec] = {}
    problems: list[ManifestError] = []
    for spec in secrets:
        earlier = first.setdefault(spec.sops_file, spec)
        if earlier.format is not spec.format:
            problems.append(
                problem(
                    spec.origin,
                    "format",
                    f"secret {spec.name} defined the format of {spec.sops_file} as"
                    f" {spec.format.value}, but it was specified as {earlier.format.value}"
                    f" in {earlier.name} before",
                )
            )
    return problems


def rendered_layout_problems(
    secrets: Iterable[SecretSpec], templates: Iterable[tuple[str, Origin]]
) -> list[ManifestError]:
    """Check secret and template names together: secrets must stay out of ``rendered/``."""
    template_list = list(templates)
    problems = layout_problems(
        ((s.name, s.origin) for s in secrets),
        "secret",
        reserved=RENDERED_DIR if template_list else None,
    )
    problems += layout_problems(template_list, "template")
    return problems
