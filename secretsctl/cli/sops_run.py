"""The sops commands' work without click: where a command reads and writes, and ``decrypt``.

``secretsctl decrypt`` is on the boot path, and click costs ~15 ms to import; the fast path
(:mod:`secretsctl.cli.fastpath`) calls :func:`decrypt` directly, the click command in
:mod:`secretsctl.cli.sops_cmd` calls it after parsing, with the same parameters.
"""

from __future__ import annotations

import os
import sys

from secretsctl.errors import ExitCode, InputError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

    from secretsctl.cli.app import App


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
        from secretsctl.sops.stores import Format

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
        self.input_format = Format(input_type) if input_type else Format.for_path(name or "")
        self.output_format = (
            Format(output_type)
            if output_type
            else (Format.for_path(name) if name else self.input_format)
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

    services = None
    if keyservice or enable_local_keyservice is not None or _names_key_services():
        # Only key services need the option helpers (and click, which they import).
        from secretsctl.cli.options import key_services

        services = key_services(keyservice, enable_local_keyservice)
    io = Io(**io_options)
    if extract is not None:
        from secretsctl.sops.codec import parse_tree_path

        parse_tree_path(extract)
    config = find_sops_config(app, config_path)
    data = io.read()
    identities = None
    if services is not None:
        from secretsctl.cli.options import identities_for

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


def _names_key_services() -> bool:
    # sops's variables, read by :func:`secretsctl.cli.options.key_services`.
    return "SOPS_KEYSERVICE" in os.environ or "SOPS_ENABLE_LOCAL_KEYSERVICE" in os.environ
