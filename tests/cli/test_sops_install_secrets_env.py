"""`sops-install-secrets`: keys from the environment, age-keys.txt, links inside /run/secrets,
and signals, each as sops-nix's Go binary behaves.

Same harness as test_sops_install_secrets: the console script in a subprocess, as root, in a
private mount namespace with a fresh tmpfs on /run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from secretsctl.keys.ssh_to_age import ssh_private_key_to_age_identity
from tests.activate_support import Users, nix_secret, nix_template
from tests.cli.test_sops_install_secrets import (
    LIVE,
    PROGRAM,
    in_fresh_run,
    installer,
    nix_manifest,
    no_value,
    run,
)
from tests.conftest import SOPS_NIX_VECTORS
from tests.keys_support import hanging_program, process_gone
from tests.leds.secrets_support import same_secret

AGE_KEYS = SOPS_NIX_VECTORS / "age-keys.txt"


def no_key_manifest(folder: Path, **top: object) -> Path:
    """A manifest naming no key at all: only the environment can open the vectors."""
    return nix_manifest(folder, [nix_secret("test_key", "test_key")], [], ageKeyFile=None, **top)


def installs_with(folder: Path, manifest: Path, **env: str) -> None:
    cli = installer(folder, **env)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "not installed")
        no_value(cli)

    in_fresh_run(body)


def test_sops_age_key_alone_opens_the_files(tmp_path: Path) -> None:
    installs_with(tmp_path, no_key_manifest(tmp_path), SOPS_AGE_KEY=AGE_KEYS.read_text())


def test_sops_age_key_file_alone_opens_the_files(tmp_path: Path) -> None:
    installs_with(tmp_path, no_key_manifest(tmp_path), SOPS_AGE_KEY_FILE=str(AGE_KEYS))


def test_sops_age_key_cmd_alone_opens_the_files(tmp_path: Path) -> None:
    installs_with(
        tmp_path, no_key_manifest(tmp_path), SOPS_AGE_KEY_CMD=f"cat {shlex.quote(str(AGE_KEYS))}"
    )


def test_xdg_keys_txt_opens_the_files(tmp_path: Path) -> None:
    config = tmp_path / "xdg"
    (config / "sops/age").mkdir(parents=True)
    (config / "sops/age/keys.txt").write_bytes(AGE_KEYS.read_bytes())
    installs_with(tmp_path, no_key_manifest(tmp_path), XDG_CONFIG_HOME=str(config))


def test_a_broken_source_does_not_block_the_others(tmp_path: Path) -> None:
    """As sops: a failing SOPS_AGE_KEY_CMD and a missing SOPS_AGE_SSH_PRIVATE_KEY_FILE."""
    manifest = no_key_manifest(tmp_path)
    cli = installer(
        tmp_path,
        SOPS_AGE_KEY_CMD="false",
        SOPS_AGE_SSH_PRIVATE_KEY_FILE=str(tmp_path / "missing"),
        SOPS_AGE_KEY=AGE_KEYS.read_text(),
    )

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "not installed")
        assert "SOPS_AGE_KEY_CMD" in done.stderr
        no_value(cli)

    in_fresh_run(body)


def test_manifest_age_keys_hide_the_environments_key_file(tmp_path: Path) -> None:
    """sops-nix sets SOPS_AGE_KEY_FILE to its age-keys.txt when the manifest names age keys."""
    manifest = no_key_manifest(tmp_path, ageSshKeyPaths=[str(tmp_path / "no-such-ssh-key")])
    cli = installer(tmp_path, SOPS_AGE_KEY_FILE=str(AGE_KEYS))

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 1, done.stderr
        assert not LIVE.exists()
        # SOPS_AGE_KEY still counts: sops-nix leaves it alone.
        again = installer(tmp_path, SOPS_AGE_KEY=AGE_KEYS.read_text())
        done = run(again, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "not installed")

    in_fresh_run(body)


def test_no_key_anywhere_fails_with_exit_1(tmp_path: Path) -> None:
    manifest = no_key_manifest(tmp_path)
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("secretsctl: error: "), done.stderr
        assert not LIVE.exists()
        assert not os.path.exists("/run/secrets.d/1")

    in_fresh_run(body)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_process_by_that_signal_and_keeps_the_live_generation(
    signum: int, tmp_path: Path
) -> None:
    """Go's default handling: the process dies by SIGINT or SIGTERM, not with an exit status."""
    key_cmd, marker = hanging_program(tmp_path)
    first = no_key_manifest(tmp_path)
    second = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key"), nix_secret("other", "test_key")],
        [],
        ageKeyFile=None,
    )
    cli = installer(tmp_path, SOPS_AGE_KEY=AGE_KEYS.read_text())
    slow = installer(tmp_path, SOPS_AGE_KEY_CMD=str(key_cmd))

    def body() -> None:
        done = run(cli, str(first))
        assert done.returncode == 0, done.stderr
        process = subprocess.Popen(
            [PROGRAM, str(second)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=slow.env,
        )
        try:
            for _ in range(600):  # a hang guard, not a timing
                if marker.exists() and marker.read_text().strip():
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the key command never started")
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
            key_cmd_pid = int(marker.read_text())
            if signum == signal.SIGINT:
                # Its own session is out of the terminal's reach: the run must end it.
                assert process_gone(key_cmd_pid), "the key command survived"
        finally:
            if process.poll() is None:
                process.kill()
            if marker.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(marker.read_text()), signal.SIGKILL)
        assert process.returncode == -signum, stderr.decode()
        assert os.readlink(LIVE) == "/run/secrets.d/1"
        assert sorted(os.listdir("/run/secrets.d")) == ["1"]
        assert sorted(os.listdir(LIVE)) == ["test_key"]

    in_fresh_run(body)


HEADER = re.compile(
    rb"# generated by sops-nix at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n"
)
KEY_FILE = Path("/run/secrets.d/age-keys.txt")


def expected_key_file_body(ssh_keys: list[Path], age_key_file: Path | None) -> bytes:
    """What sops-nix appends after its header: converted SSH keys, then the key file + "\\n"."""
    body = b"".join(
        ssh_private_key_to_age_identity(p.read_bytes()).reveal().encode() + b"\n" for p in ssh_keys
    )
    return body + (age_key_file.read_bytes() + b"\n" if age_key_file is not None else b"")


def split_header(data: bytes) -> bytes:
    match = HEADER.match(data)
    assert match is not None, "no sops-nix header line"
    return data[match.end() :]


def test_age_keys_txt_as_sops_nix_writes_it(tmp_path: Path) -> None:
    """TestAgeWithSSH and the sops-age-ssh-keys VM test: SSH keys converted, then ageKeyFile."""
    ssh_key = SOPS_NIX_VECTORS / "ssh-ed25519-key"
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        # An RSA key does not convert and a missing one cannot be read: both skipped.
        ageSshKeyPaths=[str(ssh_key), str(SOPS_NIX_VECTORS / "ssh-key"), str(tmp_path / "no")],
        keepGenerations=1,
    )
    cli = installer(tmp_path)

    def body() -> None:
        os.umask(0o077)
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        data = KEY_FILE.read_bytes()
        same_secret(split_header(data), expected_key_file_body([ssh_key], AGE_KEYS), "key file")
        info = KEY_FILE.lstat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
        assert stat.S_ISREG(info.st_mode)
        # Rewritten on every run; pruning leaves it (not a generation).
        KEY_FILE.write_bytes(b"stale\n")
        again = run(cli, str(manifest))
        assert again.returncode == 0, again.stderr
        same_secret(
            split_header(KEY_FILE.read_bytes()),
            expected_key_file_body([ssh_key], AGE_KEYS),
            "key file",
        )
        assert sorted(os.listdir("/run/secrets.d")) == ["2", "age-keys.txt"]
        assert not [n for n in os.listdir("/run/secrets.d") if n.startswith(".")], "a leftover"
        no_value(cli)

    in_fresh_run(body)


def test_age_keys_txt_with_ssh_keys_only(tmp_path: Path) -> None:
    ssh_key = SOPS_NIX_VECTORS / "ssh-ed25519-key"
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        ageKeyFile=None,
        ageSshKeyPaths=[str(ssh_key)],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret(
            split_header(KEY_FILE.read_bytes()), expected_key_file_body([ssh_key], None), "key file"
        )

    in_fresh_run(body)


def test_no_age_keys_txt_without_manifest_age_keys_or_in_check_and_dry_runs(
    tmp_path: Path,
) -> None:
    """Only ageKeyFile or ageSshKeyPaths make it; check modes stop before it; dry runs write
    nothing here (sops-nix's dry activation does write it: a documented difference)."""
    plain = no_key_manifest(tmp_path)
    named = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [])
    cli = installer(tmp_path, SOPS_AGE_KEY=AGE_KEYS.read_text())
    dry = installer(tmp_path, NIXOS_ACTION="dry-activate")

    def body() -> None:
        for args in (["-check-mode=manifest", str(named)], ["-check-mode=sopsfile", str(named)]):
            done = run(cli, *args)
            assert done.returncode == 0, done.stderr
        done = run(dry, str(named))
        assert done.returncode == 0, done.stderr
        assert not KEY_FILE.exists()
        done = run(cli, str(plain))
        assert done.returncode == 0, done.stderr
        assert not KEY_FILE.exists()

    in_fresh_run(body)


def test_a_path_inside_the_symlink_path_is_linked_in_the_generation(
    users: Users, tmp_path: Path
) -> None:
    """sops-nix links such a path through /run/secrets after the switch, so the link lives in
    the new generation and points at /run/secrets/<name>; here it is written with it."""
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key", path="/run/secrets/aliases/key", owner=users.alice),
            nix_secret("plain", "test_key"),
        ],
        [nix_template("tpl", "x", path="/run/secrets/tpl-link")],
    )
    cli = installer(tmp_path)

    def body() -> None:
        for generation in (1, 2):
            done = run(cli, str(manifest))
            assert done.returncode == 0, done.stderr
            assert done.stdout == "", "nothing changed: no change log"
            assert os.readlink(LIVE / "aliases/key") == "/run/secrets/test_key"
            assert os.readlink(LIVE / "tpl-link") == "/run/secrets/rendered/tpl"
            assert os.path.realpath(LIVE / "aliases/key") == f"/run/secrets.d/{generation}/test_key"
            assert (LIVE / "aliases/key").lstat().st_uid == users.alice_uid
            same_secret((LIVE / "aliases/key").read_bytes(), b"test_value", "not linked")
        assert os.listdir("/run/secrets.d/2/aliases") == ["key"]
        no_value(cli)

    in_fresh_run(body)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/run/secrets.d", "where the secrets' own folders or files go"),
        ("/run/secrets.d/1/key", "where the secrets' own folders or files go"),
        ("/run/secrets.d/7", "where the secrets' own folders or files go"),
        ("/run/secrets.d/age-keys.txt", "where the secrets' own folders or files go"),
        ("/run/secrets.d/.hidden/key", "where the secrets' own folders or files go"),
        ("/run/secrets", "where the secrets' own folders or files go"),
        ("/run/secrets/plain", "in the way of secret 'plain'"),
        ("/run/secrets/nested", "in the way of"),
    ],
)
def test_a_path_that_cannot_be_a_link_in_the_generation_is_refused(
    path: str, message: str, tmp_path: Path
) -> None:
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key", path=path),
            nix_secret("plain", "test_key"),
            nix_secret("nested/file", "test_key"),
        ],
        [],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 1
        assert message in done.stderr, done.stderr
        assert not LIVE.exists()

    in_fresh_run(body)


def test_a_path_in_the_mount_point_gets_its_link_as_sops_nix(tmp_path: Path) -> None:
    """main_test.go links secrets.d/test2: a name that is no generation nor work file is fine."""
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key", path="/run/secrets.d/aliases/key")],
        [],
        keepGenerations=1,
    )
    cli = installer(tmp_path)

    def body() -> None:
        for _ in range(2):
            done = run(cli, str(manifest))
            assert done.returncode == 0, done.stderr
        assert os.readlink("/run/secrets.d/aliases/key") == "/run/secrets/test_key"
        same_secret(Path("/run/secrets.d/aliases/key").read_bytes(), b"test_value", "not linked")
        kept = sorted(set(os.listdir("/run/secrets.d")) - {"age-keys.txt"})
        assert kept == ["2", "aliases"], "pruning kept the link"
        no_value(cli)

    in_fresh_run(body)


def test_rollback_keeps_a_link_inside_the_symlink_path(tmp_path: Path) -> None:
    """Such a link is part of its generation: rollback neither refuses nor drops it."""
    first = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key", path="/run/secrets/alias")],
        [],
        keepGenerations=0,
    )
    cli = installer(tmp_path)

    def body() -> None:
        for _ in range(2):
            done = run(cli, str(first))
            assert done.returncode == 0, done.stderr
        done = cli("rollback", "--manifest", str(first))
        assert done.returncode == 0, done.stderr
        assert os.readlink(LIVE) == "/run/secrets.d/1"
        assert os.readlink(LIVE / "alias") == "/run/secrets/test_key"
        no_value(cli)

    in_fresh_run(body)


def test_status_does_not_list_a_link_inside_the_symlink_path(tmp_path: Path) -> None:
    manifest = nix_manifest(
        tmp_path, [nix_secret("test_key", "test_key", path="/run/secrets/alias")], []
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        done = cli("status", "--manifest", str(manifest))
        assert done.returncode == 0, done.stderr
        assert "alias" not in done.stdout + done.stderr, done.stdout + done.stderr
        no_value(cli)

    in_fresh_run(body)
