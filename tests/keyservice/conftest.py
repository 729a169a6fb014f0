"""The key service tests' fixtures (from tests/keyservice_support.py)."""

from __future__ import annotations

from tests.keyservice_support import client, server_key, socket_dir  # noqa: F401
from tests.pgp_support import session_gnupg  # noqa: F401
