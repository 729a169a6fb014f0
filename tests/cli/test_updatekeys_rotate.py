"""`secretsctl updatekeys` and `rotate` on files real sops 3.11 wrote, judged by real sops.

updatekeys re-wraps the data key for the recipients of the matching `.sops.yaml` rule and
changes nothing else; rotate puts every value under a new data key. With several files, a
failure in one leaves every file as it was (all or nothing).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import AgeKey, Runner, Sops, make_age_key

pytestmark = pytest.mark.interop

PLAIN_YAML = b"""\
# top comment
user: admin
password: pw-9d1e-secret
nested:
    # inner comment
    token: tk-88aa
list:
    - one
    # list comment
    - two
"""
PLAIN_JSON = b'{"user": "admin", "password": "pw-9d1e-secret", "nested": {"token": "tk-88aa"}}\n'


def env_for(*keys: AgeKey) -> dict[str, str]:
    """An environment whose SOPS_AGE_KEY_FILE holds exactly these identities."""
    if len(keys) == 1:
        return {"SOPS_AGE_KEY_FILE": str(keys[0].key_file)}
    combined = keys[0].key_file.parent / f"combined-{len(keys)}.txt"
    combined.write_text("".join(k.key_file.read_text() for k in keys))
    return {"SOPS_AGE_KEY_FILE": str(combined)}


def sops_file(sops: Sops, folder: Path, name: str, plain: bytes = PLAIN_YAML) -> Path:
    path = folder / name
    path.write_bytes(plain)
    result = sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path))
    assert result.returncode == 0, result.stderr.decode()
    return path


def write_rule(folder: Path, body: str) -> None:
    (folder / ".sops.yaml").write_text("creation_rules:\n" + body)


def load(data: bytes, kind: str = "yaml") -> Any:
    if kind == "json":
        import json

        return json.loads(data)
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(data)


def body(data: bytes) -> bytes:
    """Everything before the metadata block."""
    for marker in (b"\nsops:\n", b'\n\t"sops": {'):
        if marker in data:
            return data.split(marker)[0]
    raise AssertionError("no sops block")


def fixed_metadata(data: bytes, kind: str = "yaml") -> tuple[Any, ...]:
    block = load(data, kind)["sops"]
    return block["lastmodified"], block["mac"], block["version"]


def recipients(data: bytes, kind: str = "yaml") -> list[list[str]]:
    block = load(data, kind)["sops"]
    groups = block.get("key_groups") or [block]
    return [[entry["recipient"] for entry in group.get("age") or []] for group in groups]


def opens(sops: Sops, path: Path, *keys: AgeKey) -> bool:
    return sops.run("decrypt", str(path), env=env_for(*keys)).returncode == 0


def plain(sops: Sops, path: Path) -> bytes:
    result = sops.run("decrypt", str(path))
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture
def second(tmp_path: Path) -> AgeKey:
    return make_age_key(tmp_path, "second.txt")


# --- updatekeys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "plaintext", "kind"),
    [("s.yaml", PLAIN_YAML, "yaml"), ("s.json", PLAIN_JSON, "json")],
)
def test_updatekeys_adds_a_recipient_and_changes_nothing_else(
    secretsctl: Runner,
    sops: Sops,
    second: AgeKey,
    tmp_path: Path,
    name: str,
    plaintext: bytes,
    kind: str,
) -> None:
    path = sops_file(sops, tmp_path, name, plaintext)
    write_rule(tmp_path, f"  - age: {sops.key.recipient},{second.recipient}\n")
    before, expected = path.read_bytes(), plain(sops, path)
    assert not opens(sops, path, second)
    result = secretsctl("updatekeys", "-y", name, cwd=tmp_path, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert f"    {sops.key.recipient}\n" in out
    assert f"+++ {second.recipient}\n" in out
    after = path.read_bytes()
    assert body(after) == body(before)
    assert fixed_metadata(after, kind) == fixed_metadata(before, kind)
    assert recipients(after, kind) == [[sops.key.recipient, second.recipient]]
    assert sops.run("decrypt", str(path), env=env_for(second)).stdout == expected


def test_updatekeys_removing_a_recipient_locks_it_out(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    write_rule(tmp_path, f"  - age: {second.recipient}\n")
    result = secretsctl("updatekeys", "--yes", "s.yaml", cwd=tmp_path, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert f"--- {sops.key.recipient}\n" in result.stdout.decode()
    assert opens(sops, path, second)
    assert not opens(sops, path, sops.key)


def test_updatekeys_to_key_groups_splits_the_key_with_shamir(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    write_rule(
        tmp_path,
        "  - key_groups:\n"
        f"      - age: [{sops.key.recipient}]\n"
        f"      - age: [{second.recipient}]\n",
    )
    result = secretsctl("updatekeys", "-y", "s.yaml", cwd=tmp_path, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    after = path.read_bytes()
    assert recipients(after) == [[sops.key.recipient], [second.recipient]]
    assert load(after)["sops"]["shamir_threshold"] == 2
    assert opens(sops, path, sops.key, second)
    assert not opens(sops, path, sops.key)


def test_updatekeys_up_to_date_touches_nothing(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    write_rule(tmp_path, f"  - path_regex: s\\.yaml$\n    age: {sops.key.recipient}\n")
    before, stamp = path.read_bytes(), os.stat(path).st_mtime_ns
    result = secretsctl("updatekeys", "s.yaml", cwd=tmp_path, env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    assert "already up to date" in result.stderr.decode()
    assert result.stdout == b""
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == (before, stamp)


@pytest.mark.parametrize(
    ("answers", "code", "changed"),
    [(b"y\n", 0, True), (b"maybe\nn\n", 0, False), (b"", ExitCode.GENERIC, False)],
)
def test_updatekeys_asks_on_stdin_like_sops(
    secretsctl: Runner,
    sops: Sops,
    second: AgeKey,
    tmp_path: Path,
    answers: bytes,
    code: int,
    changed: bool,
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    write_rule(tmp_path, f"  - age: {sops.key.recipient},{second.recipient}\n")
    before = path.read_bytes()
    ours = secretsctl("updatekeys", "s.yaml", cwd=tmp_path, env=env_for(sops.key), input=answers)
    assert ours.returncode == code, ours.stderr.decode()
    prompts = ours.stdout.decode().count("Is this okay? (y/n):")
    assert prompts == max(answers.count(b"\n"), 1)
    assert (path.read_bytes() != before) is changed
    (tmp_path / "twin.yaml").write_bytes(before)
    theirs = sops.run("updatekeys", "twin.yaml", cwd=tmp_path, input=answers)
    assert theirs.returncode == code


@pytest.mark.parametrize("case", ["no config", "no rule", "missing file", "wrong key"])
def test_updatekeys_exit_codes_match_sops(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path, case: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = sops_file(sops, work, "s.yaml")
    rule = {
        "no config": None,
        "no rule": "  - path_regex: nothing-matches\n    age: {r}\n",
        "missing file": "  - age: {r}\n",
        "wrong key": "  - age: {r}\n",
    }[case]
    if rule is not None:
        write_rule(work, rule.format(r=f"{sops.key.recipient},{second.recipient}"))
    name = "missing.yaml" if case == "missing file" else "s.yaml"
    keys = env_for(second) if case == "wrong key" else env_for(sops.key)
    before = path.read_bytes()
    ours = secretsctl("updatekeys", "-y", name, cwd=work, env=keys)
    assert path.read_bytes() == before
    theirs = sops.run("updatekeys", "-y", name, cwd=work, env=keys)
    assert ours.returncode == theirs.returncode != 0, ours.stderr.decode()
    assert ours.stderr.decode().startswith("secretsctl: error: ")


def test_updatekeys_of_several_files_with_one_failing_changes_none(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    good = sops_file(sops, tmp_path, "good.yaml")
    stranger = make_age_key(tmp_path, "stranger.txt")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(PLAIN_YAML)
    assert sops.run("encrypt", "-i", "--age", stranger.recipient, str(bad)).returncode == 0
    write_rule(tmp_path, f"  - age: {sops.key.recipient},{second.recipient}\n")
    before = good.read_bytes(), bad.read_bytes()
    result = secretsctl(
        "updatekeys", "-y", "good.yaml", "bad.yaml", cwd=tmp_path, env=env_for(sops.key)
    )
    assert result.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert (good.read_bytes(), bad.read_bytes()) == before
    err = result.stderr.decode()
    assert "nothing was changed" in err
    assert str(bad) in err
    assert "Traceback" not in err


def test_updatekeys_with_config_flag(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    config = tmp_path / "elsewhere.yaml"
    config.write_text(f"creation_rules:\n  - age: {second.recipient}\n")
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    result = secretsctl(
        "updatekeys", "-y", "--config", str(config), str(path), cwd=elsewhere, env=env_for(sops.key)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert opens(sops, path, second)


# --- rotate ---------------------------------------------------------------------------------

_IV = re.compile(rb"iv:([^,]+),")


def data_key(path: Path, key: AgeKey) -> bytes:
    import pyrage

    enc = load(path.read_bytes())["sops"]["age"][0]["enc"]
    identity = pyrage.x25519.Identity.from_str(key.identity)
    return bytes(pyrage.decrypt(enc.encode(), [identity]))


def test_rotate_makes_a_new_data_key_and_keeps_the_values(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    before = path.read_bytes()
    expected = plain(sops, path)
    old_key = data_key(path, sops.key)
    result = secretsctl("rotate", "-i", str(path), env=env_for(sops.key))
    assert result.returncode == 0, result.stderr.decode()
    after = path.read_bytes()
    assert data_key(path, sops.key) != old_key
    assert plain(sops, path) == expected
    assert load(after)["sops"]["mac"] != load(before)["sops"]["mac"]
    # Fresh IVs everywhere: unlike sops 3.11, no IV is carried over to the new key.
    assert not set(_IV.findall(body(after))) & set(_IV.findall(body(before)))
    # The old sops block (old wrapped key) does not open the rotated values.
    spliced = tmp_path / "spliced.yaml"
    spliced.write_bytes(body(after) + b"\nsops:\n" + before.split(b"\nsops:\n")[1])
    assert sops.run("decrypt", str(spliced)).returncode != 0


def test_rotate_add_and_remove_age(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    expected = plain(sops, path)
    result = secretsctl(
        "rotate", "-i", "--add-age", second.recipient, str(path), env=env_for(sops.key)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert recipients(path.read_bytes()) == [[sops.key.recipient, second.recipient]]
    assert opens(sops, path, second)
    result = secretsctl(
        "rotate", "-i", "--rm-age", sops.key.recipient, str(path), env=env_for(second)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert recipients(path.read_bytes()) == [[second.recipient]]
    assert not opens(sops, path, sops.key)
    assert sops.run("decrypt", str(path), env=env_for(second)).stdout == expected


def test_rotate_of_several_files_with_one_failing_changes_none(
    secretsctl: Runner, sops: Sops, tmp_path: Path
) -> None:
    first = sops_file(sops, tmp_path, "a.yaml")
    json_file = sops_file(sops, tmp_path, "b.json", PLAIN_JSON)
    stranger = make_age_key(tmp_path, "stranger.txt")
    bad = tmp_path / "c.yaml"
    bad.write_bytes(PLAIN_YAML)
    assert sops.run("encrypt", "-i", "--age", stranger.recipient, str(bad)).returncode == 0
    files = (first, json_file, bad)
    before = [f.read_bytes() for f in files]
    result = secretsctl("rotate", "-i", *map(str, files), env=env_for(sops.key))
    assert result.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert [f.read_bytes() for f in files] == before
    assert str(bad) in result.stderr.decode()
    ok = secretsctl("rotate", "-i", str(first), str(json_file), env=env_for(sops.key))
    assert ok.returncode == 0, ok.stderr.decode()
    assert all(f.read_bytes() != b for f, b in zip(files[:2], before, strict=False))
    assert plain(sops, json_file) == sops.run("decrypt", str(json_file)).stdout


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("rotate", "-i", "{missing}"), "own"),
        (("rotate", "-i", "--add-age", "{recipient}", "{missing}"), "own"),
        (("rotate", "-i", "{f}"), "stranger"),
        (("rotate", "-i"), "own"),
        (("rotate", "-i", "--rm-age", "{own}", "{f}"), "own"),
    ],
)
def test_rotate_exit_codes_match_sops(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path, args: tuple[str, ...], key: str
) -> None:
    path = sops_file(sops, tmp_path, "s.yaml")
    before = path.read_bytes()
    keys = env_for(second) if key == "stranger" else env_for(sops.key)
    filled = [
        a.format(
            f=path,
            missing=tmp_path / "missing.yaml",
            recipient=second.recipient,
            own=sops.key.recipient,
        )
        for a in args
    ]
    ours = secretsctl(*filled, env=keys)
    assert path.read_bytes() == before
    theirs = sops.run(*filled, env=keys)
    assert ours.returncode == theirs.returncode != 0, ours.stderr.decode()


def test_updatekeys_from_two_groups_to_one_caps_the_threshold(
    secretsctl: Runner, sops: Sops, second: AgeKey, tmp_path: Path
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(PLAIN_YAML)
    write_rule(
        tmp_path,
        "  - key_groups:\n"
        f"      - age: [{sops.key.recipient}]\n"
        f"      - age: [{second.recipient}]\n",
    )
    made = sops.run("encrypt", "-i", "s.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr.decode()
    expected = sops.run("decrypt", "s.yaml", cwd=tmp_path, env=env_for(sops.key, second)).stdout
    write_rule(tmp_path, f"  - age: {second.recipient}\n")
    both = env_for(sops.key, second)
    result = secretsctl("updatekeys", "-y", "s.yaml", cwd=tmp_path, env=both)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "+++ shamir_threshold: 1\n--- shamir_threshold: 2\n" in out
    assert f"--- {sops.key.recipient}\n" in out
    assert recipients(path.read_bytes()) == [[second.recipient]]
    assert sops.run("decrypt", str(path), env=env_for(second)).stdout == expected
