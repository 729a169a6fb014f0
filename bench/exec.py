"""Time `secretsctl exec-env` and `exec-file` against the real sops 3.11's, end to end.

Run with the project's venv: `.venv/bin/python bench/exec.py [--runs N] [--keys N]`.

It writes a YAML file of random string values, encrypts it with real sops to a throw-away
age key, and runs both tools alternately, timing each whole run from start to exit:
`exec-env FILE 'test -n "$key_0"'` (the child sees the variables) and `exec-file --no-fifo
FILE 'test -s {}'` (the child sees a non-empty file; a regular file, since a fifo times the
child's reading too). Both commands run through `/bin/sh -c`, as in sops. It prints the
median of each and the ratio ours/sops. Target: <= 1.0.
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

from _support import sops_file, throwaway_key, tool

TARGET = 1.0
COMMANDS = {
    "exec-env": ["exec-env", "{file}", 'test -n "$key_0"'],
    "exec-file": ["exec-file", "--no-fifo", "{file}", "test -s {}"],
}


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:2])} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="runs per tool and command")
    parser.add_argument("--keys", type=int, default=10, help="keys in the file")
    args = parser.parse_args()
    sops, ours = tool("sops"), tool("secretsctl")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipient, env = throwaway_key(folder)
        if "XDG_RUNTIME_DIR" in os.environ:
            env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
        path = sops_file(folder, args.keys, env, recipient, sops, "secrets.yaml")
        header = ("command", "keys", "sops ms", "ours ms", "ours/sops", "target")
        print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 6, 9, 9, 10, 7), strict=True)))
        for name, template in COMMANDS.items():
            argv = [part.replace("{file}", str(path)) for part in template]
            theirs, mine = [], []
            for _ in range(args.runs):
                theirs.append(timed([sops, *argv], env))
                mine.append(timed([ours, *argv], env))
            theirs_ms = statistics.median(theirs) * 1000
            ours_ms = statistics.median(mine) * 1000
            ratio = ours_ms / theirs_ms
            verdict = "ok" if ratio <= TARGET else "OVER"
            print(
                f"{name:>10} {args.keys:>6} {theirs_ms:>9.1f} {ours_ms:>9.1f} {ratio:>10.2f} "
                f"{TARGET:>7.1f} {verdict}"
            )


if __name__ == "__main__":
    main()
