"""Comparing tokens in tests without putting them in an assertion message."""

from __future__ import annotations

from typing import Any


def same_secret(actual: Any, expected: Any, what: str = "the token") -> None:
    """Assert ``actual == expected``; a failure names ``what``, never either value."""
    equal = actual == expected
    assert equal, f"{what} is not the expected one (values not shown)"
