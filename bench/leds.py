"""Measure the LED daemon: directory-to-colour latency, and rate-limit cost in steady state.

Run with the project's venv: `/tmp/venv/bin/python bench/leds.py [--switches N] [--steady S]`.
It starts the real `ci-keyboard-leds run` against the local GitHub API of
tests/leds/github_server.py, with real git repositories in a temporary folder.

- Latency (target: median <= 100 ms): two repositories whose states are already cached, one
  green, one red; the bench sends their directories on the daemon's socket in turn and times
  each from the moment the line has been sent to the moment the colour leaves: the stdout
  back-end's line read from the daemon's pipe, and, with the Razer back-end, the bincode
  request read by the Razer daemon stand-in (tests/leds/razer_server.py). The 50 ms debounce
  of the original is part of every measurement.
- Steady state (target: 0): a commit whose CI has finished, polled for S seconds (a 0.1 s
  base interval, so the slow final-state poll comes every second) while the shell keeps
  re-entering the directory; the bench counts the requests GitHub would charge against the
  rate limit (everything but 304 Not Modified) after the first look-up.

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.leds.daemon_support import Daemon, make_repository, write_generation  # noqa: E402
from tests.leds.github_server import GitHubServer, run, serving  # noqa: E402
from tests.leds.razer_server import RazerServer  # noqa: E402

LATENCY_TARGET = 0.100
GREEN = "0 255 0 passed"
RED = "255 0 0 failed"


def prepare(root: Path, github: GitHubServer) -> tuple[Path, Path]:
    write_generation(root, 1, "ghp_benchTokenNotReal0000")
    green = root / "green"
    red = root / "red"
    github.check_runs[make_repository(green, "https://github.com/bench/green")] = [run()]
    github.check_runs[make_repository(red, "https://github.com/bench/red")] = [
        run("completed", "failure")
    ]
    return green, red


def common_args(root: Path, github: GitHubServer) -> list[str]:
    env_file = str(root / "secrets" / "rendered" / "github_token_env")
    return ["--env-file", env_file, "--api-url", github.url]


def stdout_latency(root: Path, github: GitHubServer, switches: int) -> list[float]:
    green, red = prepare(root, github)
    daemon = Daemon(root, "--backend", "stdout", *common_args(root, github))
    try:
        daemon.send_directory(green)
        assert daemon.next_line() == GREEN
        daemon.send_directory(red)
        assert daemon.next_line() == RED
        timings = []
        for index in range(switches):
            target, colour = (green, GREEN) if index % 2 == 0 else (red, RED)
            sent = daemon.send_directory(target)
            arrived, line = daemon.next_timed_line()
            assert line == colour, line
            timings.append(arrived - sent)
            time.sleep(0.06)  # past the debounce, so each switch is its own burst
    finally:
        daemon.stop()
    return timings


def razer_latency(root: Path, github: GitHubServer, switches: int) -> list[float]:
    green, red = prepare(root, github)
    razer = RazerServer(str(root / "razer.sock")).start()
    daemon = Daemon(
        root, "--backend", "razer", "--razer-socket", razer.path, *common_args(root, github)
    )
    try:
        daemon.send_directory(green)
        razer.wait_for(1)
        daemon.send_directory(red)
        razer.wait_for(2)
        time.sleep(0.2)
        timings = []
        for index in range(switches):
            count = len(razer.received)
            sent = daemon.send_directory(green if index % 2 == 0 else red)
            if len(razer.wait_for(count + 1)) <= count:
                raise SystemExit(f"bench: no Razer request:\n{daemon.stderr()}")
            timings.append(time.monotonic() - sent)
            time.sleep(0.06)
    finally:
        daemon.stop()
        razer.stop()
    return timings


def steady_state(root: Path, github: GitHubServer, seconds: float) -> tuple[int, int]:
    green, _ = prepare(root, github)
    plain = root / "plain"
    plain.mkdir()
    daemon = Daemon(
        root, "--backend", "stdout", "--poll-interval", "0.1", *common_args(root, github)
    )
    try:
        daemon.send_directory(green)
        assert daemon.next_line() == GREEN
        first = len(github.seen())
        charged_before = github.rate_limit_remaining
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            daemon.send_directory(plain)
            time.sleep(0.3)
            daemon.send_directory(green)
            time.sleep(0.3)
    finally:
        daemon.stop()
    return len(github.seen()) - first, charged_before - github.rate_limit_remaining


def report(name: str, timings: list[float]) -> bool:
    median = statistics.median(timings)
    p90 = statistics.quantiles(timings, n=10)[-1]
    ok = median <= LATENCY_TARGET
    print(
        f"{name}: median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms over {len(timings)} switches "
        f"(target: median <= {LATENCY_TARGET * 1000:.0f} ms) {'ok' if ok else 'MISSED'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=40)
    parser.add_argument("--steady", type=float, default=6.0, help="seconds of steady state")
    options = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="leds-bench-", dir="/tmp") as folder:
        root = Path(folder)
        for name, measure in (("stdout", stdout_latency), ("razer", razer_latency)):
            (root / name).mkdir()
            with serving() as github:
                ok &= report(
                    f"directory line -> colour ({name})",
                    measure(root / name, github, options.switches),
                )
        (root / "steady").mkdir()
        with serving() as github:
            requests, charged = steady_state(root / "steady", github, options.steady)
        print(
            f"steady state, finished commit, {options.steady:.0f} s: {requests} requests, "
            f"{charged} counted against the rate limit (target: 0) "
            f"{'ok' if charged == 0 else 'MISSED'}"
        )
        ok &= charged == 0 and requests > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
