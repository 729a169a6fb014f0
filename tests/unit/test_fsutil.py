"""fsutil: fsync_directory (by path, or through an ``O_PATH`` descriptor) and write_fully."""

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


@pytest.mark.parametrize("size", [0, 1, 7, 4096])
def test_write_fully_writes_every_byte_after_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    real_write = os.write
    calls: list[int] = []

    def short_write(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:3]))  # a write may take fewer bytes than given

    monkeypatch.setattr(fsutil.os, "write", short_write)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fsutil.write_fully(fd, data)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data
    assert len(calls) == max(1, -(-size // 3))
