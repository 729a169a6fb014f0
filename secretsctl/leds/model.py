"""What the LED companion knows: CI states, colours, repositories, and the keyboard.

The colours and the meaning of each state are the original daemon's. The keyboard interface
and its error live here, not beside the back-ends' factory (:mod:`secretsctl.leds.keyboard`),
so that the back-ends and the daemon import them without importing each other.
"""

from __future__ import annotations

import enum
from typing import Final, Protocol

from secretsctl.errors import SecretsctlError
from secretsctl.record import Record


class Colour(Record):
    """One RGB colour for the whole keyboard."""

    red: int
    green: int
    blue: int


class CiState(enum.Enum):
    """The CI state of a commit, or no GitHub repository at all."""

    PENDING = "pending"  # some check run or status is not finished
    FAILED = "failed"  # nothing pending, at least one failed
    PASSED = "passed"  # everything finished, nothing failed
    UNKNOWN = "unknown"  # no CI reported, or GitHub could not be asked
    NO_REPOSITORY = "no-repository"  # not in a git repository with a GitHub remote


COLOURS: Final = {
    CiState.PENDING: Colour(255, 165, 0),  # orange
    CiState.FAILED: Colour(255, 0, 0),  # red
    CiState.PASSED: Colour(0, 255, 0),  # green
    CiState.UNKNOWN: Colour(128, 128, 128),  # gray
    CiState.NO_REPOSITORY: Colour(0, 0, 255),  # blue
}


class Repository(Record):
    """A directory's git repository on GitHub, and the commit its HEAD names."""

    root: str  # the work tree's top folder
    owner: str
    name: str
    head: str | None  # the full commit id; None on an unborn branch


class KeyboardError(SecretsctlError):
    """The keyboard could not be painted; the message names the socket or address."""


class Keyboard(Protocol):
    """A keyboard that shows one colour at a time."""

    async def start(self) -> None:
        """Start the back-end's background work (for Razer: watching for a daemon restart)."""

    async def paint(self, colour: Colour) -> None:
        """Set the whole keyboard to ``colour``; raise :class:`KeyboardError` on failure.

        Every socket call has a timeout, and none blocks the event loop.
        """

    async def close(self) -> None:
        """Stop the background work and release the connection."""
