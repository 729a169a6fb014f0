"""Format: picking a store by extension, and importing only the store a format needs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from secretsctl.sops.stores import Format
from tests.conftest import REPO

_STORE_MODULES = {
    "secretsctl.sops.stores.yaml",
    "secretsctl.sops.stores.json_store",
    "secretsctl.sops.stores.dotenv",
    "secretsctl.sops.stores.ini",
    "secretsctl.sops.stores.binary",
}


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("a.yaml", Format.YAML),
        ("a.yml", Format.YAML),
        ("a.json", Format.JSON),
        ("a.env", Format.DOTENV),
        ("a.ini", Format.INI),
        ("a.YAML", Format.BINARY),
        ("a", Format.BINARY),
    ],
)
def test_the_store_follows_the_extension(path: str, fmt: Format) -> None:
    assert Format.for_path(path) is fmt


def test_decrypting_a_yaml_file_imports_no_other_store() -> None:
    # The command ends with os._exit (no atexit, no finally): list the modules there.
    script = (
        "import os, sys\n"
        "from secretsctl.cli import main\n"
        "def _exit(code, _exit=os._exit):\n"
        "    sys.stderr.write(' '.join(m for m in sys.modules if '.stores.' in m))\n"
        "    sys.stderr.flush()\n"
        "    _exit(code)\n"
        "os._exit = _exit\n"
        "sys.argv = ['secretsctl', 'decrypt', 'examples/secrets.yaml']\n"
        "main()\n"
    )
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(REPO / "examples" / "demo-age-key.txt")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, "the example did not decrypt"
    imported = set(result.stderr.decode().split()) & _STORE_MODULES
    assert imported == {"secretsctl.sops.stores.yaml"}
