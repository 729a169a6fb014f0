"""Post-quantum age keys (age1pq1…) with the real sops 3.11, both ways.

sops writes, secretsctl reads; secretsctl writes (encrypt, updatekeys, rotate, edit), sops
reads. Files mix X25519 and post-quantum recipients, in one group and as Shamir groups.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from secretsctl.keys import ageformat
from tests.conftest import AgeKey, Runner, Sops
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.interop

PLAIN = b"user: admin\npassword: pw-5c1d-secret\nnested:\n    token: tk-77f0\n"


def make_pq_key(folder: Path, name: str = "pq.txt") -> AgeKey:
    """A throw-away post-quantum key pair in a keys.txt file, as age-keygen -pq writes it."""
    from secretsctl.keys.kinds import mlkem768x25519

    recipient, identity = mlkem768x25519.generate()
    key_file = folder / name
    key_file.write_text(f"# public key: {recipient}\n{identity.reveal()}\n")
    key_file.chmod(0o600)
    return AgeKey(identity.reveal(), recipient, key_file)


@pytest.fixture
def pq(tmp_path: Path) -> AgeKey:
    return make_pq_key(tmp_path)


def env_for(*keys: AgeKey) -> dict[str, str]:
    combined = keys[0].key_file.parent / ("keys-" + "-".join(k.key_file.stem for k in keys))
    combined.write_text("".join(k.key_file.read_text() for k in keys))
    return {"SOPS_AGE_KEY_FILE": str(combined)}


def load(data: bytes) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(data)


def recipients(data: bytes) -> list[list[str]]:
    meta = load(data)["sops"]
    if "key_groups" in meta:
        return [[e["recipient"] for e in group.get("age", [])] for group in meta["key_groups"]]
    return [[e["recipient"] for e in meta.get("age", [])]]


def opens(sops: Sops, path: Path, *keys: AgeKey) -> bool:
    done = sops.run("decrypt", str(path), env=env_for(*keys))
    if done.returncode == 0:
        same_secret(load(done.stdout)["password"], "pw-5c1d-secret", "what sops decrypted")
    return done.returncode == 0


def write_rule(folder: Path, body: str) -> None:
    (folder / ".sops.yaml").write_text("creation_rules:\n" + body)


def sops_file(sops: Sops, folder: Path, *age: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_bytes(PLAIN)
    done = sops.run("encrypt", "-i", "--age", ",".join(age), str(path))
    assert done.returncode == 0, done.stderr.decode()
    return path


def test_sops_writes_x25519_and_pq_we_open_with_either(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, sops.key.recipient, pq.recipient)
    for key in (pq, sops.key):
        done = secretsctl("decrypt", str(path), env=env_for(key))
        assert done.returncode == 0, done.stderr.decode()
        same_secret(done.stdout, PLAIN, "what secretsctl decrypted")
    # Our armour is sops's, byte for byte: what we read back re-encodes to the same text.
    (entry,) = [e for e in load(path.read_bytes())["sops"]["age"] if e["recipient"] == pq.recipient]
    binary = ageformat.dearmour(entry["enc"])
    assert isinstance(binary, bytes)
    assert ageformat.armour(binary) == entry["enc"]


def test_we_write_x25519_and_pq_sops_opens_with_either(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(PLAIN)
    done = secretsctl("encrypt", "--age", f"{sops.key.recipient},{pq.recipient}", str(plain))
    assert done.returncode == 0, done.stderr.decode()
    path = tmp_path / "s.yaml"
    path.write_bytes(done.stdout)
    assert recipients(done.stdout) == [[sops.key.recipient, pq.recipient]]
    assert opens(sops, path, pq)
    assert opens(sops, path, sops.key)
    (entry,) = [e for e in load(done.stdout)["sops"]["age"] if e["recipient"] == pq.recipient]
    lines = entry["enc"].split("\n")
    assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
    assert lines[-2:] == ["-----END AGE ENCRYPTED FILE-----", ""]
    assert all(len(line) == 64 for line in lines[1:-3])
    assert 0 < len(lines[-3]) <= 64


def test_we_write_shamir_with_a_pq_group_sops_needs_both(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    write_rule(
        tmp_path,
        "  - shamir_threshold: 2\n"
        "    key_groups:\n"
        f"      - age: [{sops.key.recipient}]\n"
        f"      - age: [{pq.recipient}]\n",
    )
    (tmp_path / "s.yaml").write_bytes(PLAIN)
    done = secretsctl("encrypt", "-i", "s.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    path = tmp_path / "s.yaml"
    assert recipients(path.read_bytes()) == [[sops.key.recipient], [pq.recipient]]
    assert opens(sops, path, sops.key, pq)
    assert not opens(sops, path, pq)
    assert not opens(sops, path, sops.key)
    ours = secretsctl("decrypt", str(path), env=env_for(pq))
    assert ours.returncode == 128
    assert b"1 of 2 required key groups opened" in ours.stderr


def test_updatekeys_adds_and_keeps_pq_recipients(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, sops.key.recipient)
    write_rule(tmp_path, f"  - age: {sops.key.recipient},{pq.recipient}\n")
    done = secretsctl("updatekeys", "-y", "s.yaml", cwd=tmp_path, env=env_for(sops.key))
    assert done.returncode == 0, done.stderr.decode()
    assert f"+++ {pq.recipient}\n" in done.stdout.decode()
    assert recipients(path.read_bytes()) == [[sops.key.recipient, pq.recipient]]
    assert opens(sops, path, pq)
    # Up to date, opened with the post-quantum key alone: nothing changes.
    before = path.read_bytes()
    again = secretsctl("updatekeys", "-y", "s.yaml", cwd=tmp_path, env=env_for(pq))
    assert again.returncode == 0, again.stderr.decode()
    assert path.read_bytes() == before


def test_rotate_keeps_pq_recipients_and_adds_them(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, sops.key.recipient, pq.recipient)
    done = secretsctl("rotate", "-i", str(path), env=env_for(pq))
    assert done.returncode == 0, done.stderr.decode()
    assert recipients(path.read_bytes()) == [[sops.key.recipient, pq.recipient]]
    assert opens(sops, path, pq)
    assert opens(sops, path, sops.key)
    other = make_pq_key(tmp_path, "other.txt")
    added = secretsctl("rotate", "-i", "--add-age", other.recipient, str(path), env=env_for(pq))
    assert added.returncode == 0, added.stderr.decode()
    assert recipients(path.read_bytes()) == [[sops.key.recipient, pq.recipient, other.recipient]]
    assert opens(sops, path, other)


EDITOR = """\
import sys
path = sys.argv[-1]
data = open(path, "rb").read()
open(path, "wb").write(data.replace(b"tk-77f0", b"tk-edited"))
"""


def test_edit_keeps_pq_recipients(
    secretsctl: Runner, sops: Sops, pq: AgeKey, tmp_path: Path
) -> None:
    path = sops_file(sops, tmp_path, sops.key.recipient, pq.recipient)
    editor = tmp_path / "editor.py"
    editor.write_text(f"#!{sys.executable}\n{EDITOR}")
    editor.chmod(0o755)
    done = secretsctl("edit", str(path), env={**env_for(pq), "SOPS_EDITOR": str(editor)})
    assert done.returncode == 0, done.stderr.decode()
    assert recipients(path.read_bytes()) == [[sops.key.recipient, pq.recipient]]
    opened = sops.run("decrypt", str(path), env=env_for(pq))
    assert opened.returncode == 0, opened.stderr.decode()
    assert load(opened.stdout)["nested"]["token"] == "tk-edited"
    assert opens(sops, path, sops.key)


def test_a_key_text_line_sops_cannot_parse_fails_alike(
    secretsctl: Runner, pq: AgeKey, tmp_path: Path
) -> None:
    """A broken PQ line is named by line, without its text, and the source is a problem."""
    bad = tmp_path / "bad.txt"
    bad.write_text("# public key: x\n" + pq.identity[:-2] + "\n")
    path = tmp_path / "s.yaml"
    path.write_bytes(PLAIN)
    sealed = secretsctl("encrypt", "--age", pq.recipient, str(path))
    path.write_bytes(sealed.stdout)
    done = secretsctl("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": str(bad)})
    assert done.returncode == 128
    text = done.stderr.decode()
    assert "line 2: malformed AGE-SECRET-KEY-PQ identity (post-quantum age key)" in text
    assert pq.identity[19:60] not in text, "key material in the message"
