"""Unwrapping and wrapping the data key: vectors from sops, messages, Shamir, odd entries."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pyrage
import pytest

from secretsctl.errors import ExitCode, NoEncryptionKeyError, NoIdentityError, SecretsctlError
from secretsctl.keys import keyring, sources
from secretsctl.keys.keyring import (
    DataKeyError,
    KeyGroupError,
    NoMatchingIdentityError,
    RecipientError,
    stanza_types,
    unwrap_data_key,
    wrap_data_key,
)
from secretsctl.keys.kinds._pyrage import check_armour
from secretsctl.keys.sources import load_identities
from secretsctl.redact import Secret
from secretsctl.sops.metadata import AgeKey, ForeignKey, KeyGroup, Metadata
from tests.pgp_support import require_gpg
from tests.conftest import SOPS_NIX_VECTORS
from tests.keys_support import assert_not_leaked, mac_opens, read_metadata

KEYS = Path(__file__).resolve().parents[2] / "vectors" / "keys"
SECRETS = SOPS_NIX_VECTORS / "secrets.yaml"


def key_line(name: str) -> str:
    return (KEYS / f"age-{name}.txt").read_text().splitlines()[1]


def only(**kwargs: object) -> sources.IdentitySet:
    return load_identities(use_environment=False, **kwargs)  # type: ignore[arg-type]


def from_text(*identities: str) -> sources.IdentitySet:
    return load_identities(environ={"SOPS_AGE_KEY": "\n".join(identities)})


def meta(*groups: tuple[AgeKey, ...], threshold: int = 0) -> Metadata:
    return Metadata(
        key_groups=tuple(KeyGroup(age=group) for group in groups),
        lastmodified="2026-01-01T00:00:00Z",
        mac="",
        shamir_threshold=threshold,
    )


def entry(plaintext: bytes, recipient: str, *, via: object | None = None) -> AgeKey:
    target = via or pyrage.x25519.Recipient.from_str(recipient)
    return AgeKey(recipient, pyrage.encrypt(plaintext, [target], armored=True).decode())


# --- files written by sops ---------------------------------------------------------------------


def test_sops_nix_vector_with_age_key_file() -> None:
    key = unwrap_data_key(
        read_metadata(SECRETS), only(age_key_file=SOPS_NIX_VECTORS / "age-keys.txt"), file="s"
    )
    assert isinstance(key, Secret)
    assert mac_opens(SECRETS, key.reveal())


def test_sops_nix_vector_with_ssh_host_key_through_the_conversion() -> None:
    key = unwrap_data_key(
        read_metadata(SECRETS), only(ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"]), file="s"
    )
    assert mac_opens(SECRETS, key.reveal())


def test_sops_nix_vector_with_ssh_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(SOPS_NIX_VECTORS / "ssh-ed25519-key"))
    key = unwrap_data_key(read_metadata(SECRETS), load_identities(), file="s")
    assert mac_opens(SECRETS, key.reveal())


@pytest.mark.parametrize("name", ["id_ed25519", "id_rsa"])
def test_sops_ssh_recipients_open_with_ssh_identities(name: str) -> None:
    path = KEYS / "ssh.yaml"
    key = unwrap_data_key(read_metadata(path), only(ssh_key_paths=[KEYS / name]), file="ssh.yaml")
    assert mac_opens(path, key.reveal())


def test_sops_ssh_recipient_does_not_open_with_the_converted_identity_alone() -> None:
    from secretsctl.keys.ssh_to_age import ssh_private_key_to_age_identity

    converted = ssh_private_key_to_age_identity((KEYS / "id_ed25519").read_bytes()).reveal()
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(read_metadata(KEYS / "ssh.yaml"), from_text(converted), file="ssh.yaml")
    assert "(stanzas: ssh-ed25519, ssh-rsa)" in str(info.value)
    assert_not_leaked(str(info.value) + str(info.value.hint), converted)


def test_shamir_2_of_2_with_one_key_from_each_of_two_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY", key_line("a"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(KEYS / "age-b.txt"))
    path = KEYS / "shamir-2of2.yaml"
    key = unwrap_data_key(read_metadata(path), load_identities(), file="f")
    assert mac_opens(path, key.reveal())


def test_shamir_2_of_2_with_one_key_fails_naming_the_missing_group() -> None:
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(
            read_metadata(KEYS / "shamir-2of2.yaml"), from_text(key_line("a")), file="f.yaml"
        )
    message = str(info.value)
    assert message.startswith("no identity matched f.yaml (stanzas: X25519)\n")
    assert "  group 1 of 2: ok\n" in message
    assert "  group 2 of 2: FAILED\n" in message
    assert "  1 of 2 required key groups opened\n" in message
    assert info.value.exit_code is ExitCode.COULD_NOT_RETRIEVE_KEY
    assert int(info.value.exit_code) == 128


@pytest.mark.parametrize("names", ["ab", "ac", "bc", "abc"])
def test_shamir_2_of_3_opens_with_any_two(names: str) -> None:
    path = KEYS / "shamir-2of3.yaml"
    identities = from_text(*(key_line(n) for n in names))
    key = unwrap_data_key(read_metadata(path), identities, file="f")
    assert mac_opens(path, key.reveal())


def test_shamir_stops_once_the_threshold_is_met(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = keyring._unwrap

    def counting(data: object, batch: object) -> object:
        calls.append(len(batch))  # type: ignore[arg-type]
        return real(data, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(keyring, "_unwrap", counting)
    identities = from_text(*(key_line(n) for n in "abc"))
    unwrap_data_key(read_metadata(KEYS / "shamir-2of3.yaml"), identities, file="f")
    assert calls == [1, 1]


def test_the_matching_identity_is_tried_alone_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = keyring._unwrap

    def counting(data: object, batch: object) -> object:
        calls.append(len(batch))  # type: ignore[arg-type]
        return real(data, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(keyring, "_unwrap", counting)
    others = [str(pyrage.x25519.Identity.generate()) for _ in range(20)]
    identities = load_identities(
        environ={"SOPS_AGE_KEY": "\n".join(others)},
        age_key_file=SOPS_NIX_VECTORS / "age-keys.txt",
    )
    assert len(identities) == 21
    unwrap_data_key(read_metadata(SECRETS), identities, file="s")
    assert calls == [1]


def test_a_host_key_last_of_many_recipients_costs_one_decryption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = keyring._unwrap

    def counting(data: object, batch: object) -> object:
        calls.append(len(batch))  # type: ignore[arg-type]
        return real(data, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(keyring, "_unwrap", counting)
    data_key = os.urandom(32)
    admins = [str(pyrage.x25519.Identity.generate().to_public()) for _ in range(10)]
    host = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"
    (group,) = wrap_data_key(data_key, [[*admins, host]], None)
    identities = only(ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"])
    assert unwrap_data_key(meta(group.age), identities, file="f") == Secret(data_key)
    assert calls == [1]


def test_a_lying_recipient_field_still_opens_through_the_other_identities() -> None:
    identity = pyrage.x25519.Identity.generate()
    decoy = pyrage.x25519.Identity.generate()
    data_key = os.urandom(32)
    wrapped = entry(data_key, str(identity.to_public()))
    metadata = meta((AgeKey(str(decoy.to_public()), wrapped.enc),))
    key = unwrap_data_key(metadata, from_text(str(decoy), str(identity)), file="f")
    assert key == Secret(data_key)


# --- the no-identity error ------------------------------------------------------------------------


def test_wrong_key_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_gpg()  # the vector's PGP entries are tried with gpg's own (empty) home
    wrong = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"{wrong}\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    monkeypatch.setenv("SOPS_AGE_KEY", "garbage")
    with pytest.raises(NoIdentityError) as info:
        unwrap_data_key(read_metadata(SECRETS), load_identities(), file="secrets.yaml")
    error = info.value
    assert isinstance(error, NoMatchingIdentityError)
    assert isinstance(error, SecretsctlError)
    assert error.exit_code == 128
    message = str(error)
    lines = message.splitlines()
    assert lines[0] == "no identity matched secrets.yaml (stanzas: X25519, pgp)"
    assert (
        "  age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw: no identity matched"
        in lines
    )
    # gpg ran (in an empty home) and said why, after the fingerprint.
    assert (
        "  pgp:7FB89715AADA920D65D25E63F9BA9DEBD03F57C0: gpg: decryption failed: No secret key"
        in lines
    )
    assert "  identities tried: 1 X25519" in lines
    assert f"    SOPS_AGE_KEY_FILE ({key_file}): 1 identity" in lines
    assert "    SOPS_AGE_KEY: failed" in lines
    assert "  problem: SOPS_AGE_KEY: line 1: unknown identity type" in lines
    # The locations come in sops's order.
    order = [line.split(":")[0].strip().split(" ")[0] for line in lines if line.startswith("    ")]
    assert order[0] == "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
    assert order[3:6] == ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"]
    assert error.hint is not None
    assert "SOPS_AGE_KEY_FILE" in error.hint
    assert error.file == "secrets.yaml"
    assert error.stanza_types == ("X25519", "pgp")
    assert error.recipients[1] == "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"
    assert error.locations[0] == "SOPS_AGE_SSH_PRIVATE_KEY_FILE"
    assert_not_leaked(message + error.hint + repr(error), str(wrong))


def test_no_identity_at_all_message() -> None:
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(read_metadata(SECRETS), load_identities(), file="secrets.yaml")
    assert "  no age identities were loaded" in str(info.value).splitlines()
    assert "no identities to try" in str(info.value)
    assert info.value.hint is not None
    assert info.value.hint.startswith("no age key was found; secretsctl looks in ")


def test_boot_path_hint_names_only_the_configured_sources(tmp_path: Path) -> None:
    identities = only(age_key_file=tmp_path / "missing.txt")
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(read_metadata(SECRETS), identities, file="s")
    assert info.value.hint == f"no age key was found; secretsctl looks in {tmp_path}/missing.txt"
    assert f"  problem: {tmp_path}/missing.txt: cannot read" in str(info.value)


def test_no_key_sources_at_all() -> None:
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(read_metadata(SECRETS), only(), file="s")
    assert info.value.hint == "no key source is configured"


def test_foreign_only_file_names_its_key_types() -> None:
    metadata = Metadata(
        key_groups=(KeyGroup(foreign=(ForeignKey("pgp", (("fp", "ABCD"),)),)),),
        lastmodified="2026-01-01T00:00:00Z",
        mac="",
    )
    with pytest.raises(NoMatchingIdentityError, match=r"\(stanzas: pgp\)"):
        unwrap_data_key(metadata, from_text(key_line("a")), file="f")


# --- odd entries ------------------------------------------------------------------------------


def test_leading_whitespace_and_crlf_armour_are_accepted() -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    data_key = os.urandom(32)
    wrapped = entry(data_key, recipient)
    for enc in ("\n   " + wrapped.enc, wrapped.enc.replace("\n", "\r\n"), wrapped.enc.rstrip()):
        key = unwrap_data_key(meta((AgeKey(recipient, enc),)), from_text(str(identity)), file="f")
        assert key == Secret(data_key)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda enc: enc.replace("\n", "\n ", 2),
        lambda enc: enc.replace("-----END AGE ENCRYPTED FILE-----", ""),
        lambda enc: "garbage",
        lambda enc: "",
        lambda enc: enc[:80] + "!" + enc[81:],
    ],
)
def test_malformed_armour_is_a_clear_error(mangle: object) -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    wrapped = entry(os.urandom(32), recipient)
    enc = mangle(wrapped.enc)  # type: ignore[operator]
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap_data_key(meta((AgeKey(recipient, enc),)), from_text(str(identity)), file="f")
    assert f"  {recipient}: malformed age data (" in str(info.value)
    assert "(stanzas: none)" in str(info.value).splitlines()[0] or "X25519" in str(info.value)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_length_data_key_is_a_data_key_error(size: int) -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    with pytest.raises(DataKeyError) as info:
        unwrap_data_key(
            meta((entry(os.urandom(size), recipient),)), from_text(str(identity)), file="f"
        )
    assert info.value.exit_code == 128
    assert f"opened, but holds {size} bytes instead of 32" in str(info.value)
    assert str(info.value).startswith("the data key of f is malformed")


def test_a_good_entry_after_a_bad_one_wins() -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    data_key = os.urandom(32)
    metadata = meta((entry(os.urandom(31), recipient), entry(data_key, recipient)))
    assert unwrap_data_key(metadata, from_text(str(identity)), file="f") == Secret(data_key)


def test_duplicate_shamir_shares_are_refused() -> None:
    from secretsctl.keys import shamir

    a, b = (pyrage.x25519.Identity.generate() for _ in range(2))
    share = shamir.split(os.urandom(32), 2, 2)[0]
    metadata = meta(
        (entry(share, str(a.to_public())),), (entry(share, str(b.to_public())),), threshold=2
    )
    with pytest.raises(DataKeyError, match="duplicate or has no x-coordinate"):
        unwrap_data_key(metadata, from_text(str(a), str(b)), file="f")


def test_threshold_larger_than_the_groups() -> None:
    a = pyrage.x25519.Identity.generate()
    group = (entry(os.urandom(33), str(a.to_public())),)
    with pytest.raises(DataKeyError, match="needs 3 key groups but has only 2"):
        unwrap_data_key(meta(group, group, threshold=3), from_text(str(a)), file="f")


def test_threshold_one_with_several_groups_still_needs_two_shares() -> None:
    from secretsctl.keys import shamir

    a, b = (pyrage.x25519.Identity.generate() for _ in range(2))
    data_key = os.urandom(32)
    shares = shamir.split(data_key, 2, 2)
    metadata = meta(
        (entry(shares[0], str(a.to_public())),),
        (entry(shares[1], str(b.to_public())),),
        threshold=1,
    )
    with pytest.raises(NoMatchingIdentityError, match="1 of 2 required"):
        unwrap_data_key(metadata, from_text(str(a)), file="f")
    assert unwrap_data_key(metadata, from_text(str(a), str(b)), file="f") == Secret(data_key)


def test_shamir_share_of_wrong_length() -> None:
    a, b = (pyrage.x25519.Identity.generate() for _ in range(2))
    metadata = meta(
        (entry(os.urandom(32), str(a.to_public())),),
        (entry(os.urandom(33), str(b.to_public())),),
    )
    with pytest.raises(DataKeyError, match="holds 32 bytes instead of 33"):
        unwrap_data_key(metadata, from_text(str(a), str(b)), file="f")


# --- stanza types ---------------------------------------------------------------------------------


def test_stanza_types_of_sops_and_pyrage_entries() -> None:
    metadata = read_metadata(KEYS / "ssh.yaml")
    assert [stanza_types(k.enc) for k in metadata.key_groups[0].age] == [
        ("ssh-ed25519",),
        ("ssh-rsa",),
    ]
    assert stanza_types(read_metadata(SECRETS).key_groups[0].age[0].enc) == ("X25519",)
    # pyrage adds a random grease stanza; it is left out.
    wrapped = entry(os.urandom(32), str(pyrage.x25519.Identity.generate().to_public()))
    assert stanza_types(wrapped.enc) == ("X25519",)
    assert stanza_types(wrapped.enc.replace("\n", "\r\n")) == ("X25519",)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "-----BEGIN AGE ENCRYPTED FILE-----\n!!!!\n-----END AGE ENCRYPTED FILE-----\n",
        "-----BEGIN AGE ENCRYPTED FILE-----\n"
        + base64.b64encode(b"not age\n").decode()
        + "\n-----END AGE ENCRYPTED FILE-----\n",
        "age-encryption.org/v1\n-> X25519 abc\nAAAA\n",
    ],
)
def test_stanza_types_of_non_age_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        stanza_types(text)


def test_stanza_types_of_binary_age() -> None:
    assert stanza_types("age-encryption.org/v1\n-> X25519 abc\nAAAA\n--- mac\n") == ("X25519",)


# --- wrapping -------------------------------------------------------------------------------------


def _layout_ok(enc: str) -> bool:
    lines = enc.split("\n")
    body = lines[1:-2]
    return (
        lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
        and lines[-2] == "-----END AGE ENCRYPTED FILE-----"
        and lines[-1] == ""
        and all(len(line) == 64 for line in body[:-1])
        and 0 < len(body[-1]) <= 64
    )


def test_wrap_one_group_for_every_recipient_type() -> None:
    age_identity = pyrage.x25519.Identity.generate()
    ed_pub = (KEYS / "id_ed25519.pub").read_text()
    rsa_pub = (KEYS / "id_rsa.pub").read_text()
    data_key = os.urandom(32)
    (group,) = wrap_data_key(data_key, [[f" {age_identity.to_public()} ", ed_pub, rsa_pub]], None)
    assert [k.recipient for k in group.age] == [
        str(age_identity.to_public()),
        ed_pub.strip(),
        rsa_pub.strip(),
    ]
    assert group.age[1].recipient.endswith(" test@secretsctl")
    assert all(_layout_ok(k.enc) for k in group.age)
    assert [stanza_types(k.enc) for k in group.age] == [("X25519",), ("ssh-ed25519",), ("ssh-rsa",)]
    for identities in (
        from_text(str(age_identity)),
        only(ssh_key_paths=[KEYS / "id_ed25519"]),
        only(ssh_key_paths=[KEYS / "id_rsa"]),
    ):
        assert unwrap_data_key(meta(group.age), identities, file="f") == Secret(data_key)


def test_wrap_accepts_a_secret_data_key() -> None:
    identity = pyrage.x25519.Identity.generate()
    data_key = keyring.generate_data_key()
    assert len(data_key.reveal()) == 32
    groups = wrap_data_key(data_key, [[str(identity.to_public())]], None)
    assert unwrap_data_key(meta(groups[0].age), from_text(str(identity)), file="f") == data_key


@pytest.mark.parametrize(("groups", "threshold", "needed"), [(3, None, 3), (3, 2, 2), (4, 3, 3)])
def test_wrap_key_groups_with_shamir(groups: int, threshold: int | None, needed: int) -> None:
    identities = [pyrage.x25519.Identity.generate() for _ in range(groups)]
    data_key = os.urandom(32)
    wrapped = wrap_data_key(data_key, [[str(i.to_public())] for i in identities], threshold)
    assert len(wrapped) == groups
    metadata = Metadata(
        key_groups=wrapped,
        lastmodified="2026-01-01T00:00:00Z",
        mac="",
        shamir_threshold=threshold or 0,
    )
    chosen = from_text(*(str(i) for i in identities[-needed:]))
    assert unwrap_data_key(metadata, chosen, file="f") == Secret(data_key)
    too_few = from_text(*(str(i) for i in identities[: needed - 1]))
    with pytest.raises(NoMatchingIdentityError):
        unwrap_data_key(metadata, too_few, file="f")


@pytest.mark.parametrize("threshold", [1, 4])
def test_wrap_refuses_bad_thresholds(threshold: int) -> None:
    recipients = [[str(pyrage.x25519.Identity.generate().to_public())] for _ in range(3)]
    with pytest.raises(KeyGroupError, match="could not split the data key") as info:
        wrap_data_key(os.urandom(32), recipients, threshold)
    assert info.value.exit_code == 1


def test_wrap_with_one_group_ignores_the_threshold() -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    (group,) = wrap_data_key(os.urandom(32), [[recipient]], 5)
    assert len(group.age) == 1


@pytest.mark.parametrize("groups", [[], [[]], [["age1x"], []]])
def test_wrap_without_recipients(groups: list[list[str]]) -> None:
    if groups == [["age1x"], []]:
        groups = [[str(pyrage.x25519.Identity.generate().to_public())], []]
    with pytest.raises(NoEncryptionKeyError) as info:
        wrap_data_key(os.urandom(32), groups, None)
    assert info.value.exit_code == 111


@pytest.mark.parametrize(
    ("recipient", "match"),
    [
        ("age1yubikey1qwerty", "malformed age plugin recipient"),
        ("age1pq1" + "q" * 1900, "malformed post-quantum age recipient"),
        ("age1bogus", "malformed age recipient `age1bogus`"),
        ("AGE1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS3290GQ", "unknown recipient"),
        ("ssh-ed25519 AAAAbogus", "malformed ssh-ed25519 recipient"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported SSH recipient"),
        ("ecdsa-sha2-nistp256 AAAA", "unknown recipient type"),
        ("", "unknown recipient type"),
    ],
)
def test_wrap_refuses_unusable_recipients(recipient: str, match: str) -> None:
    with pytest.raises(RecipientError, match=match) as info:
        wrap_data_key(os.urandom(32), [[recipient]], None)
    assert info.value.exit_code == 1
    assert len(str(info.value)) < 200


def test_recipients_are_all_checked_before_encrypting(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def record(part: bytes, recipient: keyring.Recipient) -> object:
        calls.append(recipient.text)
        return None

    monkeypatch.setattr(keyring, "_wrap", record)
    good = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(RecipientError):
        wrap_data_key(os.urandom(32), [[good], ["bogus"]], 2)
    assert calls == []


def test_wrap_refuses_a_wrong_length_key() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(b"short", [[str(pyrage.x25519.Identity.generate().to_public())]], None)


def test_armour_layout_check(monkeypatch: pytest.MonkeyPatch) -> None:
    check_armour(
        entry(os.urandom(32), str(pyrage.x25519.Identity.generate().to_public())).enc
    )
    for bad in (
        "",
        "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----",
        "-----BEGIN AGE ENCRYPTED FILE-----\nAA\nAAAA\n-----END AGE ENCRYPTED FILE-----\n",
    ):
        with pytest.raises(DataKeyError, match="unexpected layout"):
            check_armour(bad)
