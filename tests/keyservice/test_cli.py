"""``secretsctl keyservice`` as a process: start, serve the real sops, stop on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SECRETSCTL, AgeKey, Runner, Sops, sops_binary
from tests.keyservice_support import PLAIN_YAML, VALUES, SopsClient
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.interop


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a timing
    while not path.exists():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the socket never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("stop", "workers"), [(signal.SIGTERM, ()), (signal.SIGINT, ("--workers", "1"))]
)
def test_serves_then_stops_on_a_signal_and_removes_the_socket(
    stop: signal.Signals,
    workers: tuple[str, ...],
    client: SopsClient,
    server_key: AgeKey,
    socket_dir: Path,
    isolated_env: Path,
) -> None:
    plain = socket_dir / "plain.yaml"
    plain.write_bytes(PLAIN_YAML)
    encrypted = Sops(sops_binary(), server_key).run(
        "encrypt", "--age", server_key.recipient, str(plain)
    )
    assert encrypted.returncode == 0, encrypted.stderr.decode()
    target = socket_dir / "secrets.yaml"
    target.write_bytes(encrypted.stdout)
    address = socket_dir / "ks.sock"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(isolated_env),
        "SOPS_AGE_KEY_FILE": str(server_key.key_file),
    }
    process = subprocess.Popen(
        [SECRETSCTL, "keyservice", "--network", "unix", "--address", str(address), *workers],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(address, process)
        done = client("decrypt", f"unix://{address}", str(target))
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert done.returncode == 0, done.stderr.decode()
    same_secret(done.stdout, PLAIN_YAML, "the decrypted file")
    assert process.returncode == 0, err.decode()
    assert not address.exists(), "the socket is left behind"
    assert sorted(os.listdir(socket_dir)) == ["plain.yaml", "secrets.yaml"], "a folder is left"
    assert out == b""
    for value in (*VALUES, server_key.identity.encode()):
        assert value not in err, "a value reached the log"
    lines = err.decode().splitlines()
    assert lines[0] == "secretsctl: keyservice: 1 identity loaded: 1 X25519", lines
    assert lines[1].startswith(f"secretsctl: keyservice: listening on unix://{address} "), lines
    request = f"decrypt age {server_key.recipient}: ok"
    assert [line for line in lines if line.endswith(request)] == [lines[2]], lines
    assert lines[2].startswith(f"secretsctl: keyservice: uid={os.geteuid()} "), lines
    assert lines[3:] == [
        f"secretsctl: keyservice: {stop.name}: stopping",
        "secretsctl: keyservice: stopped",
    ], lines


def test_without_grpc_it_says_how_to_install_the_extra(isolated_env: Path) -> None:
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "from secretsctl.cli import main\n"
        "main(['keyservice', '--network', 'unix', '--address', 'x.sock'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=isolated_env, check=False
    )
    assert done.returncode == 1, done.stderr.decode()
    assert done.stderr.decode().splitlines() == [
        "secretsctl: error: the gRPC server (grpcio, protobuf) is not installed: it comes with"
        " the 'keyservice' extra",
        "secretsctl: hint: pip install 'secretsctl[keyservice]' (in the environment secretsctl is"
        " installed in)",
    ]
    assert not (isolated_env / "x.sock").exists()


@pytest.mark.parametrize("workers", ["0", "-1", "x"])
def test_workers_must_be_a_positive_number(secretsctl: Runner, workers: str) -> None:
    result = secretsctl("keyservice", "--workers", workers, "--network", "unix", "--address", "/x")
    assert result.returncode == 2, result.stderr.decode()
    assert "--workers" in result.stderr.decode()


def test_default_workers_is_one_per_cpu_and_at_least_two() -> None:
    from secretsctl.keyservice.server import default_workers

    assert default_workers() == max(2, os.cpu_count() or 2)


def test_allow_lists_need_a_unix_socket(secretsctl: Runner) -> None:
    done = secretsctl("keyservice", "--network", "tcp", "--address", "127.0.0.1:0",
                      "--allow-uid", "0")  # fmt: skip
    assert done.returncode == 2, done.stderr.decode()
    assert "need --network unix" in done.stderr.decode()


def test_an_unknown_user_is_a_usage_error(secretsctl: Runner, socket_dir: Path) -> None:
    address = socket_dir / "ks.sock"
    done = secretsctl("keyservice", "--network", "unix", "--address", str(address),
                      "--allow-uid", "no-such-user-sctl")  # fmt: skip
    assert done.returncode == 2, done.stderr.decode()
    assert "no user named `no-such-user-sctl`" in done.stderr.decode()
    assert not address.exists()


def test_an_existing_file_is_refused_and_kept(secretsctl: Runner, socket_dir: Path) -> None:
    address = socket_dir / "ks.sock"
    address.write_text("keep\n")
    done = secretsctl("keyservice", "--network", "unix", "--address", str(address))
    assert done.returncode == 1, done.stderr.decode()
    assert f"secretsctl: error: `{address}` already exists\n" in done.stderr.decode()
    assert address.read_text() == "keep\n"


def test_decrypt_imports_nothing_of_grpc(
    server_key: AgeKey, socket_dir: Path, isolated_env: Path
) -> None:
    plain = socket_dir / "plain.yaml"
    plain.write_bytes(PLAIN_YAML)
    encrypted = Sops(sops_binary(), server_key).run(
        "encrypt", "--age", server_key.recipient, str(plain)
    )
    target = socket_dir / "secrets.yaml"
    target.write_bytes(encrypted.stdout)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "secretsctl", "decrypt", str(target)],
        capture_output=True,
        env={
            **os.environ,
            "HOME": str(isolated_env),
            "SOPS_AGE_KEY_FILE": str(server_key.key_file),
        },
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    imported = [
        line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line
    ]
    assert "secretsctl.keys.kinds" in imported  # the listing is real
    heavy = [name for name in imported if name.partition(".")[0] in ("grpc", "google")]
    assert heavy == [], heavy
    assert not [name for name in imported if name.startswith("secretsctl.keyservice")]


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:x"])
def test_a_malformed_tcp_address_exits_1(secretsctl: Runner, address: str) -> None:
    done = secretsctl("keyservice", "--network", "tcp", "--address", address)
    assert done.returncode == 1, done.stderr.decode()
    assert f"secretsctl: error: malformed tcp address `{address}`" in done.stderr.decode()


def test_a_tcp_port_in_use_says_so(secretsctl: Runner) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = secretsctl("keyservice", "--network", "tcp", "--address", f"127.0.0.1:{port}")
    assert done.returncode == 1, done.stderr.decode()
    assert done.stderr.decode().splitlines()[-1] == (
        f"secretsctl: error: cannot listen on `127.0.0.1:{port}`: Address already in use"
    )
