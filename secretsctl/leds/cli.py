"""The ``ci-keyboard-leds`` command line: ``run``, ``hook fish|bash|zsh`` and ``status [DIR]``.

A thin click layer over :mod:`secretsctl.leds.daemon`. Expected errors print one
``ci-keyboard-leds: error: …`` line and exit with their code: 5 when the token file is missing
or malformed, 2 for a usage error, 1 otherwise (a missing ``secretsctl[leds]`` extra among
them, with the command that installs it). Heavy modules (httpx, the daemon) are imported inside
the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from secretsctl.cli.app import App

if TYPE_CHECKING:
    from secretsctl.leds.daemon import TokenSource
    from secretsctl.leds.github import GitHub

PROG = "ci-keyboard-leds"
DEFAULT_ENV_FILE = "/run/secrets/rendered/github_token_env"
DEFAULT_API_URL = "https://api.github.com"


class LedsApp(App):
    """secretsctl's :class:`App`, speaking as ``ci-keyboard-leds``."""

    __slots__ = ()
    prog = PROG


def _env(name: str) -> str:
    return f"CI_KEYBOARD_LEDS_{name}"


def _env_file_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--env-file",
        envvar=_env("ENV_FILE"),
        default=DEFAULT_ENV_FILE,
        show_default=True,
        help="The env file holding GITHUB_TOKEN=…; read again when it changes. An empty value "
        "uses GITHUB_TOKEN from the environment, as does a missing default file. "
        f"Env: {_env('ENV_FILE')}.",
    )(command)


def _api_url_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--api-url",
        envvar=_env("API_URL"),
        default=DEFAULT_API_URL,
        show_default=True,
        help=f"The GitHub API base URL (GitHub Enterprise: https://HOST/api/v3). "
        f"Env: {_env('API_URL')}.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Show the GitHub CI state of the shell's current directory on the keyboard.

    Orange while a run is pending, red when one failed, green when all passed, gray when
    unknown, blue outside a GitHub repository.
    """


def _github_client() -> type[GitHub]:
    """Return the GitHub client class; without the ``leds`` extra, say how to install it."""
    try:
        from secretsctl.leds.github import GitHub
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] not in ("httpx", "httpcore"):
            raise
        from secretsctl.leds.daemon import DaemonError

        raise DaemonError(
            "the GitHub client (httpx) is not installed: it comes with the 'leds' extra",
            hint="pip install 'secretsctl[leds]' (in the environment secretsctl is installed in)",
        ) from None
    return GitHub


def _token_source(ctx: click.Context, env_file: str) -> TokenSource:
    from secretsctl.leds.daemon import TokenSource

    environ_token = os.environ.get("GITHUB_TOKEN") or None
    if not env_file:
        return TokenSource(None, environ_token)
    from_default = ctx.get_parameter_source("env_file") is click.core.ParameterSource.DEFAULT
    if from_default and environ_token and not os.path.lexists(env_file):
        return TokenSource(None, environ_token)
    return TokenSource(env_file, environ_token)


@cli.command()
@_env_file_option
@click.option(
    "--socket",
    "socket_path",
    envvar=_env("SOCKET"),
    default=None,
    help="The directory socket the shell hooks write to "
    f"[default: $XDG_RUNTIME_DIR/ci-keyboard-leds.sock]. Env: {_env('SOCKET')}.",
)
@click.option(
    "--backend",
    type=click.Choice(["razer", "openrgb", "stdout"]),
    envvar=_env("BACKEND"),
    default="razer",
    show_default=True,
    help=f"Where the colour goes; stdout prints it. Env: {_env('BACKEND')}.",
)
@click.option(
    "--razer-socket",
    envvar=_env("RAZER_SOCKET"),
    default="/tmp/razercontrol-socket",  # noqa: S108 - the Razer daemon's fixed path
    show_default=True,
    help=f"The Razer daemon's socket. Env: {_env('RAZER_SOCKET')}.",
)
@click.option(
    "--openrgb-address",
    envvar=_env("OPENRGB_ADDRESS"),
    default="127.0.0.1:6742",
    show_default=True,
    help=f"The OpenRGB SDK server, HOST:PORT. Env: {_env('OPENRGB_ADDRESS')}.",
)
@_api_url_option
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    envvar=_env("POLL_INTERVAL"),
    default=30.0,
    show_default=True,
    help="Base poll interval in seconds: half of it while a run is pending, ten times it "
    f"once every run finished. Env: {_env('POLL_INTERVAL')}.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every directory and evaluation.")
@click.pass_context
def run(
    ctx: click.Context,
    env_file: str,
    socket_path: str | None,
    backend: str,
    razer_socket: str,
    openrgb_address: str,
    api_url: str,
    poll_interval: float,
    verbose: bool,
) -> None:
    """Run the daemon (Hyprland focus events too when HYPRLAND_INSTANCE_SIGNATURE is set)."""
    import asyncio
    import logging

    from secretsctl.leds import daemon

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(message)s",
    )
    # httpx logs each request at INFO; the daemon logs what matters itself.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    github_client = _github_client()
    tokens = _token_source(ctx, env_file)
    tokens.load()
    if tokens.env_file is None:
        daemon.log.info("token: GITHUB_TOKEN from the environment")
    else:
        daemon.log.info("token: read from %s", tokens.env_file)
    settings = daemon.DaemonSettings(
        socket_path=socket_path or daemon.default_socket_path(),
        poll_interval=poll_interval,
        hyprland_socket=daemon.hyprland_event_socket(),
    )
    listening = daemon.bind_directory_socket(settings.socket_path)

    async def serve() -> None:
        import functools

        from secretsctl.leds.keyboard import open_keyboard
        from secretsctl.leds.repo import find_repository

        github = github_client(api_url, token=tokens)
        keyboard = open_keyboard(
            backend, razer_socket=razer_socket, openrgb_address=openrgb_address, out=sys.stdout
        )
        find = functools.partial(find_repository, hosts=github.web_hosts())
        try:
            await daemon.Daemon(
                settings, github=github, keyboard=keyboard, find_repository=find
            ).run(listening=listening)
        finally:
            await github.aclose()

    asyncio.run(serve())


@cli.command()
@click.argument("shell", type=click.Choice(["fish", "bash", "zsh"]))
@click.option(
    "--socket",
    "socket_path",
    envvar=_env("SOCKET"),
    default=None,
    help="The daemon's socket [default: $XDG_RUNTIME_DIR/ci-keyboard-leds.sock, "
    f"looked up when the hook runs]. Env: {_env('SOCKET')}.",
)
def hook(shell: str, socket_path: str | None) -> None:
    """Print a hook that reports each new $PWD to the daemon, never blocking the prompt.

    \b
    fish:  ci-keyboard-leds hook fish | source      (in config.fish)
    bash:  eval "$(ci-keyboard-leds hook bash)"     (in ~/.bashrc)
    zsh:   eval "$(ci-keyboard-leds hook zsh)"      (in ~/.zshrc)
    """
    from secretsctl.leds.hooks import choose_sender, render_hook

    click.echo(render_hook(shell, sender=choose_sender(), socket_path=socket_path), nl=False)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@_env_file_option
@_api_url_option
@click.pass_context
def status(ctx: click.Context, directory: str | None, env_file: str, api_url: str) -> None:
    """Print the repository, commit, CI state and colour of DIRECTORY (default: here)."""
    import asyncio
    import functools

    from secretsctl.leds.daemon import DaemonError, directory_status

    target = os.path.abspath(directory or os.getcwd())
    if not os.path.isdir(target):
        raise DaemonError(f"{target}: no such directory")
    github_client = _github_client()
    tokens = _token_source(ctx, env_file)
    tokens.load()

    async def ask() -> None:
        from secretsctl.leds.repo import find_repository

        github = github_client(api_url, token=tokens)
        try:
            found = await directory_status(
                target,
                github=github,
                find_repository=functools.partial(find_repository, hosts=github.web_hosts()),
            )
        finally:
            await github.aclose()
        repository = found.repository
        colour = found.colour
        click.echo(f"directory: {found.directory}")
        if repository is None:
            click.echo("repository: -\ncommit: -")
        else:
            click.echo(f"repository: {repository.owner}/{repository.name}")
            click.echo(f"commit: {repository.head or '-'}")
        click.echo(f"state: {found.state.value}")
        click.echo(f"colour: {colour.red} {colour.green} {colour.blue}")

    asyncio.run(ask())


def main(argv: list[str] | None = None) -> None:
    """Run ``ci-keyboard-leds``; expected errors become one line and an exit code."""
    from secretsctl.cli.root import run_click

    run_click(cli, LedsApp(), argv)
