"""The test age plugin (tests/plugins/age-plugin-testkey): keys, PATH and its run log."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
PLUGIN = PLUGIN_DIR / "age-plugin-testkey"
MODE = "AGE_PLUGIN_TESTKEY_MODE"
LOG = "AGE_PLUGIN_TESTKEY_LOG"


@dataclass(frozen=True)
class PluginKey:
    """A test plugin key pair and the key file holding the identity line."""

    identity: str
    recipient: str
    key_file: Path


def make_plugin_key(folder: Path, name: str = "plugin-keys.txt") -> PluginKey:
    """Generate a key pair with the plugin itself (`--generate`) and write its key file."""
    text = subprocess.run(
        [str(PLUGIN), "--generate"], capture_output=True, check=True, text=True
    ).stdout
    comment, identity = text.splitlines()
    key_file = folder / name
    key_file.write_text(text)
    key_file.chmod(0o600)
    return PluginKey(identity, comment.rsplit(" ", 1)[1], key_file)


def path_with_plugin() -> str:
    """PATH with the test plugin's folder first."""
    return f"{PLUGIN_DIR}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"


def path_without_plugin() -> str:
    """PATH without the test plugin's folder (the plugin is then missing)."""
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    return os.pathsep.join(part for part in parts if Path(part) != PLUGIN_DIR)


@pytest.fixture
def plugin_key(tmp_path: Path) -> PluginKey:
    """A fresh test plugin key pair."""
    return make_plugin_key(tmp_path)


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the test plugin on PATH for this process (and what it starts)."""
    monkeypatch.setenv("PATH", path_with_plugin())
    monkeypatch.delenv(MODE, raising=False)


@pytest.fixture
def plugin_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that gets one line per plugin run (its state machine)."""
    log = tmp_path / "plugin-runs.log"
    monkeypatch.setenv(LOG, str(log))
    return log


def runs(log: Path) -> list[str]:
    """The state machines the plugin ran in, in order."""
    return log.read_text().splitlines() if log.exists() else []


def age_cli() -> str:
    """Debian's age; fails instead of skipping when SECRETSCTL_REQUIRE_AGE_CLI=1."""
    found = shutil.which("age")
    if found is None:
        if os.environ.get("SECRETSCTL_REQUIRE_AGE_CLI") == "1":
            pytest.fail("the age command-line tool is missing (SECRETSCTL_REQUIRE_AGE_CLI=1)")
        pytest.skip("the age command-line tool is not installed")
    return found
