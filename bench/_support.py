"""What the benchmarks share: the tools next to the interpreter, a sops file to time them on.

The scripts run as ``.venv/bin/python bench/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import random
import string
import subprocess
import sys
from pathlib import Path


def tool(name: str) -> str:
    """Return the path of ``name`` in the interpreter's bin folder, or exit saying why."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        sys.exit(f"bench: {name} not found next to {sys.executable}; install the test group")
    return str(candidate)


def sops_file(
    folder: Path, keys: int, env: dict[str, str], recipient: str, sops: str, name: str
) -> Path:
    """Write ``folder/name``: ``keys`` random 40-character strings, encrypted by real sops."""
    rng = random.Random(keys)
    lines = [
        f"key_{i}: {''.join(rng.choices(string.ascii_letters + string.digits, k=40))}"
        for i in range(keys)
    ]
    plain = folder / f"plain-{name}"
    plain.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [sops, "encrypt", "--age", recipient, str(plain)], env=env, capture_output=True, check=True
    )
    plain.unlink()
    encrypted = folder / name
    encrypted.write_bytes(out.stdout)
    return encrypted


def throwaway_key(folder: Path) -> tuple[str, dict[str, str]]:
    """Make an age key in ``folder``; return its recipient and a bare environment using it."""
    import os

    import pyrage

    identity = pyrage.x25519.Identity.generate()
    key_file = folder / "keys.txt"
    key_file.write_text(f"{identity}\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "SOPS_AGE_KEY_FILE": str(key_file),
    }
    return str(identity.to_public()), env
