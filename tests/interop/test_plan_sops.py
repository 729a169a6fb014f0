"""build_plan's values are what the real sops 3.11 prints: ``--extract`` per key, whole files."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from secretsctl.config.load import parse_config
from secretsctl.config.sopsnix import parse_manifest
from secretsctl.render.plan import build_plan
from tests.conftest import SOPS_NIX_VECTORS, Sops
from tests.unit.render.conftest import FakeAccounts

pytestmark = pytest.mark.interop

ACCOUNTS = FakeAccounts(users={"root": (0, 0)}, groups={"root": 0})


def extract(sops: Sops, path: Path, key: str, *, key_file: Path | None = None) -> bytes:
    selector = "".join(f'["{part}"]' for part in key.split("/"))
    env = {"SOPS_AGE_KEY_FILE": str(key_file)} if key_file else None
    result = sops.run("decrypt", "--extract", selector, str(path), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def whole(sops: Sops, path: Path, fmt: str, *, key_file: Path | None = None) -> bytes:
    env = {"SOPS_AGE_KEY_FILE": str(key_file)} if key_file else None
    result = sops.run(
        "decrypt", "--input-type", fmt, "--output-type", fmt, str(path), env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_sops_nix_vector_matches_sops(sops: Sops, tmp_path: Path) -> None:
    vector = tmp_path / "secrets.yaml"
    shutil.copy(SOPS_NIX_VECTORS / "secrets.yaml", vector)
    key_file = SOPS_NIX_VECTORS / "age-keys.txt"
    names = ["test_key", "nested/test/file", "whole"]
    secrets = [
        {"name": name, "key": "" if name == "whole" else name, "mode": "0400",
         "sopsFile": str(vector), "format": "yaml"}
        for name in names
    ]  # fmt: skip
    manifest = parse_manifest(
        json.dumps(
            {"secrets": secrets, "ageKeyFile": str(key_file), "secretsMountPoint": "/run/s.d",
             "symlinkPath": "/run/s"}  # fmt: skip
        ),
        "/nix/store/m.json",
    )
    found = {f.name: f.content.reveal() for f in build_plan(manifest, accounts=ACCOUNTS).files}
    assert found["test_key"] == extract(sops, vector, "test_key", key_file=key_file)
    assert found["nested/test/file"] == extract(sops, vector, "nested/test/file", key_file=key_file)
    assert found["whole"] == whole(sops, vector, "yaml", key_file=key_file)


def encrypt_with_sops(sops: Sops, path: Path, plaintext: str, fmt: str) -> None:
    path.write_text(plaintext)
    result = sops.run(
        "encrypt", "--age", sops.key.recipient, "--input-type", fmt, "--output-type", fmt,
        "--in-place", str(path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


YAML_PLAIN = textwrap.dedent(
    """\
    # a comment
    token: "t0k3n with spaces"
    block: |
        line one
        line two
    nested:
        deeper:
            leaf: "nested value"
    unicode: "é€秘"
    """
)


def test_yaml_keys_and_whole_file_match_sops(sops: Sops, tmp_path: Path) -> None:
    encrypt_with_sops(sops, tmp_path / "s.yaml", YAML_PLAIN, "yaml")
    manifest = parse_config(
        f"defaults: {{sops_file: s.yaml, age_key_file: {sops.key.key_file}}}\n"
        "secrets:\n  token: {}\n  block: {}\n  nested/deeper/leaf: {}\n  unicode: {}\n"
        "  whole: {key: ''}\n",
        str(tmp_path / "secretsctl.yaml"),
    )
    found = {f.name: f.content.reveal() for f in build_plan(manifest, accounts=ACCOUNTS).files}
    for key in ("token", "block", "nested/deeper/leaf", "unicode"):
        assert found[key] == extract(sops, tmp_path / "s.yaml", key), key
    assert found["whole"] == whole(sops, tmp_path / "s.yaml", "yaml")


def test_nested_json_keys_match_sops(sops: Sops, tmp_path: Path) -> None:
    plaintext = json.dumps({"db": {"user": "u", "password": "p\"w"}, "top": "t", "n": {"m": {"o": "deep"}}})
    encrypt_with_sops(sops, tmp_path / "s.json", plaintext, "json")
    manifest = parse_config(
        f"defaults: {{sops_file: s.json, format: json, age_key_file: {sops.key.key_file}}}\n"
        "secrets:\n  db/password: {}\n  top: {}\n  n/m/o: {}\n  whole: {key: ''}\n",
        str(tmp_path / "secretsctl.yaml"),
    )
    found = {f.name: f.content.reveal() for f in build_plan(manifest, accounts=ACCOUNTS).files}
    for key in ("db/password", "top", "n/m/o"):
        assert found[key] == extract(sops, tmp_path / "s.json", key), key
    assert found["whole"] == whole(sops, tmp_path / "s.json", "json")


@pytest.mark.parametrize(
    ("name", "fmt", "plaintext"),
    [
        ("s.env", "dotenv", "# comment\nA=1\nMULTI=a\\nb\nB=two words\n"),
        ("s.ini", "ini", "[section]\nkey = value\n; note\nother = x\n"),
        ("s.bin", "binary", "raw bytes\n\twith a tab\n"),
    ],
)
def test_whole_file_formats_match_sops(sops: Sops, tmp_path: Path, name: str, fmt: str, plaintext: str) -> None:
    encrypt_with_sops(sops, tmp_path / name, plaintext, fmt)
    manifest = parse_config(
        f"defaults: {{age_key_file: {sops.key.key_file}}}\n"
        f"secrets:\n  x: {{sops_file: {name}, format: {fmt}}}\n",
        str(tmp_path / "secretsctl.yaml"),
    )
    (found,) = build_plan(manifest, accounts=ACCOUNTS).files
    assert found.content.reveal() == whole(sops, tmp_path / name, fmt)
