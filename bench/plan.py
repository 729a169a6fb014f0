"""Time the input side of `secretsctl render` (configuration + plan) against `sops decrypt`.

Run with the project's venv: `.venv/bin/python bench/plan.py [--runs N]`.

For 1,000 and 10,000 secrets it writes a sops YAML file (encrypted with real sops to a
throw-away age key) and a `secretsctl.yaml` naming every key as a secret with its own owner
(cycling through users that exist here), mode and unit. It then prints, in one run:

- `sops decrypt` of the file (median wall time of a process);
- a process that imports secretsctl's configuration and plan modules, loads the
  configuration and builds the plan (decrypting the file once), printing nothing: the part
  of a render before anything is written;
- in-process minima of `load_config` and `build_plan` (garbage collection off, as in the
  console script), and the decryption alone for reference.

Ratios are against `sops decrypt`. The whole `secretsctl render` adds the command line and
the activation (writing, comparing, units), measured by the render benchmark.
"""

from __future__ import annotations

import argparse
import gc
import pwd
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import throwaway_key, tool

PLAN_SCRIPT = """
import gc, sys
gc.disable()
from secretsctl.config.load import load_config
from secretsctl.render.plan import build_plan
plan = build_plan(load_config(sys.argv[1]))
assert len(plan.files) == int(sys.argv[2])
"""


def make_inputs(folder: Path, count: int, env: dict[str, str], recipient: str) -> tuple[Path, Path]:
    rng = random.Random(count)
    width = len(str(count - 1))
    names = [f"secret_{i:0{width}d}" for i in range(count)]
    plain = folder / f"plain_{count}.yaml"
    plain.write_text(
        "".join(f"{name}: {''.join(rng.choices(string.ascii_letters, k=40))}\n" for name in names)
    )
    sops_file = folder / f"secrets_{count}.yaml"
    out = subprocess.run(
        [tool("sops"), "encrypt", "--age", recipient, str(plain)],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    sops_file.write_bytes(out.stdout)
    plain.unlink()
    users = [entry.pw_name for entry in pwd.getpwall()][:16] or ["root"]
    lines = [f"defaults:\n  sops_file: {sops_file.name}\n  age_key_file: keys.txt\nsecrets:\n"]
    for index, name in enumerate(names):
        mode = f"0{4 + index % 3}{index % 5}0"
        lines.append(
            f'  {name}:\n    owner: {users[index % len(users)]}\n    mode: "{mode}"\n'
            f"    restart_units: [unit{index % 7}.service]\n"
        )
    config = folder / f"secretsctl_{count}.yaml"
    config.write_text("".join(lines))
    return sops_file, config


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def minimum(function: object, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="process runs per measurement")
    args = parser.parse_args()
    from secretsctl.config.load import load_config
    from secretsctl.keys.sources import load_identities
    from secretsctl.render.plan import build_plan
    from secretsctl.sops import codec
    from secretsctl.sops.stores import Format

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipient, env = throwaway_key(folder)
        print(f"{'secrets':>8}  {'sops decrypt':>12}  {'config+plan':>11}  {'ratio':>5}  "
              f"{'load_config':>11}  {'build_plan':>10}  {'decrypt':>7}")  # fmt: skip
        for count in (1_000, 10_000):
            sops_file, config = make_inputs(folder, count, env, recipient)
            runs = args.runs if count <= 1_000 else max(3, args.runs // 3)
            sops_times, plan_times = [], []
            for _ in range(runs):
                sops_times.append(wall([tool("sops"), "decrypt", str(sops_file)], env))
                plan_times.append(
                    wall([sys.executable, "-c", PLAN_SCRIPT, str(config), str(count)], env)
                )
            gc.disable()
            manifest = load_config(config)
            identities = load_identities(use_environment=False, age_key_file=folder / "keys.txt")
            data = sops_file.read_bytes()
            in_runs = max(3, runs)
            load_time = minimum(lambda: load_config(config), in_runs)  # noqa: B023
            plan_time = minimum(lambda: build_plan(manifest, identities=identities), in_runs)  # noqa: B023
            decrypt_time = minimum(
                lambda: codec.decrypt_file(codec.parse(data, Format.YAML), identities, label="f"),  # noqa: B023
                in_runs,
            )
            gc.enable()
            sops_median = statistics.median(sops_times)
            plan_median = statistics.median(plan_times)
            print(
                f"{count:>8}  {sops_median * 1000:>9.1f} ms  {plan_median * 1000:>8.1f} ms"
                f"  {plan_median / sops_median:>5.2f}  {load_time * 1000:>8.1f} ms"
                f"  {plan_time * 1000:>7.1f} ms  {decrypt_time * 1000:>4.1f} ms"
            )


if __name__ == "__main__":
    main()
