r"""secretsctl's own configuration, ``secretsctl.yaml``, read into a :class:`Manifest`.

The file has three sections, all optional::

    defaults:            # what every secret and template gets unless it says otherwise
      sops_file: secrets.yaml
      format: yaml
      age_key_file: /var/lib/secretsctl/age-keys.txt
      ssh_key_paths: [/etc/ssh/ssh_host_ed25519_key]
      gnupg_home: /var/lib/secretsctl/gnupg   # for PGP-encrypted files
      mount_point: /run/secrets.d
      symlink_path: /run/secrets
      keep_generations: 1
      use_tmpfs: false
      use_environment: false
      keyservices: ["unix:///run/sops-keyservice.sock"]  # sops key services, asked in order
      enable_local_keyservice: true                     # false: no key on this host at all
      owner: root        # or uid; group or gid; mode
    secrets:
      github_token: {}   # key defaults to the name
      db/password: {owner: postgres, mode: "0440", restart_units: [postgresql.service]}
    templates:
      github_token_env: {source: templates/github_token_env.j2, owner: desktop}
      inline: {content: "x={{ github_token }}\n"}

Relative input paths (sops files, key files, template sources) resolve against the
configuration's folder. Unknown fields are errors, so a typo never passes silently. Every
problem is collected and reported together, one line each, naming the file, the line and
column, and the field (``secretsctl.yaml:12:11: secrets.db/password.mode: …``); a value of the
configuration is quoted only where it is public by nature (a mode, a format, a unit name), and
a secret value put into the file by mistake is never echoed.

This module holds the entry points. YAML is read by :mod:`secretsctl.config._yaml`: a
line-based reader for the usual shape, and libyaml for anything else; a ``secrets:`` block of
one-line entries by :mod:`~secretsctl.config.fastblock`. The sections are read by
:mod:`~secretsctl.config.sections`, their values by :mod:`~secretsctl.config.values` and
ownership by :mod:`~secretsctl.config.ownership`. Plain scalars follow YAML 1.2's core schema
(``yes`` is a string, ``0440`` is not octal), which is why a mode is read from its written
digits.
"""

from __future__ import annotations

import os

from secretsctl.config import _yaml
from secretsctl.config.fastblock import NotFast, fast_block
from secretsctl.config.model import Manifest
from secretsctl.config.sections import (
    DEFAULTS_FIELDS,
    SECRET_FIELDS,
    TEMPLATE_FIELDS,
    SectionLoader,
)
from secretsctl.errors import InputLimitError, ManifestError, SecretsctlError
from secretsctl.limits import read_file
from secretsctl.record import Record

__all__ = [
    "DEFAULTS_FIELDS",
    "SECRET_FIELDS",
    "TEMPLATE_FIELDS",
    "ConfigRead",
    "load_config",
    "parse_config",
    "read_config",
]


class ConfigRead(Record):
    """A configuration read without raising for the problems of single items.

    ``manifest`` holds every well-formed item and the secrets named in ``flawed``, whose
    problems are in ``problems``; templates with a problem are left out. Planning reports
    these problems together with its own (:func:`~secretsctl.render.plan.build_plan`'s
    ``earlier`` and ``skip``), so one run names every problem of a configuration.
    """

    manifest: Manifest
    problems: tuple[SecretsctlError, ...] = ()
    flawed: frozenset[str] = frozenset()


def parse_config(text: str, path: str) -> Manifest:
    """Read configuration text as if it were the file ``path`` (relative paths use its folder).

    Raises :class:`ManifestError` for YAML that cannot be read, and :class:`ProblemsError`
    holding one :class:`ManifestError` per problem otherwise.
    """
    return _parse(text, path, defer=False).manifest


def _parse(text: str, path: str, *, defer: bool) -> ConfigRead:
    found = fast_block(text)
    if found is not None:
        blanked, block = found
        try:
            root = _yaml.read(blanked)
            loader = SectionLoader(path, defer=True)
            manifest = loader.load(root, block)
            if not loader.problems:
                return ConfigRead(manifest)
        except (NotFast, _yaml.YamlSyntaxError, SecretsctlError):
            pass  # the generic path finds and reports whatever it is
    try:
        root = _yaml.read(text)
    except _yaml.YamlSyntaxError as error:
        where = path
        if error.line is not None:
            where += f":{error.line}:{error.column}"
        what = "" if isinstance(error, _yaml.YamlLimitError) else "invalid YAML: "
        raise ManifestError(f"{where}: {what}{error.message}") from None
    loader = SectionLoader(path, defer=defer)
    manifest = loader.load(root)
    return ConfigRead(manifest, tuple(loader.problems), frozenset(loader.flawed))


def load_config(path: str | os.PathLike[str]) -> Manifest:
    """Read ``secretsctl.yaml`` (the default is ``/etc/secretsctl/secretsctl.yaml``).

    Raises :class:`ManifestError` (exit 5) when the file cannot be read or is not YAML, and
    :class:`ProblemsError` with every problem found otherwise.
    """
    name = os.fspath(path)
    return _parse(_read_text(name), name, defer=False).manifest


def read_config(path: str | os.PathLike[str]) -> ConfigRead:
    """Read ``secretsctl.yaml``, keeping the problems of single items for the plan to report.

    Raises as :func:`load_config` does for a file that cannot be read, is not YAML, or whose
    top level or defaults have a problem (those touch every item).
    """
    name = os.fspath(path)
    return _parse(_read_text(name), name, defer=True)


def _read_text(name: str) -> str:
    try:
        data = read_file(name)
    except OSError as error:
        raise ManifestError(
            f"cannot read {name}: {error.strerror or type(error).__name__}",
            hint="pass the configuration with --manifest, or set SECRETSCTL_MANIFEST",
        ) from None
    except InputLimitError as error:
        raise ManifestError(error.message, hint=error.hint) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ManifestError(f"{name}:{line}: the configuration is not UTF-8 text") from None
    if text[:1] == "\ufeff":
        text = text[1:]
    return text
