"""`secretsctl groups add|delete` side by side with real sops 3.11's `groups` commands.

Both tools run on copies of one file written by sops; each result is judged by real sops
(which keys open it) and compared by structure (the groups' recipients, the threshold, and
the values, lastmodified and mac, which neither tool changes). Where sops writes a file that
nobody can open, secretsctl refuses and leaves the file as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AgeKey, Runner, Sops, make_age_key

pytestmark = pytest.mark.interop

PLAIN = b"user: admin\npassword: pw-5c1e-secret\n"


def env_for(*keys: AgeKey) -> dict[str, str]:
    """An environment whose SOPS_AGE_KEY_FILE holds exactly these identities."""
    combined = keys[0].key_file.parent / ("keys-" + "-".join(k.key_file.stem for k in keys))
    combined.write_text("".join(k.key_file.read_text() for k in keys))
    return {"SOPS_AGE_KEY_FILE": str(combined)}


def load(data: bytes) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(data)


def shape(data: bytes) -> tuple[Any, ...]:
    """What both tools must agree on: values, groups' recipients, threshold, time and MAC."""
    tree = load(data)
    block = tree.pop("sops")
    groups = block.get("key_groups") or [block]
    recipients = [[entry["recipient"] for entry in group.get("age") or []] for group in groups]
    return (
        tree,
        recipients,
        block.get("shamir_threshold"),
        block["lastmodified"],
        block["mac"],
        block["version"],
    )


def opens(sops: Sops, path: Path, *keys: AgeKey) -> bool:
    result = sops.run("decrypt", str(path), env=env_for(*keys))
    if result.returncode == 0:
        assert result.stdout == PLAIN, "the file opened to other plaintext"
    return result.returncode == 0


@pytest.fixture
def keys(tmp_path: Path, age_key: AgeKey) -> tuple[AgeKey, AgeKey, AgeKey]:
    return age_key, make_age_key(tmp_path, "b.txt"), make_age_key(tmp_path, "c.txt")


def sops_file(sops: Sops, folder: Path, *groups: AgeKey, threshold: int = 0) -> Path:
    """A file sops wrote, with one key group per key (via sops's own `groups add`)."""
    path = folder / "s.yaml"
    path.write_bytes(PLAIN)
    result = sops.run("encrypt", "-i", "--age", groups[0].recipient, str(path))
    assert result.returncode == 0, result.stderr.decode()
    for key in groups[1:]:
        args = ["groups", "add", "-i", "-f", str(path), "--age", key.recipient]
        if threshold and key is groups[-1]:
            args += ["--shamir-secret-sharing-threshold", str(threshold)]
        result = sops.run(*args, env=env_for(*groups))
        assert result.returncode == 0, result.stderr.decode()
    return path


def both(
    secretsctl: Runner, sops: Sops, path: Path, env: dict[str, str], *args: str
) -> tuple[Path, Path]:
    """Run `groups ARGS -i -f copy` with each tool on its own copy of ``path``."""
    ours, theirs = path.with_name("ours.yaml"), path.with_name("theirs.yaml")
    shutil.copy(path, ours)
    shutil.copy(path, theirs)
    mine = secretsctl("groups", *args[:1], "-i", "-f", str(ours), *args[1:], env=env)
    assert mine.returncode == 0, mine.stderr.decode()
    real = sops.run("groups", *args[:1], "-i", "-f", str(theirs), *args[1:], env=env)
    assert real.returncode == 0, real.stderr.decode()
    return ours, theirs


# --- groups add -----------------------------------------------------------------------------


def test_add_to_one_group_makes_both_groups_needed_as_sops(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, _ = keys
    path = sops_file(sops, tmp_path, a)
    ours, theirs = both(secretsctl, sops, path, env_for(a), "add", "--age", b.recipient)
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    assert shape(ours.read_bytes())[1:3] == ([[a.recipient], [b.recipient]], 2)
    for result in (ours, theirs):
        # No threshold given and none in the file: every group is needed, as sops writes it.
        assert opens(sops, result, a, b)
        assert not opens(sops, result, b)
        assert not opens(sops, result, a)
    assert secretsctl("decrypt", str(theirs), env=env_for(a, b)).stdout == PLAIN


def test_added_group_key_opens_the_file_with_another_group(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a, b, threshold=2)
    ours, theirs = both(secretsctl, sops, path, env_for(a, b), "add", "--age", c.recipient)
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    assert shape(ours.read_bytes())[1:3] == ([[a.recipient], [b.recipient], [c.recipient]], 2)
    for result in (ours, theirs):
        assert opens(sops, result, b, c)
        assert opens(sops, result, a, c)
        assert not opens(sops, result, c)


def test_add_threshold_option_sets_the_threshold(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a, b)
    args = ("add", "--shamir-secret-sharing-threshold", "2", "--age", c.recipient)
    ours, theirs = both(secretsctl, sops, path, env_for(a, b), *args)
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    assert shape(ours.read_bytes())[2] == 2
    assert opens(sops, ours, a, c)
    assert not opens(sops, ours, a)


def test_add_without_in_place_prints_the_file_and_changes_nothing(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, _ = keys
    path = sops_file(sops, tmp_path, a)
    before = path.read_bytes()
    result = secretsctl("groups", "add", "-f", str(path), "--age", b.recipient, env=env_for(a))
    assert result.returncode == 0, result.stderr.decode()
    assert path.read_bytes() == before
    assert b"pw-5c1e-secret" not in result.stdout, "plaintext in the output"
    printed = tmp_path / "printed.yaml"
    printed.write_bytes(result.stdout)
    assert shape(printed.read_bytes())[1] == [[a.recipient], [b.recipient]]
    assert opens(sops, printed, a, b)


def test_add_in_place_keeps_the_file_mode(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, _ = keys
    path = sops_file(sops, tmp_path, a)
    path.chmod(0o640)
    args = ("groups", "add", "--in-place", "--file", str(path), "--age", b.recipient)
    result = secretsctl(*args, env=env_for(a))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    assert path.stat().st_mode & 0o777 == 0o640
    assert opens(sops, path, a, b)


def test_add_comma_separated_age_recipients_make_one_group(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a)
    recipients = f"{b.recipient},{c.recipient}"
    ours, theirs = both(secretsctl, sops, path, env_for(a), "add", "--age", recipients)
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    assert shape(ours.read_bytes())[1] == [[a.recipient], [b.recipient, c.recipient]]
    assert opens(sops, ours, a, c)


# --- groups delete --------------------------------------------------------------------------


def test_delete_locks_the_deleted_group_out(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a, b, c, threshold=2)
    ours, theirs = both(secretsctl, sops, path, env_for(a, b), "delete", "0")
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    assert shape(ours.read_bytes())[1:3] == ([[b.recipient], [c.recipient]], 2)
    for result in (ours, theirs):
        assert opens(sops, result, b, c)
        assert not opens(sops, result, a, b)
        assert not opens(sops, result, a, c)


def test_delete_to_one_group_with_threshold_one(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, _ = keys
    path = sops_file(sops, tmp_path, a, b)
    args = ("delete", "--shamir-secret-sharing-threshold", "1", "1")
    ours, theirs = both(secretsctl, sops, path, env_for(a, b), *args)
    assert shape(ours.read_bytes()) == shape(theirs.read_bytes())
    # sops writes the threshold with a single group too.
    assert shape(ours.read_bytes())[1:3] == ([[a.recipient]], 1)
    for result in (ours, theirs):
        assert opens(sops, result, a)
        assert not opens(sops, result, b)


# --- refusals ------------------------------------------------------------------------------


def refused_alike(
    secretsctl: Runner, sops: Sops, env: dict[str, str], code: int, *args: str
) -> str:
    """Both tools exit ``code``; return secretsctl's stderr (one error line, no traceback)."""
    real = sops.run("groups", *args, env=env)
    assert real.returncode == code, real.stderr.decode()
    mine = secretsctl("groups", *args, env=env)
    assert mine.returncode == code, mine.stderr.decode()
    err = mine.stderr.decode()
    assert err.startswith("secretsctl: error: "), err
    assert "Traceback" not in err
    return err


def test_refusals_with_sops_exit_codes(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a, b)
    before = path.read_bytes()
    file = str(path)
    env = env_for(a, b)
    assert "exactly one positional argument" in refused_alike(
        secretsctl, sops, env, 1, "delete", "-f", file
    )
    assert "failed to parse [index]" in refused_alike(
        secretsctl, sops, env, 1, "delete", "-f", file, "x"
    )
    err = refused_alike(secretsctl, sops, env, 1, "delete", "-i", "-f", file, "0")
    assert "Shamir threshold is 2, but we only have 1 key groups" in err
    assert "no positional arguments" in refused_alike(
        secretsctl, sops, env, 1, "add", "-f", file, "--age", c.recipient, "extra"
    )
    missing = str(tmp_path / "missing.yaml")
    refused_alike(secretsctl, sops, env, 2, "add", "-f", missing, "--age", c.recipient)
    refused_alike(secretsctl, sops, env, 2, "delete", "-f", missing, "0")
    refused_alike(secretsctl, sops, env, 2, "add", "--age", c.recipient)
    # No key opens the file: sops's groups commands exit 1 here (decrypt exits 128).
    refused_alike(secretsctl, sops, env_for(c), 1, "add", "-i", "-f", file, "--age", c.recipient)
    assert path.read_bytes() == before


def refused(secretsctl: Runner, env: dict[str, str], *args: str) -> str:
    result = secretsctl("groups", *args, env=env)
    assert result.returncode == 1, result.stderr.decode()
    err = result.stderr.decode()
    assert err.startswith("secretsctl: error: "), err
    assert "Traceback" not in err
    return err


def test_refused_where_sops_writes_a_file_nobody_can_open(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a)
    before = path.read_bytes()
    file = str(path)
    env = env_for(a)
    # sops exits 0 on each of these and writes a file without usable keys.
    assert "only key group" in refused(secretsctl, env, "delete", "-i", "-f", file, "0")
    assert "no keys" in refused(secretsctl, env, "add", "-i", "-f", file)
    assert "unknown recipient" in refused(secretsctl, env, "add", "-i", "-f", file, "--age", "x")
    err = refused(
        secretsctl,
        env,
        *("add", "-i", "-f", file, "--shamir-secret-sharing-threshold", "1"),
        *("--age", b.recipient),
    )
    assert "Shamir" in err
    # sops panics (exit 2) on an index past the last group.
    assert "no key group 3" in refused(secretsctl, env, "delete", "-i", "-f", file, "3")
    err = refused(
        secretsctl,
        env,
        *("add", "-i", "-f", file, "--age", c.recipient),
        *("--shamir-secret-sharing-threshold", "3"),
    )
    assert "Shamir threshold is 3, but we only have 2 key groups" in err
    assert path.read_bytes() == before


def test_cloud_key_flags_are_refused_without_cloud_calls(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, _, _ = keys
    path = sops_file(sops, tmp_path, a)
    before = path.read_bytes()
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for flag, key in (
        ("--kms", arn),
        ("--gcp-kms", "projects/p/locations/global/keyRings/r/cryptoKeys/k"),
        ("--azure-kv", "https://v.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef"),
        ("--hc-vault-transit", "https://vault.example.org:8200/v1/transit/keys/dev"),
    ):
        err = refused(secretsctl, env_for(a), "add", "-i", "-f", str(path), flag, key)
        assert f"{flag} {key}" in err
        assert "cannot wrap" in err
    assert path.read_bytes() == before


def test_groups_is_listed_with_the_sops_commands(secretsctl: Runner) -> None:
    result = secretsctl("--help")
    section = result.stdout.decode().split("sops-compatible commands")[1].split("Activation")[0]
    assert "groups" in section
    assert secretsctl("groups", "delete", "--help").returncode == 0


# --- a threshold with a single group ---------------------------------------------------------


@pytest.mark.parametrize("given", ["rule", "flag"])
def test_encrypt_writes_a_single_groups_threshold_as_sops(
    secretsctl: Runner, sops: Sops, tmp_path: Path, given: str
) -> None:
    """sops writes `shamir_threshold` with one key group too (a single group ignores it)."""
    plain = tmp_path / "p.yaml"
    plain.write_bytes(PLAIN)
    if given == "rule":
        (tmp_path / ".sops.yaml").write_text(
            f"creation_rules:\n  - shamir_threshold: 2\n    age: {sops.key.recipient}\n"
        )
        args: tuple[str, ...] = ("encrypt", "p.yaml")
    else:
        args = ("encrypt", "--shamir-secret-sharing-threshold", "3", "--age", sops.key.recipient)
        args += ("p.yaml",)
    env = env_for(sops.key)
    ours = secretsctl(*args, cwd=tmp_path, env=env)
    theirs = sops.run(*args, cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 0, ours.stderr.decode()
    expected = ([[sops.key.recipient]], 2 if given == "rule" else 3)
    assert shape(ours.stdout)[1:3] == shape(theirs.stdout)[1:3] == expected
    (tmp_path / "ours.yaml").write_bytes(ours.stdout)
    assert opens(sops, tmp_path / "ours.yaml", sops.key)


# --- cloud keys already in the file ------------------------------------------------------------


def with_kms_key(path: Path, group: int) -> None:
    """Give key group ``group`` an AWS KMS key, as sops writes one (key groups are not MACed)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    tree = yaml.load(path.read_bytes())
    entry = {
        "arn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "created_at": "2026-01-01T00:00:00Z",
        "enc": "AQICAHhzZXR0aW5ncw==",
        "aws_profile": "",
    }
    tree["sops"]["key_groups"][group].insert(0, "kms", [entry])
    with path.open("w") as out:
        yaml.dump(tree, out)


def test_a_cloud_key_blocks_only_where_its_group_needs_a_new_share(
    secretsctl: Runner, sops: Sops, keys: tuple[AgeKey, AgeKey, AgeKey], tmp_path: Path
) -> None:
    a, b, c = keys
    path = sops_file(sops, tmp_path, a, b)
    with_kms_key(path, 1)
    assert opens(sops, path, a, b)
    before = path.read_bytes()
    env = env_for(a, b)
    file = str(path)
    err = refused(secretsctl, env, "add", "-i", "-f", file, "--age", c.recipient)
    assert "cannot add a key group: secretsctl cannot wrap a data key for kms:arn:aws:kms:" in err
    threshold = ("--shamir-secret-sharing-threshold", "1")
    err = refused(secretsctl, env, "delete", "-i", "-f", file, *threshold, "0")
    assert "cannot delete a key group" in err
    assert path.read_bytes() == before
    # Deleting the group that holds the cloud key needs no new share for it.
    result = secretsctl("groups", "delete", "-i", "-f", file, *threshold, "1", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert shape(path.read_bytes())[1] == [[a.recipient]]
    assert opens(sops, path, a)
