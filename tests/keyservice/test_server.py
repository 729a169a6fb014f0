"""The key service with the real sops 3.11 as its client, on a unix socket and on tcp."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from secretsctl.keyservice.server import KeyServiceError, KeyServiceServer
from tests.conftest import AgeKey, Sops, make_age_key, sops_binary
from tests.keyservice_support import (
    PLAIN_YAML,
    VALUES,
    SopsClient,
    identities_of,
    running,
)
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.interop


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _no_values(lines: list[str], *extra: bytes) -> None:
    text = "\n".join(lines).encode()
    for value in (*VALUES, *extra):
        assert value not in text, "a value reached the log"


def _round_trip(client: SopsClient, uri: str, key: AgeKey, folder: Path) -> bytes:
    plain = folder / "plain.yaml"
    plain.write_bytes(PLAIN_YAML)
    encrypted = client("encrypt", uri, "--age", key.recipient, str(plain), cwd=folder)
    assert encrypted.returncode == 0, encrypted.stderr.decode()
    target = folder / "secrets.yaml"
    target.write_bytes(encrypted.stdout)
    decrypted = client("decrypt", uri, str(target), cwd=folder)
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    same_secret(decrypted.stdout, PLAIN_YAML, "the decrypted file")
    return encrypted.stdout


def test_unix_socket_serves_a_client_without_keys(
    client: SopsClient, server_key: AgeKey, socket_dir: Path
) -> None:
    address = str(socket_dir / "ks.sock")
    with running("unix", address, identities_of(server_key)) as (_, lines):
        assert stat.S_IMODE(os.stat(address).st_mode) == 0o600
        encrypted = _round_trip(client, f"unix://{address}", server_key, socket_dir)
    assert not os.path.lexists(address), "the socket is left behind"
    assert sorted(os.listdir(socket_dir)) == ["plain.yaml", "secrets.yaml"], "a folder is left"
    me = f"uid={os.geteuid()} gid={os.getegid()} pid="
    requests = [line for line in lines if line.startswith(me)]
    assert [line.split()[3:5] for line in requests] == [
        ["encrypt", "age"],
        ["decrypt", "age"],
    ], lines
    assert all(line.endswith(f"{server_key.recipient}: ok") for line in requests), lines
    _no_values(lines, server_key.identity.encode())
    # sops itself, holding the key, opens what went through our server (the entry is sops's).
    target = socket_dir / "secrets.yaml"
    target.write_bytes(encrypted)
    done = Sops(sops_binary(), server_key).run("decrypt", str(target))
    assert done.returncode == 0, done.stderr.decode()
    same_secret(done.stdout, PLAIN_YAML, "sops's own decryption")


def test_tcp_serves_and_logs_the_client_address(
    client: SopsClient, server_key: AgeKey, tmp_path: Path
) -> None:
    with running("tcp", f"127.0.0.1:{_free_port()}", identities_of(server_key)) as (server, lines):
        _round_trip(client, f"tcp://{server.address}", server_key, tmp_path)
    requests = [line for line in lines if line.startswith("tcp=127.0.0.1:")]
    assert len(requests) == 2, lines
    assert not any("warning" in line for line in lines), lines
    _no_values(lines, server_key.identity.encode())


def test_tcp_port_zero_picks_a_free_port(server_key: AgeKey) -> None:
    with running("tcp", "127.0.0.1:0", identities_of(server_key)) as (server, lines):
        port = int(server.address.rpartition(":")[2])
        assert port > 0
        assert f"listening on tcp://127.0.0.1:{port}" in lines


def test_tcp_on_every_interface_warns(server_key: AgeKey) -> None:
    with running("tcp", "0.0.0.0:0", identities_of(server_key)) as (_, lines):
        pass
    assert any(line.startswith("warning: tcp has no client credentials") for line in lines), lines


def test_server_without_the_key_answers_an_error_and_sops_fails(
    client: SopsClient, server_key: AgeKey, socket_dir: Path, tmp_path: Path
) -> None:
    other = make_age_key(tmp_path, "other.txt")
    address = str(socket_dir / "ks.sock")
    with running("unix", address, identities_of(other)) as (_, lines):
        plain = socket_dir / "plain.yaml"
        plain.write_bytes(PLAIN_YAML)
        uri = f"unix://{address}"
        encrypted = client("encrypt", uri, "--age", server_key.recipient, str(plain))
        assert encrypted.returncode == 0, encrypted.stderr.decode()
        target = socket_dir / "secrets.yaml"
        target.write_bytes(encrypted.stdout)
        decrypted = client("decrypt", uri, str(target))
    assert decrypted.returncode == 128, decrypted.stderr.decode()
    assert b"hunter2" not in decrypted.stdout, "a value was printed"
    failed = [line for line in lines if " decrypt age " in line]
    assert failed, lines
    assert all(": error UNKNOWN: " in line for line in failed), lines
    assert "no identity matched" in failed[0], lines
    _no_values(lines, server_key.identity.encode(), other.identity.encode())


def test_an_existing_path_is_not_replaced(server_key: AgeKey, socket_dir: Path) -> None:
    address = socket_dir / "ks.sock"
    address.write_text("not a socket\n")
    server = KeyServiceServer(
        "unix", str(address), identities_of(server_key), log=lambda _line: None
    )
    with pytest.raises(KeyServiceError, match="already exists"):
        server.start()
    assert address.read_text() == "not a socket\n"
    assert sorted(os.listdir(socket_dir)) == ["ks.sock"], "a private folder was left behind"


def test_start_says_how_many_identities_of_which_kind(server_key: AgeKey, socket_dir: Path) -> None:
    with running("unix", str(socket_dir / "ks.sock"), identities_of(server_key)) as (_, lines):
        pass
    assert lines[0] == "1 identity loaded: 1 X25519", lines
    with running("unix", str(socket_dir / "ks.sock"), identities_of()) as (_, lines):
        pass
    assert lines[0].startswith("no identities loaded"), lines


def test_start_warns_about_a_key_source_that_cannot_be_used(
    server_key: AgeKey, socket_dir: Path, tmp_path: Path
) -> None:
    from secretsctl.keys.sources import load_identities

    broken = tmp_path / "broken.txt"
    broken.write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    identities = load_identities(use_environment=False, age_key_file=broken)
    with running("unix", str(socket_dir / "ks.sock"), identities) as (_, lines):
        pass
    assert lines[0].startswith("no identities loaded"), lines
    assert lines[1].startswith(f"warning: {broken}"), lines
    assert "NOTAKEY" not in "\n".join(lines), "key text reached the log"


def test_a_post_quantum_key_is_served(client: SopsClient, socket_dir: Path, tmp_path: Path) -> None:
    import subprocess

    from secretsctl.keys.sources import load_identities
    from tests.conftest import SECRETSCTL

    key_file = tmp_path / "pq.txt"
    made = subprocess.run(
        [SECRETSCTL, "keygen", "--pq", "-o", str(key_file)], capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr.decode()
    recipient = made.stderr.decode().split("Public key: ")[-1].split()[0]
    assert recipient.startswith("age1pq1"), made.stderr.decode()
    identities = load_identities(use_environment=False, age_key_file=key_file)
    address = str(socket_dir / "ks.sock")
    with running("unix", address, identities) as (_, lines):
        pq = AgeKey("", recipient, key_file)
        _round_trip(client, f"unix://{address}", pq, socket_dir)
    assert lines[0] == "1 identity loaded: 1 mlkem768x25519", lines
    assert sum(line.endswith(": ok") for line in lines) == 2, lines
    _no_values(lines, key_file.read_bytes().split(b"AGE-SECRET-KEY-PQ-1")[-1][:40])
