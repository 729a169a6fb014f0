"""`secretsctl activate`, `check`, `status` and `rollback`, and the lock shared by every run.

The console script runs as a subprocess with stdin closed and only the environment a test
gives. Tests that install secrets run as root in a forked child inside a private mount
namespace (the ramfs under `--root` vanishes with it), with test users and the checking
systemctl stand-in.
"""

from __future__ import annotations

import fcntl
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.activate_support import Systemctl, Users, in_private_namespace, tree_listing
from tests.cli.test_render import (
    BAD_PLAN,
    Setup,
    assert_no_leak,
    copy_example,
    fragments,
    holds,
    isolated,
    keys_gid,
    make_cli,
    mounts,
    new_value,
    setup,
    table,
    users_config,
)
from tests.conftest import SECRETSCTL

__all__ = ["setup"]  # a fixture shared with test_render.py

JOURNAL_LINE = re.compile(r"[ -~]+")  # one printable line: no colour, no tab, no carriage return


# --- activate --------------------------------------------------------------------------------


def test_activate_as_the_boot_unit_runs_it(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    """The unit's conditions: stdin null, UMask=0077, the config from the environment."""
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl, SECRETSCTL_MANIFEST=str(setup.config))
    root = ("--root", str(setup.root))

    def body() -> None:
        os.umask(0o077)
        first = cli("activate", *root)
        assert first.returncode == 0, first.stderr
        assert (first.stdout, first.stderr) == ("", ""), "first boot: no change to report"
        assert os.readlink(setup.live) == str(setup.mount_point / "1")
        for folder in ("", "a", "a/b", "rendered"):
            info = os.stat(setup.mount_point / "1" / folder)
            assert (info.st_mode & 0o7777, info.st_gid) == (0o751, keys_gid()), folder
        assert os.stat(setup.live / "a/b/c").st_mode & 0o7777 == 0o440
        assert os.stat(setup.live / "rendered/app.env").st_mode & 0o7777 == 0o640
        holds(setup.live / "a/b/c", setup.values["nested"])

        setup.write_values(nested=new_value())
        changed = cli("activate", *root)
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout == (
            "modifying secret: a/b/c\nrestart: nested.service\nreload: nested-reload.service\n"
        )
        assert changed.stderr == ""
        assert systemctl.delivered() == [
            ["--no-block", "try-restart", "nested.service"],
            ["--no-block", "try-reload-or-restart", "nested-reload.service"],
        ]
        holds(setup.live / "a/b/c", setup.values["nested"])

        systemctl.clear()
        setup.config.write_text(users_config(users, with_db=False))
        removed = cli("activate", *root)
        assert removed.returncode == 0, removed.stderr
        db_link = setup.runtime("/var/lib/db/password")
        assert removed.stdout.splitlines() == [
            "removing secret: db_password",
            f"removing stale link: {db_link}",
        ]
        assert not os.path.lexists(db_link)
        assert systemctl.delivered() == []
        for line in "".join(cli.outputs).splitlines():
            assert JOURNAL_LINE.fullmatch(line), "not one plain line"
        assert_no_leak("\n".join(cli.outputs), fragments(setup.values.values()))

    in_private_namespace(body)


def test_without_systemd_the_secrets_go_live_and_one_line_says_why_no_unit_restarts(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    """A container: systemctl answers that systemd is not PID 1. Known before delivering."""
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl, SYSTEMCTL_STANDIN_DOWN="1")
    expected = (
        "secretsctl: warning: systemd is not running here, so nested.service,"
        " nested-reload.service are not restarted or reloaded (hint: pass --delivery none"
        " where no service manager runs, as in a container)"
    )

    def body() -> None:
        assert cli("render", *setup.args()).returncode == 0
        setup.write_values(nested=new_value())
        systemctl.clear()
        dry = cli("render", *setup.args("--dry-run"))
        assert dry.returncode == 0, dry.stderr
        assert dry.stderr.splitlines() == [expected]
        changed = cli("render", *setup.args())
        assert changed.returncode == 0, changed.stderr
        assert changed.stderr.splitlines() == [expected]
        assert os.readlink(setup.live) == str(setup.mount_point / "2")
        holds(setup.live / "a/b/c", setup.values["nested"])
        shows = ["show", "-p", "LoadState", "--value", "nested.service", "nested-reload.service"]
        assert systemctl.calls() == [shows, shows], "a restart was tried without systemd"
        quiet = cli("render", *setup.args("--delivery", "none"))
        assert (quiet.returncode, quiet.stderr) == (0, "")

    in_private_namespace(body)


def test_activate_never_prompts_for_a_passphrase(setup: Setup, tmp_path: Path) -> None:
    """A passphrase-protected SSH key as the only key: refused at once, stdin closed."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "id_ed25519"
    made = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "a pass phrase", "-f", str(key)],
        capture_output=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    setup.config.write_text(
        f"defaults:\n  sops_file: secrets.yaml\n  ssh_key_paths: [{key}]\n"
        "secrets:\n  api_token: {}\n"
    )
    cli = make_cli(tmp_path)

    def body() -> None:
        started = time.monotonic()
        done = cli("activate", *setup.args())
        assert time.monotonic() - started < 20
        assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
        assert f"{key}: a passphrase-protected SSH key is not supported non-interactively" in (
            done.stderr
        )
        assert "never prompts" in done.stderr
        assert "Traceback" not in done.stderr
        assert not setup.root.exists(), "something was written"

    isolated(body)


def test_activate_with_a_missing_age_key_file_exits_128(setup: Setup, tmp_path: Path) -> None:
    """sops's "could not retrieve key" code, which a script checks for, not the generic 1."""
    setup.config.write_text(
        "defaults:\n  sops_file: secrets.yaml\n  age_key_file: missing-keys.txt\n"
        "secrets:\n  api_token: {}\n"
    )
    cli = make_cli(tmp_path)

    def body() -> None:
        done = cli("activate", *setup.args())
        assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY, done.stderr
        assert "cannot use the age key file" in done.stderr
        assert "missing-keys.txt" in done.stderr
        assert "Traceback" not in done.stderr
        assert not setup.root.exists(), "something was written"

    isolated(body)


# --- check -----------------------------------------------------------------------------------


def _me() -> tuple[str, str]:
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def test_check_accepts_the_example_without_its_key(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The example (its `desktop` user mapped to one that exists here), with no key file."""
    if os.geteuid() == 0:
        alice = request.getfixturevalue("users").alice
        config = copy_example(tmp_path / "checkout", alice, alice)
    else:
        config = copy_example(tmp_path / "checkout", *_me())
    (config.parent / "demo-age-key.txt").unlink()
    root = tmp_path / "root"
    before = mounts()
    done = make_cli(tmp_path)("check", "-m", str(config), "--root", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "secretsctl: 4 items checked, no problem found\n"
    assert not root.exists(), "check wrote something"
    assert mounts() == before


def test_check_warns_about_a_key_file_others_read_or_git_tracks(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if os.geteuid() == 0:
        alice = request.getfixturevalue("users").alice
        config = copy_example(tmp_path / "checkout", alice, alice)
    else:
        config = copy_example(tmp_path / "checkout", *_me())
    key = config.parent / "demo-age-key.txt"
    key.chmod(0o644)
    git = ["git", "-C", str(tmp_path / "checkout")]
    for command in (["init", "-q"], ["add", "examples/demo-age-key.txt"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    cli = make_cli(tmp_path)
    warned = cli("check", "-m", str(config))
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.splitlines()[:4] == [
        f"secretsctl: warning: {key}: this private key file is readable or writable by its group and others"
        " (mode 0644)",
        f"secretsctl: hint: chmod 600 {key}",
        f"secretsctl: warning: {key}: this private key file is committed to a git repository;"
        " anyone with the repository can decrypt every secret it opens",
        "secretsctl: hint: keep keys out of the repository (git rm --cached, then .gitignore),"
        " and rotate the key and every file encrypted to it",
    ]
    key.chmod(0o600)
    subprocess.run([*git, "rm", "-q", "--cached", "examples/demo-age-key.txt"], check=True)
    quiet = cli("check", "-m", str(config))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "secretsctl: 4 items checked, no problem found\n"


def test_check_reports_every_problem_and_writes_nothing(setup: Setup, tmp_path: Path) -> None:
    suffix = os.urandom(3).hex()
    bad = BAD_PLAN.format(suffix=suffix) + '  other:\n    content: "{{ api_token }}"\n'
    bad = bad.replace("    key: db_password\n", "    key: db_password/deeper\n")
    setup.config.write_text(bad)
    (setup.folder / "keys.txt").unlink()  # check needs no key
    config = str(setup.config)
    done = make_cli(tmp_path)("check", *setup.args())
    # Problems of different kinds together: exit 1 (README, exit codes).
    assert done.returncode == ExitCode.GENERIC
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    problems = [
        f"  {config}:7:16: secrets.missing.sops_file: {setup.folder}/nope.yaml: cannot read:"
        " No such file or directory",
        f"  {config}:9:10: secrets.owned.key: secret 'owned' in {setup.sops_file} is not valid:"
        " the key 'db_password' is a string, not a mapping",
        f"  {config}:13:14: templates.t.content: line 1: 'nosuch' is not a secret of this"
        " configuration",
    ]
    problems.append(f"  {config}:10:12: secrets.owned.owner: unknown user 'no-such-user-{suffix}'")
    assert lines[0] == f"secretsctl: error: {len(problems)} problems found; nothing was changed"
    assert sorted(lines[1:]) == sorted(problems)
    assert "Traceback" not in done.stderr
    assert not setup.root.exists()


# --- status ----------------------------------------------------------------------------------


def test_status_lists_files_and_warns_about_looser_modes(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)

    def body() -> None:
        empty = cli("status", *setup.args())
        assert empty.returncode == 0
        assert empty.stdout == f"{setup.live}: no live generation\n"
        assert cli("render", *setup.args()).returncode == 0
        before = tree_listing(setup.root)
        done = cli("status", *setup.args())
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        lines = done.stdout.splitlines()
        assert lines[:2] == [
            f"{setup.live} -> {setup.mount_point}/1 (generation 1)",
            "generations kept: 1",
        ]
        assert re.split(r" {2,}", lines[2]) == ["FILE", "OWNER:GROUP", "MODE", "SIZE", "NOTE"]
        rows = [row[:4] for row in table("\n".join(lines[2:]))]
        size = str(len(setup.values["api_token"]))
        assert rows == [
            ["a/b/c", f"{users.bob}:{users.group}", "0440", size],
            ["api_token", f"{users.alice}:{users.alice}", "0400", size],
            ["db_password", "root:root", "0600", size],
            ["rendered/app.env", f"{users.alice}:{users.group}", "0640", str(int(size) + 9)],
        ]
        assert tree_listing(setup.root) == before, "status wrote something"
        # Looser than configured: a warning that names the file, never its content.
        os.chmod(setup.live / "api_token", 0o444)
        os.chown(setup.live / "db_password", users.bob_uid, 0)
        before = tree_listing(setup.root)
        loose = cli("status", *setup.args())
        assert loose.returncode == 0
        assert loose.stderr.splitlines() == [
            "secretsctl: warning: secret 'api_token' has mode 0444, more permissive than its"
            " configured 0400",
            f"secretsctl: warning: secret 'db_password' is owned by {users.bob}, configured root",
        ]
        as_json = cli("status", *setup.args("--json"))
        assert as_json.returncode == 0
        document = json.loads(as_json.stdout)
        assert document["version"] == 1
        assert (document["symlink_path"], document["target"]) == (
            str(setup.live),
            f"{setup.mount_point}/1",
        )
        assert (document["generation"], document["generations"]) == (1, [1])
        files = {f["relative_path"]: f for f in document["files"]}
        assert sorted(files) == ["a/b/c", "api_token", "db_password", "rendered/app.env"]
        token = files["api_token"]
        assert (token["mode"], token["configured_mode"], token["owner"]) == (
            "0444",
            "0400",
            users.alice,
        )
        assert (token["uid"], token["gid"], token["kind"], token["regular"]) == (
            users.alice_uid,
            users.alice_gid,
            "secret",
            True,
        )
        assert len(document["warnings"]) == 2
        assert tree_listing(setup.root) == before, "status wrote something"
        assert systemctl.calls() == []
        assert_no_leak("\n".join(cli.outputs), fragments(setup.values.values()))

    in_private_namespace(body)


# --- rollback --------------------------------------------------------------------------------


def test_rollback_switches_back_and_restarts_what_changed(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users, keep=2))
    cli = make_cli(tmp_path, systemctl)
    first_value = setup.values["nested"]

    def body() -> None:
        assert cli("render", *setup.args()).returncode == 0
        setup.write_values(nested=new_value())
        assert cli("render", *setup.args()).returncode == 0
        assert os.readlink(setup.live) == str(setup.mount_point / "2")
        systemctl.clear()

        before = tree_listing(setup.root)
        dry = cli("rollback", *setup.args("--dry-run"))
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines()[-4:] == [
            "would modify secret: a/b/c",
            "would restart: nested.service",
            "would reload: nested-reload.service",
            "generation 1 would be live",
        ]
        assert tree_listing(setup.root) == before, "rollback --dry-run changed something"
        assert systemctl.delivered() == []

        back = cli("rollback", *setup.args())
        assert back.returncode == 0, back.stderr
        assert back.stdout.splitlines()[-4:] == [
            "modifying secret: a/b/c",
            "restart: nested.service",
            "reload: nested-reload.service",
            "generation 1 is live",
        ]
        assert os.readlink(setup.live) == str(setup.mount_point / "1")
        holds(setup.live / "a/b/c", first_value)
        assert systemctl.delivered() == [
            ["--no-block", "try-restart", "nested.service"],
            ["--no-block", "try-reload-or-restart", "nested-reload.service"],
        ]
        assert sorted(os.listdir(setup.mount_point)) == ["1", "2"], "rollback prunes nothing"

        systemctl.clear()
        again = cli("rollback", *setup.args())
        assert again.returncode == ExitCode.NO_ROLLBACK_TARGET
        assert again.stdout == ""
        assert again.stderr.splitlines() == [
            "secretsctl: error: nothing to roll back to: no generation older than 1 is kept in"
            f" {setup.mount_point} (keep_generations is 2)",
            "secretsctl: hint: keep_generations 2 or more (or 0, keep all) keeps older generations",
        ]
        assert os.readlink(setup.live) == str(setup.mount_point / "1")
        assert systemctl.calls() == []
        assert_no_leak("\n".join(cli.outputs), fragments([first_value, *setup.values.values()]))

    in_private_namespace(body)


def test_rollback_with_nothing_to_go_back_to(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users, keep=1))
    cli = make_cli(tmp_path, systemctl)

    def body() -> None:
        nothing = cli("rollback", *setup.args())
        assert nothing.returncode == ExitCode.NO_ROLLBACK_TARGET
        assert nothing.stderr.splitlines()[0] == (
            f"secretsctl: error: nothing to roll back: {setup.live} does not point at a"
            f" generation of {setup.mount_point}"
        )
        assert cli("render", *setup.args()).returncode == 0
        setup.write_values(nested=new_value())
        assert cli("render", *setup.args()).returncode == 0
        before = tree_listing(setup.root)
        for extra in ((), ("--dry-run",)):
            done = cli("rollback", *setup.args(*extra))
            assert done.returncode == ExitCode.NO_ROLLBACK_TARGET
            assert "(keep_generations is 1)" in done.stderr
            assert "Traceback" not in done.stderr
        assert tree_listing(setup.root) == before
        assert os.readlink(setup.live) == str(setup.mount_point / "2")

    in_private_namespace(body)


# --- the lock --------------------------------------------------------------------------------


def test_a_held_lock_fails_fast_with_no_wait_and_is_waited_for_otherwise(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)
    lock_path = setup.runtime("/run/secretsctl.lock")

    def body() -> None:
        assert cli("render", *setup.args()).returncode == 0
        setup.write_values(nested=new_value())
        before = tree_listing(setup.root)
        with open(lock_path, "rb") as holder:
            fcntl.flock(holder, fcntl.LOCK_EX)
            for command in ("render", "activate", "rollback"):
                done = cli(command, *setup.args("--no-wait"))
                assert done.returncode == ExitCode.LOCK_HELD, command
                assert done.stderr.splitlines()[0] == (
                    f"secretsctl: error: another secretsctl run holds the lock {lock_path}"
                    f" (PID {os.getpid()})"
                )
            assert tree_listing(setup.root) == before, "a run went ahead without the lock"
            waiting = subprocess.Popen(
                [SECRETSCTL, "render", *setup.args()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=cli.env,
            )
            time.sleep(0.5)
            assert waiting.poll() is None, "the run did not wait for the lock"
            assert tree_listing(setup.root) == before
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, err
        assert os.readlink(setup.live) == str(setup.mount_point / "2")
        assert b"generation 2 is live" in out

    in_private_namespace(body)
