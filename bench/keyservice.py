"""Load a key service with 32 concurrent clients: `secretsctl keyservice` against `sops keyservice`.

Run with the project's venv: `.venv/bin/python bench/keyservice.py [--clients N]
[--requests N] [--network unix|tcp]`.

Both servers run in the same run, on the same machine, with the same X25519 age key in their
environment (SOPS_AGE_KEY_FILE) and nothing else. A set of random 32-byte data keys is wrapped
once, through sops's own server, so both servers unwrap exactly the same ciphertexts. Then, for
each server in turn (the order alternates between rounds), N clients, each on its own gRPC
channel as separate hosts would be, send their requests one after another:

- decrypt: Decrypt requests for the wrapped data keys; every answer must be the data key;
- encrypt: Encrypt requests for the data keys; every answer must be an age file that the key
  opens to the data key (checked after timing).

It prints requests per second and the 50th and 99th percentile latency of each server and the
ratio ours/sops (req/s: higher is better; latency: lower is better). Any failed, wrong or
missing answer stops the benchmark with the count: nothing may fail or be lost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import tool

ROUNDS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One key service process, on a unix socket or a loopback tcp port."""

    def __init__(
        self, name: str, command: list[str], network: str, folder: Path, env: dict[str, str]
    ):
        self.name = name
        if network == "unix":
            socket_path = folder / f"{name}.sock"
            address = str(socket_path)
            self.target = f"unix://{socket_path}"
        else:
            address = f"127.0.0.1:{free_port()}"
            self.target = address
        self.log = (folder / f"{name}.log").open("wb")
        self.process = subprocess.Popen(
            [*command, "keyservice", "--network", network, "--address", address],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


async def wait_ready(target: str, timeout: float = 15.0) -> None:
    import grpc

    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout)


def age_key(pb2, recipient: str):
    return pb2.Key(age_key=pb2.AgeKey(recipient=recipient))


async def wrap_all(target: str, recipient: str, data_keys: list[bytes]) -> list[bytes]:
    import grpc

    from secretsctl.keyservice import keyservice_pb2 as pb2
    from secretsctl.keyservice import keyservice_pb2_grpc as pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb2_grpc.KeyServiceStub(channel)
        wrapped = []
        for data_key in data_keys:
            answer = await stub.Encrypt(
                pb2.EncryptRequest(key=age_key(pb2, recipient), plaintext=data_key)
            )
            wrapped.append(answer.ciphertext)
        return wrapped


class Load:
    """The outcome of one server under one kind of request."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.answers: list[tuple[int, bytes]] = []
        self.elapsed = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def load(
    target: str,
    request_kind: str,
    recipient: str,
    data_keys: list[bytes],
    wrapped: list[bytes],
    clients: int,
    requests: int,
) -> Load:
    import grpc

    from secretsctl.keyservice import keyservice_pb2 as pb2
    from secretsctl.keyservice import keyservice_pb2_grpc as pb2_grpc

    outcome = Load()
    key = age_key(pb2, recipient)

    async def client(number: int) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            await channel.channel_ready()
            stub = pb2_grpc.KeyServiceStub(channel)
            await started.wait()
            for step in range(requests):
                index = (number * requests + step) % len(data_keys)
                begin = time.perf_counter()
                try:
                    if request_kind == "decrypt":
                        answer = await stub.Decrypt(
                            pb2.DecryptRequest(key=key, ciphertext=wrapped[index]), timeout=30
                        )
                        got = answer.plaintext
                    else:
                        answer = await stub.Encrypt(
                            pb2.EncryptRequest(key=key, plaintext=data_keys[index]), timeout=30
                        )
                        got = answer.ciphertext
                except grpc.aio.AioRpcError as error:
                    outcome.failures.append(f"{error.code().name}: {error.details()}")
                    continue
                outcome.latencies.append(time.perf_counter() - begin)
                if request_kind == "decrypt" and got != data_keys[index]:
                    outcome.failures.append("a decrypt answered the wrong data key")
                outcome.answers.append((index, got))

    started = asyncio.Event()
    tasks = [asyncio.create_task(client(number)) for number in range(clients)]
    await asyncio.sleep(0.2)  # every channel connected before the clock starts
    begin = time.perf_counter()
    started.set()
    await asyncio.gather(*tasks)
    outcome.elapsed = time.perf_counter() - begin
    return outcome


def check_encrypted(outcome: Load, data_keys: list[bytes], identity) -> None:
    import pyrage

    for index, armoured in outcome.answers:
        try:
            opened = pyrage.decrypt(_dearmour(armoured), [identity])
        except Exception:
            outcome.failures.append("an encrypt answer does not open with the key")
            continue
        if opened != data_keys[index]:
            outcome.failures.append("an encrypt answer holds the wrong data key")


def _dearmour(armoured: bytes) -> bytes:
    import base64

    lines = armoured.decode("ascii").strip().splitlines()
    if lines[0] != "-----BEGIN AGE ENCRYPTED FILE-----":
        return armoured
    return base64.b64decode("".join(lines[1:-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client (100)")
    parser.add_argument("--keys", type=int, default=256, help="distinct data keys (256)")
    parser.add_argument("--network", choices=("unix", "tcp"), default="unix")
    args = parser.parse_args()
    try:
        import grpc  # noqa: F401
    except ImportError:
        sys.exit("bench: grpcio is missing; install the test group or secretsctl[keyservice]")
    import pyrage

    sops, ours = tool("sops"), tool("secretsctl")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.chmod(0o700)
        identity = pyrage.x25519.Identity.generate()
        recipient = str(identity.to_public())
        key_file = folder / "keys.txt"
        key_file.write_text(f"{identity}\n")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "SOPS_AGE_KEY_FILE": str(key_file)}  # fmt: skip
        servers = {
            "sops": Server("sops", [sops], args.network, folder, env),
            "ours": Server("ours", [ours], args.network, folder, env),
        }
        try:
            for server in servers.values():
                try:
                    asyncio.run(wait_ready(server.target))
                except TimeoutError:
                    sys.exit(f"bench: the {server.name} key service did not start; see its log")
            data_keys = [os.urandom(32) for _ in range(args.keys)]
            wrapped = asyncio.run(wrap_all(servers["sops"].target, recipient, data_keys))
            results: dict[tuple[str, str], list[Load]] = {}
            for round_number in range(ROUNDS):
                order = ["sops", "ours"] if round_number % 2 == 0 else ["ours", "sops"]
                for request_kind in ("decrypt", "encrypt"):
                    for name in order:
                        outcome = asyncio.run(
                            load(
                                servers[name].target,
                                request_kind,
                                recipient,
                                data_keys,
                                wrapped,
                                args.clients,
                                args.requests,
                            )
                        )
                        if request_kind == "encrypt":
                            check_encrypted(outcome, data_keys, identity)
                        expected = args.clients * args.requests
                        if outcome.failures or len(outcome.answers) != expected:
                            sys.exit(
                                f"bench: {name} {request_kind}: {len(outcome.failures)} failed or"
                                f" wrong, {expected - len(outcome.answers)} missing of {expected}"
                                f" (first: {outcome.failures[:1]})"
                            )
                        results.setdefault((request_kind, name), []).append(outcome)
        finally:
            for server in servers.values():
                server.stop()
    total = args.clients * args.requests
    print(
        f"{args.clients} clients x {args.requests} requests over {args.network}, {ROUNDS} rounds"
        f" (median round); every answer checked, none failed or lost"
    )
    print(
        f"{'request':>8} {'server':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'req/s ours/sops':>16} {'p99 ours/sops':>14}"
    )
    for request_kind in ("decrypt", "encrypt"):
        summary = {}
        for name in ("sops", "ours"):
            rounds = results[(request_kind, name)]
            rate = statistics.median(r.rate for r in rounds)
            p50 = statistics.median(r.percentile(0.50) for r in rounds)
            p99 = statistics.median(r.percentile(0.99) for r in rounds)
            summary[name] = (rate, p99)
            print(f"{request_kind:>8} {name:>6} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f}", end="")
            if name == "ours":
                print(
                    f" {rate / summary['sops'][0]:>16.2f} {p99 / summary['sops'][1]:>14.2f}", end=""
                )
            print()
    print(f"({total} requests per server per round and kind)")


if __name__ == "__main__":
    main()
