"""Short socket folders: a Unix socket path must fit in 108 bytes, pytest's tmp_path may not."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A fresh, short folder under /tmp for sockets."""
    folder = Path(tempfile.mkdtemp(prefix="leds-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
