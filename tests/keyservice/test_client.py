"""The key service client against the real `sops keyservice`: URIs, requests, failures.

The data key of a file real sops wrote is unwrapped by the server alone (no identity in this
process), wrapped by it for a recipient, and every failure (a dead socket, a stuck server, a
server without the key, a URI sops cannot dial, a missing grpc) becomes a reason naming the
URI or an error with its hint, never a hang or a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.errors import ExitCode
from secretsctl.keys.keyring import NoMatchingIdentityError, unwrap_data_key, wrap_data_key
from secretsctl.keys.sources import IdentitySet, load_identities
from secretsctl.keyservice import client
from secretsctl.keyservice.client import KeyServiceError, KeyServices, RemoteKeyService
from secretsctl.sops import codec
from secretsctl.sops.metadata import AgeKey, Metadata
from secretsctl.sops.stores import Format
from tests.conftest import Sops, make_age_key, sops_binary
from tests.keyservice_support import HungServer, Remote, remote, running_server

__all__ = ["remote"]

pytestmark = pytest.mark.interop

PLAIN = b"token: tk-4c1b-never-shown\n"


def sops_metadata(remote: Remote, folder: Path) -> Metadata:
    """The metadata of a file real sops encrypted to the server's key."""
    plain = folder / "plain.yaml"
    plain.write_bytes(PLAIN)
    done = Sops(sops_binary(), remote.key).run("encrypt", "--age", remote.key.recipient, str(plain))
    assert done.returncode == 0, done.stderr.decode()
    return codec.parse(done.stdout, Format.YAML).metadata


def only_remote(*uris: str, local: bool = False) -> IdentitySet:
    return IdentitySet((), (), ()).with_services(KeyServices(local, uris))


def local_key(remote: Remote) -> IdentitySet:
    return load_identities(use_environment=False, age_key_file=remote.key.key_file)


# --- URIs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "target"),
    [
        ("unix:///run/ks.sock", "unix:/run/ks.sock"),
        ("tcp://127.0.0.1:5000", "127.0.0.1:5000"),
        ("tcp://keys.example.org:5000", "keys.example.org:5000"),
        ("tcp://[::1]:5000", "[::1]:5000"),
        ("TCP://localhost:1/", "localhost:1"),
    ],
)
def test_the_uri_forms_sops_dials(uri: str, target: str) -> None:
    assert client.uri_problem(uri) is None
    assert client._target(uri) == target


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("127.0.0.1:5000", "malformed URI"),  # sops cannot parse it and skips it
        ("unix:/run/ks.sock", "malformed URI"),
        ("unix://host/run/ks.sock", "a unix URI is unix:///absolute/path/to.sock"),
        ("tcp://localhost", "a tcp URI is tcp://host:port"),
        ("tcp://localhost:0", "a tcp URI is tcp://host:port"),
        ("tcp://localhost:99999", "a tcp URI is tcp://host:port"),
        ("http://localhost:5000", "unsupported scheme 'http'"),
        ("tcp://a b:1", "malformed URI"),
    ],
)
def test_uris_sops_cannot_dial_are_named(uri: str, problem: str) -> None:
    found = client.uri_problem(uri)
    assert found is not None
    assert found.startswith(problem), found


@given(st.text(max_size=60))
def test_any_uri_text_is_either_dialled_or_has_a_reason(text: str) -> None:
    problem = client.uri_problem(text)
    service = RemoteKeyService(text)
    assert (problem is None) == (service._target is not None)


@given(
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    st.integers(min_value=1, max_value=65535),
    st.from_regex(r"(/[A-Za-z0-9._-]{1,8}){1,4}", fullmatch=True),
)
def test_every_host_port_and_absolute_path_is_a_target(host: str, port: int, path: str) -> None:
    assert client._target(f"tcp://{host}:{port}") == f"{host}:{port}"
    assert client._target(f"unix://{path}") == f"unix:{path}"


def test_sops_keyservice_reads_a_comma_separated_list_and_the_local_flag() -> None:
    from secretsctl.cli.sops_run import key_services

    assert key_services((), None, {}) is None
    assert key_services((), None, {"SOPS_KEYSERVICE": " a , ,b"}) == KeyServices(True, ("a", "b"))
    # urfave/cli appends the options' values to the variable's.
    assert key_services(("c",), None, {"SOPS_KEYSERVICE": "a"}) == KeyServices(True, ("a", "c"))
    for text, local in (("", False), ("false", False), ("0", False), ("T", True), ("1", True)):
        services = key_services((), None, {"SOPS_ENABLE_LOCAL_KEYSERVICE": text})
        assert (services or KeyServices()).local is local, text
    # The option wins over the variable, as a Go flag over its default.
    environ = {"SOPS_ENABLE_LOCAL_KEYSERVICE": "false"}
    assert key_services((), True, environ) is None


# --- the real server ----------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["unix", "tcp"])
def test_the_server_alone_unwraps_the_data_key(
    remote: Remote, tmp_path: Path, network: str
) -> None:
    metadata = sops_metadata(remote, tmp_path)
    uri = remote.unix if network == "unix" else remote.tcp
    by_server = unwrap_data_key(metadata, only_remote(uri), file="s.yaml")
    by_key = unwrap_data_key(metadata, local_key(remote), file="s.yaml")
    assert by_server.reveal() == by_key.reveal(), "the server gave another data key"


def test_the_server_wraps_for_a_recipient_in_sops_order(remote: Remote, tmp_path: Path) -> None:
    """A dead service first: its failure is skipped, the next one wraps (sops's order)."""
    data_key = os.urandom(32)
    services = KeyServices(False, (f"unix://{tmp_path}/dead.sock", remote.unix))
    (group,) = wrap_data_key(data_key, [[remote.key.recipient]], None, services=services)
    (entry,) = group.age
    assert entry.recipient == remote.key.recipient
    metadata = Metadata(key_groups=(group,), lastmodified="", mac="")
    opened = unwrap_data_key(metadata, local_key(remote), file="new.yaml")
    assert opened.reveal() == data_key, "the wrapped key does not open to the data key"


def test_a_dead_socket_is_a_reason_naming_the_uri(remote: Remote, tmp_path: Path) -> None:
    metadata = sops_metadata(remote, tmp_path)
    dead = f"unix://{tmp_path}/nobody-listens.sock"
    with pytest.raises(NoMatchingIdentityError) as caught:
        unwrap_data_key(metadata, only_remote(dead), file="s.yaml")
    message = caught.value.message
    assert f"    {dead}: Unavailable: " in message
    assert "local key service disabled" in message
    assert caught.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert caught.value.hint == f"no key service answered at {dead}: is `sops keyservice` running?"


def test_a_server_without_the_key_answers_an_error_that_is_named(
    remote: Remote, tmp_path: Path
) -> None:
    metadata = sops_metadata(remote, tmp_path)
    with (
        running_server(tmp_path / "empty", None) as keyless,
        pytest.raises(NoMatchingIdentityError) as caught,
    ):
        unwrap_data_key(metadata, only_remote(keyless), file="s.yaml")
    line = next(x for x in caught.value.message.splitlines() if keyless in x)
    assert line.startswith(f"    {keyless}: Unknown: "), line
    assert "age" in line


def test_a_local_key_opens_before_any_service_is_asked(remote: Remote, tmp_path: Path) -> None:
    """With the key here, a stuck service is never asked: nothing waits for its deadline."""
    metadata = sops_metadata(remote, tmp_path)
    stuck = HungServer(tmp_path / "stuck.sock")
    try:
        identities = local_key(remote).with_services(KeyServices(True, (stuck.uri,)))
        unwrap_data_key(metadata, identities, file="s.yaml")
        assert [s._stub for s in identities.remotes()] == [None], "the service was dialled"
    finally:
        stuck.close()


def test_a_stuck_server_ends_at_the_deadline_and_is_not_asked_again(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(client.TIMEOUT_ENV, "0.5")
    metadata = sops_metadata(remote, tmp_path)
    stuck = HungServer(tmp_path / "stuck.sock")
    try:
        identities = only_remote(stuck.uri, remote.unix)
        # The stuck one first: the deadline ends its request and the next service answers.
        unwrap_data_key(metadata, identities, file="s.yaml")
        (stuck_client, _) = identities.remotes()
        assert stuck_client.timeout == 0.5
        entry = metadata.key_groups[0].age[0]
        first = stuck_client.decrypt(entry)
        assert isinstance(first, str)
        assert first.startswith(f"{stuck.uri}: DeadlineExceeded")
    finally:
        stuck.close()


def test_the_timeout_variable_is_read_and_bad_values_fall_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for text, expected in (("2.5", 2.5), ("", 10.0), ("x", 10.0), ("-1", 10.0), ("0", 10.0)):
        monkeypatch.setenv(client.TIMEOUT_ENV, text)
        assert client.timeout() == expected, text


def test_a_uri_sops_cannot_dial_is_skipped_and_the_next_one_asked(
    remote: Remote, tmp_path: Path
) -> None:
    metadata = sops_metadata(remote, tmp_path)
    key = unwrap_data_key(metadata, only_remote("bogus", remote.unix), file="s.yaml")
    assert len(key.reveal()) == 32


def test_no_service_at_all_cannot_encrypt() -> None:
    recipient = make_age_key(Path(os.environ["HOME"])).recipient
    with pytest.raises(KeyServiceError) as caught:
        wrap_data_key(b"k" * 32, [[recipient]], None, services=KeyServices(False, ()))
    assert caught.value.exit_code == 1


def test_without_grpc_a_key_service_is_refused_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(KeyServiceError) as caught:
        client.remote_services(KeyServices(True, ("unix:///run/ks.sock",)))
    assert caught.value.exit_code == 1
    assert caught.value.hint is not None
    assert "pip install 'secretsctl[keyservice]'" in caught.value.hint


def test_a_wrong_size_from_a_server_is_a_malformed_key(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's answer is checked as a local one is: 32 bytes, or the file is malformed."""
    from secretsctl.keys.keyring import DataKeyError

    metadata = sops_metadata(remote, tmp_path)
    monkeypatch.setattr(RemoteKeyService, "decrypt", lambda self, entry: b"short")
    with pytest.raises(DataKeyError):
        unwrap_data_key(metadata, only_remote(remote.unix), file="s.yaml")


def test_reasons_hold_no_key_material(remote: Remote, tmp_path: Path) -> None:
    metadata = sops_metadata(remote, tmp_path)
    entry = metadata.key_groups[0].age[0]
    broken = AgeKey(entry.recipient, entry.enc.replace("A", "B", 5))
    reason = RemoteKeyService(remote.unix).decrypt(broken)
    assert isinstance(reason, str)
    assert reason.startswith(f"{remote.unix}: Unknown: ")
    assert "AGE-SECRET-KEY" not in reason.upper(), "key material in a reason"
    assert remote.key.identity.upper() not in reason.upper(), "the identity in a reason"


def test_shamir_groups_open_partly_here_and_partly_on_the_server(
    remote: Remote, tmp_path: Path
) -> None:
    """Two key groups, both needed: one opens with the key here, the other on the server."""
    here = make_age_key(tmp_path, "here.txt")
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{here.recipient}]\n      - age: [{remote.key.recipient}]\n"
    )
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(PLAIN)
    done = Sops(sops_binary(), here).run("encrypt", str(plain), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    metadata = codec.parse(done.stdout, Format.YAML).metadata
    assert len(metadata.key_groups) == 2
    mine = load_identities(use_environment=False, age_key_file=here.key_file)
    with pytest.raises(NoMatchingIdentityError):
        unwrap_data_key(metadata, mine, file="s.yaml")
    both = mine.with_services(KeyServices(True, (remote.unix,)))
    key = unwrap_data_key(metadata, both, file="s.yaml")
    (tmp_path / "both.txt").write_text(here.key_file.read_text() + remote.key.key_file.read_text())
    combined = load_identities(use_environment=False, age_key_file=tmp_path / "both.txt")
    assert key.reveal() == unwrap_data_key(metadata, combined, file="s.yaml").reveal(), (
        "the data key rebuilt with the server's share differs"
    )


def test_pgp_entries_go_to_the_server_as_sops_sends_them(tmp_path: Path) -> None:
    """A PGP-encrypted file opens through a server whose GnuPG home has the key."""
    from tests.pgp_support import new_home, remove_home

    home = new_home()
    try:
        fingerprint = home.generate("remote", "ed25519")
        plain = tmp_path / "plain.yaml"
        plain.write_bytes(PLAIN)
        done = Sops(sops_binary(), make_age_key(tmp_path)).run(
            "encrypt", "--pgp", fingerprint, str(plain), env=home.env
        )
        assert done.returncode == 0, done.stderr.decode()
        metadata = codec.parse(done.stdout, Format.YAML).metadata
        with running_server(tmp_path / "pgp-server", None, **home.env) as uri:
            key = unwrap_data_key(metadata, only_remote(uri), file="s.yaml")
            assert len(key.reveal()) == 32
            # And wrapping: the server encrypts to the fingerprint with its gpg.
            (group,) = wrap_data_key(
                key, [[fingerprint]], None, services=KeyServices(False, (uri,))
            )
            again = unwrap_data_key(
                Metadata(key_groups=(group,), lastmodified="", mac=""),
                only_remote(uri),
                file="new.yaml",
            )
        assert again.reveal() == key.reveal(), "the server's PGP entry opens to another key"
    finally:
        remove_home(home)
