"""age plugins through the keyring, with the test plugin (a real executable) on PATH.

The plugin speaks the age plugin protocol; its fault modes (AGE_PLUGIN_TESTKEY_MODE) make it
crash, answer garbage, hang, ask for a PIN, and so on. Every fault is one short reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyrage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secretsctl.errors import ExitCode
from secretsctl.keys.keyring import (
    DataKeyError,
    NoMatchingIdentityError,
    RecipientError,
    unwrap_data_key,
    wrap_data_key,
)
from secretsctl.keys.kinds import KeySourceError, kind_named, parse_recipient
from secretsctl.keys.kinds import plugin as plugin_kind
from secretsctl.keys.sources import load_identities
from secretsctl.keys.ssh_to_age import bech32_encode
from secretsctl.redact import Secret
from secretsctl.sops.metadata import KeyGroup, Metadata
from tests.keys_support import assert_not_leaked
from tests.plugin_support import (
    MODE,
    PluginKey,
    path_without_plugin,
    runs,
)

pytestmark = pytest.mark.usefixtures("plugin_on_path")


def metadata(*groups: KeyGroup, threshold: int = 0) -> Metadata:
    return Metadata(
        key_groups=groups, lastmodified="2026-01-01T00:00:00Z", mac="", shamir_threshold=threshold
    )


def x25519_key() -> tuple[str, str]:
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def unwrap(meta: Metadata, *lines: str) -> Secret[bytes]:
    return unwrap_data_key(
        meta, load_identities(environ={"SOPS_AGE_KEY": "\n".join(lines)}), file="f"
    )


def plugin_file(recipient: str, data_key: bytes) -> Metadata:
    return metadata(*wrap_data_key(data_key, [[recipient]], None))


# --- parsing ------------------------------------------------------------------------------------


def test_recipients_and_identities_parse(plugin_key: PluginKey) -> None:
    parsed = parse_recipient(plugin_key.recipient)
    assert (parsed.kind, parsed.text, parsed.parsed) == ("plugin", plugin_key.recipient, "testkey")
    (loaded,) = kind_named("plugin").parse_identity(plugin_key.identity.encode(), "here")
    assert (loaded.kind, loaded.recipient, loaded.location) == ("plugin", None, "here")
    assert_not_leaked(repr(loaded) + loaded.describe(), plugin_key.identity)


@pytest.mark.parametrize(
    "line",
    [
        b"AGE-PLUGIN-YUBIKEY-1QQQQQQ",  # bad checksum
        b"AGE-PLUGIN--1" + b"Q" * 60,
        b"age-plugin-yubikey-1qqqqqq",
        b"AGE-PLUGIN-\xff-1QQQQQQ",
    ],
)
def test_malformed_identities(line: bytes) -> None:
    with pytest.raises(KeySourceError, match=r"^malformed AGE-PLUGIN identity$"):
        plugin_kind.parse_identity(line, "here")


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-._", min_size=1, max_size=20)


@given(name=names.filter(lambda n: "1" not in n), data=st.binary(max_size=80))
def test_recipient_and_identity_round_trip(name: str, data: bytes) -> None:
    recipient = bech32_encode(f"age1{name}", data)
    assert parse_recipient(recipient).parsed == name
    identity = bech32_encode(f"age-plugin-{name}-", data).upper()
    (loaded,) = plugin_kind.parse_identity(identity.encode(), "here")
    assert loaded.identity.reveal() == (name, identity)


@settings(max_examples=300)
@given(text=st.text(max_size=120))
def test_recipient_parser_raises_only_recipient_errors(text: str) -> None:
    try:
        plugin_kind.parse_recipient("age1x1" + text)
    except RecipientError as error:
        message = error.message
    else:
        return
    assert "malformed age plugin recipient" in message


@settings(max_examples=300)
@given(data=st.binary(max_size=120))
def test_identity_parser_raises_only_key_source_errors(data: bytes) -> None:
    try:
        plugin_kind.parse_identity(b"AGE-PLUGIN-" + data, "here")
    except KeySourceError as error:
        message = error.message
    else:
        return
    assert message == "malformed AGE-PLUGIN identity"


# --- wrapping and unwrapping with the real plugin ---------------------------------------------


def test_wrap_and_unwrap_through_the_plugin(plugin_key: PluginKey, plugin_log: Path) -> None:
    data_key = os.urandom(32)
    meta = plugin_file(plugin_key.recipient, data_key)
    (entry,) = meta.key_groups[0].age
    assert entry.recipient == plugin_key.recipient
    assert entry.enc.startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert unwrap(meta, plugin_key.identity) == Secret(data_key)
    assert runs(plugin_log) == ["recipient-v1", "identity-v1"]


def test_an_x25519_file_never_starts_a_plugin(plugin_key: PluginKey, plugin_log: Path) -> None:
    identity, recipient = x25519_key()
    _, other = x25519_key()
    data_key = os.urandom(32)
    meta = metadata(*wrap_data_key(data_key, [[other, recipient]], None))
    # The plugin identity comes first and the matching X25519 key last.
    assert unwrap(meta, plugin_key.identity, identity) == Secret(data_key)
    with pytest.raises(NoMatchingIdentityError):
        unwrap(meta, plugin_key.identity)
    assert runs(plugin_log) == []


def test_the_wrong_plugin_key_is_no_match(tmp_path: Path, plugin_key: PluginKey) -> None:
    from tests.plugin_support import make_plugin_key

    other = make_plugin_key(tmp_path, "other.txt")
    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap(meta, other.identity)
    assert f"  {plugin_key.recipient}: no identity matched" in str(info.value).splitlines()
    assert "stanzas: testkey" in str(info.value)
    assert "identities tried: 1 plugin" in str(info.value)


def test_mixed_recipients_open_with_either_key(plugin_key: PluginKey, plugin_log: Path) -> None:
    identity, recipient = x25519_key()
    data_key = os.urandom(32)
    meta = metadata(*wrap_data_key(data_key, [[recipient, plugin_key.recipient]], None))
    assert unwrap(meta, identity) == Secret(data_key)
    assert unwrap(meta, plugin_key.identity) == Secret(data_key)
    assert runs(plugin_log) == ["recipient-v1", "identity-v1"]


def test_shamir_with_a_plugin_group(tmp_path: Path, plugin_key: PluginKey) -> None:
    keys = [x25519_key() for _ in range(2)]
    data_key = os.urandom(32)
    groups = [[keys[0][1]], [plugin_key.recipient], [keys[1][1]]]
    meta = metadata(*wrap_data_key(data_key, groups, 2), threshold=2)
    assert unwrap(meta, keys[0][0], plugin_key.identity) == Secret(data_key)
    assert unwrap(meta, plugin_key.identity, keys[1][0]) == Secret(data_key)
    assert unwrap(meta, keys[0][0], keys[1][0]) == Secret(data_key)
    with pytest.raises(NoMatchingIdentityError, match="1 of 2 required key groups opened"):
        unwrap(meta, plugin_key.identity)


def test_plugin_stanza_without_payload_bytes_is_malformed(plugin_key: PluginKey) -> None:
    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    (entry,) = meta.key_groups[0].age
    lines = entry.enc.splitlines()
    broken = "\n".join([*lines[:2], lines[-1]]) + "\n"
    result = plugin_kind.unwrap(entry._replace(enc=broken), [])
    assert isinstance(result, str)
    assert result.startswith("malformed age data (")


# --- faults: each a short reason, never a traceback -------------------------------------------


def fails_with(meta: Metadata, identity: str) -> NoMatchingIdentityError:
    with pytest.raises(NoMatchingIdentityError) as info:
        unwrap(meta, identity)
    assert info.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY
    return info.value


def test_missing_plugin(plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    monkeypatch.setenv("PATH", path_without_plugin())
    error = fails_with(meta, plugin_key.identity)
    lines = str(error).splitlines()
    assert f"  {plugin_key.recipient}: age-plugin-testkey not found on PATH" in lines
    assert error.hint is not None
    assert error.hint.startswith("install age-plugin-testkey and put its directory on PATH")
    assert_not_leaked(str(error) + error.hint, plugin_key.identity)


def test_missing_plugin_does_not_stop_another_key(
    plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, recipient = x25519_key()
    data_key = os.urandom(32)
    meta = metadata(*wrap_data_key(data_key, [[plugin_key.recipient, recipient]], None))
    monkeypatch.setenv("PATH", path_without_plugin())
    assert unwrap(meta, plugin_key.identity, identity) == Secret(data_key)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("crash", "age-plugin-testkey exited with status 3"),
        ("garbage", "age-plugin-testkey answered with malformed data ("),
        (
            "secret",
            'age-plugin-testkey asked for a secret ("Enter the PIN of the test key");'
            " secretsctl never prompts",
        ),
        (
            "confirm",
            'age-plugin-testkey asked for a confirmation ("Is the test key plugged in?");'
            " secretsctl never prompts",
        ),
        ("error", "age-plugin-testkey: the test key is unplugged"),
        ("wrong-key", "age-plugin-testkey returned a file key that does not open the entry"),
    ],
)
def test_misbehaving_plugin_is_one_reason(
    mode: str, reason: str, plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_key = os.urandom(32)
    meta = plugin_file(plugin_key.recipient, data_key)
    monkeypatch.setenv(MODE, mode)
    error = fails_with(meta, plugin_key.identity)
    (line,) = [
        line for line in str(error).splitlines() if line.startswith(f"  {plugin_key.recipient}")
    ]
    assert line.startswith(f"  {plugin_key.recipient}: {reason}")
    if mode in ("secret", "confirm"):
        assert error.hint is not None
        assert error.hint.startswith("set the plugin's key up to need no PIN or confirmation")
    assert_not_leaked(str(error) + repr(error) + (error.hint or ""), plugin_key.identity, data_key)


def test_a_message_is_shown_and_decryption_goes_on(
    plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_key = os.urandom(32)
    meta = plugin_file(plugin_key.recipient, data_key)
    monkeypatch.setenv(MODE, "msg")
    capsys.readouterr()
    assert unwrap(meta, plugin_key.identity) == Secret(data_key)
    assert capsys.readouterr().err == "secretsctl: age-plugin-testkey: Touch the test key\n"


def test_a_hanging_plugin_is_killed_with_its_children(
    plugin_key: PluginKey, plugin_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    monkeypatch.setenv(MODE, "hang")
    monkeypatch.setenv(plugin_kind.TIMEOUT_ENV, "1")
    error = fails_with(meta, plugin_key.identity)
    assert (
        f"  {plugin_key.recipient}: age-plugin-testkey did not finish within 1 s"
        f" (the hang guard; {plugin_kind.TIMEOUT_ENV} sets it)" in str(error).splitlines()
    )
    (child,) = [int(line.split()[1]) for line in runs(plugin_log) if line.startswith("child ")]
    assert _gone(child), "the plugin's child outlived the hang guard"


def test_a_helper_holding_the_pipes_cannot_outlast_the_hang_guard(
    plugin_key: PluginKey, plugin_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    monkeypatch.setenv(MODE, "escape")
    monkeypatch.setenv(plugin_kind.TIMEOUT_ENV, "1")
    try:
        error = fails_with(meta, plugin_key.identity)
    finally:
        for line in runs(plugin_log):
            if line.startswith("child "):
                os.kill(int(line.split()[1]), signal.SIGKILL)
    assert "age-plugin-testkey did not finish within 1 s" in str(error)


def _gone(pid: int) -> bool:
    # A hang guard, not a timing: the child is killed at once, reaping may take a moment.
    for _ in range(100):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in "ZX":
            return True
        time.sleep(0.05)
    return False


# --- encrypting: a failing plugin is a RecipientError (exit 1) --------------------------------


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("crash", "age-plugin-testkey exited with status 3"),
        ("garbage", "age-plugin-testkey answered with malformed data ("),
        ("error", "age-plugin-testkey: the test key is unplugged"),
        ("secret", "age-plugin-testkey asked for a secret"),
    ],
)
def test_encrypting_through_a_misbehaving_plugin(
    mode: str, reason: str, plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE, mode)
    with pytest.raises(RecipientError) as info:
        wrap_data_key(os.urandom(32), [[plugin_key.recipient]], None)
    assert info.value.exit_code == ExitCode.GENERIC
    assert info.value.message.startswith(f"cannot encrypt to `{plugin_key.recipient}`: {reason}")


def test_encrypting_with_the_plugin_missing(
    plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_without_plugin())
    with pytest.raises(RecipientError) as info:
        wrap_data_key(os.urandom(32), [[plugin_key.recipient]], None)
    assert info.value.message.endswith(": age-plugin-testkey not found on PATH")
    assert info.value.hint is not None
    assert "install age-plugin-testkey" in info.value.hint


def test_encrypting_through_a_hanging_plugin(
    plugin_key: PluginKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE, "hang")
    monkeypatch.setenv(plugin_kind.TIMEOUT_ENV, "1")
    with pytest.raises(RecipientError, match="did not finish within 1 s"):
        wrap_data_key(os.urandom(32), [[plugin_key.recipient]], None)


def test_a_plugin_entry_of_the_wrong_size_is_a_data_key_error(plugin_key: PluginKey) -> None:
    meta = plugin_file(plugin_key.recipient, os.urandom(32))
    small = metadata(
        KeyGroup(
            age=(plugin_kind.wrap(os.urandom(7), parse_recipient(plugin_key.recipient)),),
        )
    )
    assert len(meta.key_groups[0].age) == 1
    with pytest.raises(DataKeyError, match="holds 7 bytes instead of 32"):
        unwrap(small, plugin_key.identity)


# --- the X25519 boot path -------------------------------------------------------------------------


@pytest.mark.parametrize("with_plugin_identity", [False, True])
def test_the_x25519_path_imports_and_starts_nothing_of_plugins(
    with_plugin_identity: bool, plugin_key: PluginKey, plugin_log: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import SOPS_NIX_VECTORS

    keys = tmp_path / "keys.txt"
    lines = (SOPS_NIX_VECTORS / "age-keys.txt").read_text()
    keys.write_text(f"{plugin_key.identity}\n{lines}" if with_plugin_identity else lines)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from secretsctl.api import decrypt_file\n"
        "from secretsctl.keys.sources import load_identities\n"
        f"ids = load_identities(use_environment=False, age_key_file={str(keys)!r})\n"
        f"decrypt_file(Path({str(SOPS_NIX_VECTORS / 'secrets.yaml')!r}), ids)\n"
        "print(sorted(m for m in sys.modules if m.startswith('secretsctl.keys.kinds.')))\n"
        "print(sorted(m for m in ('shutil', 'subprocess') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # A plugin identity in the key file loads the plugin kind to parse it, nothing more.
    kinds = ["secretsctl.keys.kinds._pyrage", "secretsctl.keys.kinds.x25519"]
    if with_plugin_identity:
        kinds.insert(1, "secretsctl.keys.kinds.plugin")
    assert out == [str(kinds), "[]"]
    assert runs(plugin_log) == []


# --- whatever a plugin writes: a reason or a key, never an exception ---------------------------

ECHO_PLUGIN = '#!/bin/sh\ncat "$AGE_PLUGIN_ECHO_OUTPUT"\nexec cat >/dev/null\n'
words = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
commands = st.one_of(
    st.tuples(
        st.sampled_from(
            (
                *("msg", "confirm", "request-secret", "request-public", "error", "file-key"),
                *("recipient-stanza", "done", "ok", "labels"),
            )
        ),
        st.lists(st.one_of(st.just("0"), words), max_size=3),
        st.binary(max_size=40),
    ).map(lambda c: plugin_stanza(*c)),
    st.binary(max_size=80),
)


def plugin_stanza(command: str, args: list[str], body: bytes) -> bytes:
    from secretsctl.keys.ageformat import Stanza, encode_stanza

    return encode_stanza(Stanza(command, tuple(args), body))


@pytest.fixture(scope="module")
def echo_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("echo-plugin")
    script = folder / "age-plugin-echo"
    script.write_text(ECHO_PLUGIN)
    script.chmod(0o755)
    return folder


@settings(max_examples=40, deadline=None)
@given(output=st.lists(commands, max_size=6).map(b"".join))
def test_any_plugin_output_is_a_reason_or_a_key(
    output: bytes, echo_plugin: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from secretsctl.keys import ageformat
    from secretsctl.keys.ageformat import Stanza
    from secretsctl.sops.metadata import AgeKey

    written = tmp_path_factory.mktemp("output") / "out"
    written.write_bytes(output)
    data_key = os.urandom(32)
    entry = AgeKey(
        "age1echo1qqqqqqqq",
        ageformat.armour(ageformat.encrypt(data_key, lambda _: [Stanza("echo", (), b"x")])),
    )
    identity = bech32_encode("age-plugin-echo-", b"id").upper()
    (loaded,) = plugin_kind.parse_identity(identity.encode(), "here")
    recipient = parse_recipient(bech32_encode("age1echo", b"r"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{echo_plugin}{os.pathsep}{os.environ['PATH']}")
        patch.setenv("AGE_PLUGIN_ECHO_OUTPUT", str(written))
        patch.setenv(plugin_kind.TIMEOUT_ENV, "5")
        result = plugin_kind.unwrap(entry, [loaded])
        assert isinstance(result, str)
        assert len(result) < 300
        try:
            made = plugin_kind.wrap(data_key, recipient)
        except RecipientError as error:
            message = error.message
        else:
            message = ""
            assert made.recipient == recipient.text
        assert len(message) < 400
