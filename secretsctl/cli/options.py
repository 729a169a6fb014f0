"""Command-line options shared by several commands, spelled once.

The sops commands share ``--input-type``/``--output-type`` (:data:`FORMATS`), ``--ignore-mac``,
and the trio ``--config``, ``--keyservice``, ``--enable-local-keyservice``, which
:func:`sops_options` hands to a command as one :class:`SopsOptions`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from secretsctl.record import Record

if TYPE_CHECKING:
    from secretsctl.cli.app import App
    from secretsctl.keys.sources import IdentitySet
    from secretsctl.keyservice.client import KeyServices
    from secretsctl.sops.creation_rules import SopsConfig, StoreSettings
    from secretsctl.sops.stores import Format

    Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")


def option_group(*decorators: Decorator) -> Decorator:
    """Return one decorator that applies ``decorators`` as if stacked in this order."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def options_as(record: Any, name: str, *decorators: Decorator) -> Decorator:
    """Return a decorator that adds ``decorators`` and passes their values as one record.

    The command receives the options' (and arguments') values as the keyword argument
    ``name``: a ``record``, a :class:`~secretsctl.record.Record` whose fields are named as the
    parameters.
    """
    fields: tuple[str, ...] = record._fields

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_record(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = record(*[kwargs.pop(field) for field in fields])
            return command(*args, **kwargs)

        return option_group(*decorators)(with_record)

    return decorate


def input_type_option(help: str = "Store of FILE; by default from its extension.") -> Decorator:
    """``--input-type``: one of :data:`FORMATS`."""
    return click.option("--input-type", type=click.Choice(FORMATS), help=help)


def output_type_option(help: str) -> Decorator:
    """``--output-type``: one of :data:`FORMATS`."""
    return click.option("--output-type", type=click.Choice(FORMATS), help=help)


def ignore_mac_option(help: str = "Skip the MAC check.") -> Decorator:
    """``--ignore-mac``, a flag."""
    return click.option("--ignore-mac", is_flag=True, help=help)


def format_named(store_type: str | None) -> Format | None:
    """Return the format a ``--input-type``/``--output-type`` value names; None without one."""
    from secretsctl.sops.stores import Format

    return Format(store_type) if store_type else None


def format_for(store_type: str | None, path: str) -> Format:
    """Return the format a ``--input-type``/``--output-type`` value names, else ``path``'s."""
    from secretsctl.sops.stores import Format

    return Format(store_type) if store_type else Format.for_path(path)


sops_config_option = click.option(
    "--config",
    "config_path",
    envvar="SOPS_CONFIG",
    type=click.Path(dir_okay=False),
    help="Path of .sops.yaml; by default searched upward from the current directory."
    " Env: SOPS_CONFIG.",
)

pgp_option = click.option(
    "-p",
    "--pgp",
    envvar="SOPS_PGP_FP",
    help="Comma-separated PGP fingerprints (gpg encrypts to them); with --age they share one"
    " key group. Env: SOPS_PGP_FP.",
)


def flag_key_group(age: str | None, pgp: str | None) -> tuple[str, ...]:
    """Return the key group given by ``--age`` and ``--pgp`` (comma-separated), each checked.

    A PGP fingerprint given to ``--age`` is refused, never silently taken as PGP.
    """
    from secretsctl.keys.kinds import recipients_for

    return (
        *recipients_for("age", (age or "").split(",")),
        *recipients_for("pgp", (pgp or "").split(",")),
    )


# --- key services -----------------------------------------------------------------------------

LOCAL_KEYSERVICE_FLAG = "--enable-local-keyservice"
_NO_LOCAL_KEYSERVICE_FLAG = "--disable-local-keyservice"
# Go's strconv.ParseBool, which sops's flag and environment variable go through.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _go_bool(text: str) -> bool | None:
    return True if text in _GO_TRUE else False if text in _GO_FALSE else None


class SopsCommand(click.Command):
    """A command that also takes sops's Go spelling ``--enable-local-keyservice=false``.

    Go's boolean flags take a value only after ``=``; click's flags take none. The Go form is
    rewritten to the flag or its ``--disable-…`` opposite before click parses.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rewrite ``--enable-local-keyservice=BOOL``, then parse as click does."""
        rewritten: list[str] = []
        for index, word in enumerate(args):
            if word == "--":
                rewritten.extend(args[index:])
                break
            option, equals, value = word.partition("=")
            if equals and option == LOCAL_KEYSERVICE_FLAG:
                enabled = _go_bool(value)
                if enabled is None:
                    raise click.UsageError(
                        f"invalid boolean value {value!r} for {option} (true or false)", ctx
                    )
                word = LOCAL_KEYSERVICE_FLAG if enabled else _NO_LOCAL_KEYSERVICE_FLAG
            rewritten.append(word)
        return super().parse_args(ctx, rewritten)


def keyservice_options(func: Any) -> Any:
    """Add sops's ``--keyservice URI`` (repeatable) and ``--enable-local-keyservice``."""
    func = click.option(
        f"{LOCAL_KEYSERVICE_FLAG}/{_NO_LOCAL_KEYSERVICE_FLAG}",
        "enable_local_keyservice",
        default=None,
        help="Use this host's keys (the default), or only the --keyservice servers; sops's"
        " --enable-local-keyservice=false works too. Env: SOPS_ENABLE_LOCAL_KEYSERVICE.",
    )(func)
    return click.option(
        "--keyservice",
        "keyservice",
        multiple=True,
        metavar="URI",
        help="Also ask this sops key service (unix:///path/to.sock or tcp://host:port) for"
        " data keys; repeatable, asked in order after the local keys. Env: SOPS_KEYSERVICE"
        " (comma-separated, asked before the options').",
    )(func)


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
        enable_local = value != "" and _go_bool(value)
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


# --config, --keyservice and --enable-local-keyservice, as the keyword argument ``sops``.
sops_options = options_as(SopsOptions, "sops", sops_config_option, keyservice_options)
