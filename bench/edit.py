"""Time `secretsctl edit` against the real `sops edit` from start to the editor's launch.

Run with the project's venv: `.venv/bin/python bench/edit.py [--runs N] [--keys N]`.

It writes a YAML file of 1,000 random string values, encrypts it with real sops to a
throw-away age key, and runs both tools alternately on it with an editor script that records
`time.monotonic_ns()` (CLOCK_MONOTONIC, shared by every process) the moment it starts and
exits without touching the file, so each run ends with exit 200 and the file unchanged. The
time counted is from just before the tool is started to the editor's first line: the
decryption, the plaintext emission, the temporary folder and the editor's exec. It prints the
median of each and the ratio ours/sops. Target: <= 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import sops_file, throwaway_key, tool

TARGET = 1.0
UNCHANGED = 200

EDITOR = """\
import sys, time
stamp = time.monotonic_ns()
with open(sys.argv[1], "w") as out:
    out.write(str(stamp))
"""


def to_editor(cmd: list[str], env: dict[str, str], stamp: Path) -> float:
    """Run one edit; return the seconds from just before the start to the editor's start."""
    start = time.monotonic_ns()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != UNCHANGED:
        sys.exit(f"bench: {cmd[0]} exited {done.returncode}: {done.stderr.decode().strip()}")
    return (int(stamp.read_text()) - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="runs per tool")
    parser.add_argument("--keys", type=int, default=1_000, help="keys in the file")
    args = parser.parse_args()
    sops, ours = tool("sops"), tool("secretsctl")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipient, env = throwaway_key(folder)
        stamp = folder / "stamp"
        editor = folder / "editor.py"
        editor.write_text(EDITOR)
        env["SOPS_EDITOR"] = f"{sys.executable} -S -E {editor} {stamp}"
        path = sops_file(folder, args.keys, env, recipient, sops, "secrets.yaml")
        before = path.read_bytes()
        times: dict[str, list[float]] = {"sops": [], "ours": []}
        for _ in range(args.runs):
            times["sops"].append(to_editor([sops, "edit", str(path)], env, stamp))
            times["ours"].append(to_editor([ours, "edit", str(path)], env, stamp))
        if path.read_bytes() != before:
            sys.exit("bench: the file changed; an unchanged edit must not write it")
        theirs_ms = statistics.median(times["sops"]) * 1000
        ours_ms = statistics.median(times["ours"]) * 1000
        ratio = ours_ms / theirs_ms
        verdict = "ok" if ratio <= TARGET else "OVER"
        print(f"{'keys':>7} {'sops ms':>9} {'ours ms':>9} {'ours/sops':>10} {'target':>7}")
        row = f"{args.keys:>7} {theirs_ms:>9.1f} {ours_ms:>9.1f} {ratio:>10.2f} {TARGET:>7.1f}"
        print(f"{row} {verdict}")


if __name__ == "__main__":
    main()
