"""`secretsctl exec-env` and `exec-file` side by side with `sops exec-env` and `sops exec-file`.

The same file gives the command the same environment, the same plaintext, the same `{}`
replacement and the same exit status; the plaintext's folder is gone on every way out, and no
value shows in secretsctl's own output.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import SECRETSCTL, Runner, Sops
from tests.keys_support import assert_not_leaked, process_gone
from tests.leds.secrets_support import same_secret

if TYPE_CHECKING:
    from tests.activate_support import Users

pytestmark = pytest.mark.interop

HANG_GUARD = 60.0  # seconds; only a guard against a hang, never a timing assertion


def _plain(token: str) -> bytes:
    return (
        f"foo: bar\ntoken: {token}\nbar: |-\n  baz\n  bam\nnum: 1.0\nint: 3\nflag: true\n"
        f"# a comment\nHOME: overridden-{token}\n"
    ).encode()


@pytest.fixture
def token() -> str:
    return secrets.token_hex(12)


@pytest.fixture
def secret_file(sops: Sops, tmp_path: Path, token: str) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_bytes(_plain(token))
    assert sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path)).returncode == 0
    return path


def _key_env(sops: Sops) -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(sops.key.key_file)}


def _environment(output: bytes) -> dict[bytes, bytes]:
    pairs = (entry.partition(b"=") for entry in output.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"hang guard: {what}"
        time.sleep(0.02)


# --- exec-env -----------------------------------------------------------------------------


@pytest.mark.parametrize("pristine", [False, True])
def test_exec_env_gives_the_environment_sops_gives(
    secretsctl: Runner, sops: Sops, secret_file: Path, token: str, pristine: bool
) -> None:
    args = ["exec-env", *(["--pristine"] if pristine else []), str(secret_file), "env -0"]
    ours = secretsctl(*args, env=_key_env(sops), cwd=secret_file.parent)
    theirs = sops.run(*args, cwd=secret_file.parent)
    assert (ours.returncode, theirs.returncode) == (0, 0)
    mine, sops_env = _environment(ours.stdout), _environment(theirs.stdout)
    same_secret(mine, sops_env, "the command's environment")
    same_secret(mine[b"token"], token.encode(), "the file's value")
    same_secret(mine[b"HOME"], f"overridden-{token}".encode(), "HOME (overridden by the file)")
    assert mine[b"bar"] == b"baz\nbam"
    assert mine[b"num"] == b"1.0"
    assert mine[b"flag"] == b"true"
    assert (b"PATH" in mine) is not pristine
    assert_not_leaked(ours.stderr.decode(), token)


@pytest.mark.parametrize("status", [0, 3, 42])
def test_exec_env_exits_with_the_commands_status(
    secretsctl: Runner, sops: Sops, secret_file: Path, status: int
) -> None:
    args = ("exec-env", str(secret_file), f'test -n "$token" && exit {status}')
    ours = secretsctl(*args, env=_key_env(sops))
    theirs = sops.run(*args)
    assert ours.returncode == theirs.returncode == status


def test_exec_env_a_killed_command_is_128_plus_its_signal(
    secretsctl: Runner, sops: Sops, secret_file: Path
) -> None:
    ours = secretsctl("exec-env", str(secret_file), "kill -9 $$", env=_key_env(sops))
    theirs = sops.run("exec-env", str(secret_file), "kill -9 $$")
    assert ours.returncode == 128 + signal.SIGKILL
    assert theirs.returncode == 255  # sops: Go's ExitCode() -1; documented in docs/exec.md


@pytest.mark.parametrize(
    ("plain", "named"),
    [
        (b"a: {b: VALUE}\n", "offending key a"),
        (b"ok: 1\nlist: [VALUE]\n", "offending key list"),
    ],
)
def test_exec_env_refuses_complex_values_as_sops(
    secretsctl: Runner,
    sops: Sops,
    tmp_path: Path,
    token: str,
    plain: bytes,
    named: str,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(plain.replace(b"VALUE", token.encode()))
    assert sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path)).returncode == 0
    marker = tmp_path / "ran"
    ours = secretsctl("exec-env", str(path), f"touch {marker}", env=_key_env(sops))
    theirs = sops.run("exec-env", str(path), f"touch {marker}")
    # First: the assertions below would show the streams.
    assert_not_leaked(ours.stdout.decode() + ours.stderr.decode(), token)
    assert ours.returncode == theirs.returncode == 1
    assert named in ours.stderr.decode()
    assert named in theirs.stderr.decode()
    assert not marker.exists()


@pytest.mark.parametrize("command", ["exec-env", "exec-file"])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_missing_or_extra_argument_exits_1_as_sops(
    secretsctl: Runner, sops: Sops, secret_file: Path, command: str, count: int
) -> None:
    args = [str(secret_file), "true", "extra"][:count]
    ours = secretsctl(command, *args, env=_key_env(sops))
    theirs = sops.run(command, *args)
    assert ours.returncode == theirs.returncode == 1
    assert b"missing file to decrypt" in ours.stderr
    assert b"missing file to decrypt" in theirs.stderr


def test_same_process_replaces_secretsctl(sops: Sops, secret_file: Path, token: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **_key_env(sops)}
    process = subprocess.Popen(
        [SECRETSCTL, "exec-env", "--same-process", str(secret_file), "echo $$; exit 7"],
        stdout=subprocess.PIPE,
        env=env,
    )
    out, _ = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 7
    assert int(out) == process.pid, "the shell is not secretsctl's own process"


def test_same_process_with_background_is_refused_as_sops(
    secretsctl: Runner, sops: Sops, secret_file: Path
) -> None:
    args = ("exec-env", "--background", "--same-process", str(secret_file), "true")
    ours = secretsctl(*args, env=_key_env(sops))
    theirs = sops.run(*args)
    assert ours.returncode == theirs.returncode == 8


def test_exec_env_background_returns_at_once(
    secretsctl: Runner, sops: Sops, secret_file: Path, tmp_path: Path, token: str
) -> None:
    marker = tmp_path / "marker"
    release = tmp_path / "release"
    command = f'while [ ! -e {release} ]; do sleep 0.05; done; printf %s "$token" > {marker}'
    ours = secretsctl("exec-env", "--background", str(secret_file), command, env=_key_env(sops))
    assert ours.returncode == 0
    assert not marker.exists()  # the command still waits for `release`: we did not wait for it
    release.touch()
    _wait_for(marker.exists, "the background command did not run")
    _wait_for(lambda: marker.read_text() == token, "the background command got no value")
    assert_not_leaked(ours.stdout.decode() + ours.stderr.decode(), token)


# --- exec-file -----------------------------------------------------------------------------


@pytest.mark.parametrize("output_type", [None, "json", "dotenv", "yaml"])
@pytest.mark.parametrize("fifo", [True, False])
def test_exec_file_gives_the_plaintext_sops_gives(
    secretsctl: Runner,
    sops: Sops,
    secret_file: Path,
    token: str,
    output_type: str | None,
    fifo: bool,
) -> None:
    args = [
        "exec-file",
        *(["--output-type", output_type] if output_type else []),
        *([] if fifo else ["--no-fifo"]),
        str(secret_file),
        "cat {}",
    ]
    ours = secretsctl(*args, env=_key_env(sops))
    theirs = sops.run(*args)
    assert (ours.returncode, theirs.returncode) == (0, 0)
    same_secret(ours.stdout, theirs.stdout, "the plaintext")
    has_value = token.encode() in ours.stdout
    assert has_value, "the plaintext lacks the value"
    assert_not_leaked(ours.stderr.decode(), token)


@pytest.mark.parametrize(("options", "kind"), [((), "fifo"), (("--no-fifo",), "regular file")])
def test_exec_file_kind_mode_and_placeholder_as_sops(
    secretsctl: Runner, sops: Sops, secret_file: Path, options: tuple[str, ...], kind: str
) -> None:
    command = 'stat -c "%a %F" {} "$(dirname {})"; basename {}; echo {} {}'
    ours = secretsctl("exec-file", *options, str(secret_file), command, env=_key_env(sops))
    theirs = sops.run("exec-file", *options, str(secret_file), command)
    assert (ours.returncode, theirs.returncode) == (0, 0)
    mine, sops_lines = ours.stdout.decode().splitlines(), theirs.stdout.decode().splitlines()
    assert mine[:2] == sops_lines[:2] == [f"600 {kind}", "700 directory"]
    assert mine[2].rstrip("0123456789") == sops_lines[2].rstrip("0123456789") == "tmp-file"
    first, second = mine[3].split(" ")
    assert first == second
    assert os.path.basename(first) == mine[2]
    assert first.startswith("/dev/shm/secretsctl-exec-")  # RAM-backed: no XDG_RUNTIME_DIR here
    assert not os.path.exists(os.path.dirname(first))


@pytest.mark.parametrize("fifo", [True, False])
def test_exec_file_filename_as_sops(
    secretsctl: Runner, sops: Sops, secret_file: Path, fifo: bool
) -> None:
    # sops's functional test exec_file_filename, with and without the fifo.
    options = ("--filename", "foobar", *(() if fifo else ("--no-fifo",)))
    ours = secretsctl("exec-file", *options, str(secret_file), "echo {}", env=_key_env(sops))
    theirs = sops.run("exec-file", *options, str(secret_file), "echo {}")
    assert (ours.returncode, theirs.returncode) == (0, 0)
    assert ours.stdout.endswith(b"/foobar\n")
    assert theirs.stdout.endswith(b"/foobar\n")


@pytest.mark.parametrize("filename", ["../escape", "a/b", "..", "."])
def test_exec_file_refuses_a_filename_that_is_a_path(
    secretsctl: Runner, sops: Sops, secret_file: Path, tmp_path: Path, filename: str
) -> None:
    marker = tmp_path / "ran"
    ours = secretsctl(
        "exec-file",
        "--no-fifo",
        "--filename",
        filename,
        str(secret_file),
        f"touch {marker}",
        env=_key_env(sops),
    )
    assert ours.returncode == 8
    assert b"--filename must be a plain file name" in ours.stderr
    assert not marker.exists()
    assert not (Path("/dev/shm") / "escape").exists()


@pytest.mark.parametrize("fifo", [True, False])
@pytest.mark.parametrize(
    ("command", "status"), [("exit 0", 0), ("exit 5", 5), ("kill -9 $$", 128 + 9)]
)
def test_exec_file_removes_the_plaintext_when_the_command_ends(
    secretsctl: Runner, sops: Sops, secret_file: Path, fifo: bool, command: str, status: int
) -> None:
    options = () if fifo else ("--no-fifo",)
    # The command never opens a fifo: secretsctl must not wait for a reader.
    ours = secretsctl(
        "exec-file", *options, str(secret_file), f"echo {{}}; {command}", env=_key_env(sops)
    )
    assert ours.returncode == status
    path = ours.stdout.decode().strip()
    assert path.startswith("/dev/shm/secretsctl-exec-")
    assert not os.path.exists(os.path.dirname(path)), "the plaintext's folder was left behind"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("fifo", [True, False])
def test_a_signal_to_secretsctl_stops_the_command_and_removes_the_plaintext(
    sops: Sops, secret_file: Path, tmp_path: Path, token: str, signum: int, fifo: bool
) -> None:
    report = tmp_path / "report"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **_key_env(sops)}
    options = [] if fifo else ["--no-fifo"]
    command = f"echo $$ {{}} > {report}.tmp; mv {report}.tmp {report}; exec sleep 300"
    process = subprocess.Popen(
        [SECRETSCTL, "exec-file", *options, str(secret_file), command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        _wait_for(report.exists, "the command did not start")
        child, path = report.read_text().split()
        assert os.path.exists(path)
        process.send_signal(signum)
        out, err = process.communicate(timeout=HANG_GUARD)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # First: the assertions below would show the streams.
    assert_not_leaked(out.decode() + err.decode(), token)
    assert process.returncode == 85
    assert signal.Signals(signum).name.encode() in err
    assert not os.path.exists(os.path.dirname(path)), "the plaintext's folder was left behind"
    assert process_gone(int(child)), "the command outlived secretsctl"


def test_exec_file_background_removes_the_plaintext_after_the_command(
    secretsctl: Runner, sops: Sops, secret_file: Path, tmp_path: Path, token: str
) -> None:
    copy, release = tmp_path / "copy", tmp_path / "release"
    command = (
        f"echo {{}} > {copy}.path; while [ ! -e {release} ]; do sleep 0.05; done; "
        f"cat {{}} > {copy}.tmp; mv {copy}.tmp {copy}"
    )
    ours = secretsctl(
        "exec-file", "--no-fifo", "--background", str(secret_file), command, env=_key_env(sops)
    )
    assert ours.returncode == 0
    assert b"deprecated" in ours.stderr
    _wait_for(lambda: (tmp_path / "copy.path").exists(), "the background command did not run")
    path = (tmp_path / "copy.path").read_text().strip()
    assert os.path.exists(path), "the plaintext is gone before the command read it"
    release.touch()
    _wait_for(copy.exists, "the background command did not finish")
    read = token in copy.read_text()
    assert read, "the background command read no plaintext"
    _wait_for(lambda: not os.path.exists(os.path.dirname(path)), "the folder was left behind")


def test_errors_name_no_value(secretsctl: Runner, sops: Sops, tmp_path: Path, token: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(f"good: {token}\nbad=key: {token}\n".encode())
    assert sops.run("encrypt", "-i", "--age", sops.key.recipient, str(path)).returncode == 0
    ours = secretsctl("--debug", "exec-env", str(path), "env", env=_key_env(sops))
    theirs = sops.run("exec-env", str(path), "env")
    # First: the assertions below would show the streams.
    assert_not_leaked(ours.stdout.decode() + ours.stderr.decode(), token)
    assert ours.returncode == theirs.returncode == 1
    assert b"cannot use keys with '=' in environment: bad=key" in ours.stderr
    same_secret(ours.stdout, b"", "stdout (none expected)")


# --- --user (root) ------------------------------------------------------------------------


@pytest.mark.privileged
def test_user_drops_to_the_users_ids_and_groups(
    sops: Sops, secret_file: Path, users: Users
) -> None:
    import pwd

    entry = pwd.getpwnam(users.alice)
    groups = sorted(os.getgrouplist(users.alice, entry.pw_gid))
    assert users.group_gid not in groups
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **_key_env(sops)}
    # secretsctl itself holds a supplementary group the user is not in: it must not pass on.
    ours = subprocess.run(
        [SECRETSCTL, "exec-env", "--user", users.alice, str(secret_file), "id -u; id -g; id -G"],
        capture_output=True,
        env=env,
        extra_groups=[0, users.group_gid],
        check=False,
        timeout=HANG_GUARD,
    )
    assert ours.returncode == 0
    uid, gid, every = ours.stdout.decode().splitlines()
    assert (int(uid), int(gid)) == (entry.pw_uid, entry.pw_gid)  # sops: gid = uid
    assert sorted(int(g) for g in every.split()) == groups  # none of secretsctl's groups left


@pytest.mark.privileged
@pytest.mark.parametrize("fifo", [True, False])
def test_user_owns_the_plaintext_and_only_they_read_it(
    secretsctl: Runner, sops: Sops, secret_file: Path, users: Users, token: str, fifo: bool
) -> None:
    import pwd

    name = users.alice
    entry = pwd.getpwnam(name)
    options = () if fifo else ("--no-fifo",)
    command = 'stat -c "%u %g %a" {} "$(dirname {})"; grep -c token {}'
    ours = secretsctl(
        "exec-file", "--user", name, *options, str(secret_file), command, env=_key_env(sops)
    )
    assert ours.returncode == 0
    file_line, folder_line, found = ours.stdout.decode().splitlines()
    owner = f"{entry.pw_uid} {entry.pw_gid}"
    assert (file_line, folder_line) == (f"{owner} 600", f"{owner} 700")
    assert found == "1", "the user could not read the plaintext"
    assert_not_leaked(ours.stderr.decode(), token)


def test_unknown_user_is_refused_before_running(
    secretsctl: Runner, sops: Sops, secret_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    ours = secretsctl(
        "exec-file",
        "--user",
        "no-such-user-x",
        str(secret_file),
        f"touch {marker}",
        env=_key_env(sops),
    )
    assert ours.returncode == 1
    assert ours.stderr.startswith(b"secretsctl: error: unknown user `no-such-user-x`")
    assert not marker.exists()
