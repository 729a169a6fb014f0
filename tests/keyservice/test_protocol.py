"""The key service's answers at the gRPC level: status codes as sops's server gives them."""

from __future__ import annotations

import binascii
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from secretsctl.keys.keyring import stanza_types
from secretsctl.keys.kinds import kind_named
from secretsctl.keyservice import keyservice_pb2 as pb
from tests.conftest import AgeKey
from tests.keyservice_support import identities_of, running

DATA_KEY = bytes(range(32))


@pytest.fixture
def service(server_key: AgeKey, socket_dir: Path) -> Iterator[tuple[grpc.Channel, list[str]]]:
    """A channel to a server on a unix socket that holds ``server_key``, and its log."""
    address = str(socket_dir / "ks.sock")
    with (
        running("unix", address, identities_of(server_key)) as (_, lines),
        grpc.insecure_channel(f"unix:{address}") as channel,
    ):
        yield channel, lines


def _call(channel: grpc.Channel, method: str, request: Any) -> Any:
    response_type = pb.EncryptResponse if method == "Encrypt" else pb.DecryptResponse
    rpc = channel.unary_unary(
        f"/KeyService/{method}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    return rpc(request, timeout=60)


def _status(channel: grpc.Channel, method: str, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        _call(channel, method, request)
    error: Any = raised.value
    return error.code(), error.details()


def test_encrypt_answers_the_armoured_age_file_sops_writes(
    service: tuple[grpc.Channel, list[str]], server_key: AgeKey
) -> None:
    channel, _ = service
    key = pb.Key(age_key=pb.AgeKey(recipient=server_key.recipient))
    answer = _call(channel, "Encrypt", pb.EncryptRequest(key=key, plaintext=DATA_KEY))
    armour = answer.ciphertext.decode("ascii")
    lines = armour.split("\n")
    assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
    assert lines[-2:] == ["-----END AGE ENCRYPTED FILE-----", ""]
    assert all(len(line) == 64 for line in lines[1:-3])
    opened = _call(channel, "Decrypt", pb.DecryptRequest(key=key, ciphertext=answer.ciphertext))
    assert opened.plaintext == DATA_KEY, "the data key did not come back"


def test_a_request_without_a_key_is_not_found(service: tuple[grpc.Channel, list[str]]) -> None:
    channel, lines = service
    assert _status(channel, "Encrypt", pb.EncryptRequest(plaintext=DATA_KEY)) == (
        grpc.StatusCode.NOT_FOUND,
        "Must provide a key",
    )
    assert _status(channel, "Decrypt", pb.DecryptRequest(key=pb.Key(), ciphertext=b"x")) == (
        grpc.StatusCode.NOT_FOUND,
        "Must provide a key",
    )
    assert lines[-1].endswith(" decrypt none: error NOT_FOUND: Must provide a key"), lines


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (pb.Key(kms_key=pb.KmsKey(arn="arn:aws:kms:eu-west-1:1:key/k")), "AWS KMS"),
        (pb.Key(gcp_kms_key=pb.GcpKmsKey(resource_id="projects/p/keys/k")), "GCP KMS"),
        (pb.Key(vault_key=pb.VaultKey(key_name="k")), "HashiCorp Vault"),
        (pb.Key(azure_keyvault_key=pb.AzureKeyVaultKey(name="k")), "Azure Key Vault"),
        (pb.Key(hckms_key=pb.HckmsKey(key_id="r:k")), "HuaweiCloud KMS"),
    ],
)
def test_cloud_keys_fail_as_sops_fails_without_credentials(
    service: tuple[grpc.Channel, list[str]], key: Any, name: str
) -> None:
    channel, lines = service
    code, details = _status(channel, "Encrypt", pb.EncryptRequest(key=key, plaintext=DATA_KEY))
    assert code == grpc.StatusCode.UNKNOWN
    assert name in details
    code, _ = _status(channel, "Decrypt", pb.DecryptRequest(key=key, ciphertext=b"x"))
    assert code == grpc.StatusCode.UNKNOWN
    assert all(": error UNKNOWN: " in line for line in lines[-2:]), lines


def test_malformed_requests_fail_and_the_next_one_works(
    service: tuple[grpc.Channel, list[str]], server_key: AgeKey
) -> None:
    channel, lines = service
    raw = channel.unary_unary("/KeyService/Decrypt")
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05\x32\x03", b"\x0a"):
        with pytest.raises(grpc.RpcError) as raised:
            raw(garbage, timeout=60)
        error: Any = raised.value
        assert error.code() == grpc.StatusCode.INTERNAL
    assert sum(": error INTERNAL: " in line for line in lines) == 3, lines
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/KeyService/Nothing")(b"", timeout=60)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    # A bad age entry, a bad recipient: errors, and the server goes on.
    key = pb.Key(age_key=pb.AgeKey(recipient=server_key.recipient))
    code, _ = _status(channel, "Decrypt", pb.DecryptRequest(key=key, ciphertext=b"not age"))
    assert code == grpc.StatusCode.UNKNOWN
    bad = pb.Key(age_key=pb.AgeKey(recipient="age1nonsense\n\x1b[31m"))
    code, _ = _status(channel, "Encrypt", pb.EncryptRequest(key=bad, plaintext=DATA_KEY))
    assert code == grpc.StatusCode.UNKNOWN
    assert "\x1b" not in lines[-1], "a control character reached the log"
    answer = _call(channel, "Encrypt", pb.EncryptRequest(key=key, plaintext=DATA_KEY))
    assert answer.ciphertext.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert lines[-1].endswith(f"encrypt age {server_key.recipient}: ok"), lines


def test_every_age_kind_the_keyring_wraps_is_served(
    service: tuple[grpc.Channel, list[str]], tmp_path: Path
) -> None:
    """An ssh-ed25519 recipient: the server wraps with the kind sops would use."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    recipient = (tmp_path / "id.pub").read_text().strip()
    channel, lines = service
    key = pb.Key(age_key=pb.AgeKey(recipient=recipient))
    answer = _call(channel, "Encrypt", pb.EncryptRequest(key=key, plaintext=DATA_KEY))
    parsed = kind_named("ssh-ed25519").parse_recipient(recipient)
    assert parsed.kind == "ssh-ed25519"
    header = binascii.a2b_base64("".join(answer.ciphertext.decode().splitlines()[1:-1]))
    assert b"-> ssh-ed25519 " in header
    assert lines[-1].split()[3:5] == ["encrypt", "age"], lines


def test_stop_finishes_the_request_in_flight_and_refuses_new_ones(
    server_key: AgeKey, socket_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from secretsctl.keys import keyring

    entered, release = threading.Event(), threading.Event()

    def slow_unwrap(entry: Any, identities: Any) -> bytes | str:
        entered.set()
        assert release.wait(60), "never released"
        return DATA_KEY

    monkeypatch.setattr(keyring, "unwrap_entry", slow_unwrap)
    address = str(socket_dir / "ks.sock")
    key = pb.Key(age_key=pb.AgeKey(recipient=server_key.recipient))
    request = pb.DecryptRequest(key=key, ciphertext=b"anything")
    with running("unix", address, identities_of(server_key)) as (server, lines):
        channel = grpc.insecure_channel(f"unix:{address}")
        rpc = channel.unary_unary(
            "/KeyService/Decrypt",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=pb.DecryptResponse.FromString,
        )
        in_flight = rpc.future(request, timeout=60)
        assert entered.wait(60), "the request never arrived"
        stopping = threading.Thread(target=server.stop, args=(30,))
        stopping.start()
        deadline = time.monotonic() + 60  # a hang guard
        while os.path.lexists(address):
            assert time.monotonic() < deadline, "the socket stayed"
            time.sleep(0.01)
        # No new connections: the socket is gone before the request in flight is done.
        assert not in_flight.done()
        release.set()
        assert in_flight.result().plaintext == DATA_KEY, "the request in flight failed"
        stopping.join(60)
        assert server.wait(0)
        channel.close()
    assert lines[-1].endswith(f"decrypt age {server_key.recipient}: ok"), lines


def test_encrypt_answers_what_sops_own_service_answers(
    service: tuple[grpc.Channel, list[str]], server_key: AgeKey, socket_dir: Path
) -> None:
    """The same request to `sops keyservice`: the same layout, line for line, and both open."""
    from tests.keyservice_support import sops_go_binary

    address = socket_dir / "sops.sock"
    sops_service = subprocess.Popen(
        [sops_go_binary(), "keyservice", "--network", "unix", "--address", str(address)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(socket_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # a hang guard
        while not address.exists():
            assert sops_service.poll() is None, "sops keyservice ended"
            assert time.monotonic() < deadline, "sops keyservice never listened"
            time.sleep(0.05)
        channel, _ = service
        key = pb.Key(age_key=pb.AgeKey(recipient=server_key.recipient))
        request = pb.EncryptRequest(key=key, plaintext=DATA_KEY)
        ours = _call(channel, "Encrypt", request).ciphertext
        with grpc.insecure_channel(f"unix:{address}") as sops_channel:
            theirs = _call(sops_channel, "Encrypt", request).ciphertext
    finally:
        sops_service.terminate()
        sops_service.wait(60)
    # The same armour and stanzas. rage (pyrage) adds one random "-grease" stanza that age
    # ignores, so the bytes differ in length as any two rage and age files do.
    for ciphertext in (ours, theirs):
        lines = ciphertext.split(b"\n")
        assert lines[0] == b"-----BEGIN AGE ENCRYPTED FILE-----"
        assert lines[-2:] == [b"-----END AGE ENCRYPTED FILE-----", b""]
        assert all(len(line) == 64 for line in lines[1:-3])
        assert stanza_types(ciphertext.decode()) == ("X25519",)
    for ciphertext in (ours, theirs):
        opened = _call(channel, "Decrypt", pb.DecryptRequest(key=key, ciphertext=ciphertext))
        assert opened.plaintext == DATA_KEY, "the data key did not come back"
