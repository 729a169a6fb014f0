"""``secretsctl keyservice``: serve sops's key service protocol with this host's keys."""

from __future__ import annotations

import sys

import click

from secretsctl.cli.app import App
from secretsctl.errors import SecretsctlError


def _ids(values: tuple[str, ...], what: str) -> list[int]:
    """Resolve user or group names (or numbers) as given to --allow-uid / --allow-gid."""
    import grp
    import pwd

    lookup = pwd.getpwnam if what == "user" else grp.getgrnam
    out = []
    for value in values:
        if value.isdigit():
            out.append(int(value))
            continue
        try:
            entry = lookup(value)
        except KeyError:
            raise click.BadParameter(f"no {what} named `{value}`") from None
        out.append(entry[2])
    return out


def _require_grpc() -> None:
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] not in ("grpc", "google"):
            raise
        raise SecretsctlError(
            "the gRPC server (grpcio, protobuf) is not installed: it comes with the"
            " 'keyservice' extra",
            hint="pip install 'secretsctl[keyservice]' (in the environment secretsctl is"
            " installed in)",
        ) from None


@click.command("keyservice")
@click.option(
    "--network",
    "--net",
    type=click.Choice(["unix", "tcp"]),
    default="tcp",
    show_default=True,
    help="Listen on a unix socket or on tcp.",
)
@click.option(
    "--address",
    "--addr",
    default="127.0.0.1:5000",
    show_default=True,
    help="The socket path (unix) or HOST:PORT (tcp).",
)
@click.option(
    "--allow-uid",
    multiple=True,
    metavar="USER",
    help="A user (name or uid) that may use a unix socket; repeatable. The server's own uid"
    " and root always may.",
)
@click.option(
    "--allow-gid",
    multiple=True,
    metavar="GROUP",
    help="A group (name or gid) whose members (by primary group) may use a unix socket;"
    " repeatable.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds requests in flight get to finish at SIGTERM/SIGINT.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=1024),
    default=None,
    metavar="N",
    help="Requests served at once (default: one per CPU, at least 2); raise it when requests"
    " wait on gpg or an age plugin.",
)
@click.pass_obj
def keyservice(
    app: App,
    network: str,
    address: str,
    allow_uid: tuple[str, ...],
    allow_gid: tuple[str, ...],
    grace: float,
    workers: int | None,
) -> None:
    """Serve sops's key service protocol with the keys `decrypt` would use.

    sops clients (`sops decrypt --keyservice unix://PATH --enable-local-keyservice=false`)
    then wrap and unwrap data keys here: age (every kind) and PGP. On a unix socket, only
    the allowed users and groups are served (peer credentials); tcp trusts its network.
    One line per request goes to stderr. SIGTERM or SIGINT: stop, finish, remove the socket.

    \b
    Examples:
      secretsctl keyservice --network unix --address /run/sops-keyservice.sock
      secretsctl keyservice --network unix --address /run/ks.sock --allow-gid sops
      secretsctl keyservice --network tcp --address 127.0.0.1:5000
    """
    import gc
    import signal
    import threading

    _require_grpc()
    uids = _ids(allow_uid, "user")
    gids = _ids(allow_gid, "group")
    if network == "tcp" and (uids or gids):
        raise click.BadParameter(
            "tcp has no peer credentials; --allow-uid/--allow-gid need --network unix"
        )
    from secretsctl.keys.sources import load_identities
    from secretsctl.keyservice.server import KeyServiceServer

    # A long-running server: the cyclic collector that run_process turns off is needed again.
    gc.enable()
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            sys.stderr.write(f"{app.prog}: keyservice: {line}\n")
            sys.stderr.flush()

    server = KeyServiceServer(
        network,
        address,
        load_identities(),
        allow_uids=uids,
        allow_gids=gids,
        log=log,
        workers=workers,
    )
    server.start()

    def on_signal(number: int, _frame: object) -> None:
        log(f"{signal.Signals(number).name}: stopping")
        threading.Thread(target=server.stop, args=(grace,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not server.wait(1.0):
        pass
    log("stopped")
