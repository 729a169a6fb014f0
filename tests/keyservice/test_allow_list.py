"""The unix socket's allow-list: peer credentials decide, the socket's mode lets them ask.

Clients run as users made by the test (setpriv), so this runs as root (CI does).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.activate_support import Users, require_root
from tests.conftest import AgeKey
from tests.keyservice_support import PLAIN_YAML, SopsClient, identities_of, running
from tests.leds.secrets_support import same_secret

pytestmark = [pytest.mark.interop, pytest.mark.privileged]


@pytest.fixture
def encrypted(client: SopsClient, server_key: AgeKey, socket_dir: Path) -> Path:
    """A sops file for ``server_key`` that every user may read, encrypted with sops's own key."""
    from tests.conftest import Sops, sops_binary

    plain = socket_dir / "plain.yaml"
    plain.write_bytes(PLAIN_YAML)
    done = Sops(sops_binary(), server_key).run("encrypt", "--age", server_key.recipient, str(plain))
    assert done.returncode == 0, done.stderr.decode()
    target = socket_dir / "secrets.yaml"
    target.write_bytes(done.stdout)
    target.chmod(0o644)
    return target


def test_an_allowed_uid_is_served_and_another_is_refused(
    users: Users, client: SopsClient, server_key: AgeKey, socket_dir: Path, encrypted: Path
) -> None:
    require_root()
    address = str(socket_dir / "ks.sock")
    uri = f"unix://{address}"
    home = {"HOME": str(socket_dir)}
    identities = identities_of(server_key)
    with running("unix", address, identities, allow_uids=[users.alice_uid]) as (_, lines):
        # Another uid is allowed: the file mode lets everyone ask, the credentials decide.
        assert stat.S_IMODE(os.stat(address).st_mode) == 0o666
        alice = client(
            "decrypt", uri, str(encrypted), env=home, user=(users.alice_uid, users.alice_gid)
        )
        bob = client("decrypt", uri, str(encrypted), env=home, user=(users.bob_uid, users.bob_gid))
    assert alice.returncode == 0, alice.stderr.decode()
    same_secret(alice.stdout, PLAIN_YAML, "alice's decryption")
    assert bob.returncode == 128, bob.stderr.decode()
    assert b"hunter2" not in bob.stdout + bob.stderr, "bob saw a value"
    refused = [line for line in lines if line.endswith("refused: not on the allow-list")]
    assert refused, lines
    assert all(line.startswith(f"uid={users.bob_uid} ") for line in refused), lines
    served = [line for line in lines if line.startswith(f"uid={users.alice_uid} ")]
    assert served, lines
    assert all(line.endswith(": ok") for line in served), lines
    assert not any(line.startswith(f"uid={users.bob_uid} ") and "ok" in line for line in lines)


def test_an_allowed_group_gets_a_0660_socket_of_that_group(
    users: Users, client: SopsClient, server_key: AgeKey, socket_dir: Path, encrypted: Path
) -> None:
    require_root()
    address = str(socket_dir / "ks.sock")
    uri = f"unix://{address}"
    home = {"HOME": str(socket_dir)}
    identities = identities_of(server_key)
    with running("unix", address, identities, allow_gids=[users.alice_gid]) as (_, lines):
        info = os.stat(address)
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o660, users.alice_gid)
        alice = client(
            "decrypt", uri, str(encrypted), env=home, user=(users.alice_uid, users.alice_gid)
        )
        # bob is outside the group: the socket's mode already keeps him out (EACCES).
        bob = client("decrypt", uri, str(encrypted), env=home, user=(users.bob_uid, users.bob_gid))
    assert alice.returncode == 0, alice.stderr.decode()
    same_secret(alice.stdout, PLAIN_YAML, "alice's decryption")
    assert bob.returncode == 128, bob.stderr.decode()
    assert not any(line.startswith(f"uid={users.bob_uid} ") for line in lines), lines


def test_by_default_only_the_servers_uid_and_root(
    users: Users, client: SopsClient, server_key: AgeKey, socket_dir: Path, encrypted: Path
) -> None:
    require_root()
    address = str(socket_dir / "ks.sock")
    with running("unix", address, identities_of(server_key)) as (server, _):
        assert stat.S_IMODE(os.stat(address).st_mode) == 0o600
        assert server.allow_uids == {0, os.geteuid()}
        alice = client(
            "decrypt",
            f"unix://{address}",
            str(encrypted),
            env={"HOME": str(socket_dir)},
            user=(users.alice_uid, users.alice_gid),
        )
    assert alice.returncode == 128, alice.stderr.decode()
