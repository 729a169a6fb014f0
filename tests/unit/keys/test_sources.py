"""Identity sources: every location sops 3.11 reads, combined, in its order, parsed as it does."""

from __future__ import annotations

import base64
import os
import shlex
import sys
import time
from pathlib import Path

import pyrage
import pytest

from secretsctl.keys import sources
from secretsctl.keys.sources import LocationStatus, load_identities
from tests.conftest import SOPS_NIX_VECTORS
from tests.keys_support import (
    assert_not_leaked,
    encrypted_openssh,
    hanging_program,
    interrupt_once_started,
    process_gone,
)

KEYS = Path(__file__).resolve().parents[2] / "vectors" / "keys"
VECTOR_CONVERTED = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"
VECTOR_AGE = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"


def new_key() -> tuple[str, str]:
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def recipients(result: sources.IdentitySet) -> list[str | None]:
    return [loaded.recipient for loaded in result.identities]


def assert_no_secret(result: sources.IdentitySet, *secrets: str) -> None:
    text = repr(result) + "".join(
        repr(x) + str(x) + (x.describe() if isinstance(x, sources.LoadedIdentity) else "")
        for group in (result.identities, result.locations, result.problems)
        for x in group
    )
    assert_not_leaked(text, *secrets)


def status(result: sources.IdentitySet, name: str) -> LocationStatus:
    (location,) = [loc for loc in result.locations if loc.name == name]
    return location.status


# --- order and the locations list -----------------------------------------------------------


def test_nothing_configured_lists_every_location_in_sops_order(isolated_env: Path) -> None:
    result = load_identities()
    assert result.identities == ()
    assert result.problems == ()
    assert result.locations_tried == (
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        f"{isolated_env}/.ssh/id_ed25519",
        f"{isolated_env}/.ssh/id_rsa",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        f"{isolated_env}/.config/sops/age/keys.txt",
    )
    assert [loc.status for loc in result.locations] == [
        LocationStatus.NOT_SET,
        LocationStatus.NOT_FOUND,
        LocationStatus.NOT_FOUND,
        LocationStatus.NOT_SET,
        LocationStatus.NOT_SET,
        LocationStatus.NOT_SET,
        LocationStatus.NOT_FOUND,
    ]
    assert len(result) == 0


def test_every_source_combined_in_order(tmp_path: Path, isolated_env: Path) -> None:
    keys = [new_key() for _ in range(4)]
    ssh = isolated_env / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_bytes((KEYS / "id_ed25519").read_bytes())
    (ssh / "id_rsa").write_bytes((KEYS / "id_rsa").read_bytes())
    key_file = tmp_path / "keys.txt"
    key_file.write_text(keys[1][0] + "\n")
    config = tmp_path / "xdg"
    (config / "sops" / "age").mkdir(parents=True)
    (config / "sops" / "age" / "keys.txt").write_text(keys[3][0] + "\n")
    environ = {
        "HOME": str(isolated_env),
        "PATH": os.environ["PATH"],
        "XDG_CONFIG_HOME": str(config),
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(SOPS_NIX_VECTORS / "ssh-ed25519-key"),
        "SOPS_AGE_KEY": keys[0][0],
        "SOPS_AGE_KEY_FILE": str(key_file),
        "SOPS_AGE_KEY_CMD": shlex.join(["printf", "%s\\n", keys[2][0]]),
    }
    result = load_identities(environ=environ)
    assert result.problems == ()
    ed_pub = " ".join((KEYS / "id_ed25519.pub").read_text().split()[:2])
    rsa_pub = " ".join((KEYS / "id_rsa.pub").read_text().split()[:2])
    vector_ssh = " ".join((SOPS_NIX_VECTORS / "ssh-ed25519-key.pub").read_text().split()[:2])
    assert recipients(result)[:2] == [vector_ssh, VECTOR_CONVERTED]
    assert recipients(result)[2] == ed_pub
    assert recipients(result)[4] == rsa_pub
    assert recipients(result)[5:] == [k[1] for k in keys]
    assert [i.kind for i in result.identities[:5]] == [
        "ssh-ed25519",
        "X25519",
        "ssh-ed25519",
        "X25519",
        "ssh-rsa",
    ]
    assert [i.converted for i in result.identities[:5]] == [False, True, False, True, False]
    assert all(loc.status is LocationStatus.LOADED for loc in result.locations)
    assert result.locations[-1].name == f"{config}/sops/age/keys.txt"
    assert_no_secret(result, *(k[0] for k in keys))


# --- each source on its own --------------------------------------------------------------------


def test_sops_age_key(monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = new_key()
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    result = load_identities()
    assert recipients(result) == [recipient]
    assert result.identities[0].location == "SOPS_AGE_KEY"
    assert status(result, "SOPS_AGE_KEY") is LocationStatus.LOADED


def test_sops_age_key_several_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [new_key() for _ in range(3)]
    monkeypatch.setenv("SOPS_AGE_KEY", "\n".join(k[0] for k in keys))
    assert recipients(load_identities()) == [k[1] for k in keys]


def test_sops_age_key_two_keys_on_one_line_fail_as_in_sops_3_11(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [new_key() for _ in range(2)]
    monkeypatch.setenv("SOPS_AGE_KEY", f"{keys[0][0]} {keys[1][0]}")
    result = load_identities()
    assert result.identities == ()
    assert [str(p) for p in result.problems] == [
        "SOPS_AGE_KEY: line 1: malformed AGE-SECRET-KEY identity"
    ]


def test_sops_age_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = new_key()
    path = tmp_path / "keys.txt"
    path.write_text(f"# created: 2020\n# public key: {recipient}\n{identity}\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(path))
    result = load_identities()
    assert recipients(result) == [recipient]
    (location,) = [loc for loc in result.locations if loc.name == "SOPS_AGE_KEY_FILE"]
    assert location.detail == str(path)
    assert str(location) == f"SOPS_AGE_KEY_FILE ({path}): 1 identity"


def test_sops_age_key_cmd(monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = new_key()
    monkeypatch.setenv(
        "SOPS_AGE_KEY_CMD", shlex.join([sys.executable, "-c", f"print({identity!r})"])
    )
    assert recipients(load_identities()) == [recipient]


def test_sops_age_ssh_private_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(SOPS_NIX_VECTORS / "ssh-ed25519-key"))
    result = load_identities()
    assert [i.kind for i in result.identities] == ["ssh-ed25519", "X25519"]
    assert result.identities[1].recipient == VECTOR_CONVERTED
    assert result.identities[1].describe() == (
        f"{VECTOR_CONVERTED} (converted from ssh-ed25519) from SOPS_AGE_SSH_PRIVATE_KEY_FILE"
    )


@pytest.mark.parametrize("name", ["id_ed25519", "id_rsa"])
def test_home_ssh_keys(name: str, isolated_env: Path) -> None:
    (isolated_env / ".ssh").mkdir()
    (isolated_env / ".ssh" / name).write_bytes((KEYS / name).read_bytes())
    result = load_identities()
    kinds = [i.kind for i in result.identities]
    if name == "id_rsa":
        assert kinds == ["ssh-rsa"]
    else:
        assert kinds == ["ssh-ed25519", "X25519"]
    assert status(result, f"{isolated_env}/.ssh/{name}") is LocationStatus.LOADED


def test_xdg_config_home_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity, recipient = new_key()
    (tmp_path / "sops" / "age").mkdir(parents=True)
    (tmp_path / "sops" / "age" / "keys.txt").write_text(identity + "\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert recipients(load_identities()) == [recipient]


def test_home_config_keys(isolated_env: Path) -> None:
    identity, recipient = new_key()
    folder = isolated_env / ".config" / "sops" / "age"
    folder.mkdir(parents=True)
    (folder / "keys.txt").write_text(identity + "\n")
    assert recipients(load_identities()) == [recipient]


def test_macos_config_dir(tmp_path: Path) -> None:
    identity, recipient = new_key()
    folder = tmp_path / "Library" / "Application Support" / "sops" / "age"
    folder.mkdir(parents=True)
    (folder / "keys.txt").write_text(identity + "\n")
    result = load_identities(environ={}, home=tmp_path, platform="darwin")
    assert recipients(result) == [recipient]


def test_relative_xdg_config_home_is_a_problem(tmp_path: Path) -> None:
    result = load_identities(environ={"XDG_CONFIG_HOME": "relative"}, home=tmp_path)
    assert [str(p) for p in result.problems] == [
        "sops/age/keys.txt: path in $XDG_CONFIG_HOME is relative"
    ]


def test_no_home_skips_home_locations() -> None:
    identity, recipient = new_key()
    result = load_identities(environ={"SOPS_AGE_KEY": identity})
    assert recipients(result) == [recipient]
    assert [p.message for p in result.problems] == [
        "$HOME is not defined",
        "neither $XDG_CONFIG_HOME nor $HOME are defined",
    ]


# --- one broken source never blocks the others -----------------------------------------------


def test_garbage_sops_age_key_and_valid_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, recipient = new_key()
    path = tmp_path / "keys.txt"
    path.write_text(identity + "\n")
    monkeypatch.setenv("SOPS_AGE_KEY", "garbage")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(path))
    result = load_identities()
    assert recipients(result) == [recipient]
    assert [str(p) for p in result.problems] == ["SOPS_AGE_KEY: line 1: unknown identity type"]
    assert status(result, "SOPS_AGE_KEY") is LocationStatus.FAILED


def test_missing_files_are_problems_not_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, recipient = new_key()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "nope.txt"))
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(tmp_path / "nope_ed25519"))
    monkeypatch.setenv("SOPS_AGE_KEY", identity)
    result = load_identities()
    assert recipients(result) == [recipient]
    assert [str(p) for p in result.problems] == [
        f"SOPS_AGE_SSH_PRIVATE_KEY_FILE: cannot read {tmp_path}/nope_ed25519: "
        "No such file or directory",
        f"SOPS_AGE_KEY_FILE: cannot read {tmp_path}/nope.txt: No such file or directory",
    ]


def test_key_file_that_is_a_directory(tmp_path: Path) -> None:
    result = load_identities(environ={"SOPS_AGE_KEY_FILE": str(tmp_path)}, home=tmp_path)
    assert result.problems[0].message == f"cannot read {tmp_path}: Is a directory"


def test_one_bad_line_fails_its_whole_source_as_in_sops(tmp_path: Path) -> None:
    identity, _ = new_key()
    path = tmp_path / "keys.txt"
    path.write_text(f"{identity}\nnot a key\n")
    result = load_identities(environ={"SOPS_AGE_KEY_FILE": str(path)}, home=tmp_path)
    assert result.identities == ()
    assert [p.message for p in result.problems] == ["line 2: unknown identity type"]


# --- key text parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (" {key}", "line 1: unknown identity type"),
        ("\t{key}", "line 1: unknown identity type"),
        ("{key} ", "line 1: malformed AGE-SECRET-KEY identity"),
        ("{key}\t", "line 1: malformed AGE-SECRET-KEY identity"),
        ("{lower}", "line 1: unknown identity type"),
        ("{key}\r\r", "line 1: malformed AGE-SECRET-KEY identity"),
        ("# ok\n\n  \n{key}", "line 3: unknown identity type"),
    ],
)
def test_padded_or_lower_case_lines_are_rejected_as_sops_does(
    template: str, message: str, tmp_path: Path
) -> None:
    identity, _ = new_key()
    text = template.format(key=identity, lower=identity.lower())
    result = load_identities(environ={"SOPS_AGE_KEY": text}, home=tmp_path)
    assert result.identities == ()
    assert [p.message for p in result.problems] == [message]
    assert_not_leaked(repr(result.problems) + str(result.problems[0]), identity)


def test_comments_blank_lines_and_crlf_are_fine(tmp_path: Path) -> None:
    keys = [new_key() for _ in range(2)]
    text = f"# comment\r\n\r\n{keys[0][0]}\r\n#{keys[1][0]}\r\n\n{keys[1][0]}"
    result = load_identities(environ={"SOPS_AGE_KEY": text}, home=tmp_path)
    assert recipients(result) == [k[1] for k in keys]
    assert result.problems == ()


def test_empty_key_text_is_no_keys(tmp_path: Path) -> None:
    result = load_identities(environ={"SOPS_AGE_KEY": ""}, home=tmp_path)
    assert status(result, "SOPS_AGE_KEY") is LocationStatus.NO_KEYS
    assert result.problems == ()


def plugin_identity() -> str:
    from secretsctl.keys.ssh_to_age import bech32_encode

    return bech32_encode("age-plugin-yubikey-", os.urandom(32)).upper()


@pytest.mark.parametrize(
    "source", ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "keys.txt", "explicit"]
)
def test_plugin_identities_load_from_every_source(source: str, tmp_path: Path) -> None:
    identity, recipient = new_key()
    plugin = plugin_identity()
    text = f"{plugin}\n{identity}\n"
    key_file = tmp_path / "keys.txt"
    key_file.write_text(text)
    environ = {
        "SOPS_AGE_KEY": {"SOPS_AGE_KEY": text},
        "SOPS_AGE_KEY_FILE": {"SOPS_AGE_KEY_FILE": str(key_file)},
        "SOPS_AGE_KEY_CMD": {"SOPS_AGE_KEY_CMD": f"cat {key_file}"},
        "keys.txt": {"XDG_CONFIG_HOME": str(tmp_path / "config")},
        "explicit": {},
    }[source]
    if source == "keys.txt":
        (tmp_path / "config" / "sops" / "age").mkdir(parents=True)
        key_file.rename(tmp_path / "config" / "sops" / "age" / "keys.txt")
    result = load_identities(
        environ=environ, home=tmp_path, age_key_file=key_file if source == "explicit" else None
    )
    assert [loaded.kind for loaded in result.identities] == ["plugin", "X25519"]
    assert recipients(result) == [None, recipient]
    assert result.problems == ()
    assert result.identities[0].describe().startswith("plugin key from ")
    assert_no_secret(result, plugin, identity)


def test_malformed_plugin_identity_fails_its_source_as_in_sops(tmp_path: Path) -> None:
    identity, _ = new_key()
    text = f"AGE-PLUGIN-YUBIKEY-1QQQQQQ\n{identity}\n"
    result = load_identities(environ={"SOPS_AGE_KEY": text}, home=tmp_path)
    assert recipients(result) == []
    assert [str(p) for p in result.problems] == [
        "SOPS_AGE_KEY: line 1: malformed AGE-PLUGIN identity"
    ]


@pytest.mark.parametrize("armored", [False, True])
def test_passphrase_encrypted_identity_file_is_not_prompted_for(
    armored: bool, tmp_path: Path
) -> None:
    # Only the first 14 bytes decide, as in sops; real scrypt files take seconds to make.
    binary = b"age-encryption.org/v1\n-> scrypt c2FsdHNhbHRzYWx0c2FsdA 18\nAAAA\n--- AAAA\n"
    data = (
        b"-----BEGIN AGE ENCRYPTED FILE-----\n"
        + base64.b64encode(binary)
        + b"\n-----END AGE ENCRYPTED FILE-----\n"
        if armored
        else binary
    )
    path = tmp_path / "keys.age"
    path.write_bytes(data)
    result = load_identities(environ={"SOPS_AGE_KEY_FILE": str(path)}, home=tmp_path)
    assert result.identities == ()
    assert "passphrase-encrypted age identity file is not supported non-interactively" in (
        result.problems[0].message
    )


def test_parse_key_text_directly() -> None:
    identity, recipient = new_key()
    found, notes = sources.parse_key_text(f"{identity}\n".encode(), "here")
    assert [(i.recipient, i.location) for i in found] == [(recipient, "here")]
    assert notes == []


# --- SSH keys -------------------------------------------------------------------------------


def test_encrypted_ssh_key_is_a_problem(tmp_path: Path) -> None:
    blob = base64.b64decode((KEYS / "id_ed25519.pub").read_text().split()[1])
    path = tmp_path / "id"
    path.write_bytes(encrypted_openssh(blob))
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert result.identities == ()
    assert result.problems[0].message.startswith(
        "a passphrase-protected SSH key is not supported non-interactively"
    )


def test_encrypted_pem_rsa_key_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "id_rsa"
    path.write_text(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n"
        "-----END RSA PRIVATE KEY-----\n"
    )
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert "passphrase-protected" in result.problems[0].message


def test_pem_rsa_key_loads(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)
    path = tmp_path / "id_rsa"
    path.write_bytes(
        key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
    )
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert [(i.kind, i.recipient) for i in result.identities] == [("ssh-rsa", None)]
    assert result.identities[0].describe() == "ssh-rsa key from SOPS_AGE_SSH_PRIVATE_KEY_FILE"


@pytest.mark.parametrize(
    ("private_format", "message"),
    [("PKCS8", "unsupported private key format"), ("OpenSSH", "unsupported SSH key type")],
)
def test_unsupported_ssh_keys(private_format: str, message: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "id_ecdsa"
    path.write_bytes(
        key.private_bytes(
            s.Encoding.PEM, getattr(s.PrivateFormat, private_format), s.NoEncryption()
        )
    )
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert result.identities == ()
    assert result.problems[0].message.startswith(message)


def test_garbage_ssh_key(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    path.write_text("hello\n")
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert [p.message for p in result.problems] == ["not an SSH private key"]


def test_ssh_key_with_junk_before_the_pem_block(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    path.write_bytes(b"\n  # note\n" + (KEYS / "id_ed25519").read_bytes())
    result = load_identities(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path)}, home=tmp_path)
    assert len(result.identities) == 2


# --- SOPS_AGE_KEY_CMD ------------------------------------------------------------------------


def _cmd(tmp_path: Path, command: str, timeout: float = 5.0) -> sources.IdentitySet:
    environ = {"SOPS_AGE_KEY_CMD": command, "PATH": os.environ["PATH"]}
    return load_identities(environ=environ, home=tmp_path, key_cmd_timeout=timeout)


def test_key_cmd_failing(tmp_path: Path) -> None:
    result = _cmd(tmp_path, "sh -c 'echo AGE-SECRET-KEY-1SECRET >&2; exit 3'")
    assert [str(p) for p in result.problems] == ["SOPS_AGE_KEY_CMD: `sh` exited with status 3"]
    assert "AGE-SECRET" not in repr(result.problems)


def test_key_cmd_timing_out_kills_its_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    script = f"(sleep 1; touch {shlex.quote(str(marker))}) & sleep 30"
    started = time.monotonic()
    result = _cmd(tmp_path, shlex.join(["sh", "-c", script]), timeout=0.3)
    assert time.monotonic() - started < 5
    assert [str(p) for p in result.problems] == [
        "SOPS_AGE_KEY_CMD: `sh` did not finish within 0.3 s"
    ]
    time.sleep(1.5)
    assert not marker.exists()


def test_key_cmd_not_found(tmp_path: Path) -> None:
    result = _cmd(tmp_path, "no-such-program-secretsctl --token abc")
    assert [str(p) for p in result.problems] == [
        "SOPS_AGE_KEY_CMD: cannot run `no-such-program-secretsctl`: No such file or directory"
    ]
    assert "abc" not in str(result.problems[0])


@pytest.mark.parametrize(
    ("command", "message"),
    [("", "the command is empty"), ("echo 'unterminated", "cannot split the command")],
)
def test_key_cmd_unusable(command: str, message: str, tmp_path: Path) -> None:
    assert _cmd(tmp_path, command).problems[0].message.startswith(message)


def test_key_cmd_runs_without_a_shell_and_with_stdin_closed(tmp_path: Path) -> None:
    # No shell: `$HOME` and `;` reach the program literally. stdin is closed: cat ends at once.
    result = _cmd(tmp_path, "echo $HOME ; true")
    assert [p.message for p in result.problems] == ["line 1: unknown identity type"]
    result = _cmd(tmp_path, "cat", timeout=2)
    assert status(result, "SOPS_AGE_KEY_CMD") is LocationStatus.NO_KEYS


def test_key_cmd_killed_by_a_signal(tmp_path: Path) -> None:
    result = _cmd(tmp_path, "sh -c 'kill -9 $$'")
    assert result.problems[0].message == "`sh` was killed by signal 9"


# --- explicit sources (the boot path) ---------------------------------------------------------


def test_explicit_sources_ignore_the_environment(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key, _ = new_key()
    monkeypatch.setenv("SOPS_AGE_KEY", env_key)
    (isolated_env / ".ssh").mkdir()
    (isolated_env / ".ssh" / "id_rsa").write_bytes((KEYS / "id_rsa").read_bytes())
    result = load_identities(
        use_environment=False,
        age_key_file=SOPS_NIX_VECTORS / "age-keys.txt",
        ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"],
    )
    assert recipients(result)[1:] == [VECTOR_CONVERTED, VECTOR_AGE]
    assert result.locations_tried == (
        str(SOPS_NIX_VECTORS / "ssh-ed25519-key"),
        str(SOPS_NIX_VECTORS / "age-keys.txt"),
    )


def test_explicit_sources_come_before_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env_key, env_recipient = new_key()
    monkeypatch.setenv("SOPS_AGE_KEY", env_key)
    result = load_identities(age_key_file=SOPS_NIX_VECTORS / "age-keys.txt")
    assert recipients(result) == [VECTOR_AGE, env_recipient]
    assert result.locations_tried[:2] == (
        str(SOPS_NIX_VECTORS / "age-keys.txt"),
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    )


def test_missing_explicit_sources_are_problems(tmp_path: Path) -> None:
    result = load_identities(
        use_environment=False,
        age_key_file=tmp_path / "keys.txt",
        ssh_key_paths=[tmp_path / "ssh_host_ed25519_key", SOPS_NIX_VECTORS / "ssh-ed25519-key"],
    )
    assert recipients(result)[1] == VECTOR_CONVERTED
    assert [p.location for p in result.problems] == [
        str(tmp_path / "ssh_host_ed25519_key"),
        str(tmp_path / "keys.txt"),
    ]


def test_duplicate_identities_are_kept_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_SSH_PRIVATE_KEY_FILE", str(SOPS_NIX_VECTORS / "ssh-ed25519-key"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(SOPS_NIX_VECTORS / "age-keys.txt"))
    result = load_identities(
        age_key_file=SOPS_NIX_VECTORS / "age-keys.txt",
        ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"],
    )
    assert len(result) == 3
    assert status(result, "SOPS_AGE_KEY_FILE") is LocationStatus.LOADED


def test_candidates_put_the_matching_identity_first() -> None:
    keys = [new_key() for _ in range(3)]
    result = load_identities(
        environ={"SOPS_AGE_KEY": "\n".join(k[0] for k in keys)}, use_environment=True
    )
    likely, rest = result.candidates(keys[1][1].upper())
    assert [i.recipient for i in likely] == [keys[1][1]]
    assert [i.recipient for i in rest] == [keys[0][1], keys[2][1]]
    likely, rest = result.candidates("age1unknown")
    assert likely == ()
    assert len(rest) == 3


def test_nothing_in_reprs_is_key_material(tmp_path: Path) -> None:
    identity, _ = new_key()
    path = tmp_path / "keys.txt"
    path.write_text(identity + "\n")
    result = load_identities(
        environ={"SOPS_AGE_KEY_FILE": str(path)},
        home=tmp_path,
        ssh_key_paths=[SOPS_NIX_VECTORS / "ssh-ed25519-key"],
    )
    converted = next(i for i in result.identities if i.converted)
    assert_no_secret(result, identity, str(converted.identity.reveal()))
    assert repr(result) == "IdentitySet(<3 identities>, 8 locations, 0 problems)"


def test_key_cmd_interrupted_by_ctrl_c_is_ended_with_its_session(tmp_path: Path) -> None:
    """In its own session the terminal's SIGINT never reaches it: the caller must end it."""
    program, pid_file = hanging_program(tmp_path)
    pid = interrupt_once_started(pid_file, lambda: _cmd(tmp_path, str(program), timeout=60))
    assert process_gone(pid), "the key command outlived the interrupted run"
