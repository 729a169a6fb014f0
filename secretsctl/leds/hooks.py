"""Shell hooks that report each new ``$PWD`` to the daemon without ever blocking the prompt.

Every hook sends ``$PWD`` and a newline over a new connection, only when the socket path is a
socket, from a background process that the shell forgets at once (no job notices), with a
1 s timeout. fish runs it on each change of ``PWD`` and once at start;
bash from ``PROMPT_COMMAND`` when ``$PWD`` changed; zsh from the ``chpwd`` hook and once at
start.

A Unix socket needs a client program: bash's ``/dev/tcp`` speaks TCP only. The hook names
the first one found when it is generated:

- ``socat``;
- OpenBSD ``nc`` (``-U`` for Unix sockets, ``-N`` to shut down after stdin ends), the
  original's choice; GNU netcat, BusyBox and nmap's ncat lack one of these or mean UDP by
  ``-U``, so ``nc`` is used only when its help text shows both;
- else the Python that runs this program, started with ``-I -S`` (no site packages): about
  15 ms of CPU per ``cd``, but in the background, so the prompt does not wait for it.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from typing import Final

__all__ = ["SHELLS", "choose_sender", "render_hook"]

SHELLS: Final = ("fish", "bash", "zsh")

_PYTHON_SENDER: Final = (
    "import socket,sys;"
    "s=socket.socket(socket.AF_UNIX);s.settimeout(1);s.connect(sys.argv[1]);"
    "s.sendall(sys.stdin.buffer.read());s.close()"
)


def _is_openbsd_netcat(nc: str) -> bool:
    try:
        shown = subprocess.run(  # noqa: S603 - the nc found on PATH, asked for its help
            [nc, "-h"], capture_output=True, timeout=2, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = (shown.stdout + shown.stderr).decode("utf-8", "replace")
    return "UNIX-domain" in text.replace("UNIX domain", "UNIX-domain") and "-N" in text


def choose_sender() -> str:
    """Return the command, as shell words, that copies stdin to the socket ``"$socket"``."""
    socat = shutil.which("socat")
    if socat:
        return f'{shlex.quote(socat)} -T 1 - UNIX-CONNECT:"$socket"'
    nc = shutil.which("nc")
    if nc and _is_openbsd_netcat(nc):
        return f'{shlex.quote(nc)} -U -N -w 1 "$socket"'
    return f'{shlex.quote(sys.executable)} -I -S -c {shlex.quote(_PYTHON_SENDER)} "$socket"'


def render_hook(shell: str, *, sender: str, socket_path: str | None = None) -> str:
    """Return the hook for ``shell``; ``socket_path`` None means the daemon's default path."""
    if shell == "fish":
        if socket_path is None:
            where = (
                "    set -l socket /tmp/ci-keyboard-leds.sock\n"
                '    if test -n "$XDG_RUNTIME_DIR"\n'
                "        set socket $XDG_RUNTIME_DIR/ci-keyboard-leds.sock\n"
                "    end\n"
            )
        else:
            where = f"    set -l socket {shlex.quote(socket_path)}\n"
        return (
            "# ci-keyboard-leds: report each new $PWD to the daemon, in the background.\n"
            "function __ci_keyboard_leds_notify --on-variable PWD\n"
            f"{where}"
            "    test -S $socket; or return 0\n"
            f"    printf '%s\\n' $PWD | {sender} >/dev/null 2>&1 &\n"
            "    disown 2>/dev/null\n"
            "end\n"
            "__ci_keyboard_leds_notify\n"
        )
    if socket_path is None:
        where = '"${XDG_RUNTIME_DIR:-/tmp}/ci-keyboard-leds.sock"'
    else:
        where = shlex.quote(socket_path)
    send = f"( printf '%s\\n' \"$PWD\" | {sender} >/dev/null 2>&1 & )"
    if shell == "bash":
        return (
            "# ci-keyboard-leds: report $PWD to the daemon when it changed, in the background.\n"
            "__ci_keyboard_leds_notify() {\n"
            "    local last_status=$?\n"
            '    if [[ "$PWD" != "${__ci_keyboard_leds_pwd-}" ]]; then\n'
            "        __ci_keyboard_leds_pwd=$PWD\n"
            f"        local socket={where}\n"
            f'        [[ -S "$socket" ]] && {send}\n'
            "    fi\n"
            '    return "$last_status"\n'
            "}\n"
            'if [[ ";${PROMPT_COMMAND-};" != *";__ci_keyboard_leds_notify;"* ]]; then\n'
            '    PROMPT_COMMAND="__ci_keyboard_leds_notify${PROMPT_COMMAND:+;$PROMPT_COMMAND}"\n'
            "fi\n"
        )
    if shell == "zsh":
        return (
            "# ci-keyboard-leds: report each new $PWD to the daemon, in the background.\n"
            "__ci_keyboard_leds_notify() {\n"
            f"    local socket={where}\n"
            f'    [[ -S "$socket" ]] && {send}\n'
            "    return 0\n"
            "}\n"
            "autoload -Uz add-zsh-hook\n"
            "add-zsh-hook chpwd __ci_keyboard_leds_notify\n"
            "__ci_keyboard_leds_notify\n"
        )
    raise ValueError(f"no hook for the shell {shell!r}")
