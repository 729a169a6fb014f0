"""The render plan: every file an activation installs, in memory, values held as secrets."""

from __future__ import annotations

from secretsctl.choice import Choice
from secretsctl.record import Record
from secretsctl.redact import Secret


class ItemKind(Choice):
    """A decrypted secret, or a rendered template (installed under ``rendered/``)."""

    SECRET = "secret"  # noqa: S105 - a kind name, not a password
    TEMPLATE = "template"


class PlannedFile(Record):
    """One file of the new generation, with its final owner and mode resolved."""

    kind: ItemKind
    name: str  # the configured name; templates live at rendered/<name>
    content: Secret[bytes]
    uid: int
    gid: int
    mode: int
    owner_label: str  # for display: the user name, or the number
    group_label: str
    link_path: str | None = None  # a custom path to link to it (runtime, not yet rooted)
    restart_units: tuple[str, ...] = ()
    reload_units: tuple[str, ...] = ()

    @property
    def relative_path(self) -> str:
        """The path inside a generation directory."""
        return self.name if self.kind is ItemKind.SECRET else f"rendered/{self.name}"


class RenderPlan(Record):
    """Everything to install, and the warnings met while building it (names only).

    A plan built with ``check_only`` (``secretsctl check``) resolved owners and modes but
    decrypted nothing: every content is empty and it must never be installed.
    """

    files: tuple[PlannedFile, ...]
    warnings: tuple[str, ...] = ()
    check_only: bool = False
    # SSH keys used as age identities: (path, age recipient), for sops-nix's keyImport log.
    imported_keys: tuple[tuple[str, str], ...] = ()
    # SSH RSA keys imported as GPG keys (sshKeyPaths): (path, fingerprint), for the same log.
    imported_gpg_keys: tuple[tuple[str, str], ...] = ()
