"""What the LED companion knows: CI states, their colours, and the repository of a directory.

The colours and the meaning of each state are the original daemon's.
"""

from __future__ import annotations

import enum
from typing import Final

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
