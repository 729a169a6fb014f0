"""The post-quantum age kind: keys, sources, the keyring, and files sops 3.11 wrote.

age-pq.txt was made by a second implementation (npm's age-encryption), pq.yaml and
shamir-pq.yaml by sops 3.11.0 (tests/vectors/keys/README.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from secretsctl.keys import ageformat
from secretsctl.keys.keyring import (
    NoMatchingIdentityError,
    RecipientError,
    stanza_types,
    unwrap_data_key,
    wrap_data_key,
)
from secretsctl.keys.kinds import KeySourceError, identity_kind, mlkem768x25519, recipient_kind
from secretsctl.keys.sources import IdentitySet, load_identities, parse_key_text
from secretsctl.keys.ssh_to_age import bech32_decode, bech32_encode
from secretsctl.sops.metadata import AgeKey, KeyGroup, Metadata
from tests.keys_support import assert_not_leaked, mac_opens, read_metadata

KEYS = Path(__file__).resolve().parents[2] / "vectors" / "keys"


def key_file(name: str) -> tuple[str, str]:
    """The recipient and the identity line of a vector key file."""
    header, identity = (KEYS / f"age-{name}.txt").read_text().splitlines()[:2]
    return header.removeprefix("# public key: "), identity


PQ_RECIPIENT, PQ_IDENTITY = key_file("pq")
A_RECIPIENT, A_IDENTITY = key_file("a")


def from_text(*lines: str) -> IdentitySet:
    return load_identities(environ={"SOPS_AGE_KEY": "\n".join(lines)}, home="/nonexistent")


def test_our_recipient_of_a_key_made_by_another_implementation() -> None:
    (loaded,) = mlkem768x25519.parse_identity(PQ_IDENTITY.encode(), "age-pq.txt")
    assert (loaded.kind, loaded.recipient, loaded.location) == (
        "mlkem768x25519",
        PQ_RECIPIENT,
        "age-pq.txt",
    )
    assert len(PQ_RECIPIENT) == 1959
    assert PQ_IDENTITY not in repr(loaded), "the identity in a repr"
    assert identity_kind(PQ_IDENTITY.encode()) == "mlkem768x25519"
    assert recipient_kind(PQ_RECIPIENT) == "mlkem768x25519"


def test_generate_makes_keys_in_age_s_encodings() -> None:
    recipient, secret = mlkem768x25519.generate()
    identity = secret.reveal()
    assert identity.startswith("AGE-SECRET-KEY-PQ-1")
    assert identity == identity.upper()
    assert recipient.startswith("age1pq1")
    assert recipient == recipient.lower()
    assert bech32_decode(identity)[1].__len__() == 32
    (loaded,) = mlkem768x25519.parse_identity(identity.encode(), "new")
    assert loaded.recipient == recipient
    assert mlkem768x25519.parse_recipient(recipient).text == recipient
    assert mlkem768x25519.generate()[0] != recipient, "two keys alike"


def bad_identity(what: str) -> str:
    seed = bech32_decode(PQ_IDENTITY)[1]
    return {
        "mixed case": PQ_IDENTITY[:30] + PQ_IDENTITY[30:].lower(),
        "bad checksum": PQ_IDENTITY[:-1] + ("Q" if PQ_IDENTITY[-1] != "Q" else "P"),
        "short seed": bech32_encode("AGE-SECRET-KEY-PQ-", seed[:31]).upper(),
        "long seed": bech32_encode("AGE-SECRET-KEY-PQ-", seed + b"\0").upper(),
        "trailing space": PQ_IDENTITY + " ",
        "not ascii": PQ_IDENTITY[:40] + "\u00e9" + PQ_IDENTITY[41:],
        "other hrp": bech32_encode("AGE-SECRET-KEY-PQ-1X", seed).upper(),
    }[what]


@pytest.mark.parametrize(
    "what",
    [
        "mixed case",
        "bad checksum",
        "short seed",
        "long seed",
        "trailing space",
        "not ascii",
        "other hrp",
    ],
)
def test_a_malformed_identity_line_names_the_kind_and_the_line_only(what: str) -> None:
    line = bad_identity(what)
    with pytest.raises(KeySourceError) as info:
        parse_key_text(("# a comment\n" + line + "\n").encode(), "keys.txt")
    message = str(info.value)
    assert message == "line 2: malformed AGE-SECRET-KEY-PQ identity (post-quantum age key)"
    assert info.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert_not_leaked(message, PQ_IDENTITY, line, PQ_IDENTITY[19:40])


def test_a_lower_case_identity_is_not_one() -> None:
    with pytest.raises(KeySourceError, match=r"^line 1: unknown identity type$"):
        parse_key_text(PQ_IDENTITY.lower().encode(), "keys.txt")


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("bad checksum", PQ_RECIPIENT[:-1] + ("q" if PQ_RECIPIENT[-1] != "q" else "p")),
        ("short", bech32_encode("age1pq", bech32_decode(PQ_RECIPIENT)[1][:-1])),
        ("not ML-KEM", bech32_encode("age1pq", b"\xff" * 1216)),
        ("mixed case", PQ_RECIPIENT[:10] + PQ_RECIPIENT[10:].upper()),
    ],
)
def test_a_malformed_recipient_is_refused_in_one_short_line(what: str, text: str) -> None:
    with pytest.raises(RecipientError) as info:
        wrap_data_key(os.urandom(32), [[text]], None)
    message = str(info.value)
    assert message.startswith("malformed post-quantum age recipient `age1pq1")
    assert len(message) < 120
    assert "\n" not in message
    assert info.value.exit_code == 1


def test_every_key_source_loads_post_quantum_identities(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# public key: {PQ_RECIPIENT}\n{PQ_IDENTITY}\n{A_IDENTITY}\n")
    config = tmp_path / "config" / "sops" / "age"
    config.mkdir(parents=True)
    (config / "keys.txt").write_text(PQ_IDENTITY + "\n")
    for identities in (
        load_identities(use_environment=False, age_key_file=keys),  # activation's age_key_file
        load_identities(environ={"SOPS_AGE_KEY": PQ_IDENTITY}, home="/nonexistent"),
        load_identities(environ={"SOPS_AGE_KEY_FILE": str(keys)}, home="/nonexistent"),
        load_identities(
            environ={"SOPS_AGE_KEY_CMD": f"cat {keys}"}, home="/nonexistent", platform="linux"
        ),
        load_identities(environ={"XDG_CONFIG_HOME": str(tmp_path / "config")}, home="/none"),
    ):
        found = [i for i in identities.identities if i.kind == "mlkem768x25519"]
        assert [i.recipient for i in found] == [PQ_RECIPIENT]
        likely, _ = identities.candidates(PQ_RECIPIENT)
        assert likely == tuple(found), "the fitting identity is not tried first"


def test_a_file_sops_wrote_to_x25519_and_post_quantum_opens_with_either() -> None:
    path = KEYS / "pq.yaml"
    metadata = read_metadata(path)
    for line in (PQ_IDENTITY, A_IDENTITY):
        key = unwrap_data_key(metadata, from_text(line), file="pq.yaml")
        assert mac_opens(path, key.reveal())
    (group,) = metadata.key_groups
    assert [stanza_types(entry.enc) for entry in group.age] == [
        ("X25519",),
        ("mlkem768x25519",),
    ]


def test_sops_shamir_with_a_post_quantum_group_needs_both() -> None:
    path = KEYS / "shamir-pq.yaml"
    metadata = read_metadata(path)
    key = unwrap_data_key(metadata, from_text(A_IDENTITY, PQ_IDENTITY), file="s.yaml")
    assert mac_opens(path, key.reveal())
    for line in (PQ_IDENTITY, A_IDENTITY):
        with pytest.raises(NoMatchingIdentityError) as info:
            unwrap_data_key(metadata, from_text(line), file="s.yaml")
        message = str(info.value)
        assert "1 of 2 required key groups opened" in message
        assert "stanzas: X25519, mlkem768x25519" in message
        assert_not_leaked(message, PQ_IDENTITY, A_IDENTITY, key.reveal())


def test_no_match_names_the_kind_tried_and_never_the_key() -> None:
    _, other = mlkem768x25519.generate()
    metadata = read_metadata(KEYS / "pq.yaml")
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(metadata, from_text(other.reveal()), file="pq.yaml")
    message = str(info.value)
    assert "identities tried: 1 mlkem768x25519" in message
    # The 1,959-character recipient is cut, as in every other message.
    assert f"{PQ_RECIPIENT[:60]}…: no identity matched" in message
    assert max(len(line) for line in message.splitlines()) < 200
    assert info.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert_not_leaked(message, other.reveal(), PQ_IDENTITY)


def test_wrap_and_unwrap_mixed_groups_and_shamir() -> None:
    data_key = os.urandom(32)
    (group,) = wrap_data_key(data_key, [[A_RECIPIENT, PQ_RECIPIENT]], None)
    assert [e.recipient for e in group.age] == [A_RECIPIENT, PQ_RECIPIENT]
    entry = group.age[1]
    assert stanza_types(entry.enc) == ("mlkem768x25519",)
    binary = ageformat.dearmour(entry.enc)
    assert isinstance(binary, bytes)
    assert ageformat.armour(binary) == entry.enc
    metadata = Metadata(key_groups=(group,), lastmodified="x", mac="")
    for line in (PQ_IDENTITY, A_IDENTITY):
        got = unwrap_data_key(metadata, from_text(line), file="f")
        assert got.reveal() == data_key, "another key"
    groups = wrap_data_key(data_key, [[A_RECIPIENT], [PQ_RECIPIENT]], 2)
    shamir = Metadata(key_groups=groups, lastmodified="x", mac="", shamir_threshold=2)
    both = from_text(A_IDENTITY, PQ_IDENTITY)
    assert unwrap_data_key(shamir, both, file="f").reveal() == data_key
    with pytest.raises(NoMatchingIdentityError):
        unwrap_data_key(shamir, from_text(PQ_IDENTITY), file="f")


def test_a_tampered_entry_is_malformed_not_a_match() -> None:
    data_key = os.urandom(32)
    (group,) = wrap_data_key(data_key, [[PQ_RECIPIENT]], None)
    binary = ageformat.dearmour(group.age[0].enc)
    assert isinstance(binary, bytes)
    tampered = binary[:-1] + bytes([binary[-1] ^ 1])
    bad = Metadata(
        key_groups=(KeyGroup(age=(AgeKey(PQ_RECIPIENT, ageformat.armour(tampered)),)),),
        lastmodified="x",
        mac="",
    )
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(bad, from_text(PQ_IDENTITY), file="f")
    assert "malformed age data (the age payload does not authenticate" in str(info.value)


# Runs the console script's main() and, as the process ends, lists every module loaded.
# (``-X importtime`` misses the kind modules: they are loaded through importlib.)
_LIST_MODULES = """
import os, sys
end = os._exit
def report(code):
    sys.stdout.flush()
    sys.stderr.write("modules: " + " ".join(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()
    end(code)
os._exit = report
sys.argv = ["secretsctl", "decrypt", sys.argv[1]]
from secretsctl.cli import main
main()
"""


def imported_by_decrypt(path: Path, key: Path, home: Path) -> tuple[set[str], bytes]:
    """The modules ``secretsctl decrypt PATH`` loads with the key file KEY, and its stdout."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "SOPS_AGE_KEY_FILE": str(key),
    }
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, str(path)], capture_output=True, env=env, check=False
    )
    (line,) = [x for x in done.stderr.decode().splitlines() if x.startswith("modules: ")]
    return set(line.split()[1:]), done.stdout


def test_the_x25519_path_imports_nothing_of_this_kind(tmp_path: Path) -> None:
    """Decrypting with an X25519 key loads neither this kind, the age format code nor HPKE,
    even for a file that also has a post-quantum entry (the X25519 entry opens first)."""
    unwanted = {
        "secretsctl.keys.kinds.mlkem768x25519",
        "secretsctl.keys.ageformat",
        "cryptography.hazmat.primitives.hpke",
        "cryptography.hazmat.primitives.asymmetric.mlkem",
    }
    for name in ("pq.yaml", "ssh.yaml"):
        modules, out = imported_by_decrypt(KEYS / name, KEYS / "age-a.txt", tmp_path)
        assert "secretsctl.keys.kinds.x25519" in modules or name == "ssh.yaml"
        assert not modules & unwanted, sorted(modules & unwanted)
    modules, out = imported_by_decrypt(KEYS / "pq.yaml", KEYS / "age-pq.txt", tmp_path)
    assert b"hunter2" in out
    assert "secretsctl.keys.kinds.mlkem768x25519" in modules
