"""`secretsctl keygen`: identities in age-keygen's form, read alike by age, sops and us."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import Runner, sops_binary
from tests.interop.test_keys_sops import age_cli
from tests.leds.secrets_support import same_secret

__all__ = ["age_cli"]  # a fixture

FILE_FORM = re.compile(
    r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)\n"
    r"# public key: (age1[02-9ac-hj-np-z]{58})\n"
    r"AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}\n"
)


def new_key(secretsctl: Runner, target: Path) -> str:
    done = secretsctl("keygen", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    match = FILE_FORM.fullmatch(target.read_text())
    assert match is not None, "not the form age-keygen writes"
    assert done.stderr.decode() == f"Public key: {match.group(1)}\n"
    return match.group(1)


def test_keygen_writes_a_new_0600_identity_file(secretsctl: Runner, tmp_path: Path) -> None:
    target = tmp_path / "keys.txt"
    old_umask = os.umask(0)
    try:
        new_key(secretsctl, target)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.txt"], "a staging file was left"


def test_keygen_never_overwrites_a_file(secretsctl: Runner, tmp_path: Path) -> None:
    target = tmp_path / "keys.txt"
    recipient = new_key(secretsctl, target)
    before = target.read_bytes()
    again = secretsctl("keygen", "-o", str(target))
    assert again.returncode == ExitCode.COULD_NOT_WRITE_OUTPUT_FILE
    assert again.stderr.decode().splitlines() == [
        f"secretsctl: error: {target} already exists; it is not overwritten",
        "secretsctl: hint: choose another file name, or remove the old file first",
    ]
    assert target.read_bytes() == before, "the old key was replaced"
    assert recipient in before.decode()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    through = secretsctl("keygen", "-o", str(link))
    assert through.returncode == ExitCode.COULD_NOT_WRITE_OUTPUT_FILE
    assert not (tmp_path / "elsewhere").exists(), "a dangling link was followed"


def test_keygen_to_stdout_says_the_public_key_on_stderr(secretsctl: Runner) -> None:
    done = secretsctl("keygen")
    assert done.returncode == 0, done.stderr
    match = FILE_FORM.fullmatch(done.stdout.decode())
    assert match is not None, "not the form age-keygen writes"
    assert done.stderr.decode() == f"Public key: {match.group(1)}\n"
    other = secretsctl("keygen")
    assert other.stdout != done.stdout, "two runs made the same key"


def test_keygen_y_prints_each_recipient(secretsctl: Runner, tmp_path: Path) -> None:
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    recipients = [new_key(secretsctl, first), new_key(secretsctl, second)]
    both = tmp_path / "both.txt"
    both.write_bytes(first.read_bytes() + b"\n" + second.read_bytes())
    from_file = secretsctl("keygen", "-y", str(both))
    assert (from_file.returncode, from_file.stderr) == (0, b"")
    assert from_file.stdout.decode().splitlines() == recipients
    from_stdin = secretsctl("keygen", "-y", input=first.read_bytes())
    assert from_stdin.stdout.decode() == recipients[0] + "\n"
    out = tmp_path / "recipients.txt"
    assert secretsctl("keygen", "-y", "-o", str(out), str(both)).returncode == 0
    assert out.read_text().splitlines() == recipients


def test_keygen_y_refuses_what_is_not_an_identity(secretsctl: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\nnot-a-key-but-maybe-a-secret\n")
    done = secretsctl("keygen", "-y", str(bad))
    assert done.returncode == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert done.stderr.decode() == f"secretsctl: error: {bad}: line 2: unknown identity type\n"
    assert b"maybe-a-secret" not in done.stderr
    empty = secretsctl("keygen", "-y", input=b"# nothing\n")
    assert empty.returncode == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert b"no identity found" in empty.stderr
    usage = secretsctl("keygen", str(bad))
    assert usage.returncode == ExitCode.CONFLICTING_PARAMETERS
    assert b"INPUT file goes with -y only" in usage.stderr


@pytest.mark.interop
def test_age_reads_our_keys_and_we_read_age_keygen_s(
    secretsctl: Runner, tmp_path: Path, age_cli: str
) -> None:
    ours = tmp_path / "ours.txt"
    recipient = new_key(secretsctl, ours)
    keygen_y = subprocess.run(
        [age_cli + "-keygen", "-y", str(ours)], capture_output=True, check=True
    )
    assert keygen_y.stdout.decode() == recipient + "\n"
    sealed = subprocess.run(
        [age_cli, "-r", recipient], input=b"hello", capture_output=True, check=True
    ).stdout
    opened = subprocess.run(
        [age_cli, "-d", "-i", str(ours)], input=sealed, capture_output=True, check=True
    )
    same_secret(opened.stdout, b"hello", "what age decrypted")
    theirs = tmp_path / "theirs.txt"
    subprocess.run([age_cli + "-keygen", "-o", str(theirs)], capture_output=True, check=True)
    expected = subprocess.run(
        [age_cli + "-keygen", "-y", str(theirs)], capture_output=True, check=True
    ).stdout
    assert secretsctl("keygen", "-y", str(theirs)).stdout == expected


@pytest.mark.interop
def test_sops_encrypts_to_our_key_and_both_decrypt_with_it(
    secretsctl: Runner, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys.txt"
    recipient = new_key(secretsctl, key_file)
    plain = tmp_path / "plain.yaml"
    plain.write_text("token: a-value-for-the-test\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    sealed = subprocess.run(
        [sops_binary(), "encrypt", "--age", recipient, str(plain)],
        capture_output=True,
        env=env,
        check=True,
    ).stdout
    secrets = tmp_path / "secrets.yaml"
    secrets.write_bytes(sealed)
    with_key = {**env, "SOPS_AGE_KEY_FILE": str(key_file)}
    by_sops = subprocess.run(
        [sops_binary(), "decrypt", str(secrets)], capture_output=True, env=with_key, check=False
    )
    assert by_sops.returncode == 0, by_sops.stderr
    same_secret(by_sops.stdout, plain.read_bytes(), "what sops decrypted")
    by_us = secretsctl("decrypt", str(secrets), env={"SOPS_AGE_KEY_FILE": str(key_file)})
    assert by_us.returncode == 0, by_us.stderr
    same_secret(by_us.stdout, plain.read_bytes(), "what secretsctl decrypted")


PQ_FILE_FORM = re.compile(
    r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)\n"
    r"# public key: (age1pq1[02-9ac-hj-np-z]{1952})\n"
    r"AGE-SECRET-KEY-PQ-1[02-9AC-HJ-NP-Z]{58}\n"
)


def test_keygen_pq_writes_a_post_quantum_identity_in_age_keygen_s_form(
    secretsctl: Runner, tmp_path: Path
) -> None:
    target = tmp_path / "keys.txt"
    done = secretsctl("keygen", "--pq", "-o", str(target))
    assert (done.returncode, done.stdout) == (0, b""), done.stderr
    match = PQ_FILE_FORM.fullmatch(target.read_text())
    assert match is not None, "not the form age-keygen -pq writes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert done.stderr.decode() == f"Public key: {match.group(1)}\n"
    to_stdout = secretsctl("keygen", "--pq")
    assert PQ_FILE_FORM.fullmatch(to_stdout.stdout.decode()) is not None
    mixed = tmp_path / "mixed.txt"
    x25519 = new_key(secretsctl, tmp_path / "x.txt")
    mixed.write_bytes(target.read_bytes() + (tmp_path / "x.txt").read_bytes())
    recipients = secretsctl("keygen", "-y", str(mixed))
    assert (recipients.returncode, recipients.stderr) == (0, b"")
    assert recipients.stdout.decode().splitlines() == [match.group(1), x25519]
    both = secretsctl("keygen", "--pq", "-y", str(mixed))
    assert both.returncode == ExitCode.CONFLICTING_PARAMETERS
    assert b"--pq cannot be used with -y" in both.stderr


def test_keygen_help_shows_the_pq_example(secretsctl: Runner) -> None:
    done = secretsctl("keygen", "--help")
    assert b"--pq" in done.stdout
    assert b"secretsctl keygen --pq -o" in done.stdout


@pytest.mark.interop
def test_sops_encrypts_to_our_pq_key_and_both_decrypt_with_it(
    secretsctl: Runner, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys.txt"
    assert secretsctl("keygen", "--pq", "-o", str(key_file)).returncode == 0
    match = PQ_FILE_FORM.fullmatch(key_file.read_text())
    assert match is not None
    plain = tmp_path / "plain.yaml"
    plain.write_text("token: a-value-for-the-test\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    sealed = subprocess.run(
        [sops_binary(), "encrypt", "--age", match.group(1), str(plain)],
        capture_output=True,
        env=env,
        check=True,
    ).stdout
    secrets = tmp_path / "secrets.yaml"
    secrets.write_bytes(sealed)
    with_key = {**env, "SOPS_AGE_KEY_FILE": str(key_file)}
    by_sops = subprocess.run(
        [sops_binary(), "decrypt", str(secrets)], capture_output=True, env=with_key, check=False
    )
    assert by_sops.returncode == 0, by_sops.stderr
    same_secret(by_sops.stdout, plain.read_bytes(), "what sops decrypted")
    by_us = secretsctl("decrypt", str(secrets), env={"SOPS_AGE_KEY_FILE": str(key_file)})
    assert by_us.returncode == 0, by_us.stderr
    same_secret(by_us.stdout, plain.read_bytes(), "what secretsctl decrypted")
