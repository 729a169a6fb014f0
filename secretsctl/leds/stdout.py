"""The ``stdout`` keyboard: one line per paint, for trying the companion without hardware.

Each paint prints ``R G B STATE`` and flushes, for example ``255 165 0 pending``. STATE is
the :class:`~secretsctl.leds.model.CiState` value whose colour this is (``pending``,
``failed``, ``passed``, ``unknown``, ``no-repository``), or ``-`` for any other colour.
The decimal components come first so that a status bar can read them with one ``split``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from secretsctl.leds.model import COLOURS, KeyboardError

if TYPE_CHECKING:
    from typing import TextIO

    from secretsctl.leds.model import Colour

_STATE_OF_COLOUR = {colour: state.value for state, colour in COLOURS.items()}


def format_colour(colour: Colour) -> str:
    """Return the line printed for ``colour``, without its newline."""
    state = _STATE_OF_COLOUR.get(colour, "-")
    return f"{colour.red} {colour.green} {colour.blue} {state}"


class StdoutKeyboard:
    """A keyboard that prints each colour it is asked to show."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    async def start(self) -> None:
        """Do nothing: there is no background work."""

    async def paint(self, colour: Colour) -> None:
        """Print one line for ``colour`` and flush it at once."""
        try:
            self._out.write(format_colour(colour) + "\n")
            self._out.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise KeyboardError(f"cannot print the colour to standard output: {exc}") from None

    async def close(self) -> None:
        """Flush what was printed, if the stream is still open."""
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()
