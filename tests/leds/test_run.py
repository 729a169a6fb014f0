"""``ci-keyboard-leds run``: the real daemon in a subprocess, over its real Unix socket.

Against the local GitHub API of ``github_server.py``, real git repositories and the Razer
daemon stand-in of ``razer_server.py``.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.leds.daemon_support import (
    CI_KEYBOARD_LEDS,
    Daemon,
    daemon_env,
    make_repository,
    write_generation,
)
from tests.leds.github_server import GitHubServer, Scripted, commit_status, run, serving
from tests.leds.razer_server import RazerServer
from tests.leds.secrets_support import same_secret

TOKEN_ONE = "ghp_firstGenerationToken0001"
TOKEN_TWO = "ghp_secondGenerationToken0002"
GREEN = "0 255 0 passed"
RED = "255 0 0 failed"
ORANGE = "255 165 0 pending"
BLUE = "0 0 255 no-repository"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with serving() as server:
        yield server


@pytest.fixture
def secrets_root(socket_dir: Path) -> Path:
    write_generation(socket_dir, 1, TOKEN_ONE)
    return socket_dir


def env_file(root: Path) -> str:
    return str(root / "secrets" / "rendered" / "github_token_env")


def start(socket_dir: Path, github: GitHubServer, *args: str) -> Daemon:
    return Daemon(
        socket_dir,
        "--backend",
        "stdout",
        "--env-file",
        env_file(socket_dir),
        "--api-url",
        github.url,
        "-v",
        *args,
    )


def test_colours_follow_the_directories(secrets_root: Path, github: GitHubServer) -> None:
    green = make_repository(secrets_root / "green", "git@github.com:octo/green.git")
    red = make_repository(secrets_root / "red", "https://github.com/octo/red")
    github.check_runs[green] = [run(), run("completed", "skipped")]
    github.check_runs[red] = [run()]
    github.statuses[red] = [commit_status("failure")]  # only the commit status fails
    plain = secrets_root / "plain"
    plain.mkdir()
    daemon = start(secrets_root, github)
    try:
        assert daemon.quiet_for(0.2) == []  # nothing at start
        daemon.send_directory(plain)
        assert daemon.quiet_for(0.2) == []  # nor outside a repository before any
        daemon.send_directory(secrets_root / "green")
        assert daemon.next_line() == GREEN
        daemon.send_directory(secrets_root / "red")
        assert daemon.next_line() == RED
        daemon.send_directory(plain)
        assert daemon.next_line() == BLUE
        daemon.send_directory(plain)
        assert daemon.quiet_for(0.3) == []
        assert stat.S_IMODE(os.stat(daemon.socket_path).st_mode) == 0o600
    finally:
        assert daemon.stop() == 0
    assert not os.path.lexists(daemon.socket_path)
    seen = github.seen()
    assert seen, "no request reached the API"
    same_secret({r.headers.get("authorization") for r in seen}, {f"Bearer {TOKEN_ONE}"})
    assert {r.headers.get("user-agent") for r in seen} == {"ci-keyboard-leds"}
    assert TOKEN_ONE not in daemon.stderr()


def test_bad_input_is_dropped_and_the_daemon_goes_on(
    secrets_root: Path, github: GitHubServer
) -> None:
    sha = make_repository(secrets_root / "repo", "https://github.com/octo/repo.git")
    github.check_runs[sha] = [run("in_progress", None)]
    daemon = start(secrets_root, github)
    try:
        daemon.send(b"not a path\n", b"\xc3\x28\xff\n", b"/does/not/exist\n")
        daemon.send(b"/" + b"A" * 1_000_000 + b"\n")
        daemon.send(b"\x00" * 5000)
        daemon.send_directory(secrets_root / "repo")
        assert daemon.next_line() == ORANGE
        assert daemon.process.poll() is None
    finally:
        assert daemon.stop() == 0
    log = daemon.stderr()
    assert "dropped 'not a path': not an absolute path" in log
    assert "not UTF-8" in log
    assert "dropped '/does/not/exist': no such directory" in log
    assert log.count("longer than 4096 bytes") == 2
    assert "Traceback" not in log


def test_the_token_follows_a_generation_switch(secrets_root: Path, github: GitHubServer) -> None:
    first = make_repository(secrets_root / "first", "https://github.com/octo/first")
    second = make_repository(secrets_root / "second", "https://github.com/octo/second")
    github.check_runs[first] = [run()]
    github.check_runs[second] = [run("completed", "failure")]
    daemon = start(secrets_root, github)
    try:
        daemon.send_directory(secrets_root / "first")
        assert daemon.next_line() == GREEN
        write_generation(secrets_root, 2, TOKEN_TWO)
        daemon.send_directory(secrets_root / "second")
        assert daemon.next_line() == RED
    finally:
        assert daemon.stop() == 0
    tokens = {
        r.path.split("/")[3]: r.headers.get("authorization") for r in github.seen("check-runs")
    }
    same_secret(tokens, {"first": f"Bearer {TOKEN_ONE}", "second": f"Bearer {TOKEN_TWO}"})
    log = daemon.stderr()
    assert "(it changed)" in log
    assert TOKEN_ONE not in log
    assert TOKEN_TWO not in log


def test_a_finished_commit_costs_no_rate_limit_in_steady_state(
    secrets_root: Path, github: GitHubServer
) -> None:
    sha = make_repository(secrets_root / "repo", "https://github.com/octo/repo")
    github.check_runs[sha] = [run()]
    # Final states poll every ten intervals: every second here.
    daemon = start(secrets_root, github, "--poll-interval", "0.1")
    try:
        daemon.send_directory(secrets_root / "repo")
        assert daemon.next_line() == GREEN
        remaining = github.rate_limit_remaining
        first = len(github.seen())
        assert daemon.quiet_for(2.5) == []
    finally:
        assert daemon.stop() == 0
    assert len(github.seen()) > first  # it did poll
    assert github.rate_limit_remaining == remaining  # every poll was answered 304


def test_the_razer_daemon_gets_the_static_effect(secrets_root: Path, github: GitHubServer) -> None:
    sha = make_repository(secrets_root / "repo", "https://github.com/octo/repo")
    github.check_runs[sha] = [run("completed", "failure")]
    razer = RazerServer(str(secrets_root / "razer.sock")).start()
    daemon = Daemon(
        secrets_root,
        "--backend",
        "razer",
        "--razer-socket",
        razer.path,
        "--env-file",
        env_file(secrets_root),
        "--api-url",
        github.url,
    )
    try:
        daemon.send_directory(secrets_root / "repo")
        received = razer.wait_for(1)
        assert received[0].raw == bytes.fromhex(
            "0a00000006000000000000007374617469630300000000000000ff0000"
        )
    finally:
        assert daemon.stop() == 0
        razer.stop()


def test_a_missing_env_file_is_one_error_line_naming_it(socket_dir: Path) -> None:
    missing = socket_dir / "nowhere" / "github_token_env"
    done = subprocess.run(
        [CI_KEYBOARD_LEDS, "run", "--backend", "stdout", "--env-file", str(missing)],
        capture_output=True,
        env={**daemon_env(socket_dir), "GITHUB_TOKEN": TOKEN_ONE},
        check=False,
        timeout=20,
    )
    assert done.returncode == 5
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines[0] == f"ci-keyboard-leds: error: {missing}: the token file does not exist"
    assert "Traceback" not in done.stderr.decode()
    assert TOKEN_ONE.encode() not in done.stderr
    assert not (socket_dir / "ci-keyboard-leds.sock").exists()


def test_a_malformed_env_file_never_shows_its_content(socket_dir: Path) -> None:
    token_env = socket_dir / "github_token_env"
    token_env.write_text(f"GITHUB_TOKEN={TOKEN_ONE} {TOKEN_TWO}\n")
    done = subprocess.run(
        [CI_KEYBOARD_LEDS, "run", "--backend", "stdout", "--env-file", str(token_env)],
        capture_output=True,
        env=daemon_env(socket_dir),
        check=False,
        timeout=20,
    )
    assert done.returncode == 5
    error = done.stderr.decode()
    assert error.startswith(f"ci-keyboard-leds: error: {token_env}: the token file is malformed")
    assert "ghp_" not in error
    assert "Traceback" not in error


def test_the_environment_token_serves_when_the_default_file_is_absent(
    socket_dir: Path, github: GitHubServer
) -> None:
    sha = make_repository(socket_dir / "repo", "https://github.com/octo/repo")
    github.check_runs[sha] = [run()]
    env = {
        **daemon_env(socket_dir),
        "GITHUB_TOKEN": TOKEN_TWO,
        "CI_KEYBOARD_LEDS_BACKEND": "stdout",
        "CI_KEYBOARD_LEDS_API_URL": github.url,
    }
    daemon = Daemon(socket_dir, env=env)  # --env-file left at its default, which is absent
    try:
        daemon.send_directory(socket_dir / "repo")
        assert daemon.next_line() == GREEN
    finally:
        assert daemon.stop() == 0
    same_secret(github.seen()[0].headers["authorization"], f"Bearer {TOKEN_TWO}")


def test_a_second_daemon_on_the_same_socket_is_refused(
    secrets_root: Path, github: GitHubServer
) -> None:
    daemon = start(secrets_root, github)
    try:
        done = subprocess.run(
            [
                CI_KEYBOARD_LEDS,
                "run",
                "--backend",
                "stdout",
                "--socket",
                daemon.socket_path,
                "--env-file",
                env_file(secrets_root),
            ],
            capture_output=True,
            env=daemon_env(secrets_root),
            check=False,
            timeout=20,
        )
        assert done.returncode == 1
        assert b"another ci-keyboard-leds is already listening there" in done.stderr
        assert daemon.process.poll() is None
    finally:
        assert daemon.stop() == 0


def test_status_prints_one_directory(secrets_root: Path, github: GitHubServer) -> None:
    sha = make_repository(secrets_root / "repo", "ssh://git@github.com/octo/repo.git")
    github.check_runs[sha] = [run("queued", None), run("completed", "failure")]
    plain = secrets_root / "plain"
    plain.mkdir()

    def status(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                CI_KEYBOARD_LEDS,
                "status",
                str(directory),
                "--env-file",
                env_file(secrets_root),
                "--api-url",
                github.url,
            ],
            capture_output=True,
            env=daemon_env(secrets_root),
            check=False,
            text=True,
            timeout=20,
        )

    done = status(secrets_root / "repo")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"directory: {secrets_root / 'repo'}\n"
        "repository: octo/repo\n"
        f"commit: {sha}\n"
        "state: pending\n"
        "colour: 255 165 0\n"
    )
    asked = len(github.seen())
    done = status(plain)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "repository: -",
        "commit: -",
        "state: no-repository",
        "colour: 0 0 255",
    ]
    assert len(github.seen()) == asked  # nothing to ask outside a repository
    done = status(secrets_root / "absent")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("ci-keyboard-leds: error:")


def test_a_rate_limit_keeps_the_colour_and_holds_requests_back(
    secrets_root: Path, github: GitHubServer
) -> None:
    sha = make_repository(secrets_root / "repo", "https://github.com/octo/repo")
    github.check_runs[sha] = [run("in_progress", None)]
    # Pending polls every half interval: 0.1 s here.
    daemon = start(secrets_root, github, "--poll-interval", "0.2")
    try:
        daemon.send_directory(secrets_root / "repo")
        assert daemon.next_line() == ORANGE
        github.scripted.append(
            Scripted(429, {"retry-after": "2"}, {"message": "slow down"}, "check-runs")
        )
        deadline = time.monotonic() + 3
        while github.scripted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not github.scripted, "the daemon never polled"
        limited_at = len(github.seen())
        time.sleep(1.2)
        assert len(github.seen()) == limited_at  # nothing during the back-off
        github.check_runs[sha] = [run()]
        assert daemon.next_line(timeout=4) == GREEN  # no gray flash before it
    finally:
        assert daemon.stop() == 0


def test_a_slow_github_does_not_delay_a_cached_colour(
    secrets_root: Path, github: GitHubServer
) -> None:
    green = make_repository(secrets_root / "green", "https://github.com/octo/green")
    red = make_repository(secrets_root / "red", "https://github.com/octo/red")
    github.check_runs[green] = [run()]
    github.check_runs[red] = [run("completed", "failure")]
    # Final states are asked again after ten intervals: 1 s here.
    daemon = start(secrets_root, github, "--poll-interval", "0.1")
    try:
        daemon.send_directory(secrets_root / "green")
        assert daemon.next_line() == GREEN
        daemon.send_directory(secrets_root / "red")
        assert daemon.next_line() == RED
        github.delay = 4.0  # every answer from now on takes 4 s
        time.sleep(1.1)  # green is due again: the daemon will ask, and wait 4 s for it
        sent = daemon.send_directory(secrets_root / "green")
        arrived, line = daemon.next_timed_line(timeout=2)
        assert line == GREEN
        assert arrived - sent < 0.5
    finally:
        assert daemon.stop() == 0


def test_hyprland_focus_events_reach_the_daemon(secrets_root: Path, github: GitHubServer) -> None:
    instance = secrets_root / "hypr" / "0123abcd_1700000000_1"
    instance.mkdir(parents=True)
    events = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    events.bind(str(instance / ".socket2.sock"))
    events.listen(1)
    events.settimeout(5)
    env = {**daemon_env(secrets_root), "HYPRLAND_INSTANCE_SIGNATURE": instance.name}
    daemon = Daemon(
        secrets_root, "--backend", "stdout", "--env-file", env_file(secrets_root),
        "--api-url", github.url, "-v", env=env,
    )  # fmt: skip
    try:
        connection, _ = events.accept()
        with connection:
            deadline = time.monotonic() + 3
            while "evaluation 1 (start)" not in daemon.stderr() and time.monotonic() < deadline:
                time.sleep(0.01)
            connection.sendall(b"workspacev2>>2,2\nactivewindow>>kitty,fish\n")
            connection.sendall(b"activewindowv2>>5632d2bfa6e0\n")
            deadline = time.monotonic() + 3
            while "(hyprland)" not in daemon.stderr() and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        assert daemon.stop() == 0
        events.close()
    log = daemon.stderr()
    assert f"Hyprland IPC: connected to {instance / '.socket2.sock'}" in log
    assert log.count("(hyprland)") == 1  # the pair is one focus change


def test_a_burst_is_one_evaluation_and_a_repeat_paints_nothing(
    secrets_root: Path, github: GitHubServer
) -> None:
    names = ("one", "two", "three")
    for name in names:
        sha = make_repository(secrets_root / name, f"https://github.com/octo/{name}")
        github.check_runs[sha] = [run()]
    daemon = start(secrets_root, github)
    try:
        while "evaluation 1 (start)" not in daemon.stderr():
            time.sleep(0.01)
        daemon.send(b"".join(f"{secrets_root / name}\n".encode() for name in names * 5))
        assert daemon.next_line() == GREEN
        daemon.send_directory(secrets_root / "three")
        assert daemon.quiet_for(0.4) == []
    finally:
        assert daemon.stop() == 0
    log = daemon.stderr()
    assert log.count("(directory)") == 2  # the burst, then the repeat
    assert {r.path.split("/")[3] for r in github.seen()} == {"three"}


@pytest.mark.parametrize("command", [["run", "--backend", "stdout"], ["status"]])
def test_without_the_leds_extra_the_command_says_how_to_install_it(
    socket_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    """httpx shadowed by a module that is not there, as in an install without [leds]."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "httpx.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'httpx'\", name='httpx')\n"
    )
    done = subprocess.run(
        [CI_KEYBOARD_LEDS, *command],
        capture_output=True,
        env={**daemon_env(socket_dir), "GITHUB_TOKEN": TOKEN_ONE, "PYTHONPATH": str(shadow)},
        cwd=tmp_path,
        check=False,
        timeout=20,
    )
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "ci-keyboard-leds: error: the GitHub client (httpx) is not installed: it comes with"
        " the 'leds' extra",
        "ci-keyboard-leds: hint: pip install 'secretsctl[leds]' (in the environment secretsctl"
        " is installed in)",
    ]
    assert not (socket_dir / "ci-keyboard-leds.sock").exists()
