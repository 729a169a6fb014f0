"""sops's key service, client side: asking ``sops keyservice`` servers for data keys.

sops can unwrap (and wrap) a file's data key through key services: the local one (its own
keys) and remote ones given as ``--keyservice URI``, ``unix:///path/to.sock`` or
``tcp://host:port``, spoken to over gRPC with sops's ``keyservice.proto``. This module is the
remote half; :mod:`secretsctl.keys.keyring` decides when to ask.

:class:`KeyServices` records which services a command uses. It is cheap, and the only name
the rest of secretsctl needs on the usual path: grpc (~50 ms to import) is imported when a
remote service is first asked, never when none is configured.

URIs are taken as sops takes them: a URI sops could not parse, or whose scheme it cannot
dial, is not an error by itself. The service stays in the list, every request to it fails
with a reason naming the URI, and the other services are still asked.

Every request has a deadline, :data:`DEFAULT_TIMEOUT` seconds or
``SECRETSCTL_KEYSERVICE_TIMEOUT``, so that a dead or stuck server cannot hang a boot; a
service that cannot be reached (or misses the deadline) is not asked again by the same
command. Reasons name the URI and the gRPC status (``unix:///x.sock: NotFound: …``), never
key material.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.record import Record

if TYPE_CHECKING:
    from secretsctl.keys.kinds import Recipient
    from secretsctl.sops.metadata import AgeKey, ForeignKey

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "KeyServiceError",
    "KeyServices",
    "RemoteKeyService",
    "remote_services",
    "uri_problem",
]

DEFAULT_TIMEOUT: Final = 10.0
TIMEOUT_ENV: Final = "SECRETSCTL_KEYSERVICE_TIMEOUT"
INSTALL_HINT: Final = (
    "pip install 'secretsctl[keyservice]' (in the environment secretsctl is installed in)"
)

# Go's names for gRPC status codes, as sops prints them (grpc's Python names are upper case).
_CODE_NAMES: Final = {
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}
# After these a service is not asked again: the next request would wait or fail the same way.
_DOWN_CODES: Final = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
_MESSAGE_CHARACTERS: Final = 240
_URI: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)")
_HOST_PORT: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:@]+):([0-9]{1,5})")
_TCP_SCHEMES: Final = ("tcp", "tcp4", "tcp6")


class KeyServiceError(SecretsctlError):
    """Key services cannot be used at all: no gRPC installed, or none to ask (exit 1)."""

    exit_code = ExitCode.GENERIC


class KeyServices(Record):
    """Which key services to ask, in sops's order: the local one when enabled, then each URI.

    The default, the local service alone, is what every command does without options.
    """

    local: bool = True
    uris: tuple[str, ...] = ()

    def __str__(self) -> str:
        names = (["local"] if self.local else []) + list(self.uris)
        return ", ".join(names) if names else "none"


def _target(uri: str) -> str:
    """Return the gRPC target of ``uri``; ``ValueError`` says why it cannot be dialled."""
    match = _URI.fullmatch(uri)
    if match is None or any(c.isspace() or not c.isprintable() for c in uri):
        raise ValueError("malformed URI (the forms are unix:///path and tcp://host:port)")
    scheme, authority, path = match.groups()
    scheme = scheme.lower()
    if scheme == "unix":
        if authority or not path:
            raise ValueError("a unix URI is unix:///absolute/path/to.sock")
        return f"unix:{path}"
    if scheme in _TCP_SCHEMES:
        address = _HOST_PORT.fullmatch(authority)
        if address is None or path not in ("", "/") or not 0 < int(address[2]) < 65536:
            raise ValueError("a tcp URI is tcp://host:port")
        return f"{address[1]}:{address[2]}"
    raise ValueError(f"unsupported scheme {scheme!r} (sops's key service listens on unix or tcp)")


def uri_problem(uri: str) -> str | None:
    """Return why ``uri`` cannot be dialled (sops would skip or fail on it), or None."""
    try:
        _target(uri)
    except ValueError as error:
        return str(error)
    return None


def timeout() -> float:
    """Return the deadline of one request in seconds: ``SECRETSCTL_KEYSERVICE_TIMEOUT`` or 10."""
    from secretsctl.limits import seconds_from_env

    return seconds_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT)


def _one_line(text: str) -> str:
    """Return a server's message as one printable line, cut short."""
    line = "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= _MESSAGE_CHARACTERS else line[: _MESSAGE_CHARACTERS - 1] + "…"


def _grpc_installed() -> bool:
    import importlib.util

    for name in ("grpc", "google.protobuf"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def remote_services(services: KeyServices) -> tuple[RemoteKeyService, ...]:
    """Return a client for each URI of ``services``, in order; nothing connects yet.

    Raises :class:`KeyServiceError` with the install hint when grpc is not installed.
    """
    if not services.uris:
        return ()
    if not _grpc_installed():
        raise KeyServiceError(
            "the key service client (grpcio, protobuf) is not installed: it comes with the"
            f" 'keyservice' extra (needed for --keyservice {services.uris[0]})",
            hint=INSTALL_HINT,
        )
    deadline = timeout()
    return tuple(RemoteKeyService(uri, deadline) for uri in services.uris)


class RemoteKeyService:
    """One remote key service: a lazily opened gRPC channel and sops's two requests."""

    __slots__ = ("_down", "_stub", "_target", "timeout", "unreachable", "uri")

    def __init__(self, uri: str, deadline: float = DEFAULT_TIMEOUT) -> None:
        self.uri = uri
        self.timeout = deadline
        self._stub: Any = None
        self._down: str | None = None
        self.unreachable = False  # a request found no server there, or none answering in time
        try:
            self._target: str | None = _target(uri)
        except ValueError as error:
            self._target = None
            self._down = str(error)

    def __repr__(self) -> str:
        return f"RemoteKeyService({self.uri!r})"

    def _call(self, method: str, request_of: Any) -> Any:
        """Send one request; return the response, or the reason (naming the URI) as a str."""
        if self._down is not None:
            return f"{self.uri}: {self._down}"
        import grpc  # type: ignore[import-untyped,unused-ignore]

        from secretsctl.keyservice import keyservice_pb2 as pb

        if self._stub is None:
            from secretsctl.keyservice import keyservice_pb2_grpc

            # sops dials the address itself, never through an HTTP proxy from the environment.
            channel = grpc.insecure_channel(self._target, options=(("grpc.enable_http_proxy", 0),))
            stub = keyservice_pb2_grpc.KeyServiceStub
            self._stub = stub(channel)  # type: ignore[no-untyped-call,unused-ignore]
        try:
            request = request_of(pb)
        except ValueError as error:  # a key the protocol cannot carry
            return f"{self.uri}: {error}"
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            name = getattr(code, "name", "UNKNOWN")
            details = error.details() if hasattr(error, "details") else None
            reason = f"{_CODE_NAMES.get(name, name)}: {_one_line(details or '')}".rstrip(": ")
            if name in _DOWN_CODES:
                self._down = reason
                self.unreachable = True
            return f"{self.uri}: {reason}"

    def decrypt(self, entry: AgeKey | ForeignKey) -> bytes | str:
        """Ask the service to unwrap one metadata entry: its plaintext, or the reason."""
        ciphertext = _ciphertext(entry)

        def request(pb: Any) -> Any:
            return pb.DecryptRequest(key=_proto_key(pb, entry), ciphertext=ciphertext)

        response = self._call("Decrypt", request)
        return response if isinstance(response, str) else bytes(response.plaintext)

    def encrypt(self, part: bytes, recipient: Recipient) -> AgeKey | ForeignKey | str:
        """Ask the service to wrap ``part`` for one recipient: the metadata entry, or why not."""
        from secretsctl.sops.metadata import AgeKey, ForeignKey

        def request(pb: Any) -> Any:
            if recipient.kind == "pgp":
                key = pb.Key(pgp_key=pb.PgpKey(fingerprint=recipient.text))
            else:
                key = pb.Key(age_key=pb.AgeKey(recipient=recipient.text))
            return pb.EncryptRequest(key=key, plaintext=part)

        response = self._call("Encrypt", request)
        if isinstance(response, str):
            return response
        try:
            text = bytes(response.ciphertext).decode("ascii")
        except UnicodeDecodeError:
            return f"{self.uri}: the service answered with a ciphertext that is not text"
        if recipient.kind != "pgp":
            return AgeKey(recipient.text, text)
        from datetime import UTC, datetime

        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ForeignKey("pgp", (("created_at", created), ("enc", text), ("fp", recipient.text)))


def _ciphertext(entry: AgeKey | ForeignKey) -> bytes:
    """Return the entry's wrapped key as sops sends it (``EncryptedDataKey``: ``enc``)."""
    from secretsctl.sops.metadata import AgeKey

    if isinstance(entry, AgeKey):
        return entry.enc.encode("utf-8", "surrogateescape")
    enc = dict(entry.fields).get("enc")
    return str(enc or "").encode("utf-8", "surrogateescape")


# Which proto message carries each master key kind, and its fields from the metadata's,
# as sops's KeyFromMasterKey.
_PROTO_FIELDS: Final = {
    "pgp": ("pgp_key", "PgpKey", (("fingerprint", "fp"),)),
    "gcp_kms": ("gcp_kms_key", "GcpKmsKey", (("resource_id", "resource_id"),)),
    "azure_kv": (
        "azure_keyvault_key",
        "AzureKeyVaultKey",
        (("vault_url", "vault_url"), ("name", "name"), ("version", "version")),
    ),
    "hc_vault": (
        "vault_key",
        "VaultKey",
        (
            ("vault_address", "vault_address"),
            ("engine_path", "engine_path"),
            ("key_name", "key_name"),
        ),
    ),
    "hckms": ("hckms_key", "HckmsKey", (("key_id", "key_id"),)),
    "kms": (
        "kms_key",
        "KmsKey",
        (("arn", "arn"), ("role", "role"), ("aws_profile", "aws_profile")),
    ),
}


def _proto_key(pb: Any, entry: AgeKey | ForeignKey) -> Any:
    """Return the protocol's ``Key`` for a metadata entry; ``ValueError`` for a kind it lacks."""
    from secretsctl.sops.metadata import AgeKey

    if isinstance(entry, AgeKey):
        return pb.Key(age_key=pb.AgeKey(recipient=entry.recipient))
    row = _PROTO_FIELDS.get(entry.kind)
    if row is None:
        raise ValueError(f"sops's key service protocol has no {entry.kind} keys")
    field, message, names = row
    fields = dict(entry.fields)
    values = {ours: str(fields[theirs]) for ours, theirs in names if fields.get(theirs)}
    inner = getattr(pb, message)(**values)
    context = fields.get("context")
    if entry.kind == "kms" and context:
        pairs = context.items() if isinstance(context, dict) else context
        inner.context.update({str(pair[0]): str(pair[1]) for pair in pairs if len(pair) == 2})
    return pb.Key(**{field: inner})
