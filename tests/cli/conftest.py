"""Run the installed `secretsctl` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SECRETSCTL = str(Path(sys.executable).parent / "secretsctl")
Runner = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def secretsctl(isolated_env: Path) -> Runner:
    """Run secretsctl with only the environment the test gives it (plus PATH and HOME)."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: bytes | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(isolated_env)}
        full_env.update(env or {})
        return subprocess.run(
            [SECRETSCTL, *args], input=input, capture_output=True, env=full_env, cwd=cwd, check=False
        )

    return run
