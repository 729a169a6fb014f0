"""``ci-keyboard-leds hook fish|bash|zsh``: syntax, and $PWD delivered without blocking."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from secretsctl.leds.hooks import render_hook
from tests.leds.daemon_support import CI_KEYBOARD_LEDS, daemon_env


def missing_shell(shell: str) -> None:
    """Skip without the shell; fail instead when SECRETSCTL_REQUIRE_SHELLS=1 (CI installs it)."""
    if os.environ.get("SECRETSCTL_REQUIRE_SHELLS") == "1":
        pytest.fail(f"SECRETSCTL_REQUIRE_SHELLS=1 but {shell} is not installed")
    pytest.skip(f"{shell} is not installed")


def hook(shell: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [CI_KEYBOARD_LEDS, "hook", shell, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", ["fish", "bash", "zsh"])
def test_each_hook_sends_pwd_in_the_background_only_to_a_socket(shell: str) -> None:
    text = hook(shell)
    assert "ci-keyboard-leds.sock" in text
    assert "XDG_RUNTIME_DIR" in text
    assert "-S" in text  # only when the path is a socket
    assert "&" in text  # in the background
    assert "$PWD" in text


def test_the_hooks_use_their_own_trigger() -> None:
    assert "--on-variable PWD" in hook("fish")
    assert "disown" in hook("fish")
    assert "PROMPT_COMMAND" in hook("bash")
    assert "add-zsh-hook chpwd __ci_keyboard_leds_notify" in hook("zsh")


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = subprocess.run(
        [CI_KEYBOARD_LEDS, "hook", "tcsh"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith("ci-keyboard-leds: error: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("shell", ["fish", "bash", "zsh"])
def test_the_shell_accepts_the_hook(shell: str, tmp_path: Path) -> None:
    binary = shutil.which(shell)
    if binary is None:
        missing_shell(shell)
    script = tmp_path / f"hook.{shell}"
    script.write_text(hook(shell, "--socket", "/tmp/a path/with 'quotes'.sock"))
    done = subprocess.run([binary, "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class LineCatcher:
    """A Unix socket that records each connection's bytes, as the daemon would receive them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.received: list[bytes] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                data = b""
                while chunk := connection.recv(4096):
                    data += chunk
                self.received.append(data)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


def test_the_bash_hook_reports_each_new_directory_once(socket_dir: Path) -> None:
    catcher = LineCatcher(str(socket_dir / "ci-keyboard-leds.sock"))
    spaced = socket_dir / "a folder"
    spaced.mkdir()
    # PROMPT_COMMAND does not run in a script: call it as the prompt would, twice per folder.
    script = (
        f"{hook('bash', env=daemon_env(socket_dir))}\n"
        f'cd "{socket_dir}"; $PROMPT_COMMAND; $PROMPT_COMMAND\n'
        f'cd "{spaced}"; (exit 3); __ci_keyboard_leds_notify; echo "status $?"\n'
    )
    try:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            env=daemon_env(socket_dir),
            timeout=20,
        )
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        assert done.stdout == "status 3\n"  # the hook keeps $? for the next prompt command
        assert done.stderr == ""
        received = catcher.wait_for(2)
    finally:
        catcher.close()
    assert sorted(received) == sorted([f"{socket_dir}\n".encode(), f"{spaced}\n".encode()])
    assert elapsed < 2.0


def test_no_socket_no_sender(socket_dir: Path) -> None:
    # A regular file at the socket path: the hook must not even try.
    (socket_dir / "ci-keyboard-leds.sock").write_text("")
    done = subprocess.run(
        ["bash", "-c", f"{hook('bash', env=daemon_env(socket_dir))}\n__ci_keyboard_leds_notify"],
        capture_output=True,
        text=True,
        env=daemon_env(socket_dir),
        timeout=20,
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert (socket_dir / "ci-keyboard-leds.sock").read_text() == ""


def test_a_fixed_socket_path_is_quoted_for_each_shell() -> None:
    path = "/tmp/it's here.sock"
    for shell in ("bash", "zsh", "fish"):
        text = render_hook(shell, sender='cat > "$socket"', socket_path=path)
        assert """'/tmp/it'"'"'s here.sock'""" in text


@pytest.mark.parametrize("shell", ["fish", "zsh"])
def test_fish_and_zsh_report_the_start_and_each_cd(shell: str, socket_dir: Path) -> None:
    binary = shutil.which(shell)
    if binary is None:
        missing_shell(shell)
    catcher = LineCatcher(str(socket_dir / "ci-keyboard-leds.sock"))
    spaced = socket_dir / "a folder"
    spaced.mkdir()
    script = socket_dir / f"hook.{shell}"
    script.write_text(hook(shell, env=daemon_env(socket_dir)))
    try:
        done = subprocess.run(
            [binary, "-c", f'source {script}; cd "{spaced}"; echo done'],
            capture_output=True,
            text=True,
            cwd=socket_dir,
            env=daemon_env(socket_dir),
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "done\n"
        assert done.stderr == ""
        received = catcher.wait_for(2)
    finally:
        catcher.close()
    assert sorted(received) == sorted([f"{socket_dir}\n".encode(), f"{spaced}\n".encode()])
