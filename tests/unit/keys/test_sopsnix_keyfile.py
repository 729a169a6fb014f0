"""sops-nix's age-keys.txt header time: Go's time.RFC3339 layout."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from secretsctl.keys.sopsnix_keyfile import rfc3339_now


@pytest.fixture
def timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("tz", "suffix"),
    [("UTC", r"Z"), ("Asia/Kolkata", r"\+05:30"), ("America/Argentina/Buenos_Aires", r"-03:00")],
)
def test_rfc3339_like_go(tz: str, suffix: str, timezone: pytest.MonkeyPatch) -> None:
    timezone.setenv("TZ", tz)
    time.tzset()
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d{suffix}", rfc3339_now())
