"""The sops commands' work without click: input and output, ``decrypt``, the sops options.

:class:`SopsOptions` holds ``--config``, ``--keyservice`` and ``--enable-local-keyservice``,
and :func:`key_services` the key services they ask for. ``secretsctl decrypt`` is on the boot
path, and click costs ~15 ms to import; the fast path (:mod:`secretsctl.cli.fastpath`) calls
:func:`decrypt` directly, the click command in :mod:`secretsctl.cli.sops_cmd` calls it after
parsing, with the same parameters.
"""

from __future__ import annotations

import os
import sys

from secretsctl.errors import ExitCode, InputError, UsageError
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from secretsctl.cli.app import App
    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices
    from secretsctl.sops.creation_rules import SopsConfig, StoreSettings
    from secretsctl.sops.stores import Format


class Io:
    """Where a command reads from and writes to, resolved once from its options."""

    def __init__(
        self,
        file: str | None,
        input_type: str | None,
        output_type: str | None,
        output: str | None,
        in_place: bool,
        filename_override: str | None,
    ) -> None:
        self.from_stdin = file is None or file == "-"
        if self.from_stdin and in_place:
            raise UsageError("cannot use --in-place when reading from stdin")
        if in_place and output:
            raise UsageError("cannot operate on both --output and --in-place")
        self.path = None if file is None or self.from_stdin else os.path.abspath(file)
        if self.path is not None and not os.path.exists(self.path):
            raise InputError(
                f"cannot operate on non-existent file {file!r}",
                exit_code=ExitCode.NO_FILE_SPECIFIED,
            )
        name = filename_override or (str(self.path) if self.path else None)
        if name is None and input_type is None:
            raise UsageError(
                "reading from stdin needs --input-type or --filename-override",
            )
        self.name = os.path.abspath(name) if name else None
        self.label = file if file and not self.from_stdin else "<stdin>"
        self.input_format = format_for(input_type, name or "")
        self.output_format = (
            format_for(output_type, name)
            if name
            else format_named(output_type) or self.input_format
        )
        self.output = output
        self.in_place = in_place

    def read(self) -> bytes:
        """Read the input file, or stdin, within the input size limit."""
        from secretsctl.limits import read_file, read_stream

        try:
            if self.path is None:
                return read_stream(sys.stdin.buffer, self.label)
            return read_file(self.path, label=self.label)
        except OSError as exc:
            raise InputError(f"cannot read {self.label}: {exc.strerror}") from None

    def write(self, app: App, data: bytes, *, plaintext: bool, force: bool = False) -> None:
        """Write the result to stdout, ``--output`` or the file itself (``--in-place``)."""
        target = self.path if self.in_place else self.output
        if target is None:
            app.write_stdout(data, plaintext=plaintext, force=force)
            return
        from secretsctl import fsutil

        # New plaintext files are private; an existing file keeps its mode and owner.
        fsutil.write_atomic(target, data, mode=0o600 if plaintext and not self.in_place else None)


def decrypt(
    app: App,
    *,
    config_path: str | None,
    keyservice: tuple[str, ...],
    enable_local_keyservice: bool | None,
    extract: str | None,
    ignore_mac: bool,
    force: bool,
    **io_options: Any,
) -> None:
    """Decrypt FILE (or stdin) and print or write the plaintext as sops does.

    ``io_options`` are :class:`Io`'s: where the command reads and writes.
    """
    from secretsctl.api import decrypt_to_bytes
    from secretsctl.cli.app import find_sops_config
    from secretsctl.keys.sources import load_identities

    services = key_services(keyservice, enable_local_keyservice)
    io = Io(**io_options)
    if extract is not None:
        from secretsctl.sops.codec import parse_tree_path

        parse_tree_path(extract)
    config = find_sops_config(app, config_path)
    data = io.read()
    identities = identities_for(app, services)
    result = decrypt_to_bytes(
        data,
        input_format=io.input_format,
        output_format=io.output_format,
        identities=load_identities() if identities is None else identities,
        label=io.label,
        extract=extract,
        ignore_mac=ignore_mac,
        stores=config.stores if config else None,
    )
    for warning in result.warnings:
        app.display_warning(warning)
    io.write(app, result.output.reveal(), plaintext=True, force=force)


def format_named(store_type: str | None) -> Format | None:
    """Return the format a ``--input-type``/``--output-type`` value names; None without one."""
    from secretsctl.sops.stores import Format

    return Format(store_type) if store_type else None


def format_for(store_type: str | None, path: str) -> Format:
    """Return the format a ``--input-type``/``--output-type`` value names, else ``path``'s."""
    from secretsctl.sops.stores import Format

    return format_named(store_type) or Format.for_path(path)


# --- key services ---------------------------------------------------------------------------

# Go's strconv.ParseBool, which sops's flag and environment variable go through.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_bool(text: str) -> bool | None:
    """Read a boolean as Go's strconv.ParseBool does; None when it is none."""
    return True if text in _GO_TRUE else False if text in _GO_FALSE else None


def key_services(
    uris: Sequence[str], enable_local: bool | None, environ: Mapping[str, str] | None = None
) -> KeyServices | None:
    """Return the key services the options and sops's variables ask for; None: the default.

    As sops (urfave/cli) reads them: ``SOPS_KEYSERVICE`` is split on commas and comes before
    the ``--keyservice`` options; ``SOPS_ENABLE_LOCAL_KEYSERVICE`` set but empty means false.
    """
    environ = os.environ if environ is None else environ
    from_environment = environ.get("SOPS_KEYSERVICE")
    every = [part.strip() for part in (from_environment or "").split(",")] + list(uris)
    every = [uri for uri in every if uri]
    value = environ.get("SOPS_ENABLE_LOCAL_KEYSERVICE")
    if enable_local is None and value is not None:
        enable_local = value != "" and go_bool(value)
        if enable_local is None:
            from secretsctl.errors import SecretsctlError

            raise SecretsctlError(
                f"could not parse {value!r} as a boolean in SOPS_ENABLE_LOCAL_KEYSERVICE",
                hint="set it to true or false",
            )
    enable_local = enable_local is not False
    if enable_local and not every:
        return None
    from secretsctl.keyservice.client import KeyServices

    return KeyServices(enable_local, tuple(every))


def identities_for(app: App, services: KeyServices | None) -> IdentitySet | None:
    """Load the identities for ``services``: this host's keys (when local), with the remotes.

    None for the default (the local keys alone): the core loads them where it needs them.
    Fails before any work when the remotes need grpc and it is missing; a URI that cannot be
    dialled is a warning (sops skips it), and its reason shows if no key opens a file.
    """
    if services is None:
        return None
    from secretsctl.keys.sources import IdentitySet, load_identities

    check_services(app, services)
    loaded = load_identities() if services.local else IdentitySet((), (), ())
    return loaded.with_services(services)


def check_services(app: App, services: KeyServices | None) -> None:
    """Warn about each URI that cannot be dialled; fail when remotes need a missing grpc."""
    if services is None:
        return
    from secretsctl.keyservice.client import remote_services, uri_problem

    for uri in services.uris:
        problem = uri_problem(uri)
        if problem is not None:
            app.display_warning(f"key service `{uri}` cannot be used: {problem}")
    remote_services(services)


class SopsOptions(Record):
    """``--config``, ``--keyservice`` and ``--enable-local-keyservice``, as one value."""

    config_path: str | None
    keyservice: tuple[str, ...]
    enable_local_keyservice: bool | None

    def services(self) -> KeyServices | None:
        """Return the key services asked for (:func:`key_services`); None: the default."""
        return key_services(self.keyservice, self.enable_local_keyservice)

    def identities(self, app: App) -> IdentitySet | None:
        """Return the identities for the key services asked for (:func:`identities_for`)."""
        return identities_for(app, self.services())

    def config(self, app: App, *, required: bool = False) -> SopsConfig | None:
        """Return the ``.sops.yaml`` of ``--config`` or found upward; None if none."""
        from secretsctl.cli.app import find_sops_config

        return find_sops_config(app, self.config_path, required=required)

    def stores(self, app: App) -> StoreSettings | None:
        """Return the ``stores:`` settings of the ``.sops.yaml``; None without one."""
        config = self.config(app)
        return config.stores if config else None
