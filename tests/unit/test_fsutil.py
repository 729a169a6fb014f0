"""fsutil.fsync_directory: by path, and through a directory descriptor (``O_PATH`` too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secretsctl import fsutil
from tests.activate_support import RecordingOs


@pytest.mark.parametrize("flags", [os.O_RDONLY | os.O_DIRECTORY, os.O_PATH | os.O_DIRECTORY])
def test_fsync_directory_through_a_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: int
) -> None:
    synced: list[int] = []
    layer = RecordingOs(
        lambda name, args: synced.append(os.fstat(args[0]).st_ino) if name == "fsync" else None
    )
    monkeypatch.setattr(fsutil, "os", layer)
    dir_fd = os.open(tmp_path, flags)
    try:
        fsutil.fsync_directory(dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    assert synced == [tmp_path.stat().st_ino]
    opened = [c.result for c in layer.calls if c.name == "open"]
    closed = [c.args[0] for c in layer.calls if c.name == "close"]
    assert opened == closed


def test_fsync_directory_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    layer = RecordingOs(
        lambda name, args: synced.append(os.fstat(args[0]).st_ino) if name == "fsync" else None
    )
    monkeypatch.setattr(fsutil, "os", layer)
    fsutil.fsync_directory(tmp_path)
    assert synced == [tmp_path.stat().st_ino]


def test_fsync_directory_of_nothing_is_quiet(tmp_path: Path) -> None:
    fsutil.fsync_directory(tmp_path / "missing")
