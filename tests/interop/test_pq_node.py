"""Post-quantum age keys against a second implementation: npm's age-encryption (typage).

The node side is tests/interop/node-age (package.json and its lock file, installed by .ci/run
with `npm ci`). Keys it makes work here, files it writes open here, files written here open
there, both ways for keys made on either side. In CI (SECRETSCTL_REQUIRE_NODE=1) a missing
node or package fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from secretsctl.keys import ageformat
from secretsctl.keys.kinds import NO_MATCH, mlkem768x25519
from secretsctl.sops.metadata import AgeKey
from tests.conftest import Runner
from tests.keys_support import mac_opens
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.interop

NODE_AGE = Path(__file__).resolve().parent / "node-age"


@pytest.fixture(scope="module")
def node_age() -> list[str]:
    """The command that runs the node side, or a failure (CI) or skip when it is missing."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (NODE_AGE / "node_modules" / "age-encryption" / "package.json").exists():
        problem = f"age-encryption is not installed: run `npm ci` in {NODE_AGE}"
    if problem is not None:
        if os.environ.get("SECRETSCTL_REQUIRE_NODE") == "1":
            pytest.fail(f"{problem} (SECRETSCTL_REQUIRE_NODE=1)")
        pytest.skip(problem)
    assert node is not None
    return [node, str(NODE_AGE / "age.mjs")]


def node(command: list[str], *args: str, input: bytes = b"") -> bytes:
    done = subprocess.run(
        [*command, *args], input=input, capture_output=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]
    return done.stdout


def node_keygen(command: list[str], folder: Path) -> tuple[str, str, Path]:
    identity, recipient = node(command, "keygen").decode().splitlines()
    key_file = folder / "node-key.txt"
    key_file.write_text(identity + "\n")
    return identity, recipient, key_file


def our_keygen(folder: Path) -> tuple[str, str, Path]:
    recipient, identity = mlkem768x25519.generate()
    key_file = folder / "our-key.txt"
    key_file.write_text(identity.reveal() + "\n")
    return identity.reveal(), recipient, key_file


def our_unwrap(armoured: bytes, identity: str) -> bytes | str:
    loaded = mlkem768x25519.parse_identity(identity.encode(), "test")
    return mlkem768x25519.unwrap(AgeKey("r", armoured.decode()), loaded)


def test_keys_made_by_node_work_here(node_age: list[str], tmp_path: Path) -> None:
    identity, recipient, key_file = node_keygen(node_age, tmp_path)
    (loaded,) = mlkem768x25519.parse_identity(identity.encode(), "node")
    assert loaded.recipient == recipient, "another recipient for the same identity"
    data_key = os.urandom(32)
    entry = mlkem768x25519.wrap(data_key, mlkem768x25519.parse_recipient(recipient))
    opened = node(node_age, "decrypt", str(key_file), input=entry.enc.encode())
    assert opened == data_key, "node opened another key"
    sealed = node(node_age, "encrypt", recipient, input=data_key)
    assert our_unwrap(sealed, identity) == data_key


def test_keys_made_here_work_with_node(node_age: list[str], tmp_path: Path) -> None:
    identity, recipient, key_file = our_keygen(tmp_path)
    assert node(node_age, "recipient", input=identity.encode()).decode() == recipient + "\n"
    data_key = os.urandom(32)
    entry = mlkem768x25519.wrap(data_key, mlkem768x25519.parse_recipient(recipient))
    assert node(node_age, "decrypt", str(key_file), input=entry.enc.encode()) == data_key
    sealed = node(node_age, "encrypt", recipient, input=data_key)
    assert our_unwrap(sealed, identity) == data_key


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 200_000])
def test_files_node_writes_open_here_at_chunk_edges(
    node_age: list[str], tmp_path: Path, size: int
) -> None:
    identity, recipient, _ = our_keygen(tmp_path)
    plaintext = os.urandom(size)
    sealed = node(node_age, "encrypt", recipient, input=plaintext)
    binary = ageformat.dearmour(sealed)
    assert isinstance(binary, bytes)
    assert ageformat.armour(binary) == sealed.decode(), "node's armour is not ours"
    same_secret(our_unwrap(sealed, identity), plaintext, "what secretsctl decrypted")
    _, other = mlkem768x25519.generate()
    assert our_unwrap(sealed, other.reveal()) == NO_MATCH


def test_a_sops_file_we_write_opens_in_node(
    node_age: list[str], tmp_path: Path, secretsctl: Runner
) -> None:
    """The data key of a secretsctl-written file, taken out by node, opens its MAC."""
    from ruamel.yaml import YAML

    identity, recipient, key_file = node_keygen(node_age, tmp_path)
    plain = tmp_path / "s.yaml"
    plain.write_bytes(b"password: hunter2\n")
    done = secretsctl("encrypt", "-i", "--age", recipient, str(plain))
    assert done.returncode == 0, done.stderr.decode()
    (entry,) = YAML(typ="safe").load(plain.read_bytes())["sops"]["age"]
    data_key = node(node_age, "decrypt", str(key_file), input=entry["enc"].encode())
    assert mac_opens(plain, data_key), "node's data key does not open the MAC"
    opened = secretsctl("decrypt", str(plain), env={"SOPS_AGE_KEY": identity})
    assert opened.returncode == 0, opened.stderr.decode()
