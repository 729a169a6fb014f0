"""The real ``ci-keyboard-leds`` in a subprocess, real git repositories, token generations.

Shared by the end-to-end tests and ``bench/leds.py``.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

CI_KEYBOARD_LEDS = str(Path(sys.executable).parent / "ci-keyboard-leds")

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_repository(folder: Path, remote: str) -> str:
    """Make a git repository with one commit and ``origin`` at ``remote``; return HEAD."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **_GIT_ENV}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=folder, env=env, capture_output=True, check=True, text=True
        )
        return done.stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", f"first commit of {folder.name}")  # distinct shas
    git("remote", "add", "origin", remote)
    return git("rev-parse", "HEAD")


def write_generation(root: Path, number: int, token: str) -> None:
    """Write generation ``number`` holding ``token`` and switch ``root/secrets`` to it."""
    rendered = root / "secrets.d" / str(number) / "rendered"
    rendered.mkdir(parents=True)
    (rendered / "github_token_env").write_text(f'GITHUB_TOKEN="{token}"\n')
    staged = root / "secrets.staged"
    staged.symlink_to(rendered.parent)
    os.replace(staged, root / "secrets")


def daemon_env(runtime_dir: Path) -> dict[str, str]:
    """An environment without the developer's token, Hyprland or daemon settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_TOKEN", "HYPRLAND_INSTANCE_SIGNATURE")
        and not k.startswith("CI_KEYBOARD_LEDS_")
    }
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    return env


class Daemon:
    """A running ``ci-keyboard-leds run``; its stdout lines arrive in a queue."""

    def __init__(self, runtime_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.socket_path = str(runtime_dir / "ci-keyboard-leds.sock")
        self.stderr_path = runtime_dir / "daemon.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [CI_KEYBOARD_LEDS, "run", "--socket", self.socket_path, *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else daemon_env(runtime_dir),
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 10
        while "listening on" not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not start:\n{self.stderr()}")
            time.sleep(0.01)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put((time.monotonic(), raw.decode().rstrip("\n")))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def send(self, *lines: bytes) -> float:
        """Send the lines on one new connection, as a hook does; return when they left."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(self.socket_path)
            client.sendall(b"".join(lines))
            sent = time.monotonic()
        return sent

    def send_directory(self, directory: Path) -> float:
        return self.send(f"{directory}\n".encode())

    def next_line(self, timeout: float = 5.0) -> str:
        try:
            return self.lines.get(timeout=timeout)[1]
        except queue.Empty:
            raise AssertionError(f"no colour within {timeout} s:\n{self.stderr()}") from None

    def next_timed_line(self, timeout: float = 5.0) -> tuple[float, str]:
        return self.lines.get(timeout=timeout)

    def quiet_for(self, seconds: float) -> list[str]:
        """Wait ``seconds``; return any lines that arrived meanwhile."""
        time.sleep(seconds)
        found = []
        while not self.lines.empty():
            found.append(self.lines.get()[1])
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the daemon ignored SIGTERM:\n{self.stderr()}") from None
        finally:
            self._stderr.close()
        return code
