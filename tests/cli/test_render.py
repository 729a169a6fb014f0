"""`secretsctl render` and `render --dry-run`: the plan, exact owners and modes, generations,
units, problems reported together, and no value in any output.

Each test runs the installed console script as a subprocess (stdin closed, only the
environment it gives). Tests that write secrets run as root in a forked child inside its own
private mount namespace, so the ramfs mounted under `--root` vanishes with the child.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secretsctl.api import encrypt_to_bytes
from secretsctl.errors import ExitCode
from secretsctl.sops.creation_rules import EncryptionSettings
from secretsctl.sops.stores import Format
from tests.activate_support import (
    Systemctl,
    Users,
    in_private_namespace,
    nix_secret,
    ram_backed_tempdir,
    require_root,
    tree_listing,
)
from tests.conftest import (
    FAST_PATH_PROBE,
    REPO,
    SECRETSCTL,
    SOPS_NIX_VECTORS,
    AgeKey,
    Sops,
    make_age_key,
    sops_binary,
)

EXAMPLES = REPO / "examples"
TEMPLATES = REPO / "templates"

# --- shared helpers (test_activate.py imports them) ------------------------------------------


def keys_gid() -> int:
    """The group generation directories get: `keys`, else `nogroup`."""
    for name in ("keys", "nogroup"):
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    raise AssertionError("neither a keys nor a nogroup group exists")


def new_value() -> str:
    """A random secret value: any fragment of it showing up in output is a leak."""
    return os.urandom(18).hex()


def fragments(values: Iterable[str], public: Iterable[str] = (), shortest: int = 8) -> set[str]:
    """Every value and every substring of ``shortest`` (8) characters or more of each.

    Fragments that are also part of public material (secret names, paths) are left out: they
    may appear for their own sake.
    """
    names = list(public)
    out: set[str] = set()
    for value in values:
        for size in range(shortest, len(value) + 1):
            for start in range(len(value) - size + 1):
                piece = value[start : start + size]
                if not any(piece in name for name in names):
                    out.add(piece)
    return out


def assert_no_leak(text: str, pieces: set[str]) -> None:
    """Fail (without quoting the value) when any fragment of a value is in ``text``."""
    leaked = sum(1 for piece in pieces if piece in text)
    assert leaked == 0, f"{leaked} fragments of secret values leaked into the output"


def holds(path: Path, expected: str) -> None:
    """Assert a file's content without ever showing it (or the expected value) on failure."""
    same = path.read_bytes() == expected.encode()
    assert same, f"{path} does not hold the expected value"


def isolated(body: Callable[[], None]) -> None:
    """Run ``body`` in a private mount namespace when root, so a regression cannot mount
    anything on the host; as any other user, just run it."""
    if os.geteuid() == 0:
        in_private_namespace(body)
    else:
        body()


def mounts() -> list[str]:
    """The mount table as this process sees it."""
    return Path("/proc/self/mountinfo").read_text().splitlines()


@dataclass
class Cli:
    """Runs the installed `secretsctl`, stdin closed, with a small fixed environment."""

    env: dict[str, str]
    outputs: list[str] = field(default_factory=list, repr=False)

    def __call__(self, *args: str, program: str = SECRETSCTL) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [program, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=60,
        )
        self.outputs += [done.stdout, done.stderr]
        return done


def make_cli(home: Path, systemctl: Systemctl | None = None, **extra: str) -> Cli:
    """A runner with PATH (the systemctl stand-in first, when given) and an empty HOME."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}
    if "PYTHONPATH" in os.environ:  # a run against another checkout of the package
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if systemctl is not None:
        env["PATH"] = f"{systemctl.folder}{os.pathsep}{env['PATH']}"
        env["SYSTEMCTL_STANDIN_LOG"] = str(systemctl.log)
    return Cli(env)


def encrypt(sops: Sops, plain: str, target: Path) -> None:
    """Encrypt YAML text to ``sops``'s key with the real sops binary, into ``target``."""
    source = target.with_name(target.stem + ".plain.yaml")
    source.write_text(plain)
    done = sops.run("encrypt", "--age", sops.key.recipient, str(source), cwd=target.parent)
    source.unlink()
    assert done.returncode == 0, done.stderr.decode()
    target.write_bytes(done.stdout)


def table(stdout: str) -> list[list[str]]:
    """The rows of a plan or status table (columns split on two or more spaces)."""
    return [re.split(r" {2,}", line) for line in stdout.splitlines()[1:] if "  " in line]


@dataclass
class Setup:
    """A configuration, its sops file and key in ``folder``; runtime paths under ``root``."""

    folder: Path
    root: Path
    sops: Sops
    values: dict[str, str] = field(repr=False)

    @property
    def config(self) -> Path:
        return self.folder / "secretsctl.yaml"

    @property
    def sops_file(self) -> Path:
        return self.folder / "secrets.yaml"

    def runtime(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def live(self) -> Path:
        return self.runtime("/run/secrets")

    @property
    def mount_point(self) -> Path:
        return self.runtime("/run/secrets.d")

    def write_values(self, **values: str) -> None:
        """Replace values and re-encrypt the sops file (a fresh data key, as sops does)."""
        self.values.update(values)
        plain = "".join(
            f"{key}: {value}\n" for key, value in self.values.items() if key != "nested"
        )
        plain += f"a:\n    b:\n        c: {self.values['nested']}\n"
        encrypt(self.sops, plain, self.sops_file)

    def args(self, *more: str) -> tuple[str, ...]:
        return ("-m", str(self.config), "--root", str(self.root), *more)


def users_config(users: Users, *, keep: int = 2, with_db: bool = True) -> str:
    """Secrets of the test users with various modes, a nested name, a template, custom paths."""
    db = """\
  db_password:
    mode: "0600"
    path: /var/lib/db/password
    reload_units: [db.service]
"""
    return f"""\
defaults:
  sops_file: secrets.yaml
  age_key_file: keys.txt
  keep_generations: {keep}
secrets:
  api_token:
    owner: {users.alice}
    mode: "0400"
    path: /etc/app/token
    restart_units: [app.service]
  a/b/c:
    owner: {users.bob}
    group: {users.group}
    mode: "0440"
    restart_units: [nested.service]
    reload_units: [nested-reload.service]
{db if with_db else ""}templates:
  app.env:
    content: "TOKEN={{{{ api_token | env }}}}\\n"
    owner: {users.alice}
    group: {users.group}
    mode: "0640"
    restart_units: [app-env.service]
"""


@pytest.fixture
def setup(tmp_path: Path, age_key: AgeKey) -> Setup:
    """Inputs in tmp_path/in (config, sops file, key), runtime root tmp_path/root."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(age_key.key_file, folder / "keys.txt")
    made = Setup(
        folder,
        tmp_path / "root",
        Sops(sops_binary(), age_key),
        {"api_token": new_value(), "nested": new_value(), "db_password": new_value()},
    )
    made.write_values()
    return made


def copy_example(folder: Path, owner: str | None = None, group: str | None = None) -> Path:
    """examples/ and templates/ side by side in ``folder``; uid/gid 1000 become owner and group.

    The example names the desktop user by number (uid and gid 1000). Tests that check owners
    by name give a test user (its primary group has its name).
    """
    (folder / "examples").mkdir(parents=True)
    (folder / "templates").mkdir()
    for name in ("secrets.yaml", "demo-age-key.txt"):
        shutil.copy(EXAMPLES / name, folder / "examples" / name)
    for template in TEMPLATES.glob("*.j2"):
        shutil.copy(template, folder / "templates" / template.name)
    text = (EXAMPLES / "secretsctl.yaml").read_text()
    if owner is not None:
        text, count = re.subn(r"uid: 1000\b", f"owner: {owner}", text)
        text, count2 = re.subn(r"gid: 1000\b", f"group: {group or owner}", text)
        assert (count, count2) == (1, 2), "the example no longer names the desktop user so"
    config = folder / "examples" / "secretsctl.yaml"
    config.write_text(text)
    return config


EXAMPLE_VALUES = {
    "github_token": "demo-github-token-0000000000000000000000",
    "telegram_bot_token": "000000000:DEMO-telegram-bot-token-not-real",
}
EXAMPLE_NAMES = (
    "github_token",
    "telegram_bot_token",
    "nix-access-tokens.conf",
    "github_token_env",
)


# --- dry run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [False, True], ids=["plain", "private-namespace"])
def test_dry_run_of_the_example_prints_the_plan_and_writes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, namespace: bool
) -> None:
    root_user = os.geteuid() == 0
    if namespace:
        require_root()
    # Not root: the example as it is (an unknown owner is only a warning then).
    owner = request.getfixturevalue("users").alice if root_user else None
    config = copy_example(tmp_path / "checkout", owner)
    folder = ram_backed_tempdir()  # without root, the mount point must be RAM-backed
    if folder is None:
        pytest.skip("no tmpfs directory to render into")
    root = Path(folder)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    cli = make_cli(tmp_path)

    def body() -> None:
        before, mounted = tree_listing(root), mounts()
        done = cli("render", "-m", str(config), "--root", str(root), "--dry-run")
        assert done.returncode == 0, done.stderr
        assert mounts() == mounted, "a dry run mounted something"
        after = tree_listing(root)
        # Not even the lock file: with none yet, no run ever happened to be consistent with.
        assert after == before, "a dry run wrote something"
        assert not (root / "run" / "secrets").exists()
        assert not (root / "run" / "secrets.d").exists()
        lines = done.stdout.splitlines()
        header = ["PATH", "OWNER:GROUP", "MODE", "SIZE", "STATE", "UNITS"]
        assert re.split(r" {2,}", lines[0]) == header
        rows = table(done.stdout)
        live = f"{root}/run/secrets"
        paths = [row[0] for row in rows]
        assert paths == [
            f"{live}/github_token",
            f"{live}/telegram_bot_token",
            f"{live}/rendered/nix-access-tokens.conf",
            f"{live}/rendered/github_token_env",
        ]
        assert [row[2:5] for row in rows] == [
            ["0400", "40", "new"],
            ["0400", "42", "new"],
            ["0440", "68", "new"],
            ["0400", "56", "new"],
        ]
        if root_user:
            assert [row[1] for row in rows] == [
                "root:root",
                "root:root",
                f"root:{owner}",
                f"{owner}:{owner}",
            ]
        # A first generation restarts nothing: the table says what --json says.
        assert [len(row) for row in rows] == [5, 5, 5, 5], "a unit shown on a first generation"
        as_json = cli("render", "-m", str(config), "--root", str(root), "--dry-run", "--json")
        assert json.loads(as_json.stdout)["restart_units"] == []
        assert lines[-1] == "generation 1 would be live"
        assert_no_leak(done.stdout + done.stderr, fragments(EXAMPLE_VALUES.values(), EXAMPLE_NAMES))

    if namespace:
        in_private_namespace(body)
    else:
        body()


def test_dry_run_json_is_one_versioned_document(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)

    def body() -> None:
        assert cli("render", *setup.args()).returncode == 0
        setup.write_values(nested=new_value())
        systemctl.clear()
        before, mounted = tree_listing(setup.root), mounts()
        done = cli("render", *setup.args("--dry-run", "--json"))
        assert done.returncode == 0, done.stderr
        assert tree_listing(setup.root) == before, "a dry run changed the runtime tree"
        assert mounts() == mounted
        assert systemctl.delivered() == [], "a dry run restarted units"
        document = json.loads(done.stdout)
        assert document["version"] == 1
        assert (document["dry_run"], document["previous"], document["generation"]) == (True, 1, 2)
        assert document["created"] is True
        files = {f["relative_path"]: f for f in document["files"]}
        assert list(files) == ["api_token", "a/b/c", "db_password", "rendered/app.env"]
        nested = files["a/b/c"]
        assert nested["path"] == str(setup.live / "a/b/c")
        assert (nested["owner"], nested["group"], nested["mode"]) == (
            users.bob,
            users.group,
            "0440",
        )
        assert (nested["uid"], nested["gid"]) == (users.bob_uid, users.group_gid)
        assert nested["size"] == len(setup.values["nested"])
        assert (nested["state"], nested["kind"]) == ("changed", "secret")
        assert nested["restart_units"] == ["nested.service"]
        assert nested["reload_units"] == ["nested-reload.service"]
        assert [f["state"] for f in files.values()] == [
            "unchanged",
            "changed",
            "unchanged",
            "unchanged",
        ]
        assert document["restart_units"] == ["nested.service"]
        assert document["reload_units"] == ["nested-reload.service"]
        assert document["log"] == ["would modify secret: a/b/c"]
        assert document["delivered"] is False
        assert document["errors"] == []
        assert_no_leak(done.stdout + done.stderr, fragments(setup.values.values()))
        # The table says what --json says: the same state words for the same files.
        shown = cli("render", *setup.args("--dry-run"))
        assert shown.returncode == 0, shown.stderr
        assert [row[4] for row in table(shown.stdout)] == [f["state"] for f in files.values()]
        units = {row[0]: row[5:] for row in table(shown.stdout)}
        assert units.pop(str(setup.live / "a/b/c")) == [
            "restart nested.service, reload nested-reload.service"
        ]
        assert set(map(tuple, units.values())) == {()}, "units beside unchanged files"

    in_private_namespace(body)


# --- no value in any output ------------------------------------------------------------------


def test_no_value_in_any_output(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    """Every command, with --debug and -q too, on success and on failure: names only."""
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)
    seen = dict(setup.values)

    def every(*args: str) -> list[int]:
        return [cli(*flags, *args).returncode for flags in ((), ("--debug",), ("-q",))]

    def body() -> None:
        assert set(every("render", *setup.args("--dry-run"))) == {0}
        assert set(every("render", *setup.args("--dry-run", "--json"))) == {0}
        assert cli("render", *setup.args()).returncode == 0
        assert cli("--debug", "render", *setup.args("--json")).returncode == 0
        setup.write_values(api_token=new_value(), nested=new_value())
        seen.update(setup.values)
        assert cli("--debug", "render", *setup.args()).returncode == 0
        assert set(every("check", "-m", str(setup.config))) == {0}
        assert set(every("status", *setup.args())) == {0}
        assert set(every("status", *setup.args("--json"))) == {0}
        assert set(every("rollback", *setup.args("--dry-run"))) == {0}
        assert cli("--debug", "rollback", *setup.args()).returncode == 0
        assert cli("--debug", "activate", *setup.args()).returncode == 0
        # Failures: a tampered value and a changed file, with a traceback asked for.
        text = setup.sops_file.read_text()
        tampered = re.sub(r"(api_token: ENC\[AES256_GCM,data:)(.)", _flip, text)
        setup.sops_file.write_text(tampered)
        assert set(every("render", *setup.args())) == {ExitCode.ERROR_DECRYPTING_TREE}
        setup.sops_file.write_text(text + "extra_unencrypted: public\n")
        assert set(every("render", *setup.args())) == {ExitCode.MAC_MISMATCH}
        assert set(every("render", *setup.args("--dry-run"))) == {ExitCode.MAC_MISMATCH}
        output = "\n".join(cli.outputs)
        assert "Traceback" not in output
        assert_no_leak(output, fragments(seen.values()))
        # The outputs above did say something: the names.
        assert "a/b/c" in output
        assert "api_token" in output

    in_private_namespace(body)


def _flip(match: re.Match[str]) -> str:
    return match.group(1) + ("B" if match.group(2) != "B" else "C")


# --- a real render, as root ------------------------------------------------------------------


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_render_as_root_exact_owners_generations_units_and_links(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)
    dirs = keys_gid()

    def body() -> None:
        os.umask(0)  # hostile: every mode must still be exact
        first = cli("render", *setup.args())
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[-1] == "generation 1 is live"
        assert first.stderr == ""
        generation = setup.mount_point / "1"
        assert os.readlink(setup.live) == str(generation)
        assert any(
            line.split(" - ")[0].split()[4] == str(setup.mount_point)
            and line.split(" - ")[1].split()[0] == "ramfs"
            for line in mounts()
        ), "no ramfs at the mount point"
        live = setup.live
        holds(live / "api_token", setup.values["api_token"])
        holds(live / "a/b/c", setup.values["nested"])
        holds(live / "db_password", setup.values["db_password"])
        holds(live / "rendered/app.env", f'TOKEN="{setup.values["api_token"]}"\n')
        assert _owner_mode(live / "api_token") == (users.alice_uid, users.alice_gid, 0o400)
        assert _owner_mode(live / "a/b/c") == (users.bob_uid, users.group_gid, 0o440)
        assert _owner_mode(live / "db_password") == (0, 0, 0o600)
        assert _owner_mode(live / "rendered/app.env") == (users.alice_uid, users.group_gid, 0o640)
        for folder in ("", "a", "a/b", "rendered"):
            assert _owner_mode(generation / folder) == (0, dirs, 0o751), folder
        assert _owner_mode(setup.mount_point) == (0, dirs, 0o751)
        token = setup.runtime("/etc/app/token")
        assert os.readlink(token) == str(live / "api_token")
        assert token.lstat().st_uid == users.alice_uid, "the link is lchowned to the owner"
        assert os.readlink(setup.runtime("/var/lib/db/password")) == str(live / "db_password")
        assert systemctl.calls() == [], "first activation: nothing to restart"

        # The same input again: nothing changes, no generation, no systemctl at all.
        again = cli("render", *setup.args())
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1] == "nothing to change"
        assert [row[4] for row in table(again.stdout)] == ["unchanged"] * 4
        assert sorted(os.listdir(setup.mount_point)) == ["1"]
        assert os.readlink(setup.live) == str(generation)
        assert systemctl.calls() == []

        # One value changes: a new generation, and only that secret's units are told.
        setup.write_values(nested=new_value())
        changed = cli("render", *setup.args())
        assert changed.returncode == 0, changed.stderr
        assert os.readlink(setup.live) == str(setup.mount_point / "2")
        holds(live / "a/b/c", setup.values["nested"])
        out = changed.stdout.splitlines()
        assert out[-4:] == [
            "modifying secret: a/b/c",
            "restart: nested.service",
            "reload: nested-reload.service",
            "generation 2 is live",
        ]
        assert systemctl.delivered() == [
            ["--no-block", "try-restart", "nested.service"],
            ["--no-block", "try-reload-or-restart", "nested-reload.service"],
        ]
        assert systemctl.calls()[0] == [
            "show",
            "-p",
            "LoadState",
            "--value",
            "nested.service",
            "nested-reload.service",
        ]
        assert sorted(os.listdir(setup.mount_point)) == ["1", "2"], "keep_generations: 2"

        # A secret leaves the configuration: its custom link goes with it.
        systemctl.clear()
        setup.config.write_text(users_config(users, with_db=False))
        removed = cli("render", *setup.args())
        assert removed.returncode == 0, removed.stderr
        db_link = setup.runtime("/var/lib/db/password")
        assert not os.path.lexists(db_link), "the stale custom link is still there"
        assert os.path.islink(token)
        assert f"removing stale link: {db_link}" in removed.stdout.splitlines()
        assert "removing secret: db_password" in removed.stdout.splitlines()
        assert systemctl.delivered() == [], "a removed secret restarts nothing"
        assert sorted(os.listdir(setup.mount_point)) == ["2", "3"]

    in_private_namespace(body)


# --- bad configuration -----------------------------------------------------------------------

BAD_CONFIG = """\
defaults:
  sops_file: secrets.yaml
  age_key_file: keys.txt
secrets:
  api_token:
    colour: blue
  nested:
    mode: "0999"
  db_password:
    format: toml
"""

BAD_PLAN = """\
defaults:
  sops_file: secrets.yaml
  age_key_file: keys.txt
secrets:
  api_token: {{}}
  missing:
    sops_file: nope.yaml
  owned:
    key: db_password
    owner: no-such-user-{suffix}
templates:
  t:
    content: "{{{{ api_token }}}}{{{{ nosuch }}}}"
"""


def test_a_plain_render_imports_nothing_heavy(setup: Setup) -> None:
    setup.config.write_text(
        "defaults:\n  sops_file: secrets.yaml\n  age_key_file: keys.txt\nsecrets:\n"
        "  api_token: {uid: 0, mode: '0400'}\n  db_password: {gid: 0, mode: \"0440\"}\n"
    )

    def body() -> None:
        done = subprocess.run(
            [sys.executable, "-c", FAST_PATH_PROBE, "render", *setup.args()],
            cwd=setup.folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0
        assert done.stderr == "(True, [])", "a render imported more than it needs"
        holds(setup.live / "api_token", setup.values["api_token"])

    isolated(body)


def test_bad_configuration_every_problem_on_its_own_line(setup: Setup, tmp_path: Path) -> None:
    """Problems of the file itself: exit 5, one line each with file:line:col and field."""
    setup.config.write_text(BAD_CONFIG)
    cli = make_cli(tmp_path)
    config = str(setup.config)

    def body() -> None:
        mounted = mounts()
        for command in (("render",), ("render", "--dry-run"), ("activate",), ("check",)):
            done = cli(*command, *setup.args())
            assert done.returncode == ExitCode.ERROR_READING_CONFIG
            assert done.stdout == ""
            assert done.stderr.splitlines() == [
                "secretsctl: error: 3 problems found; nothing was changed",
                f"  {config}:6:5: secrets.api_token.colour: unknown field (known: key, sops_file,"
                " format, owner, uid, group, gid, mode, path, restart_units, reload_units)",
                f'  {config}:8:11: secrets.nested.mode: `0999` is not an octal mode such as "0440"',
                f"  {config}:10:13: secrets.db_password.format: unknown format `toml` (one of:"
                " yaml, json, binary, dotenv, ini)",
            ]
            assert "Traceback" not in done.stderr
        assert not setup.root.exists(), "something was written"
        assert mounts() == mounted

    isolated(body)


def test_problems_found_while_planning_are_reported_together(setup: Setup, tmp_path: Path) -> None:
    """Unknown user, missing sops file, unknown template variable: all named, nothing written."""
    require_root()  # without root an unknown owner is only a warning
    suffix = os.urandom(3).hex()
    setup.config.write_text(BAD_PLAN.format(suffix=suffix))
    cli = make_cli(tmp_path)
    config = str(setup.config)

    def body() -> None:
        for command in (("render",), ("render", "--dry-run"), ("activate",)):
            done = cli(*command, *setup.args())
            # Problems of different kinds together: exit 1 (README, exit codes).
            assert done.returncode == ExitCode.GENERIC
            lines = done.stderr.splitlines()
            assert lines[0] == "secretsctl: error: 3 problems found; nothing was changed"
            assert sorted(lines[1:]) == sorted(
                [
                    f"  {config}:7:16: secrets.missing.sops_file: {setup.folder}/nope.yaml:"
                    " cannot read: No such file or directory",
                    f"  {config}:13:14: templates.t.content: line 1: 'nosuch' is not a secret of"
                    " this configuration",
                    f"  {config}:10:12: secrets.owned.owner: unknown user 'no-such-user-{suffix}'",
                ]
            )
            assert "Traceback" not in done.stderr
        assert_no_leak("\n".join(cli.outputs), fragments(setup.values.values()))
        assert not setup.root.exists(), "something was written"

    in_private_namespace(body)


def test_every_kind_of_problem_is_reported_in_one_run(setup: Setup, tmp_path: Path) -> None:
    """README: "bad configuration, missing users, ... templates that do not compile. They are
    reported together, one line each"."""
    require_root()
    suffix = os.urandom(3).hex()
    setup.config.write_text(
        BAD_PLAN.format(suffix=suffix).replace(
            "api_token: {}", 'api_token:\n    colour: blue\n    mode: "0999"'
        )
    )
    for command in ("render", "check"):
        done = make_cli(tmp_path)(command, *setup.args())
        # Problems of several kinds (an unreadable sops file is exit 2 alone): exit 1.
        assert done.returncode == ExitCode.GENERIC, done.stderr
        lines = done.stderr.splitlines()
        assert lines[0] == "secretsctl: error: 5 problems found; nothing was changed"
        for needle in (
            "api_token.colour",
            "api_token.mode",
            "nope.yaml",
            f"no-such-user-{suffix}",
            "nosuch",
        ):
            assert sum(needle in line for line in lines[1:]) == 1, (command, needle, lines)
        assert "Traceback" not in done.stderr
        assert not setup.root.exists()


# --- decryption failures leave the live generation -------------------------------------------


def test_decrypt_failures_leave_the_live_generation(
    users: Users, setup: Setup, tmp_path: Path, systemctl: Systemctl
) -> None:
    setup.config.write_text(users_config(users))
    cli = make_cli(tmp_path, systemctl)
    good = setup.sops_file.read_text()
    other_key = make_age_key(tmp_path, "other.txt")

    def failing(expected: int, needle: str) -> None:
        before = tree_listing(setup.root)
        target = os.readlink(setup.live)
        done = cli("render", *setup.args())
        assert done.returncode == expected, done.stderr
        assert done.stderr.startswith("secretsctl: error: ")
        assert needle in done.stderr
        assert "Traceback" not in done.stderr
        assert os.readlink(setup.live) == target
        assert tree_listing(setup.root) == before, "the live generation changed"
        assert systemctl.delivered() == []

    def body() -> None:
        assert cli("render", *setup.args()).returncode == 0
        live_bytes = {p: (setup.live / p).read_bytes() for p in ("api_token", "a/b/c")}
        systemctl.clear()
        # A key that opens nothing: 128.
        shutil.copy(other_key.key_file, setup.folder / "keys.txt")
        failing(ExitCode.COULD_NOT_RETRIEVE_KEY, str(setup.sops_file))
        shutil.copy(setup.sops.key.key_file, setup.folder / "keys.txt")
        # A tampered value: 25 (README: "a value failed to decrypt (tampered...)").
        setup.sops_file.write_text(re.sub(r"(db_password: ENC\[AES256_GCM,data:)(.)", _flip, good))
        failing(ExitCode.ERROR_DECRYPTING_TREE, "db_password")
        # A value added behind sops's back: the MAC no longer matches, 51.
        setup.sops_file.write_text(good + "added_unencrypted: x\n")
        failing(ExitCode.MAC_MISMATCH, "MAC mismatch")
        assert {p: (setup.live / p).read_bytes() for p in live_bytes} == live_bytes
        assert_no_leak("\n".join(cli.outputs), fragments(setup.values.values()))

    in_private_namespace(body)


# --- runtime paths that climb out of --root (issue 16) ----------------------------------------

PARENT_REFUSED = "must not have '..' components (a runtime path may not climb out of its folder)"
MANIFEST_FIELDS = {
    "path": "secrets[0] (test_key).path",
    "mount_point": "secretsMountPoint",
    "symlink_path": "symlinkPath",
}


def climbing(root: Path, target: Path) -> str:
    """A runtime path that names ``target`` once joined under ``root`` without a check."""
    return "/" + "../" * (len(root.parts) + 1) + str(target).lstrip("/")


def climbing_config(folder: Path, field: str, path: str) -> tuple[Path, str]:
    """A secretsctl.yaml with ``path`` as ``field``; return it and where the error points."""
    config = folder / "secretsctl.yaml"
    lines = [
        "defaults:",
        f"  sops_file: {SOPS_NIX_VECTORS / 'secrets.yaml'}",
        f"  age_key_file: {SOPS_NIX_VECTORS / 'age-keys.txt'}",
    ]
    if field != "path":
        lines.append(f"  {field}: '{path}'")
    lines += [
        "secrets:",
        f"  test_key: {{path: '{path}'}}" if field == "path" else "  test_key: {}",
    ]
    config.write_text("".join(line + "\n" for line in lines))
    number = next(i for i, line in enumerate(lines) if path in line)
    label = "secrets.test_key.path" if field == "path" else f"defaults.{field}"
    return config, f"{config}:{number + 1}:{lines[number].index(path)}: {label}"


def climbing_manifest(folder: Path, field: str, path: str) -> tuple[Path, str]:
    """A manifest.json with ``path`` as ``field``; return it and where the error points."""
    document = {
        "ageKeyFile": str(SOPS_NIX_VECTORS / "age-keys.txt"),
        "secrets": [
            nix_secret("test_key", "test_key", **({"path": path} if field == "path" else {}))
        ],
        "secretsMountPoint": path if field == "mount_point" else "/run/secrets.d",
        "symlinkPath": path if field == "symlink_path" else "/run/secrets",
    }
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps(document))
    return manifest, f"{manifest}: {MANIFEST_FIELDS[field]}"


@pytest.mark.parametrize("field", ["path", "mount_point", "symlink_path"])
@pytest.mark.parametrize("form", ["secretsctl.yaml", "manifest.json"])
def test_a_runtime_path_climbing_out_of_the_root_is_refused(
    tmp_path: Path, field: str, form: str
) -> None:
    """`/../../…/tmp/x` under --root R would be /tmp/x: refused (exit 5), nothing made anywhere."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    path = climbing(root, outside / "x")
    if form == "secretsctl.yaml":
        source, where = climbing_config(tmp_path, field, path)
        args = ("-m", str(source))
    else:
        source, where = climbing_manifest(tmp_path, field, path)
        args = ("--manifest", str(source))
    cli = make_cli(tmp_path)

    def body() -> None:
        mounted = mounts()
        for command in (("render",), ("render", "--dry-run"), ("activate",)):
            done = cli(*command, *args, "--root", str(root))
            assert done.returncode == ExitCode.ERROR_READING_CONFIG, done.stderr
            lines = done.stderr.splitlines()
            assert lines[:2] == [
                "secretsctl: error: 1 problem found; nothing was changed",
                f"  {where}: {PARENT_REFUSED}",
            ]
            assert len(lines) == 3
            assert lines[2].startswith("secretsctl: hint: ")
            assert "without '..'" in lines[2]
        assert not outside.exists(), "a path climbed out of the root"
        assert not root.exists(), "something was written"
        assert mounts() == mounted

    isolated(body)


# --- templates: errors never quote a value, sizes are bounded ---------------------------------


def template_config(
    folder: Path, key: AgeKey, values: dict[str, str], templates: dict[str, str]
) -> Path:
    """``folder``/secretsctl.yaml: the secrets ``values`` (a JSON sops file, any text in it)
    and inline templates; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = EncryptionSettings(key_groups=((key.recipient,),))
    sealed = encrypt_to_bytes(
        json.dumps(values).encode(),
        input_format=Format.JSON,
        output_format=Format.JSON,
        settings=settings,
        label="secrets.json",
    )
    (folder / "secrets.json").write_bytes(sealed)
    if not (folder / "keys.txt").exists():
        shutil.copy(key.key_file, folder / "keys.txt")
    lines = ["defaults:", "  sops_file: secrets.json", "  age_key_file: keys.txt", "secrets:"]
    lines += [f"  {json.dumps(name)}: {{}}" for name in values]
    lines += ["templates:"]
    for name, text in templates.items():
        lines += [f"  {json.dumps(name)}:", f"    content: {json.dumps(text)}"]
    config = folder / "secretsctl.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_a_template_error_never_quotes_a_value(tmp_path: Path, age_key: AgeKey) -> None:
    """`secrets[a]` (a typo for secrets["a"]) looked the value of `a` up and printed it."""
    values = {"a": f"Pa'ss\\word-{new_value()}", "b": f"it's-{new_value()}"}
    templates = {"t": "{{ secrets[a] }}", "u": "{{ {}[b|upper] }}", "v": "{{ {}[b[1:]] }}"}
    config = template_config(tmp_path / "in", age_key, values, templates)
    cli = make_cli(tmp_path)
    pieces = fragments(values.values(), [config.read_text(), str(tmp_path)], shortest=4)
    for flags in ((), ("--debug",)):
        done = cli(
            *flags, "render", "-m", str(config), "--root", str(tmp_path / "root"), "--dry-run"
        )
        assert_no_leak(done.stdout + done.stderr, pieces)  # first: the comparisons below show it
        assert done.returncode == ExitCode.ERROR_READING_CONFIG
        assert done.stdout == ""
        undefined = "looks up a name, key or attribute that does not exist"
        assert done.stderr.splitlines() == [
            "secretsctl: error: 3 problems found; nothing was changed",
            f"  {config}:9:14: templates.t.content: line 1: `{{{{ secrets[a] }}}}` {undefined}",
            f"  {config}:11:14: templates.u.content: line 1: `{{{{ {{}}[b|upper] }}}}` {undefined}",
            f"  {config}:13:14: templates.v.content: line 1: `{{{{ {{}}[b[1:]] }}}}` {undefined}",
        ]
    assert not (tmp_path / "root").exists()


BIG_INTEGER = "makes an integer of more than 4096 bits"
LONG_TEXT = "makes text or a list longer than 16777216 characters or items"
BIG_SIZE = "asks for a width or count above 1048576"


def test_template_sizes_are_bounded_and_nothing_changes(tmp_path: Path, age_key: AgeKey) -> None:
    """`{{ 10 ** 5000 }}` was an internal error, `10 ** 20000000` half a minute of CPU first:
    now a configuration error (exit 5) naming the line, and the live generation stays."""
    require_root()
    values = {"a": new_value()}
    good = {"ok": "N={{ 2 ** 10 }} {{ (a | length) * 3 }}\n"}
    folder, root = tmp_path / "in", tmp_path / "root"
    config = template_config(folder, age_key, values, good)
    cli = make_cli(tmp_path)
    live = root / "run" / "secrets"
    bad = [
        ("{{ 10 ** 5000 }}", BIG_INTEGER),
        ("{{ 10 ** 20000000 }}", BIG_INTEGER),
        ('{{ "a" * 10**9 }}', LONG_TEXT),
        ('{{ "x"|center(10**9) }}', BIG_SIZE),
        ('{{ "%999999999d" % 1 }}', BIG_SIZE),
    ]

    def body() -> None:
        first = cli("render", "-m", str(config), "--root", str(root))
        assert first.returncode == 0, first.stderr
        holds(live / "rendered" / "ok", "N=1024 108\n")
        before, target = tree_listing(root), os.readlink(live)
        for text, what in bad:
            template_config(folder, age_key, values, {**good, "big": text})
            for command in (("render",), ("render", "--dry-run"), ("--debug", "render")):
                # The subprocess timeout (60 s) is only a guard against a hang.
                done = cli(*command, "-m", str(config), "--root", str(root))
                assert done.returncode == ExitCode.ERROR_READING_CONFIG, (command, text)
                assert done.stdout == ""
                assert done.stderr.splitlines() == [
                    "secretsctl: error: 1 problem found; nothing was changed",
                    f"  {config}:10:14: templates.big.content: line 1: `{text}` {what}",
                ]
                assert tree_listing(root) == before, "a failed render changed the runtime tree"
                assert os.readlink(live) == target

    in_private_namespace(body)
