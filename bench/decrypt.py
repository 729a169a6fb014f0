"""Time `secretsctl decrypt` against the real `sops decrypt` on the same YAML files.

Run with the project's venv: `.venv/bin/python bench/decrypt.py [--runs N]`.

For 10, 1,000 and 10,000 keys it writes a plaintext YAML file of random string values,
encrypts it with real sops to a throw-away age key, checks that both tools print the same
bytes, then runs the two commands alternately and prints the median wall time of each and the
ratio ours/sops. Targets: <= 1.0 at 10 keys, <= 0.8 at 1,000, <= 0.25 at 10,000. A last row
times 1,000 keys under a post-quantum age key (age1pq1, mlkem768x25519), without a target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import sops_file, tool

# (keys, age key kind, target ratio or None)
CASES = [(10, "X25519", 1.0), (1_000, "X25519", 0.8), (10_000, "X25519", 0.25), (1_000, "PQ", None)]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=0, help="runs per tool and size (0: auto)")
    args = parser.parse_args()
    import pyrage

    from secretsctl.keys.kinds import mlkem768x25519

    sops, ours = tool("sops"), tool("secretsctl")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        identity = pyrage.x25519.Identity.generate()
        pq_recipient, pq_identity = mlkem768x25519.generate()
        keys_of = {
            "X25519": (str(identity.to_public()), str(identity)),
            "PQ": (pq_recipient, pq_identity.reveal()),
        }
        print(
            f"{'keys':>7} {'kind':>6} {'sops ms':>9} {'ours ms':>9} {'ours/sops':>10} {'target':>7}"
        )
        for keys, kind, target in CASES:
            recipient, secret = keys_of[kind]
            key_file = folder / f"keys-{kind}.txt"
            key_file.write_text(f"{secret}\n")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
                   "SOPS_AGE_KEY_FILE": str(key_file)}  # fmt: skip
            path = sops_file(folder, keys, env, recipient, sops, f"secrets_{kind}_{keys}.yaml")
            theirs_out = subprocess.run([sops, "decrypt", str(path)], env=env, capture_output=True)
            ours_out = subprocess.run([ours, "decrypt", str(path)], env=env, capture_output=True)
            if theirs_out.returncode or ours_out.returncode or theirs_out.stdout != ours_out.stdout:
                sys.exit(f"bench: outputs differ at {keys} keys; fix that before timing")
            runs = args.runs or (21 if keys < 10_000 else 7)
            times: dict[str, list[float]] = {"sops": [], "ours": []}
            for _ in range(runs):
                times["sops"].append(timed([sops, "decrypt", str(path)], env))
                times["ours"].append(timed([ours, "decrypt", str(path)], env))
            theirs_ms = statistics.median(times["sops"]) * 1000
            ours_ms = statistics.median(times["ours"]) * 1000
            ratio = ours_ms / theirs_ms
            if target is None:
                shown, verdict = "-", ""
            else:
                shown, verdict = f"{target:.2f}", "ok" if ratio <= target else "OVER"
            print(
                f"{keys:>7} {kind:>6} {theirs_ms:>9.1f} {ours_ms:>9.1f} {ratio:>10.2f} {shown:>7}"
                f" {verdict}"
            )


if __name__ == "__main__":
    main()
