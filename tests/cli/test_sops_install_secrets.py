"""`sops-install-secrets`: the drop-in for sops-nix's runtime, driven as NixOS drives it.

The console script runs as a subprocess with a manifest of the shape Nix writes, pointing at
sops-nix's own test vectors (tests/vectors/sops-nix, opened by its age-keys.txt). It uses the
real runtime paths (/run/secrets.d, /run/secrets, /run/nixos, /run/secretsctl.lock), so every
test that installs runs as root in a forked child inside a private mount namespace, with a
fresh tmpfs mounted over /run that vanishes with the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from secretsctl.errors import ExitCode
from tests.activate_support import (
    Systemctl,
    Users,
    in_private_namespace,
    nix_secret,
    nix_template,
    placeholder,
    require_root,
    tree_listing,
)
from tests.cli.test_render import Cli, keys_gid, make_cli, mounts
from tests.conftest import SOPS_NIX_VECTORS
from tests.leds.secrets_support import same_secret
from tests.pgp_support import (  # noqa: F401 - a fixture
    VECTOR_KEY_ASC,
    VECTOR_PGP,
    VECTOR_SSH_PGP,
    VECTOR_SSH_RSA,
    GnupgHome,
    gnupg_home,
    require_gpg,
)

PROGRAM = str(Path(sys.executable).parent / "sops-install-secrets")
USAGE = "Usage: sops-install-secrets [-check-mode=manifest|sopsfile|off] [-ignore-passwd] MANIFEST"
UNITS = {
    "restartUnits": ["restart-unit.service", "reload-unit.service"],
    "reloadUnits": ["reload-trigger.service"],
}
RESTART_LIST = Path("/run/nixos/activation-restart-list")
RELOAD_LIST = Path("/run/nixos/activation-reload-list")
DRY_RESTART_LIST = Path("/run/nixos/dry-activation-restart-list")
DRY_RELOAD_LIST = Path("/run/nixos/dry-activation-reload-list")
LIVE = Path("/run/secrets")
VALUES = ("test_value", "another value")  # the sops-nix vectors' values (public test data)


def nix_manifest(
    folder: Path, secrets: list[dict[str, Any]], templates: list[dict[str, Any]], **top: Any
) -> Path:
    """Write a manifest.json as `builtins.toJSON` writes it (keys sorted); return its path."""
    document = {
        "ageKeyFile": str(SOPS_NIX_VECTORS / "age-keys.txt"),
        "ageSshKeyPaths": [],
        "gnupgHome": None,
        "keepGenerations": 1,
        "logging": {"keyImport": True, "secretChanges": True},
        "placeholderBySecretName": (
            {s["name"]: placeholder(s["name"]) for s in secrets} if templates else {}
        ),
        "secrets": secrets,
        "secretsMountPoint": "/run/secrets.d",
        "sshKeyPaths": [],
        "symlinkPath": "/run/secrets",
        "templates": templates,
        "useTmpfs": False,
        "userMode": False,
    }
    document.update(top)
    path = folder / f"manifest-{os.urandom(3).hex()}.json"
    path.write_text(json.dumps(document, sort_keys=True))
    return path


def restart_and_reload(folder: Path) -> Path:
    """The restart-and-reload VM test's configuration."""
    return nix_manifest(
        folder,
        [nix_secret("test_key", "test_key", **UNITS)],
        [nix_template("test_template", f"pw={placeholder('test_key')}\n", **UNITS)],
    )


def in_fresh_run(body: Callable[[], None], *, nixos: bool = True) -> None:
    """Run ``body`` as root in a private mount namespace with a new, empty tmpfs on /run."""
    require_root()
    outer = os.readlink("/proc/self/ns/mnt")

    def wrapped() -> None:
        assert os.readlink("/proc/self/ns/mnt") != outer, "not in a private mount namespace"
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "none", "/run"], check=True)
        if nixos:
            os.mkdir("/run/nixos")
        body()

    in_private_namespace(wrapped)


def installer(home: Path, systemctl: Systemctl | None = None, **extra: str) -> Cli:
    return make_cli(home, systemctl, **extra)


def run(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, program=PROGRAM)


def mount_type(path: str) -> str | None:
    for line in mounts():
        fields, _, rest = line.partition(" - ")
        if fields.split()[4] == path:
            return rest.split()[0]
    return None


def lists() -> dict[str, str]:
    """The NixOS unit list files present, by name."""
    folder = Path("/run/nixos")
    return {p.name: p.read_text() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def clear_lists() -> None:
    """What switch-to-configuration does after reading the lists."""
    for path in Path("/run/nixos").iterdir():
        path.unlink()


def no_value(cli: Cli) -> None:
    output = "\n".join(cli.outputs)
    assert not any(value in output for value in VALUES), "a value was printed"


# --- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-h", "--help", "-help"])
def test_help_prints_the_usage_and_does_nothing(flag: str, tmp_path: Path) -> None:
    done = run(installer(tmp_path), flag, str(tmp_path / "never-read.json"))
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == USAGE
    assert "-check-mode" in done.stderr
    assert "-ignore-passwd" in done.stderr


USAGE_ERRORS = [
    ((), "exactly one manifest path is required", True),
    (("-x", "m.json"), "flag provided but not defined: -x", False),
    (("--bogus=1", "m.json"), "flag provided but not defined: -bogus", False),
    (
        ("-check-mode=bogus", "m.json"),
        "invalid value 'bogus' for -check-mode: use manifest, sopsfile or off",
        False,
    ),
    (("-check-mode",), "flag needs an argument: -check-mode", False),
    (("-ignore-passwd=maybe", "m.json"), "invalid boolean value 'maybe' for -ignore-passwd", False),
    (("m.json", "-ignore-passwd"), "too many arguments", True),
]


@pytest.mark.parametrize(("args", "message", "hint"), USAGE_ERRORS)
def test_usage_errors(args: tuple[str, ...], message: str, hint: bool, tmp_path: Path) -> None:
    """Go flag syntax errors, and a missing manifest (an error, unlike sops-nix).

    They exit 1, as sops-nix's sops-install-secrets does.
    """
    done = run(installer(tmp_path), *args)
    assert done.returncode == ExitCode.GENERIC
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == f"secretsctl: error: {message}"
    if hint:
        assert lines[1:] == ["secretsctl: hint: run `sops-install-secrets -h` for the usage"]
    else:
        assert lines[1:] == []


def test_a_manifest_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    done = run(installer(tmp_path), str(missing))
    assert done.returncode == ExitCode.GENERIC
    assert done.stderr == (
        f"secretsctl: error: failed to open manifest: {missing}: No such file or directory\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"secrets": [}')
    done = run(installer(tmp_path), str(broken))
    assert done.returncode == ExitCode.GENERIC
    assert done.stderr.startswith(f"secretsctl: error: {broken}:1:14: failed to parse manifest: ")


def test_an_invalid_manifest_reports_every_problem(tmp_path: Path) -> None:
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("a", "test_key", format="JSON"),
            nix_secret("b", "test_key", mode="04755"),
            nix_secret("c", "sops"),
        ],
        [],
        gnupgHome="/var/lib/gnupg",
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == ExitCode.GENERIC
        lines = done.stderr.splitlines()
        assert lines[0] == "secretsctl: error: 4 problems found; nothing was changed"
        assert lines[-1] == "secretsctl: hint: the manifest is not valid"
        problems = lines[1:-1]
        assert problems[0] == (
            f"  {manifest}: gnupgHome and ageKeyFile were specified in the manifest. Both options"
            " are mutually exclusive."
        )
        assert problems[1] == (
            f"  {manifest}: secrets[0] (a).format: unsupported format JSON for secret a (one of:"
            " yaml, json, binary, dotenv, ini)"
        )
        assert problems[2].startswith(f"  {manifest}: secrets[1] (b).mode: ")
        assert problems[3] == (
            f"  {manifest}: secrets[2] (c).key: `sops` is the metadata of the file, not a secret"
        )
        if os.geteuid() == 0:
            assert sorted(os.listdir("/run")) == ["nixos"], "an invalid manifest wrote something"

    # As root, in a private /run: a regression cannot touch the host's.
    if os.geteuid() == 0:
        in_fresh_run(body)
    else:
        body()


def test_a_runtime_path_with_a_parent_component_is_refused(tmp_path: Path) -> None:
    """`/run/secrets.d/../escaped` would leave the folder it names: refused, not resolved."""
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key", path="/run/secrets.d/../escaped")],
        [],
        secretsMountPoint="/run/secrets.d/../mounted",
    )
    cli = installer(tmp_path)

    def body() -> None:
        mounted = mounts()
        done = run(cli, str(manifest))
        assert done.returncode == ExitCode.GENERIC, done.stderr
        refused = "must not have '..' components (a runtime path may not climb out of its folder)"
        assert done.stderr.splitlines() == [
            "secretsctl: error: 2 problems found; nothing was changed",
            f"  {manifest}: secretsMountPoint: {refused}",
            f"  {manifest}: secrets[0] (test_key).path: {refused}",
            "secretsctl: hint: the manifest is not valid; write the path without '..' components"
            " (the folder it leads to, in full)",
        ]
        assert sorted(os.listdir("/run")) == ["nixos"], "a refused manifest wrote something"
        assert mounts() == mounted

    in_fresh_run(body)


# --- check modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        ("-check-mode=manifest",),
        ("--check-mode=manifest",),
        ("-check-mode", "manifest"),
        ("--check-mode", "manifest"),
    ],
)
def test_check_mode_manifest_opens_no_sops_file_and_writes_nothing(
    spelling: tuple[str, ...], tmp_path: Path
) -> None:
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("a", "test_key", sopsFile=str(tmp_path / "missing.yaml")),
            nix_secret("b", "no/such/key", owner="no-such-user-secretsctl"),
        ],
        [],
        sshKeyPaths=["/non-existing-key"],
    )
    cli = installer(tmp_path)

    def body() -> None:
        before, mounted = tree_listing("/run"), mounts()
        done = run(cli, *spelling, str(manifest))
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert tree_listing("/run") == before, "a check wrote under /run"
        assert mounts() == mounted

    in_fresh_run(body)


def test_check_mode_sopsfile_reads_the_sops_files_but_looks_up_no_user(tmp_path: Path) -> None:
    good = nix_manifest(
        tmp_path, [nix_secret("b", "nested/test/file", owner="no-such-user-secretsctl")], []
    )
    missing = nix_manifest(
        tmp_path,
        [
            nix_secret("a", "test_key", sopsFile=str(tmp_path / "missing.yaml")),
            nix_secret("b", "no/such"),
        ],
        [],
    )
    cli = installer(tmp_path)

    def body() -> None:
        before = tree_listing("/run")
        done = run(cli, "-check-mode=sopsfile", str(good))
        assert done.returncode == 0, done.stderr
        failed = run(cli, "-check-mode", "sopsfile", str(missing))
        assert failed.returncode == ExitCode.GENERIC
        assert failed.stderr.splitlines()[0] == (
            "secretsctl: error: 2 problems found; nothing was changed"
        )
        assert f"{tmp_path}/missing.yaml: cannot read: No such file or directory" in failed.stderr
        assert "the key 'no' cannot be found" in failed.stderr
        assert tree_listing("/run") == before

    in_fresh_run(body)


# --- installing ------------------------------------------------------------------------------


@pytest.mark.parametrize("use_tmpfs", [False, True], ids=["ramfs", "tmpfs"])
def test_installs_a_nix_manifest(
    use_tmpfs: bool, users: Users, tmp_path: Path, systemctl: Systemctl
) -> None:
    """The templates and pgp-keys VM tests' checks, with age."""
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key", **UNITS),
            nix_secret(
                "nested/test/file",
                "nested/test/file",
                owner=users.alice,
                group=users.group,
                mode="0440",
            ),
            nix_secret("existing-file", "test_key", path="/run/existing-file"),
        ],
        [
            nix_template(
                "test_template",
                f"pw={placeholder('test_key')}\n",
                owner=users.alice,
                group=users.group,
                **UNITS,
            ),
            nix_template("test_default", "x", path="/run/externally/linked"),
            nix_template("test_ids", "y", uid=420, gid=420, mode="0444"),
        ],
        useTmpfs=use_tmpfs,
    )
    cli = installer(tmp_path, systemctl)

    def body() -> None:
        os.umask(0o077)
        Path("/run/existing-file").write_text("in the way")
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), "first activation: nothing to report"
        assert mount_type("/run/secrets.d") == ("tmpfs" if use_tmpfs else "ramfs")
        assert os.readlink(LIVE) == "/run/secrets.d/1"
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        assert (LIVE / "nested/test/file").read_bytes() == b"another value"
        assert (LIVE / "rendered/test_template").read_bytes() == b"pw=test_value\n"

        def owner_mode(path: Path) -> tuple[int, int, int]:
            info = path.lstat()
            return info.st_uid, info.st_gid, info.st_mode & 0o7777

        assert owner_mode(LIVE / "test_key") == (0, 0, 0o400)
        assert owner_mode(LIVE / "nested/test/file") == (users.alice_uid, users.group_gid, 0o440)
        assert owner_mode(LIVE / "rendered/test_template") == (
            users.alice_uid,
            users.group_gid,
            0o400,
        )
        assert owner_mode(LIVE / "rendered/test_ids") == (420, 420, 0o444)
        for folder in (
            "/run/secrets.d",
            "/run/secrets.d/1",
            "/run/secrets.d/1/nested",
            "/run/secrets.d/1/nested/test",
            "/run/secrets.d/1/rendered",
        ):
            assert owner_mode(Path(folder)) == (0, keys_gid(), 0o751), folder
        assert os.path.realpath("/run/existing-file") == "/run/secrets.d/1/existing-file"
        assert os.readlink("/run/existing-file") == "/run/secrets/existing-file"
        assert os.path.realpath("/run/externally/linked") == (
            "/run/secrets.d/1/rendered/test_default"
        )
        assert lists() == {}, "first activation: no list file"
        assert systemctl.calls() == []
        assert Path("/run/secrets.d/age-keys.txt").is_file(), "sops-nix writes its key file"

        again = run(cli, str(manifest))
        assert (again.returncode, again.stdout) == (0, "")
        assert sorted(os.listdir("/run/secrets.d")) == ["2", "age-keys.txt"], "still N+1"
        assert os.readlink("/run/secrets") == "/run/secrets.d/2"
        assert lists() == {}
        no_value(cli)

    in_fresh_run(body)


def test_a_real_directory_at_the_symlink_path_is_replaced(tmp_path: Path) -> None:
    """sops-nix's sops-age-keys VM test finds /run/secrets a directory; no --force needed."""
    manifest = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [])
    cli = installer(tmp_path)

    def body() -> None:
        os.mkdir("/run/secrets")
        Path("/run/secrets/stale").write_text("old\n")
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert os.readlink("/run/secrets") == "/run/secrets.d/1"
        assert sorted(os.listdir("/run/secrets")) == ["test_key"]

    in_fresh_run(body)


def test_pruning_as_sops_nix_vm_test(tmp_path: Path) -> None:
    """sops-nix's sops-pruning VM test: jump to generation 100, then keep 10 (91 goes, 92 stays)."""
    keep_all = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [], keepGenerations=0)
    keep_ten_dir = tmp_path / "ten"
    keep_ten_dir.mkdir()
    keep_ten = nix_manifest(
        keep_ten_dir, [nix_secret("test_key", "test_key")], [], keepGenerations=10
    )
    cli = installer(tmp_path)

    def body() -> None:
        assert run(cli, str(keep_all)).returncode == 0
        for number in range(2, 100):
            os.mkdir(f"/run/secrets.d/{number}")
        os.mkdir("/run/secrets.d/non-numeric")
        os.unlink("/run/secrets")
        os.symlink("/run/secrets.d/99", "/run/secrets")
        done = run(cli, str(keep_all))
        assert done.returncode == 0, done.stderr
        for kept in ("100", "1", "90", "non-numeric"):
            assert os.path.isdir(f"/run/secrets.d/{kept}"), kept
        done = run(cli, str(keep_ten))
        assert done.returncode == 0, done.stderr
        assert os.readlink("/run/secrets") == "/run/secrets.d/101"
        assert not os.path.exists("/run/secrets.d/91")
        assert os.path.isdir("/run/secrets.d/92")
        assert os.path.isdir("/run/secrets.d/non-numeric")

    in_fresh_run(body)


@pytest.mark.parametrize(
    ("spelling", "root_owned"),
    [
        (("-ignore-passwd",), True),
        (("--ignore-passwd",), True),
        (("-ignore-passwd=true",), True),
        (("--ignore-passwd=false",), False),
    ],
)
def test_ignore_passwd(
    spelling: tuple[str, ...], root_owned: bool, users: Users, tmp_path: Path
) -> None:
    """No lookups: every file 0:0 and the directories' group 0."""
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key", owner=users.alice, group=users.group)],
        [],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, *spelling, str(manifest))
        assert done.returncode == 0, done.stderr
        info = os.stat(LIVE / "test_key")
        owners = (0, 0) if root_owned else (users.alice_uid, users.group_gid)
        assert (info.st_uid, info.st_gid) == owners
        assert os.stat("/run/secrets.d/1").st_gid == (0 if root_owned else keys_gid())

    in_fresh_run(body)


def test_ssh_ed25519_host_key_through_ssh_to_age(tmp_path: Path) -> None:
    """ageSshKeyPaths alone opens the vectors; a non-RSA sshKeyPaths key is skipped, named."""
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        ageKeyFile=None,
        ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
        sshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        imported, *rest = done.stderr.splitlines()
        # sops-nix's keyImport line: the key's path and its age recipient.
        assert imported.startswith(
            f"sops-install-secrets: Imported {SOPS_NIX_VECTORS / 'ssh-ed25519-key'} as age key"
            " with fingerprint age1a8pk"
        )
        assert rest == [
            f"secretsctl: warning: sshKeyPaths {SOPS_NIX_VECTORS / 'ssh-ed25519-key'}: only RSA"
            " keys can be imported as GPG keys (skipped)"
        ]

    in_fresh_run(body)


def test_ssh_rsa_key_paths_are_imported_as_gpg_keys(tmp_path: Path) -> None:
    """sops-nix's sshKeyPaths: the RSA host key opens the PGP entry, and its log line."""
    require_gpg()
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        ageKeyFile=None,
        sshKeyPaths=[str(VECTOR_SSH_RSA)],
    )
    cli = installer(tmp_path)

    def body() -> None:
        shm_before = set(os.listdir("/dev/shm"))
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        first = done.stdout.splitlines()[0]
        assert first == (
            f"sops-install-secrets: Imported {VECTOR_SSH_RSA} as GPG key with fingerprint"
            f" {VECTOR_SSH_PGP.lower()}"
        )
        assert done.stderr == ""
        left = {p for p in set(os.listdir("/dev/shm")) - shm_before if p.startswith("gpg")}
        assert not left, "the temporary GnuPG home was left behind"
        no_value(cli)

    in_fresh_run(body)


def test_gnupg_home_opens_a_json_file(tmp_path: Path, gnupg_home: GnupgHome) -> None:
    """gnupgHome: sops-nix's PGP-only secrets.json through the home holding key.asc."""
    gnupg_home.import_key(VECTOR_KEY_ASC)
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret(
                "test_key",
                "test_key",
                format="json",
                sopsFile=str(SOPS_NIX_VECTORS / "secrets.json"),
            )
        ],
        [],
        ageKeyFile=None,
        gnupgHome=str(gnupg_home.path),
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        no_value(cli)

    in_fresh_run(body)


def test_gnupg_home_without_the_key_fails_naming_it(tmp_path: Path, gnupg_home: GnupgHome) -> None:
    gnupg_home.generate("other", "ed25519")
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret(
                "test_key",
                "test_key",
                format="json",
                sopsFile=str(SOPS_NIX_VECTORS / "secrets.json"),
            )
        ],
        [],
        ageKeyFile=None,
        gnupgHome=str(gnupg_home.path),
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == ExitCode.GENERIC, done.stderr
        assert f"pgp:{VECTOR_PGP}: gpg: decryption failed: No secret key" in done.stderr
        assert "Traceback" not in done.stderr
        assert not LIVE.exists(), "a generation went live"

    in_fresh_run(body)


def test_key_import_logging_off_prints_no_import_line(tmp_path: Path) -> None:
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        ageKeyFile=None,
        ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
        logging={"keyImport": False, "secretChanges": True},
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert "Imported" not in done.stderr

    in_fresh_run(body)


def test_keep_generations_and_no_change_log(tmp_path: Path, systemctl: Systemctl) -> None:
    """keepGenerations 2 prunes to two; logging.secretChanges false prints no change line."""
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key", **UNITS)],
        [],
        keepGenerations=2,
        logging={"keyImport": False, "secretChanges": False},
    )
    cli = installer(tmp_path, systemctl)

    def body() -> None:
        assert run(cli, str(manifest)).returncode == 0
        os.mkdir("/run/secrets.d/non-numeric")  # on the mount (made by the run): never pruned
        for expected in (["1", "2"], ["2", "3"], ["3", "4"]):
            truncate(LIVE / "test_key")
            done = run(cli, str(manifest))
            assert (done.returncode, done.stdout) == (0, ""), done.stderr
            assert sorted(os.listdir("/run/secrets.d")) == [
                *expected,
                "age-keys.txt",
                "non-numeric",
            ]
        assert lists() == {
            RESTART_LIST.name: "restart-unit.service\nreload-unit.service\n" * 3,
            RELOAD_LIST.name: "reload-trigger.service\n" * 3,
        }, "units are told without the change log"

    in_fresh_run(body)


def test_user_mode(tmp_path: Path, systemctl: Systemctl) -> None:
    """%r and %%, no mount, no chown, no units, no change log."""
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key", path="%r/secrets/test_key", uid=420, **UNITS),
            nix_secret("nested/test/file", "nested/test/file", path="%r/link-%%-x"),
        ],
        [],
        userMode=True,
        secretsMountPoint="%r/secrets.d",
        symlinkPath="%r/secrets",
    )
    cli = installer(tmp_path, systemctl, XDG_RUNTIME_DIR="/run/user/4242")

    def body() -> None:
        os.makedirs("/run/user/4242")
        mounted = mounts()
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        home = Path("/run/user/4242")
        assert os.readlink(home / "secrets") == "/run/user/4242/secrets.d/1"
        same_secret((home / "secrets/test_key").read_bytes(), b"test_value", "test_key")
        assert os.stat(home / "secrets/test_key").st_uid == 0, "user mode chowns nothing"
        assert os.readlink(home / "link-%-x") == "/run/user/4242/secrets/nested/test/file"
        assert mounts() == mounted, "user mode mounts nothing"
        truncate(home / "secrets/test_key")
        again = run(cli, str(manifest))
        assert (again.returncode, again.stdout) == (0, ""), "user mode: no change log"
        assert sorted(os.listdir(home / "secrets.d")) == ["2", "age-keys.txt"]
        assert lists() == {}
        assert systemctl.calls() == [], "user mode: no unit is told"
        del cli.env["XDG_RUNTIME_DIR"]
        unset = run(cli, str(manifest))
        assert unset.returncode == ExitCode.GENERIC
        assert "cannot figure out runtime directory: $XDG_RUNTIME_DIR is not set" in unset.stderr
        assert run(cli, "-check-mode=manifest", str(manifest)).returncode == 0

    in_fresh_run(body)


# --- restarts and reloads: sops-nix's restart-and-reload VM test ----------------------------


def truncate(path: Path) -> None:
    os.truncate(path, 0)


def test_restart_and_reload_sequence_with_list_files(tmp_path: Path, systemctl: Systemctl) -> None:
    """The default delivery: NixOS's list files under /run/nixos."""
    manifest = str(restart_and_reload(tmp_path))
    cli = installer(tmp_path, systemctl)
    restart = "restart-unit.service\nreload-unit.service\n"
    reload = "reload-trigger.service\n"

    def step(expected: list[str], *, dry: bool = False) -> dict[str, str]:
        if dry:
            cli.env["NIXOS_ACTION"] = "dry-activate"
        done = run(cli, manifest)
        cli.env.pop("NIXOS_ACTION", None)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == expected
        assert "would restart" not in done.stderr
        found = lists()
        clear_lists()
        return found

    def body() -> None:
        # 1. boot: no list files
        assert step([]) == {}
        # 2. nothing changed
        assert step([]) == {}
        # 3. a truncated secret, then a truncated template
        truncate(LIVE / "test_key")
        assert step(["modifying secret: test_key"]) == {
            RESTART_LIST.name: restart,
            RELOAD_LIST.name: reload,
        }
        truncate(LIVE / "rendered/test_template")
        assert step(["modifying rendered secret: test_template"]) == {
            RESTART_LIST.name: restart,
            RELOAD_LIST.name: reload,
        }
        # 4. the exact change-log lines; units named twice are listed once
        os.unlink(LIVE / "test_key")
        os.unlink(LIVE / "rendered/test_template")
        assert step(["adding secret: test_key", "adding rendered secret: test_template"]) == {
            RESTART_LIST.name: restart,
            RELOAD_LIST.name: reload,
        }
        truncate(LIVE / "test_key")
        truncate(LIVE / "rendered/test_template")
        assert step(["modifying secret: test_key", "modifying rendered secret: test_template"]) == {
            RESTART_LIST.name: restart,
            RELOAD_LIST.name: reload,
        }
        (LIVE / "another_key").write_text("x")
        (LIVE / "rendered/another_template").write_text("y")
        assert (
            step(["removing secret: another_key", "removing rendered secret: another_template"])
            == {}
        ), "removed items trigger nothing"
        # 5. dry-activate, one added and one removed item of each kind: only the dry lists
        os.unlink(LIVE / "test_key")
        os.unlink(LIVE / "rendered/test_template")
        (LIVE / "another_key").write_text("x")
        (LIVE / "rendered/another_template").write_text("y")
        before = tree_listing("/run", exclude=("/run/nixos",))
        generations = sorted(os.listdir("/run/secrets.d"))
        dry = step(
            [
                "would add secret: test_key",
                "would remove secret: another_key",
                "would add rendered secret: test_template",
                "would remove rendered secret: another_template",
            ],
            dry=True,
        )
        assert dry == {DRY_RESTART_LIST.name: restart, DRY_RELOAD_LIST.name: reload}
        after = tree_listing("/run", exclude=("/run/nixos",))
        assert {k: v for k, v in after.items() if not k.startswith("nixos/")} == {
            k: v for k, v in before.items() if not k.startswith("nixos/")
        }, "dry-activate changed the live tree"
        assert sorted(os.listdir("/run/secrets.d")) == generations, "a dry generation was made"
        # 6. a real activation repairs the tree
        step(
            [
                "adding secret: test_key",
                "removing secret: another_key",
                "adding rendered secret: test_template",
                "removing rendered secret: another_template",
            ]
        )
        assert sorted(p.name for p in LIVE.iterdir()) == ["rendered", "test_key"]
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        # 7. dry-activate after truncating: reported, not repaired, nothing to restart
        truncate(LIVE / "test_key")
        assert step(["would modify secret: test_key"], dry=True) == {
            DRY_RESTART_LIST.name: "restart-unit.service\nreload-unit.service\n",
            DRY_RELOAD_LIST.name: reload,
        }
        assert (LIVE / "test_key").read_bytes() == b""
        assert systemctl.delivered() == [], "list files, not systemctl"
        no_value(cli)

    in_fresh_run(body)


def test_restart_and_reload_sequence_via_systemctl(tmp_path: Path, systemctl: Systemctl) -> None:
    """SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1: systemctl --no-block, and no list file at all."""
    manifest = str(restart_and_reload(tmp_path))
    cli = installer(tmp_path, systemctl, SOPS_RESTART_UNITS_VIA_SYSTEMCTL="1")
    restart = ["--no-block", "try-restart", "restart-unit.service", "reload-unit.service"]
    reload = ["--no-block", "try-reload-or-restart", "reload-trigger.service"]

    def step(expected: list[str], *, dry: bool = False) -> list[list[str]]:
        systemctl.clear()
        if dry:
            cli.env["NIXOS_ACTION"] = "dry-activate"
        done = run(cli, manifest)
        cli.env.pop("NIXOS_ACTION", None)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == expected
        units = [line for line in done.stderr.splitlines() if line.startswith("would ")]
        assert units == (
            [
                "would restart restart-unit.service",
                "would restart reload-unit.service",
                "would reload reload-trigger.service",
            ]
            if dry and expected and "remove" not in expected[0]
            else []
        )
        assert lists() == {}, "systemctl delivery writes no list file"
        return systemctl.delivered()

    def body() -> None:
        assert step([]) == []
        assert systemctl.calls() == []
        assert step([]) == []
        truncate(LIVE / "test_key")
        assert step(["modifying secret: test_key"]) == [restart, reload]
        truncate(LIVE / "rendered/test_template")
        assert step(["modifying rendered secret: test_template"]) == [restart, reload]
        os.unlink(LIVE / "test_key")
        os.unlink(LIVE / "rendered/test_template")
        assert step(["adding secret: test_key", "adding rendered secret: test_template"]) == [
            restart,
            reload,
        ]
        (LIVE / "another_key").write_text("x")
        (LIVE / "rendered/another_template").write_text("y")
        assert (
            step(["removing secret: another_key", "removing rendered secret: another_template"])
            == []
        )
        truncate(LIVE / "test_key")
        assert step(["would modify secret: test_key"], dry=True) == [], "dry: nothing run"
        assert (LIVE / "test_key").read_bytes() == b""
        assert step(["modifying secret: test_key"]) == [restart, reload]
        no_value(cli)

    in_fresh_run(body)


def test_dry_activate_on_a_fresh_machine_writes_nothing(
    tmp_path: Path, systemctl: Systemctl
) -> None:
    """A dry activation: no mount, no key file, no generation, no symlink, not even a lock file."""
    manifest = str(restart_and_reload(tmp_path))
    cli = installer(tmp_path, systemctl, NIXOS_ACTION="dry-activate")

    def body() -> None:
        mounted = mounts()
        done = run(cli, manifest)
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert mounts() == mounted
        listing = tree_listing("/run")
        assert sorted(listing) == ["nixos"]
        assert systemctl.calls() == []

    in_fresh_run(body)


def test_dry_activate_looks_up_no_user(tmp_path: Path) -> None:
    manifest = str(
        nix_manifest(tmp_path, [nix_secret("test_key", "test_key", owner="new-user-xyz")], [])
    )
    cli = installer(tmp_path, NIXOS_ACTION="dry-activate")

    def body() -> None:
        done = run(cli, manifest)
        assert done.returncode == 0, done.stderr
        assert not Path("/run/secrets.d").exists()

    in_fresh_run(body)
