"""The privileged suite: root, real users and groups, real mounts in private mount namespaces.

Every test body runs in a forked child that first enters its own private mount namespace
(``unshare -m --propagation private``), so its ramfs and tmpfs mounts vanish with it. Users
and a group are made once with useradd/groupadd and removed at the end. Without root the
suite is skipped, unless SECRETSCTL_REQUIRE_ROOT=1 (CI), where it fails.
"""

from __future__ import annotations

import pytest

from tests.activate_support import require_root


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()
