"""Time `secretsctl render` against real `sops decrypt` of the same file, in one run.

Run as root with the project's venv: `.venv/bin/python bench/render.py [--runs N]`. It
re-executes itself in a private mount namespace (`unshare -m`), so the ramfs mounts it makes
vanish with it.

- 1,000 and 10,000 secrets from one YAML file (encrypted by real sops to a throw-away age
  key), each secret with its own owner (uid/gid) and mode. Cold: every run renders into a
  fresh `--root` on /dev/shm, so each is a first boot: mount, decrypt, write every file,
  switch. Warm (1,000): every run renders again onto one root rendered before the runs, so
  nothing changes and the live generation stays (checked). Targets: 1,000 cold and warm
  <= 0.8 of `sops decrypt`, 10,000 cold <= 0.7.
- The example configuration (examples/secretsctl.yaml): a cold render against `sops decrypt
  examples/secrets.yaml`, a small file. Target: <= 1.5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import sops_file, throwaway_key, tool

REPO = Path(__file__).resolve().parent.parent
# secrets: (target cold, target warm or None)
TARGETS = {1_000: (0.8, 0.8), 10_000: (0.7, None)}
EXAMPLE_TARGET = 1.5


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def make_case(folder: Path, count: int, sops: str, env: dict[str, str], recipient: str) -> Path:
    encrypted = sops_file(folder, count, env, recipient, sops, f"secrets_{count}.yaml")
    modes = ("0400", "0440", "0600", "0640")
    lines = [
        "defaults:",
        f"  sops_file: {encrypted.name}",
        f"  age_key_file: {folder / 'keys.txt'}",
        "secrets:",
    ]
    lines += [
        f"  key_{i}: {{uid: {1000 + i % 97}, gid: {1000 + i % 89}, mode: '{modes[i % 4]}'}}"
        for i in range(count)
    ]
    config = folder / f"secretsctl_{count}.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def compare(label: str, ours: list[str], theirs: list[str], env: dict[str, str], runs: int,
            target: float, fresh_root: list[str], *, warm: bool = False) -> None:  # fmt: skip
    """Print the medians of both commands; ours renders cold (fresh roots) or warm (one root)."""
    times: dict[str, list[float]] = {"sops": [], "ours": []}
    warm_root = live = ""
    if warm:
        warm_root = tempfile.mkdtemp(dir="/dev/shm", prefix="bench-render-")
        fresh_root.append(warm_root)
        subprocess.run([*ours, "--root", warm_root], env=env, capture_output=True, check=True)
        live = os.readlink(os.path.join(warm_root, "run", "secrets"))
    for _ in range(runs):
        times["sops"].append(timed(theirs, env))
        root = warm_root or tempfile.mkdtemp(dir="/dev/shm", prefix="bench-render-")
        if not warm:
            fresh_root.append(root)
        times["ours"].append(timed([*ours, "--root", root], env))
        if not warm:
            # Unmounted at once: thousands of files left mounted would burden the runs after.
            remove_root(root)
    if warm:
        if os.readlink(os.path.join(warm_root, "run", "secrets")) != live:
            sys.exit(f"bench: {label}: a render with nothing changed switched generations")
        remove_root(warm_root)
    sops_ms = statistics.median(times["sops"]) * 1000
    ours_ms = statistics.median(times["ours"]) * 1000
    ratio = ours_ms / sops_ms
    verdict = "ok" if ratio <= target else "OVER"
    print(f"{label:>22} {sops_ms:>9.1f} {ours_ms:>9.1f} {ratio:>10.2f} {target:>7.1f} {verdict}")


def remove_root(root: str) -> None:
    mount_point = os.path.join(root, "run", "secrets.d")
    subprocess.run(["umount", mount_point], capture_output=True, check=False)
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=0, help="runs per case (0: auto)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the render mounts a ramfs, as at boot)")
    if os.environ.get("SECRETSCTL_BENCH_NS") != "1":
        env = {**os.environ, "SECRETSCTL_BENCH_NS": "1"}
        cmd = ["unshare", "-m", "--propagation", "private", sys.executable, *sys.argv]
        raise SystemExit(subprocess.run(cmd, env=env, check=False).returncode)
    sops, ours = tool("sops"), tool("secretsctl")
    roots: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipient, env = throwaway_key(folder)
        print(f"{'case':>22} {'sops ms':>9} {'ours ms':>9} {'ours/sops':>10} {'target':>7}")
        try:
            for count, (cold, warm) in TARGETS.items():
                config = make_case(folder, count, sops, env, recipient)
                decrypt = [sops, "decrypt", str(folder / f"secrets_{count}.yaml")]
                render = [ours, "render", "-m", str(config), "--delivery", "none"]
                runs = args.runs or (21 if count < 10_000 else 7)
                compare(f"{count:,} secrets, cold", render, decrypt, env, runs, cold, roots)
                if warm is not None:
                    compare(f"{count:,} secrets, warm", render, decrypt, env, runs, warm, roots,
                            warm=True)  # fmt: skip
            example = REPO / "examples" / "secretsctl.yaml"
            demo_env = {**env, "SOPS_AGE_KEY_FILE": str(REPO / "examples" / "demo-age-key.txt")}
            compare("example (cold)",
                    [ours, "render", "-m", str(example), "--delivery", "none"],
                    [sops, "decrypt", str(REPO / "examples" / "secrets.yaml")],
                    demo_env, args.runs or 21, EXAMPLE_TARGET, roots)  # fmt: skip
        finally:
            for root in roots:
                remove_root(root)
            (REPO / "examples" / ".bench-secretsctl.yaml").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
