"""The key service server: sops's gRPC ``KeyService`` over the key kinds secretsctl knows.

A sops client (``sops --keyservice unix://… | tcp://…``) sends the data key to wrap, or a
wrapped entry to open, with the master key it is for. This server answers ``age_key`` and
``pgp_key`` requests with the identities loaded once at start (as ``secretsctl decrypt``
loads them) and the key kinds of :mod:`secretsctl.keys.kinds`: an encrypt answers exactly
what sops's own server answers (the armoured age file, the armoured OpenPGP message), so the
files a sops client writes are the same whichever server it used. Other key types, and
requests without a key, get the status codes sops's server gives (``NOT_FOUND`` for no key,
``UNKNOWN`` with a message for a key that cannot be used).

On a unix socket only the allowed users and groups get in: gRPC's Python server does not
tell a handler who is at the other end of a unix connection, so gRPC listens on a private
socket inside a 0700 folder, and a small front-end on the public socket accepts each
connection, checks its ``SO_PEERCRED`` against the allow-list, and relays the bytes of the
allowed ones. The front-end connects to gRPC from an autobound abstract address, which gRPC
reports as the request's peer; that is how each request's log line names the client's uid
and pid. Over TCP there are no peer credentials: a TCP key service trusts its network, as
sops's does, and the log names the client's address.

One line per request goes to ``log``: the client, encrypt or decrypt, the key type and
recipient or fingerprint, and ``ok`` or the error. Never a data key, a plaintext or key
material.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.record import Record

if TYPE_CHECKING:
    import grpc

    from secretsctl.keys.sources import IdentitySet
    from secretsctl.sops.metadata import AgeKey, ForeignKey

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_NETWORK",
    "KeyServiceError",
    "KeyServiceServer",
    "PeerCredentials",
    "default_workers",
    "describe_identities",
]

DEFAULT_NETWORK: Final = "tcp"
DEFAULT_ADDRESS: Final = "127.0.0.1:5000"
_PEERCRED: Final = struct.Struct("3i")
_ABSTRACT_PEER: Final = "unix-abstract:"
# How long a stopping server lets each relay pass on gRPC's last bytes before closing it.
_RELAY_DRAIN_SECONDS: Final = 1.0
# What grpc-go answers for a request it cannot parse; a sops client sees the same.
_UNPARSABLE: Final = "grpc: error unmarshalling request"
_SERVICE: Final = "KeyService"


class KeyServiceError(SecretsctlError):
    """The key service cannot start: a bad network or address, a socket already there."""

    exit_code = ExitCode.GENERIC


class PeerCredentials(Record):
    """Who connected to the unix socket, as the kernel says (``SO_PEERCRED``, at connect)."""

    pid: int
    uid: int
    gid: int

    def describe(self) -> str:
        """Name the peer in a log line."""
        return f"uid={self.uid} gid={self.gid} pid={self.pid}"


def describe_identities(identities: IdentitySet) -> str:
    """Say how many identities of which kind were loaded (for the start-up log line)."""
    counts: dict[str, int] = {}
    for loaded in identities.identities:
        label = loaded.kind + (" (from ssh-ed25519)" if loaded.converted else "")
        counts[label] = counts.get(label, 0) + 1
    if not counts:
        return "no identities loaded (decrypt requests will fail, encrypt works)"
    kinds = ", ".join(f"{count} {label}" for label, count in counts.items())
    total = len(identities.identities)
    return f"{total} identit{'y' if total == 1 else 'ies'} loaded: {kinds}"


def _one_line(text: str) -> str:
    """Return ``text`` as a log line may show it: line breaks as spaces, controls as ``?``."""
    return "".join(c if c.isprintable() else " " if c in "\n\t" else "?" for c in text)


def _printable(text: str) -> str:
    """Return a client-given name as a log line may show it: one line, cut when long."""
    from secretsctl.keys.kinds import shorten

    return shorten(_one_line(text))


# --- the gRPC service ---------------------------------------------------------------------------


class _Malformed:
    """What the request parser returns for bytes that are not the expected message."""

    __slots__ = ()


_MALFORMED: Final = _Malformed()


class _Failure(Exception):
    """A request answered with a gRPC status (``code`` is a ``grpc.StatusCode`` name)."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _entry(key: Any, data: bytes) -> tuple[str, str, AgeKey | ForeignKey]:
    """Return the key type, its public name, and the metadata entry a decrypt request holds."""
    from secretsctl.sops.metadata import AgeKey, ForeignKey

    text = data.decode("utf-8", "surrogateescape")
    kind = key.WhichOneof("key_type")
    if kind == "age_key":
        return "age", key.age_key.recipient, AgeKey(key.age_key.recipient, text)
    if kind == "pgp_key":
        fp = key.pgp_key.fingerprint
        return "pgp", fp, ForeignKey("pgp", (("enc", text), ("fp", fp)))
    raise _unusable(key)


# The other key types sops's server serves with its cloud credentials; secretsctl holds no
# such key, so they fail as sops's does when its credentials are missing: UNKNOWN.
_OTHER_TYPES: Final = {
    "kms_key": ("AWS KMS", "arn"),
    "gcp_kms_key": ("GCP KMS", "resource_id"),
    "azure_keyvault_key": ("Azure Key Vault", "name"),
    "vault_key": ("HashiCorp Vault", "key_name"),
    "hckms_key": ("HuaweiCloud KMS", "key_id"),
}


def _key_name(key: Any) -> tuple[str, str]:
    """Return the key type and public name of a request's key, for the log line."""
    kind = key.WhichOneof("key_type")
    if kind == "age_key":
        return "age", key.age_key.recipient
    if kind == "pgp_key":
        return "pgp", key.pgp_key.fingerprint
    if kind in _OTHER_TYPES:
        field = _OTHER_TYPES[kind][1]
        return kind.removesuffix("_key"), str(getattr(getattr(key, kind), field))
    return "none", ""


def _unusable(key: Any) -> _Failure:
    kind = key.WhichOneof("key_type")
    if kind is None:
        # sops's server: status.Errorf(codes.NotFound, "Must provide a key").
        return _Failure("NOT_FOUND", "Must provide a key")
    label = _OTHER_TYPES[kind][0] if kind in _OTHER_TYPES else kind
    return _Failure("UNKNOWN", f"this key service holds no {label} keys")


def _encrypt(key: Any, plaintext: bytes) -> bytes:
    """Wrap ``plaintext`` for the request's key: the bytes sops's server answers."""
    from secretsctl.keys.kinds import KIND_MODULES, RecipientError, kind_named, recipient_kind

    kind = key.WhichOneof("key_type")
    if kind == "age_key":
        text = key.age_key.recipient.strip()
        name = recipient_kind(text)
        if name is None or KIND_MODULES[name][3] != "age":
            raise RecipientError(f"unknown age recipient type: `{_printable(text)}`")
        module = kind_named(name)
        entry = module.wrap(plaintext, module.parse_recipient(text))
        return str(getattr(entry, "enc", "")).encode("utf-8", "surrogateescape")
    if kind == "pgp_key":
        module = kind_named("pgp")
        entry = module.wrap(plaintext, module.parse_recipient(key.pgp_key.fingerprint))
        fields = dict(getattr(entry, "fields", ()))
        return str(fields["enc"]).encode("utf-8", "surrogateescape")
    raise _unusable(key)


def _messages() -> Any:
    """Return the generated message classes (the module is typed by its generator, not here)."""
    from secretsctl.keyservice import keyservice_pb2

    return keyservice_pb2


class _Service:
    """The two RPCs: parse, serve, answer a status, log one line."""

    def __init__(
        self,
        identities: IdentitySet,
        log: Callable[[str], None],
        peer_of: Callable[[str], str],
    ) -> None:
        self.identities = identities
        self.log = log
        self.peer_of = peer_of

    def encrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        messages = _messages()

        return self._serve(
            "encrypt",
            request,
            context,
            lambda: messages.EncryptResponse(ciphertext=_encrypt(request.key, request.plaintext)),
        )

    def decrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        messages = _messages()

        def answer() -> Any:
            from secretsctl.keys.keyring import unwrap_entry

            _, _, entry = _entry(request.key, request.ciphertext)
            result = unwrap_entry(entry, self.identities)
            if isinstance(result, str):
                raise _Failure("UNKNOWN", f"failed to decrypt the data key: {result}")
            return messages.DecryptResponse(plaintext=result)

        return self._serve("decrypt", request, context, answer)

    def _serve(
        self, operation: str, request: Any, context: grpc.ServicerContext, answer: Callable[[], Any]
    ) -> Any:
        import grpc

        peer = self.peer_of(context.peer())
        if request is _MALFORMED:
            self.log(f"{peer} {operation}: error INTERNAL: {_UNPARSABLE}")
            context.abort(grpc.StatusCode.INTERNAL, _UNPARSABLE)
        kind, name = _key_name(request.key)
        what = f"{peer} {operation} {kind}" + (f" {_printable(name)}" if name else "")
        try:
            response = answer()
        except _Failure as failure:
            self.log(f"{what}: error {failure.code}: {_one_line(failure.details)}")
            context.abort(getattr(grpc.StatusCode, failure.code), failure.details)
        except SecretsctlError as error:
            # Messages of expected errors quote public material only (the style rules).
            self.log(f"{what}: error UNKNOWN: {_one_line(error.message)}")
            context.abort(grpc.StatusCode.UNKNOWN, error.message)
        except Exception as error:
            # An unexpected error must not end the server. Its type only: the text of an
            # unexpected exception could hold anything.
            self.log(f"{what}: error INTERNAL: internal error ({type(error).__name__})")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(error).__name__})")
        self.log(f"{what}: ok")
        return response

    def handler(self) -> grpc.GenericRpcHandler:
        """Return the gRPC handler of ``keyservice.KeyService`` (requests parsed leniently)."""
        import grpc
        from google.protobuf.message import DecodeError

        messages = _messages()

        def parser(message: Any) -> Callable[[bytes], Any]:
            def parse(data: bytes) -> Any:
                try:
                    return message.FromString(data)
                except DecodeError:
                    return _MALFORMED

            return parse

        methods = {
            "Encrypt": grpc.unary_unary_rpc_method_handler(
                self.encrypt,
                request_deserializer=parser(messages.EncryptRequest),
                response_serializer=messages.EncryptResponse.SerializeToString,
            ),
            "Decrypt": grpc.unary_unary_rpc_method_handler(
                self.decrypt,
                request_deserializer=parser(messages.DecryptRequest),
                response_serializer=messages.DecryptResponse.SerializeToString,
            ),
        }
        return grpc.method_handlers_generic_handler(_SERVICE, methods)


# --- the unix front-end -------------------------------------------------------------------------


class _Relay:
    """The public unix socket: checks each client's ``SO_PEERCRED``, relays allowed ones."""

    def __init__(
        self,
        listener: socket.socket,
        backend: str,
        allowed: Callable[[PeerCredentials], bool],
        log: Callable[[str], None],
    ) -> None:
        self.listener = listener
        self.backend = backend
        self.allowed = allowed
        self.log = log
        self.peers: dict[str, PeerCredentials] = {}
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.relays: set[threading.Thread] = set()
        self.thread = threading.Thread(target=self._accept, name="keyservice-accept", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop accepting; connections in flight go on until gRPC closes its side."""
        with contextlib.suppress(OSError):
            # Wakes the thread blocked in accept() (Linux answers it with EINVAL).
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join()

    def close_all(self, drain: float) -> None:
        """Close the connections left, after up to ``drain`` s for each to end on its own.

        gRPC has answered every request when it stops, but its last bytes may still be on their
        way through a relay: closing at once could cut a reply off (the client then sees the
        stream removed). A relay ends when both sides are done.
        """
        import time

        deadline = time.monotonic() + drain
        with self.lock:
            relays = list(self.relays)
        for relay in relays:
            relay.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def peer(self, grpc_peer: str) -> PeerCredentials | None:
        if not grpc_peer.startswith(_ABSTRACT_PEER):
            return None
        with self.lock:
            return self.peers.get(grpc_peer[len(_ABSTRACT_PEER) :])

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                pid, uid, gid = _PEERCRED.unpack(
                    client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
                )
            except OSError:
                client.close()
                continue
            credentials = PeerCredentials(pid, uid, gid)
            if not self.allowed(credentials):
                client.close()
                self.log(f"{credentials.describe()} refused: not on the allow-list")
                continue
            relay = threading.Thread(
                target=self._relay, args=(client, credentials), name="keyservice-relay", daemon=True
            )
            with self.lock:
                self.relays.add(relay)
            relay.start()

    def _relay(self, client: socket.socket, credentials: PeerCredentials) -> None:
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        name = ""
        try:
            backend.bind(b"")  # autobind: a unique abstract name, gRPC's peer string
            bound = backend.getsockname()
            name = bytes(bound[1:]).decode("ascii", "replace") if bound else ""
            with self.lock:
                self.peers[name] = credentials
                self.connections.update((client, backend))
            backend.connect(self.backend)
        except OSError:
            self._forget(name, client, backend)
            return
        _pump_both(client, backend)
        self._forget(name, client, backend)

    def _forget(self, name: str, *sockets: socket.socket) -> None:
        with self.lock:
            self.peers.pop(name, None)
            self.connections.difference_update(sockets)
            self.relays.discard(threading.current_thread())
        for sock in sockets:
            sock.close()


def _pump_both(client: socket.socket, backend: socket.socket) -> None:
    """Copy bytes both ways until both ends are done; pass each end on (half-close).

    One thread per connection, waiting on both sockets: a thread per direction doubled the
    threads that queue for the GIL under load (bench/keyservice.py).
    """
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, (client, backend))
        selector.register(backend, selectors.EVENT_READ, (backend, client))
        open_ways = 2
        try:
            while open_ways:
                for key, _ in selector.select():
                    source, target = key.data
                    data = source.recv(65536)
                    if data:
                        target.sendall(data)
                        continue
                    selector.unregister(source)
                    target.shutdown(socket.SHUT_WR)
                    open_ways -= 1
        except OSError:
            for sock in (client, backend):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# --- the server ---------------------------------------------------------------------------------


def _reason(error: OSError) -> str:
    """Return the system's words for an error, without the path or address Python adds."""
    return os.strerror(error.errno) if error.errno else str(error)


def _private_folder(path: str) -> str:
    """Create the 0700 folder next to ``path`` that holds gRPC's socket (and stages ours)."""
    import tempfile

    if os.path.lexists(path):
        raise KeyServiceError(
            f"`{path}` already exists",
            hint="remove it if no key service is running there, or choose another --address",
        )
    parent = os.path.dirname(os.path.abspath(path))
    try:
        # Short names: gRPC's socket path in it must fit in a sockaddr_un (108 bytes) too.
        return tempfile.mkdtemp(prefix=".keyservice-", dir=parent)
    except OSError as error:
        raise KeyServiceError(f"cannot create the socket in `{parent}`: {_reason(error)}") from None


def _bind_unix(path: str, private: str, mode: int, group: int | None) -> socket.socket:
    """Create the public socket at ``path`` with its final mode and group; return it listening.

    The socket is bound inside the 0700 folder ``private``, given its mode and group there,
    and renamed into place, so it is never reachable with looser permissions.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staged = os.path.join(private, "public")
    try:
        listener.bind(staged)
        os.chmod(staged, mode)
        if group is not None:
            os.chown(staged, -1, group)
        listener.listen(128)
        os.rename(staged, path)
    except OSError as error:
        listener.close()
        raise KeyServiceError(f"cannot listen on `{path}`: {_reason(error)}") from None
    return listener


def _remove_folder(folder: str) -> None:
    for name in os.listdir(folder):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _tcp_host(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise KeyServiceError(
            f"malformed tcp address `{_printable(address)}`",
            hint="give HOST:PORT, e.g. 127.0.0.1:5000 or [::1]:5000",
        )
    return host.removeprefix("[").removesuffix("]")


def _check_tcp(host: str, port: int) -> None:
    """Refuse an address that cannot be bound, with the system's reason (gRPC logs a C++ line)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as error:
        raise KeyServiceError(
            f"cannot listen on `{_printable(host)}:{port}`: {_reason(error)}"
        ) from None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_workers() -> int:
    """Return how many requests are served at once by default: one per CPU, at least two.

    Requests for age keys are short and hold the GIL; more threads than CPUs only make them
    queue for it (measured with bench/keyservice.py: 8 threads served a third fewer requests
    per second than 2 on a 2-CPU host). Requests that wait on gpg or a plugin want more:
    ``--workers``.
    """
    return max(2, os.cpu_count() or 2)


class KeyServiceServer:
    """A running key service: ``start()``, then ``wait()`` or ``stop(grace)``.

    ``network`` is ``unix`` or ``tcp``; ``address`` a socket path or ``HOST:PORT`` (port 0: a
    free one, see :attr:`address`). On a unix socket, a client is served when its uid is in
    ``allow_uids`` or its gid in ``allow_gids``; the server's own uid and root always are
    (they can read its keys anyway). ``log`` gets one line per request and the start-up lines.
    """

    def __init__(
        self,
        network: str,
        address: str,
        identities: IdentitySet,
        *,
        allow_uids: Iterable[int] = (),
        allow_gids: Iterable[int] = (),
        log: Callable[[str], None],
        workers: int | None = None,
    ) -> None:
        if network not in ("unix", "tcp"):
            raise KeyServiceError(
                f"unknown network `{_printable(network)}`", hint="use --network unix or tcp"
            )
        self.network = network
        self.address = address
        self.identities = identities
        self.allow_uids = frozenset((*allow_uids, os.geteuid(), 0))
        self.allow_gids = frozenset(allow_gids)
        self.log = log
        self.workers = workers or default_workers()
        self._server: grpc.Server | None = None
        self._relay: _Relay | None = None
        self._private: str | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    @property
    def socket_mode(self) -> int:
        """The public socket's mode: 0600, 0660 for one allowed group, else 0666.

        The file mode lets the allowed clients connect at all; the peer credentials decide.
        """
        others = self.allow_uids - {os.geteuid(), 0}
        if others or len(self.allow_gids) > 1:
            return 0o666
        return 0o660 if self.allow_gids else 0o600

    def allowed(self, peer: PeerCredentials) -> bool:
        """Whether a unix client may use the service (its uid or its primary gid)."""
        return peer.uid in self.allow_uids or peer.gid in self.allow_gids

    def start(self) -> None:
        """Load nothing more, bind, and serve in background threads."""
        from concurrent import futures

        import grpc

        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="keyservice"),
            handlers=[_Service(self.identities, self.log, self._peer_name).handler()],
        )
        # The start-up lines come before the first connection is accepted, so they lead the log.
        self._log_identities()
        if self.network == "tcp":
            host = _tcp_host(self.address)
            _check_tcp(host, int(self.address.rpartition(":")[2]))
            port = self._add_port(server, self.address)
            self.address = f"{self.address.rpartition(':')[0]}:{port}"
            self.log(f"listening on tcp://{self.address}")
            if not _is_loopback(host):
                self.log(
                    "warning: tcp has no client credentials: every host that reaches"
                    f" {self.address} can use the keys (use a unix socket, or a firewall)"
                )
            self._server = server
            server.start()
            return
        group = next(iter(self.allow_gids)) if len(self.allow_gids) == 1 else None
        self._private = _private_folder(self.address)
        backend = os.path.join(self._private, "grpc")
        try:
            self._add_port(server, "unix:" + backend)
            listener = _bind_unix(self.address, self._private, self.socket_mode, group)
        except KeyServiceError:
            self._remove_socket()
            raise
        self._server = server
        server.start()
        uids = ", ".join(str(uid) for uid in sorted(self.allow_uids))
        gids = ", ".join(str(gid) for gid in sorted(self.allow_gids)) or "none"
        self.log(
            f"listening on unix://{self.address} (mode {self.socket_mode:04o};"
            f" allowed uids: {uids}; gids: {gids})"
        )
        self._relay = _Relay(listener, backend, self.allowed, self.log)
        self._relay.start()

    def _log_identities(self) -> None:
        self.log(describe_identities(self.identities))
        for problem in self.identities.problems:
            # A source's problem names the location and the trouble, never key material.
            self.log(f"warning: {_one_line(str(problem))}")

    def _add_port(self, server: grpc.Server, target: str) -> int:
        try:
            port = int(server.add_insecure_port(target))
        except RuntimeError:
            port = 0
        if port == 0:
            raise KeyServiceError(f"cannot listen on `{_printable(self.address)}`")
        return port

    def _peer_name(self, grpc_peer: str) -> str:
        if self._relay is not None:
            credentials = self._relay.peer(grpc_peer)
            return credentials.describe() if credentials else "unix peer unknown"
        for prefix in ("ipv4:", "ipv6:"):
            if grpc_peer.startswith(prefix):
                return "tcp=" + grpc_peer[len(prefix) :]
        return _printable(grpc_peer)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped; False when ``timeout`` ran out first."""
        return self._stopped.wait(timeout)

    def stop(self, grace: float | None = 10.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` s), remove the socket."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            if self._relay is not None:
                self._relay.stop()
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISSOCK(os.lstat(self.address).st_mode):
                        os.unlink(self.address)
            if self._server is not None:
                self._server.stop(grace).wait()
            if self._relay is not None:
                self._relay.close_all(drain=_RELAY_DRAIN_SECONDS)
            self._remove_socket()
            self._stopped.set()

    def _remove_socket(self) -> None:
        if self._private is not None:
            _remove_folder(self._private)
            self._private = None
