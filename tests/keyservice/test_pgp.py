"""PGP through the key service: the server's GnuPG home holds the key, the client has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretsctl.keys.sources import load_identities
from tests.keyservice_support import PLAIN_YAML, VALUES, SopsClient, running
from tests.leds.secrets_support import same_secret
from tests.pgp_support import GnupgHome, require_gpg

pytestmark = pytest.mark.interop


def test_sops_encrypts_and_decrypts_pgp_through_the_server(
    session_gnupg: GnupgHome,
    client: SopsClient,
    socket_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_gpg()
    # The server's gpg: encrypting uses its GnuPG home, decrypting the loaded identity's.
    monkeypatch.setenv("GNUPGHOME", str(session_gnupg.path))
    fp = session_gnupg.keys["ed"]
    identities = load_identities(use_environment=False, gnupg_home=session_gnupg.path)
    address = str(socket_dir / "ks.sock")
    uri = f"unix://{address}"
    plain = socket_dir / "plain.yaml"
    plain.write_bytes(PLAIN_YAML)
    with running("unix", address, identities) as (_, lines):
        encrypted = client("encrypt", uri, "--pgp", fp, str(plain))
        assert encrypted.returncode == 0, encrypted.stderr.decode()
        assert b"-----BEGIN PGP MESSAGE-----" in encrypted.stdout
        target = socket_dir / "secrets.yaml"
        target.write_bytes(encrypted.stdout)
        decrypted = client("decrypt", uri, str(target))
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    same_secret(decrypted.stdout, PLAIN_YAML, "the decrypted file")
    requests = [line for line in lines if f" pgp {fp}: " in line]
    assert [line.split()[3] for line in requests] == ["encrypt", "decrypt"], lines
    assert all(line.endswith(": ok") for line in requests), lines
    assert lines[0] == "1 identity loaded: 1 pgp", lines
    text = "\n".join(lines).encode()
    for value in VALUES:
        assert value not in text, "a value reached the log"
