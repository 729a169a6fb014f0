"""age plugins with the real peers: Debian's age, sops 3.11 and secretsctl, both ways.

The plugin is tests/plugins/age-plugin-testkey, put on PATH for every process here. First it
is shown to be a real plugin (age and sops use it on their own); then files go from sops to
secretsctl and back, with plugin recipients alone, mixed with X25519 ones, and in Shamir key
groups; updatekeys, rotate and edit keep plugin recipients; a failing plugin changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import AgeKey, Runner, Sops, make_age_key
from tests.keys_support import mac_opens
from tests.plugin_support import (
    LOG,
    MODE,
    PluginKey,
    age_cli,
    make_plugin_key,
    path_without_plugin,
    runs,
)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("plugin_on_path")]

PLAIN = b"user: admin\npassword: pw-7c1f-secret\nnested:\n    token: tk-51ab\n"
SECRET_VALUES = (b"pw-7c1f-secret", b"tk-51ab")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_file(folder: Path, *keys: AgeKey | PluginKey) -> str:
    """A key file holding exactly these identities."""
    path = folder / f"keys-{len(list(folder.glob('keys-*')))}.txt"
    path.write_text("".join(f"{key.identity}\n" for key in keys))
    return str(path)


def load(data: bytes) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(data)


def recipients(path: Path) -> list[list[str]]:
    block = load(path.read_bytes())["sops"]
    groups = block.get("key_groups") or [block]
    return [[entry["recipient"] for entry in group.get("age") or []] for group in groups]


def assert_one_error(stderr: bytes, code: int, returncode: int) -> list[str]:
    text = stderr.decode()
    assert returncode == code, text
    assert "Traceback" not in text
    for value in SECRET_VALUES:
        assert value.decode() not in text, "a value was printed"
    lines = text.splitlines()
    assert lines[0].startswith("secretsctl: error: ")
    return lines


@pytest.fixture
def x25519(tmp_path: Path) -> AgeKey:
    return make_age_key(tmp_path, "x25519.txt")


@pytest.fixture
def plain_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain.yaml"
    path.write_bytes(PLAIN)
    return path


def sops_encrypt(sops: Sops, source: Path, *args: str) -> Path:
    out = sops.run("encrypt", *args, str(source), cwd=source.parent)
    assert out.returncode == 0, out.stderr.decode()
    target = source.parent / "secrets.yaml"
    target.write_bytes(out.stdout)
    return target


def sops_decrypts(sops: Sops, path: Path, keys: str) -> bool:
    out = sops.run("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": keys})
    return out.returncode == 0 and digest(out.stdout) == digest(PLAIN)


def secretsctl_decrypts(secretsctl: Runner, path: Path, keys: str) -> bool:
    out = secretsctl("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": keys})
    return out.returncode == 0 and digest(out.stdout) == digest(PLAIN)


# --- the test plugin is a real plugin ------------------------------------------------------------


def test_age_encrypts_and_decrypts_with_the_test_plugin(
    plugin_key: PluginKey, tmp_path: Path
) -> None:
    age = age_cli()
    payload = os.urandom(100)
    made = subprocess.run(
        [age, "-a", "-r", plugin_key.recipient], input=payload, capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr.decode()
    assert b"-> testkey " in __import__("base64").b64decode(
        b"".join(made.stdout.splitlines()[1:-1])
    )
    opened = subprocess.run(
        [age, "-d", "-i", str(plugin_key.key_file)],
        input=made.stdout,
        capture_output=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == payload, "age did not get the payload back"
    other = make_plugin_key(tmp_path, "other.txt")
    refused = subprocess.run(
        [age, "-d", "-i", str(other.key_file)], input=made.stdout, capture_output=True, check=False
    )
    assert refused.returncode != 0


def test_sops_encrypts_and_decrypts_with_the_test_plugin(
    sops: Sops, plugin_key: PluginKey, plain_file: Path
) -> None:
    path = sops_encrypt(sops, plain_file, "--age", plugin_key.recipient)
    assert recipients(path) == [[plugin_key.recipient]]
    assert sops_decrypts(sops, path, str(plugin_key.key_file))
    assert not sops_decrypts(sops, path, str(sops.key.key_file))


# --- both ways ------------------------------------------------------------------------------


def test_sops_encrypts_secretsctl_decrypts(
    secretsctl: Runner, sops: Sops, plugin_key: PluginKey, plain_file: Path
) -> None:
    path = sops_encrypt(sops, plain_file, "--age", plugin_key.recipient)
    assert secretsctl_decrypts(secretsctl, path, str(plugin_key.key_file))


def test_secretsctl_encrypts_sops_and_age_decrypt(
    secretsctl: Runner, sops: Sops, plugin_key: PluginKey, plain_file: Path, tmp_path: Path
) -> None:
    out = secretsctl("encrypt", "--age", plugin_key.recipient, str(plain_file))
    assert out.returncode == 0, out.stderr.decode()
    path = tmp_path / "ours.yaml"
    path.write_bytes(out.stdout)
    assert recipients(path) == [[plugin_key.recipient]]
    assert sops_decrypts(sops, path, str(plugin_key.key_file))
    (entry,) = load(path.read_bytes())["sops"]["age"]
    opened = subprocess.run(
        [age_cli(), "-d", "-i", str(plugin_key.key_file)],
        input=entry["enc"].encode(),
        capture_output=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr.decode()
    assert len(opened.stdout) == 32
    assert mac_opens(path, opened.stdout)


def test_mixed_recipients_open_with_either_key_and_x25519_starts_no_plugin(
    secretsctl: Runner,
    sops: Sops,
    plugin_key: PluginKey,
    x25519: AgeKey,
    plain_file: Path,
    tmp_path: Path,
) -> None:
    recipients_arg = f"{x25519.recipient},{plugin_key.recipient}"
    theirs = sops_encrypt(sops, plain_file, "--age", recipients_arg)
    out = secretsctl("encrypt", "--age", recipients_arg, str(plain_file))
    assert out.returncode == 0, out.stderr.decode()
    ours = tmp_path / "ours.yaml"
    ours.write_bytes(out.stdout)
    log = tmp_path / "runs.log"
    for path in (theirs, ours):
        assert recipients(path) == [[x25519.recipient, plugin_key.recipient]]
        for keys in (key_file(tmp_path, x25519), key_file(tmp_path, plugin_key)):
            assert sops_decrypts(sops, path, keys)
            assert secretsctl_decrypts(secretsctl, path, keys)
        # The plugin identity comes first; the X25519 key opens the file without a plugin run.
        both = key_file(tmp_path, plugin_key, x25519)
        opened = secretsctl("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": both, LOG: str(log)})
        assert opened.returncode == 0, opened.stderr.decode()
    assert runs(log) == []


SHAMIR_RULE = """\
creation_rules:
  - shamir_threshold: 2
    key_groups:
      - age: [{x1}]
      - age: [{plugin}]
      - age: [{x2}]
"""


def test_shamir_with_a_plugin_group_both_ways(
    secretsctl: Runner,
    sops: Sops,
    plugin_key: PluginKey,
    x25519: AgeKey,
    plain_file: Path,
    tmp_path: Path,
) -> None:
    x2 = make_age_key(tmp_path, "x2.txt")
    (tmp_path / ".sops.yaml").write_text(
        SHAMIR_RULE.format(x1=x25519.recipient, plugin=plugin_key.recipient, x2=x2.recipient)
    )
    theirs = sops_encrypt(sops, plain_file)
    out = secretsctl("encrypt", str(plain_file), cwd=tmp_path)
    assert out.returncode == 0, out.stderr.decode()
    ours = tmp_path / "ours.yaml"
    ours.write_bytes(out.stdout)
    enough = [(x25519, plugin_key), (plugin_key, x2), (x25519, x2)]
    for path in (theirs, ours):
        assert recipients(path) == [[x25519.recipient], [plugin_key.recipient], [x2.recipient]]
        for keys in enough:
            combined = key_file(tmp_path, *keys)
            assert secretsctl_decrypts(secretsctl, path, combined)
            assert sops_decrypts(sops, path, combined)
        short = secretsctl(
            "decrypt", str(path), env={"SOPS_AGE_KEY_FILE": str(plugin_key.key_file)}
        )
        lines = assert_one_error(short.stderr, ExitCode.COULD_NOT_RETRIEVE_KEY, short.returncode)
        assert "  1 of 2 required key groups opened" in lines


# --- updatekeys, rotate, edit keep plugin recipients --------------------------------------------


def mixed_sops_file(sops: Sops, plain_file: Path, *recipient_list: str) -> Path:
    return sops_encrypt(sops, plain_file, "--age", ",".join(recipient_list))


def test_updatekeys_keeps_plugin_recipients(
    secretsctl: Runner,
    sops: Sops,
    plugin_key: PluginKey,
    x25519: AgeKey,
    plain_file: Path,
    tmp_path: Path,
) -> None:
    path = mixed_sops_file(sops, plain_file, x25519.recipient, plugin_key.recipient)
    x2 = make_age_key(tmp_path, "x2.txt")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {x25519.recipient},{plugin_key.recipient},{x2.recipient}\n"
    )
    # Opened through the plugin alone.
    env = {"SOPS_AGE_KEY_FILE": str(plugin_key.key_file)}
    out = secretsctl("updatekeys", "-y", "secrets.yaml", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert recipients(path) == [[x25519.recipient, plugin_key.recipient, x2.recipient]]
    for key in (x25519, plugin_key, x2):
        assert sops_decrypts(sops, path, key_file(tmp_path, key))


def test_rotate_keeps_plugin_recipients(
    secretsctl: Runner,
    sops: Sops,
    plugin_key: PluginKey,
    x25519: AgeKey,
    plain_file: Path,
    tmp_path: Path,
) -> None:
    path = mixed_sops_file(sops, plain_file, x25519.recipient, plugin_key.recipient)
    before = path.read_bytes()
    out = secretsctl("rotate", "-i", str(path), env={"SOPS_AGE_KEY_FILE": str(x25519.key_file)})
    assert out.returncode == 0, out.stderr.decode()
    assert path.read_bytes() != before
    assert recipients(path) == [[x25519.recipient, plugin_key.recipient]]
    for key in (x25519, plugin_key):
        assert sops_decrypts(sops, path, key_file(tmp_path, key))
        assert secretsctl_decrypts(secretsctl, path, key_file(tmp_path, key))


def test_edit_keeps_plugin_recipients(
    secretsctl: Runner,
    sops: Sops,
    plugin_key: PluginKey,
    x25519: AgeKey,
    plain_file: Path,
    tmp_path: Path,
) -> None:
    import sys

    path = mixed_sops_file(sops, plain_file, x25519.recipient, plugin_key.recipient)
    editor = tmp_path / "editor.py"
    editor.write_text(
        f"#!{sys.executable}\nimport sys\npath = sys.argv[-1]\n"
        "data = open(path, 'rb').read()\n"
        "open(path, 'wb').write(data.replace(b'user: admin', b'user: root'))\n"
    )
    editor.chmod(0o755)
    env = {"SOPS_AGE_KEY_FILE": str(plugin_key.key_file), "SOPS_EDITOR": str(editor)}
    out = secretsctl("edit", str(path), env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert recipients(path) == [[x25519.recipient, plugin_key.recipient]]
    for key in (x25519, plugin_key):
        opened = sops.run("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": key_file(tmp_path, key)})
        assert opened.returncode == 0, opened.stderr.decode()
        assert digest(opened.stdout) == digest(PLAIN.replace(b"user: admin", b"user: root"))


# --- a failing plugin: one error, nothing changed ------------------------------------------------


def test_decrypt_with_the_plugin_missing(
    secretsctl: Runner, sops: Sops, plugin_key: PluginKey, plain_file: Path
) -> None:
    path = sops_encrypt(sops, plain_file, "--age", plugin_key.recipient)
    env = {"SOPS_AGE_KEY_FILE": str(plugin_key.key_file), "PATH": path_without_plugin()}
    out = secretsctl("decrypt", str(path), env=env)
    lines = assert_one_error(out.stderr, ExitCode.COULD_NOT_RETRIEVE_KEY, out.returncode)
    assert f"  {plugin_key.recipient}: age-plugin-testkey not found on PATH" in lines
    assert lines[-1].startswith("secretsctl: hint: install age-plugin-testkey")
    assert out.stdout == b""


@pytest.mark.parametrize("mode", ["crash", "garbage", "hang", "secret"])
def test_encrypt_in_place_through_a_failing_plugin_changes_nothing(
    secretsctl: Runner, plugin_key: PluginKey, x25519: AgeKey, plain_file: Path, mode: str
) -> None:
    env = {MODE: mode, "SECRETSCTL_AGE_PLUGIN_TIMEOUT": "1"}
    recipients_arg = f"{x25519.recipient},{plugin_key.recipient}"
    out = secretsctl("encrypt", "-i", "--age", recipients_arg, str(plain_file), env=env)
    lines = assert_one_error(out.stderr, ExitCode.GENERIC, out.returncode)
    assert lines[0].startswith(
        f"secretsctl: error: {plain_file}: cannot encrypt to `{plugin_key.recipient}`: "
    )
    assert plain_file.read_bytes() == PLAIN, "the file changed"
    assert sorted(p.name for p in plain_file.parent.iterdir() if p.name != "x25519.txt") == [
        "plain.yaml",
        "plugin-keys.txt",
    ]


def test_updatekeys_through_a_crashing_plugin_changes_nothing(
    secretsctl: Runner, sops: Sops, x25519: AgeKey, plugin_key: PluginKey, plain_file: Path
) -> None:
    path = mixed_sops_file(sops, plain_file, x25519.recipient)
    before = path.read_bytes()
    (plain_file.parent / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {x25519.recipient},{plugin_key.recipient}\n"
    )
    env = {"SOPS_AGE_KEY_FILE": str(x25519.key_file), MODE: "crash"}
    out = secretsctl("updatekeys", "-y", "secrets.yaml", cwd=plain_file.parent, env=env)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr.decode()
    assert "age-plugin-testkey exited with status 3" in out.stderr.decode()
    assert path.read_bytes() == before, "the file changed"


# --- the activation path --------------------------------------------------------------------


def test_render_opens_a_plugin_file_with_the_configured_key_file(
    secretsctl: Runner, sops: Sops, plugin_key: PluginKey, plain_file: Path, tmp_path: Path
) -> None:
    sops_encrypt(sops, plain_file, "--age", plugin_key.recipient)
    (tmp_path / "keys.txt").write_text(plugin_key.key_file.read_text())
    config = tmp_path / "secretsctl.yaml"
    config.write_text(
        "defaults:\n  sops_file: secrets.yaml\n  age_key_file: keys.txt\nsecrets:\n  password: {}\n"
    )
    args = ("render", "-m", str(config), "--root", str(tmp_path / "root"), "--dry-run")
    planned = secretsctl(*args)
    assert planned.returncode == 0, planned.stderr.decode()
    assert "/run/secrets/password" in planned.stdout.decode()
    missing = secretsctl(*args, env={"PATH": path_without_plugin()})
    lines = assert_one_error(missing.stderr, ExitCode.COULD_NOT_RETRIEVE_KEY, missing.returncode)
    assert f"  {plugin_key.recipient}: age-plugin-testkey not found on PATH" in lines
    assert lines[-1].startswith("secretsctl: hint: install age-plugin-testkey")
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").rglob("password"))
