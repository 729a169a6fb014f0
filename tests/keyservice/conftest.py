"""The key service tests' fixtures (from tests/keyservice_support.py)."""

from __future__ import annotations

from tests.keyservice_support import client, server_key, socket_dir  # noqa: F401
