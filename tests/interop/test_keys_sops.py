"""Key interop with the real sops 3.11.0 binary and Debian's age, in both directions.

sops → secretsctl: sops wraps the data key; our unwrap must give a key that decrypts the file's
MAC. secretsctl → sops: a data key we wrap replaces the ``age`` entries of a real sops file, and
``sops decrypt`` must open it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest

from secretsctl.keys.keyring import NoMatchingIdentityError, unwrap_data_key, wrap_data_key
from secretsctl.keys.sources import load_identities
from secretsctl.redact import Secret
from tests.conftest import SOPS_NIX_VECTORS, sops_binary
from tests.keys_support import mac_opens, read_metadata

pytestmark = pytest.mark.interop

KEYS = Path(__file__).resolve().parents[1] / "vectors" / "keys"
PLAINTEXT = {"password": "hunter2", "nested": {"token": "abc123"}}


def sops(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run sops with an empty HOME and only the key variables given."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    full_env.update(env or {})
    return subprocess.run(
        [sops_binary(), *args], capture_output=True, cwd=cwd, env=full_env, check=False
    )


def encrypt(folder: Path, *args: str, config: str | None = None) -> Path:
    """Let sops encrypt PLAINTEXT as JSON in ``folder`` and return the encrypted file."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / ".sops.yaml").write_text(config)
    (folder / "plain.json").write_text(json.dumps(PLAINTEXT))
    result = sops("encrypt", *args, "plain.json", cwd=folder)
    assert result.returncode == 0, result.stderr.decode()
    out = folder / "secret.json"
    out.write_bytes(result.stdout)
    return out


def new_key(folder: Path, name: str) -> tuple[str, str, Path]:
    identity = pyrage.x25519.Identity.generate()
    path = folder / name
    path.write_text(f"{identity}\n")
    return str(identity), str(identity.to_public()), path


def public_line(name: str) -> str:
    return (KEYS / f"{name}.pub").read_text().strip()


def substitute(source: Path, target: Path, sops_fields: dict[str, Any]) -> Path:
    """A copy of a sops JSON file whose key entries are replaced by ours."""
    document = json.loads(source.read_text())
    for name in ("age", "key_groups", "shamir_threshold"):
        document["sops"].pop(name, None)
    document["sops"].update(sops_fields)
    target.write_text(json.dumps(document, indent=4))
    return target


def age_entries(groups: Any) -> list[dict[str, str]]:
    return [{"recipient": k.recipient, "enc": k.enc} for k in groups.age]


def assert_sops_decrypts(path: Path, env: dict[str, str]) -> None:
    result = sops("decrypt", path.name, cwd=path.parent, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout) == PLAINTEXT
    assert result.stderr == b""


# --- sops wraps, secretsctl unwraps --------------------------------------------------------


def test_sops_age_recipient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, recipient, key_file = new_key(tmp_path, "keys.txt")
    path = encrypt(tmp_path / "work", "--age", recipient)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    key = unwrap_data_key(read_metadata(path), load_identities(), file=path.name)
    assert mac_opens(path, key.reveal())


@pytest.mark.parametrize("name", ["id_ed25519", "id_rsa"])
def test_sops_ssh_recipient(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = encrypt(tmp_path / "work", "--age", public_line(name))
    assert read_metadata(path).key_groups[0].age[0].recipient == public_line(name)
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(KEYS / name))
    key = unwrap_data_key(read_metadata(path), load_identities(), file=path.name)
    assert mac_opens(path, key.reveal())


@pytest.mark.parametrize("extra_groups", [0, 1])
def test_sops_key_groups_with_shamir_threshold(
    extra_groups: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = (new_key(tmp_path, f"{n}.txt") for n in "ab")
    ssh = public_line("id_ed25519")
    extra = f"      - age: [{b[1]}]\n" * extra_groups
    config = (
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{a[1]}]\n{extra}      - age: ['{ssh}']\n"
    )
    path = encrypt(tmp_path / "work", config=config)
    metadata = read_metadata(path)
    assert (len(metadata.key_groups), metadata.shamir_threshold) == (2 + extra_groups, 2)
    # One share from SOPS_AGE_KEY, the other from an SSH key.
    monkeypatch.setenv("SOPS_AGE_KEY", a[0])
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(KEYS / "id_ed25519"))
    key = unwrap_data_key(metadata, load_identities(), file=path.name)
    assert mac_opens(path, key.reveal())
    monkeypatch.delenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
    with pytest.raises(NoMatchingIdentityError):
        unwrap_data_key(metadata, load_identities(), file=path.name)
    # sops agrees on both counts.
    env = {"SOPS_AGE_KEY": a[0]}
    one_group = sops("decrypt", path.name, cwd=path.parent, env=env).returncode
    env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"] = str(KEYS / "id_ed25519")
    two_groups = sops("decrypt", path.name, cwd=path.parent, env=env).returncode
    assert (one_group, two_groups) == (128, 0)


# --- secretsctl wraps, sops unwraps --------------------------------------------------------


def _data_key(path: Path, key_file: Path) -> Secret[bytes]:
    return unwrap_data_key(
        read_metadata(path), load_identities(use_environment=False, age_key_file=key_file), file="f"
    )


def test_our_x25519_and_ssh_entries_open_in_sops(tmp_path: Path) -> None:
    _, recipient, key_file = new_key(tmp_path, "keys.txt")
    source = encrypt(tmp_path / "work", "--age", recipient)
    data_key = _data_key(source, key_file)
    _, new_recipient, new_file = new_key(tmp_path, "new.txt")
    (group,) = wrap_data_key(
        data_key, [[new_recipient, public_line("id_ed25519"), public_line("id_rsa")]], None
    )
    target = substitute(source, tmp_path / "work" / "ours.json", {"age": age_entries(group)})
    assert_sops_decrypts(target, {"SOPS_AGE_KEY_FILE": str(new_file)})
    for name in ("id_ed25519", "id_rsa"):
        assert_sops_decrypts(target, {"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(KEYS / name)})
    # The original identity no longer opens it.
    old = {"SOPS_AGE_KEY_FILE": str(key_file)}
    status = sops("decrypt", target.name, cwd=target.parent, env=old).returncode
    assert status == 128


@pytest.mark.parametrize(("threshold", "holders"), [(2, "ab"), (2, "bc"), (None, "abc")])
def test_our_key_groups_open_in_sops(threshold: int | None, holders: str, tmp_path: Path) -> None:
    _, recipient, key_file = new_key(tmp_path, "keys.txt")
    source = encrypt(tmp_path / "work", "--age", recipient)
    data_key = _data_key(source, key_file)
    keys = {n: new_key(tmp_path, f"{n}.txt") for n in "abc"}
    groups = wrap_data_key(data_key, [[keys[n][1]] for n in "abc"], threshold)
    fields: dict[str, Any] = {
        "key_groups": [{"hc_vault": None, "age": age_entries(g)} for g in groups]
    }
    # sops always writes the threshold when there are several groups (see the test below).
    fields["shamir_threshold"] = threshold or len(groups)
    target = substitute(source, tmp_path / "work" / "ours.json", fields)
    env = {"SOPS_AGE_KEY": "\n".join(keys[n][0] for n in holders)}
    assert_sops_decrypts(target, env)
    too_few = {"SOPS_AGE_KEY": "\n".join(keys[n][0] for n in holders[:-1])}
    status = sops("decrypt", target.name, cwd=target.parent, env=too_few).returncode
    assert status == 128


def test_sops_without_shamir_threshold_combines_any_two_shares(tmp_path: Path) -> None:
    """Why writers must write ``shamir_threshold``: without it sops 3.11 reads a threshold of 0.

    It then combines whatever shares it has (at least two), so a 3-of-3 file opened with two
    keys gives a wrong data key: exit 25 (value failure) instead of 128. secretsctl needs all
    groups in that case (``Metadata.threshold``) and fails with 128.
    """
    _, recipient, key_file = new_key(tmp_path, "keys.txt")
    source = encrypt(tmp_path / "work", "--age", recipient)
    data_key = _data_key(source, key_file)
    keys = {n: new_key(tmp_path, f"{n}.txt") for n in "abc"}
    groups = wrap_data_key(data_key, [[keys[n][1]] for n in "abc"], None)
    fields = {"key_groups": [{"hc_vault": None, "age": age_entries(g)} for g in groups]}
    target = substitute(source, tmp_path / "work" / "ours.json", fields)
    two = {"SOPS_AGE_KEY": "\n".join(keys[n][0] for n in "ab")}
    status = sops("decrypt", target.name, cwd=target.parent, env=two).returncode
    assert status == 25
    with pytest.raises(NoMatchingIdentityError, match="2 of 3 required key groups opened"):
        unwrap_data_key(
            read_metadata(target), load_identities(environ=two, home=tmp_path), file="f"
        )


# --- the same answer as sops for the same keys ------------------------------------------------


def _both(path: Path, env: dict[str, str], tmp_path: Path) -> tuple[int, bool]:
    """sops's exit status, and whether our unwrap (same variables) succeeds."""
    status = sops("decrypt", path.name, cwd=path.parent, env=env).returncode
    environ = {"HOME": str(tmp_path / "empty-home"), **env}
    try:
        unwrap_data_key(read_metadata(path), load_identities(environ=environ), file="f")
    except NoMatchingIdentityError:
        return status, False
    return status, True


def test_same_verdicts_as_sops(tmp_path: Path) -> None:
    identity, recipient, key_file = new_key(tmp_path, "keys.txt")
    path = encrypt(tmp_path / "work", "--age", recipient)
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(f"# c\r\n{identity}\r\n".encode())
    padded = tmp_path / "padded.txt"
    padded.write_text(f"{identity} \n")
    cases = {
        "key file": ({"SOPS_AGE_KEY_FILE": str(key_file)}, (0, True)),
        "garbage key and good file": (
            {"SOPS_AGE_KEY": "garbage", "SOPS_AGE_KEY_FILE": str(key_file)},
            (0, True),
        ),
        "crlf file": ({"SOPS_AGE_KEY_FILE": str(crlf)}, (0, True)),
        "leading space": ({"SOPS_AGE_KEY": f" {identity}"}, (128, False)),
        "trailing space": ({"SOPS_AGE_KEY_FILE": str(padded)}, (128, False)),
        "lower case": ({"SOPS_AGE_KEY": identity.lower()}, (128, False)),
        "missing file": ({"SOPS_AGE_KEY_FILE": str(tmp_path / "nope")}, (128, False)),
        "key command": ({"SOPS_AGE_KEY_CMD": f"cat {key_file}"}, (0, True)),
        "failing command": ({"SOPS_AGE_KEY_CMD": "false"}, (128, False)),
        "wrong key": ({"SOPS_AGE_KEY": str(pyrage.x25519.Identity.generate())}, (128, False)),
    }
    verdicts = {name: _both(path, env, tmp_path) for name, (env, _) in cases.items()}
    assert verdicts == {name: expected for name, (_, expected) in cases.items()}


def test_sops_nix_vector_opens_in_sops_and_here(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(SOPS_NIX_VECTORS / "secrets.yaml", folder / "secrets.yaml")
    result = sops(
        "decrypt",
        "secrets.yaml",
        cwd=folder,
        env={"SOPS_AGE_KEY_FILE": str(SOPS_NIX_VECTORS / "age-keys.txt")},
    )
    assert result.returncode == 0, result.stderr.decode()
    identities = load_identities(
        use_environment=False, ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"]
    )
    key = unwrap_data_key(read_metadata(folder / "secrets.yaml"), identities, file="secrets.yaml")
    assert mac_opens(folder / "secrets.yaml", key.reveal())


# --- Debian's age command-line tool ------------------------------------------------------------


@pytest.fixture
def age_cli() -> str:
    found = shutil.which("age")
    if found is None:
        if os.environ.get("SECRETSCTL_REQUIRE_AGE_CLI") == "1":
            pytest.fail("the age command-line tool is missing (SECRETSCTL_REQUIRE_AGE_CLI=1)")
        pytest.skip("the age command-line tool is not installed")
    return found


def test_age_cli_reads_our_entries_and_we_read_its(age_cli: str, tmp_path: Path) -> None:
    _, recipient, key_file = new_key(tmp_path, "keys.txt")
    data_key = os.urandom(32)
    (group,) = wrap_data_key(data_key, [[recipient, public_line("id_ed25519")]], None)
    for entry, key in zip(group.age, (key_file, KEYS / "id_ed25519"), strict=True):
        result = subprocess.run(
            [age_cli, "-d", "-i", str(key)],
            input=entry.enc.encode(),
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        assert Secret(result.stdout) == Secret(data_key)
    made = subprocess.run(
        [age_cli, "-e", "-a", "-r", recipient], input=data_key, capture_output=True, check=True
    )
    from secretsctl.sops.metadata import AgeKey, KeyGroup, Metadata

    metadata = Metadata(
        key_groups=(KeyGroup(age=(AgeKey(recipient, made.stdout.decode()),)),),
        lastmodified="2026-01-01T00:00:00Z",
        mac="",
    )
    identities = load_identities(use_environment=False, age_key_file=key_file)
    assert unwrap_data_key(metadata, identities, file="f") == Secret(data_key)
