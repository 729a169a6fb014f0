"""sops's global flags before a subcommand (`sops --config X updatekeys F`), side by side.

urfave/cli lets a subcommand read the program's flags given before its name; secretsctl
reads them as that subcommand's own options. `--verbose` and `--disable-version-check`
change nothing secretsctl does and are dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Runner, Sops, make_age_key

pytestmark = pytest.mark.interop

PLAIN = b"user: admin\npassword: pw-3a9d-secret\n"


def encrypted(sops: Sops, folder: Path) -> Path:
    path = folder / "s.yaml"
    path.write_bytes(PLAIN)
    result = sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path))
    assert result.returncode == 0, result.stderr.decode()
    return path


@pytest.mark.parametrize(
    "flags",
    [("--verbose",), ("--disable-version-check",), ("--config", "CONFIG")],
)
def test_global_flags_before_decrypt(
    secretsctl: Runner, sops: Sops, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    path = encrypted(sops, tmp_path)
    config = tmp_path / "sops-config.yaml"
    config.write_text("stores:\n  yaml:\n    indent: 4\n")
    flags = tuple(str(config) if flag == "CONFIG" else flag for flag in flags)
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    theirs = sops.run(*flags, "decrypt", str(path))
    ours = secretsctl(*flags, "decrypt", str(path), env=env)
    assert ours.returncode == theirs.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout, "the plaintext differs from sops's"


def test_config_before_updatekeys(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    second = make_age_key(tmp_path, "second.txt")
    path = encrypted(sops, tmp_path)
    rules = tmp_path / "rules" / "sops-rules.yaml"
    rules.parent.mkdir()
    rules.write_text(f"creation_rules:\n  - age: {sops.key.recipient},{second.recipient}\n")
    env = {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}
    result = secretsctl("--config", str(rules), "updatekeys", "-y", str(path), env=env)
    assert result.returncode == 0, result.stderr.decode()
    opened = sops.run("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": str(second.key_file)})
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == PLAIN, "the file opened to other plaintext"


def test_dash_v_prints_the_version_as_sops_does(secretsctl: Runner, sops: Sops) -> None:
    assert sops.run("-v").returncode == 0
    short, long = secretsctl("-v"), secretsctl("--version")
    assert short.returncode == long.returncode == 0, short.stderr.decode()
    assert short.stdout == long.stdout
    assert short.stdout.startswith(b"secretsctl, version ")
