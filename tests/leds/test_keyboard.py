"""open_keyboard and the stdout back-end."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys

import pytest

from secretsctl.errors import SecretsctlError
from secretsctl.leds.keyboard import BACKENDS, open_keyboard
from secretsctl.leds.model import COLOURS, CiState, Colour, KeyboardError
from secretsctl.leds.openrgb import OpenRgbKeyboard
from secretsctl.leds.razer import RazerKeyboard
from secretsctl.leds.stdout import StdoutKeyboard


def test_stdout_prints_one_flushed_line_per_paint() -> None:
    out = io.StringIO()

    async def body() -> None:
        keyboard = open_keyboard("stdout", out=out)
        await keyboard.start()
        for state in CiState:
            await keyboard.paint(COLOURS[state])
        await keyboard.paint(Colour(1, 2, 3))
        await keyboard.close()

    asyncio.run(body())
    assert out.getvalue().splitlines() == [
        "255 165 0 pending",
        "255 0 0 failed",
        "0 255 0 passed",
        "128 128 128 unknown",
        "0 0 255 no-repository",
        "1 2 3 -",
    ]


def test_stdout_lines_are_flushed_as_they_are_painted() -> None:
    # A status bar reads the pipe line by line: each line must arrive before the next paint.
    script = (
        "import asyncio, sys\n"
        "from secretsctl.leds.keyboard import open_keyboard\n"
        "from secretsctl.leds.model import Colour\n"
        "async def main():\n"
        "    k = open_keyboard('stdout')\n"
        "    await k.paint(Colour(0, 255, 0))\n"
        "    sys.stdin.readline()\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "0 255 0 passed\n"
    finally:
        child.communicate("\n", timeout=10)


def test_stdout_closed_is_a_keyboard_error() -> None:
    out = io.StringIO()
    out.close()
    with pytest.raises(KeyboardError, match="standard output"):
        asyncio.run(open_keyboard("stdout", out=out).paint(Colour(0, 0, 0)))


def test_stdout_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(open_keyboard("stdout").paint(COLOURS[CiState.UNKNOWN]))
    assert capsys.readouterr().out == "128 128 128 unknown\n"


def test_each_backend_name_gives_its_keyboard() -> None:
    assert BACKENDS == ("razer", "openrgb", "stdout")
    razer = open_keyboard("razer", razer_socket="/run/user/1000/razercontrol-socket")
    assert isinstance(razer, RazerKeyboard)
    assert razer.socket_path == "/run/user/1000/razercontrol-socket"
    assert open_keyboard("razer").socket_path == "/tmp/razercontrol-socket"  # type: ignore[attr-defined]
    openrgb = open_keyboard("openrgb", openrgb_address="192.0.2.7:6800")
    assert isinstance(openrgb, OpenRgbKeyboard)
    assert (openrgb.host, openrgb.port) == ("192.0.2.7", 6800)
    assert open_keyboard("openrgb").address == "127.0.0.1:6742"  # type: ignore[attr-defined]
    assert isinstance(open_keyboard("stdout"), StdoutKeyboard)


def test_an_unknown_backend_is_a_keyboard_error() -> None:
    with pytest.raises(KeyboardError, match="unknown keyboard back-end `blink1`") as caught:
        open_keyboard("blink1")
    assert isinstance(caught.value, SecretsctlError)
    assert caught.value.hint == "choose one of razer, openrgb, stdout"


def test_choosing_stdout_imports_neither_hardware_back_end() -> None:
    script = (
        "import sys\n"
        "from secretsctl.leds.keyboard import open_keyboard\n"
        "open_keyboard('stdout')\n"
        "print(sorted(m for m in sys.modules if m.startswith('secretsctl.leds.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == (
        "['secretsctl.leds.keyboard', 'secretsctl.leds.model', 'secretsctl.leds.stdout']"
    )


@pytest.mark.parametrize("module", ["razer", "openrgb", "stdout", "daemon"])
def test_back_ends_and_daemon_do_not_import_the_factory(module: str) -> None:
    # The factory imports the back-ends; they share the interface and its error through
    # secretsctl.leds.model, so that no import goes round in a circle.
    script = (
        "import sys\n"
        f"import secretsctl.leds.{module}\n"
        "print('secretsctl.leds.keyboard' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
