"""sops's old top-level forms (`-d`, `-e`, `-i`, `--set`, `--extract`, `--output`, bare FILE).

Each runs side by side with the real sops 3.11 on the same file: same exit code, same output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.cli import legacy
from tests.conftest import AgeKey, Runner, Sops

pytestmark = pytest.mark.interop

PLAIN = b"user: admin\npassword: pw-41c7-secret\nport: 5432\n"
SECRET = b"pw-41c7-secret"


def env_for(key: AgeKey) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(key.key_file)}


def encrypted(sops: Sops, folder: Path, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_bytes(PLAIN)
    result = sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path))
    assert result.returncode == 0, "sops could not encrypt"
    return path


def test_dash_d_decrypts_like_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = encrypted(sops, tmp_path)
    ours = secretsctl("-d", str(path), env=env_for(sops.key))
    theirs = sops.run("-d", str(path))
    assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr.decode()
    assert ours.stdout == theirs.stdout, "decrypted output differs from sops's"


@pytest.mark.parametrize("flag", ["-d", "--decrypt"])
def test_extract_and_output(secretsctl: Runner, sops: Sops, tmp_path: Path, flag: str) -> None:
    path = encrypted(sops, tmp_path)
    ours = secretsctl(flag, "--extract", '["port"]', str(path), env=env_for(sops.key))
    theirs = sops.run(flag, "--extract", '["port"]', str(path))
    assert ours.returncode == theirs.returncode == 0, ours.stderr.decode()
    assert ours.stdout == theirs.stdout == b"5432\n"
    out_ours, out_theirs = tmp_path / "ours.yaml", tmp_path / "theirs.yaml"
    result = secretsctl(flag, "--output", str(out_ours), str(path), env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert sops.run(flag, "--output", str(out_theirs), str(path)).returncode == 0
    assert out_ours.read_bytes() == out_theirs.read_bytes(), "--output differs from sops's"


def test_dash_e_and_e_i(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    plain = tmp_path / "p.yaml"
    plain.write_bytes(PLAIN)
    result = secretsctl("-e", "--age", sops.key.recipient, str(plain), env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert SECRET not in result.stdout, "value leaked"
    (tmp_path / "e.yaml").write_bytes(result.stdout)
    assert sops.run("-d", str(tmp_path / "e.yaml")).stdout == PLAIN, "sops cannot read it"
    recipient = sops.key.recipient
    in_place = secretsctl("-e", "-i", "--age", recipient, str(plain), env=env_for(sops.key))
    assert in_place.returncode == 0, in_place.stderr.decode()
    assert in_place.stdout == b""
    assert SECRET not in plain.read_bytes(), "value left in plaintext"
    assert sops.run("-d", str(plain)).stdout == PLAIN, "sops cannot read it"


def test_dash_d_i_decrypts_in_place(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = encrypted(sops, tmp_path)
    assert secretsctl("-d", "-i", str(path), env=env_for(sops.key)).returncode == 0
    assert path.read_bytes() == PLAIN, "not decrypted in place"


def test_set_legacy_form_matches_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    ours = encrypted(sops, tmp_path, "ours.yaml")
    theirs = encrypted(sops, tmp_path, "theirs.yaml")
    assert secretsctl("--set", '["port"] 6543', str(ours), env=env_for(sops.key)).returncode == 0
    assert sops.run("--set", '["port"] 6543', str(theirs)).returncode == 0
    assert sops.run("-d", str(ours)).stdout == sops.run("-d", str(theirs)).stdout


def test_bad_set_format_is_exit_7_like_sops(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = encrypted(sops, tmp_path)
    before = path.read_bytes()
    ours = secretsctl("--set", "nope", str(path), env=env_for(sops.key))
    assert ours.returncode == sops.run("--set", "nope", str(path)).returncode == 7
    assert ours.stderr.decode().startswith("secretsctl: error: invalid --set format")
    assert "Traceback" not in ours.stderr.decode()
    assert path.read_bytes() == before


def test_bare_file_opens_the_editor(secretsctl: Runner, sops: Sops, tmp_path: Path) -> None:
    path = encrypted(sops, tmp_path)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/5432/6543/' \"$1\"\n")
    editor.chmod(0o755)
    result = secretsctl(str(path), env={**env_for(sops.key), "EDITOR": str(editor)})
    assert result.returncode == 0, result.stderr.decode()
    assert b"port: 6543" in sops.run("-d", str(path)).stdout


def test_unknown_word_is_still_a_usage_error(secretsctl: Runner, tmp_path: Path) -> None:
    result = secretsctl("decrpyt", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("secretsctl: error: No such command 'decrpyt'")


def test_two_actions_are_a_usage_error(secretsctl: Runner, tmp_path: Path) -> None:
    result = secretsctl("-d", "-e", str(tmp_path / "x.yaml"))
    assert result.returncode == 2
    assert "use only one of" in result.stderr.decode()


COMMANDS = ("decrypt", "encrypt", "edit", "set")


@given(st.lists(st.text(min_size=1, max_size=8), max_size=5))
def test_rewrite_keeps_command_lines_that_are_no_old_form(words: list[str]) -> None:
    for command in COMMANDS:
        assert legacy.rewrite([command, *words], COMMANDS) == [command, *words]


@given(
    st.sampled_from(["-d", "--decrypt", "-e", "--encrypt", "-r", "--rotate"]),
    st.lists(st.sampled_from(["-i", "--ignore-mac", "-d", "-e", "f.yaml"]), max_size=5),
)
def test_rewrite_moves_the_action_first(action: str, words: list[str]) -> None:
    try:
        rewritten = legacy.rewrite([action, *words], COMMANDS)
    except legacy.LegacyFormError:
        return
    assert rewritten[0] == legacy._ACTIONS[action]
    assert sorted(rewritten[1:]) == sorted(w for w in words if w not in legacy._ACTIONS)


def test_value_of_an_option_is_never_an_action() -> None:
    assert legacy.rewrite(["-e", "--extract", "-d", "f.yaml"], COMMANDS) == [
        "encrypt", "--extract", "-d", "f.yaml"
    ]  # fmt: skip


JSON_PLAIN = b'{"a": 2, "b": "ba"}'


def json_file(sops: Sops, folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(JSON_PLAIN)
    assert sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path)).returncode == 0
    return path


@pytest.mark.parametrize(
    "command",
    [("set", '["b"]', '"bb"'), ("unset", '["b"]'), ("set", "--idempotent", '["b"]', '"ba"')],
)
def test_set_unset_output_type_like_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """sops's functional scenarios: set/unset --output-type yaml on a .json file."""
    ours, theirs = json_file(sops, tmp_path, "ours.json"), json_file(sops, tmp_path, "theirs.json")
    name, *rest = command
    options = [o for o in rest if o.startswith("--")]
    words = [w for w in rest if not w.startswith("--")]
    before = ours.read_bytes()
    mine = secretsctl(name, "--output-type", "yaml", *options, str(ours), *words,
                      env=env_for(sops.key))  # fmt: skip
    sops_result = sops.run(name, "--output-type", "yaml", *options, str(theirs), *words)
    assert mine.returncode == sops_result.returncode == 0, mine.stderr.decode()
    if "--idempotent" in options:
        assert ours.read_bytes() == before
        return
    assert ours.read_bytes().startswith(b"a: ")
    decrypt = ("decrypt", "--input-type", "yaml", "--output-type", "yaml")
    assert sops.run(*decrypt, str(ours)).stdout == sops.run(*decrypt, str(theirs)).stdout
