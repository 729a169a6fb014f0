"""sops-nix's own tests, replayed against the `sops-install-secrets` drop-in.

Each test here is one test of sops-nix (Mic92/sops-nix at 56b2406): a Go test of
pkgs/sops-install-secrets/main_test.go, or the testScript of a VM test in
checks/nixos-test.nix, with its configuration written as the manifest the NixOS module
writes. They assert what the originals assert (contents, owners, modes, link targets,
generation numbers), comparing contents with what the real sops binary decrypts, never
printing a value. Real users come from useradd (the ``users`` fixture), real mounts from a
private mount namespace with a fresh tmpfs on /run, real keys from sops-nix's test assets.

Already replayed in test_sops_install_secrets.py, so not repeated here: sops-pruning,
sops-restart-and-reload, sops-ssh-keys (RSA host key through gpg), the directory at
/run/secrets of sops-age-keys, gnupgHome, user mode and dry activation.

Where a VM test touches the host outside /run (/etc/externally/linked in sops-templates,
/tmp/testkey in sops-age-ssh-keys), the replay uses a folder under /run or the test's own
folder instead. The last tests pin the deliberate differences the replay found (README,
"Differences from sops-nix").
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.activate_support import Systemctl, Users, nix_secret, nix_template, placeholder
from tests.cli.test_render import keys_gid
from tests.cli.test_sops_install_secrets import (
    LIVE,
    in_fresh_run,
    installer,
    lists,
    mount_type,
    nix_manifest,
    no_value,
    run,
)
from tests.conftest import SOPS_NIX_VECTORS, sops_binary
from tests.leds.secrets_support import same_secret
from tests.pgp_support import VECTOR_KEY_ASC, GnupgHome, require_gpg, stop_agent

GNUPGHOME_VECTOR = SOPS_NIX_VECTORS / "gnupghome"


def sops_decrypt(path: Path, file_format: str, *, extract: str | None = None, **env: str) -> bytes:
    """What the real sops binary decrypts (as sops-nix's Go code, through the sops library)."""
    args = [sops_binary(), "decrypt", "--input-type", file_format, "--output-type", file_format]
    if extract is not None:
        args += ["--extract", extract]
    done = subprocess.run(
        [*args, str(path)],
        capture_output=True,
        check=False,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/var/empty", **env},
    )
    assert done.returncode == 0, "sops could not decrypt the vector (its stderr not shown)"
    return done.stdout


def go_secret(name: str, key: str, target: Path, **fields: Any) -> dict[str, Any]:
    """A secret as main_test.go's ``secret`` struct encodes (``format`` empty unless set)."""
    entry: dict[str, Any] = {
        "name": name,
        "key": key,
        "path": str(target),
        "owner": "nobody",
        "uid": 0,
        "group": "nogroup",
        "gid": 0,
        "sopsFile": str(SOPS_NIX_VECTORS / "secrets.yaml"),
        "format": "",
        "mode": "0400",
        "restartUnits": ["affected-service"],
        "reloadUnits": ["affected-reload-service"],
    }
    entry.update(fields)
    return entry


def go_manifest(folder: Path, secrets: list[dict[str, Any]], **top: Any) -> Path:
    """manifest.json as main_test.go's writeManifest encodes the Go ``manifest`` struct."""
    document: dict[str, Any] = {
        "secrets": secrets,
        "templates": None,
        "placeholderBySecretName": None,
        "secretsMountPoint": str(folder / "secrets.d"),
        "symlinkPath": str(folder / "secrets"),
        "keepGenerations": 0,
        "sshKeyPaths": None,
        "gnupgHome": "",
        "ageKeyFile": "",
        "ageSshKeyPaths": None,
        "useTmpfs": False,
        "userMode": False,
        "logging": {"keyImport": False, "secretChanges": False},
    }
    document.update(top)
    path = folder / "manifest.json"
    path.write_text(json.dumps(document) + "\n")
    return path


def go_testdir(tmp_path: Path) -> Path:
    """newTestDir: a fresh folder holding secrets.d (the mount point) and secrets (the link)."""
    folder = tmp_path / "symlinkDir"
    folder.mkdir()
    return folder


def user_name(uid: int) -> str:
    """``stat -c%U``: the user's name, or UNKNOWN."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "UNKNOWN"


def group_name(gid: int) -> str:
    """``stat -c%G``: the group's name, or UNKNOWN."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return "UNKNOWN"


def unused_id() -> int:
    """A number that is neither a user's nor a group's id here (the VM test's 1001)."""
    for number in range(1001, 60000):
        try:
            pwd.getpwuid(number)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(number)
        except KeyError:
            return number
    raise AssertionError("no free id")


def copy_gnupghome(target: Path) -> None:
    """``cp -r test-assets/gnupghome TARGET; chmod -R 700 TARGET``."""
    shutil.copytree(GNUPGHOME_VECTOR, target)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o700)


def existing_target(folder: Path) -> Path:
    """main_test.go's ``existing-target``: an empty file where the secret's link goes."""
    target = folder / "existing-target"
    target.touch()
    return target


# --- main_test.go ----------------------------------------------------------------------------


@pytest.mark.interop  # the real sops decrypts the expected values
def test_gpg(tmp_path: Path) -> None:
    """testGPG as written: test2..test5 have paths in the mount point (links to the live ones)."""
    replay_gpg(tmp_path, in_mount_point=True)


@pytest.mark.interop  # the real sops decrypts the expected values
def test_gpg_at_the_default_paths(tmp_path: Path) -> None:
    """testGPG with test2..test5 at their default paths: every other assertion, today."""
    replay_gpg(tmp_path, in_mount_point=False)


def replay_gpg(tmp_path: Path, *, in_mount_point: bool) -> None:
    """testGPG: five formats through a GnuPG home holding key.asc, a link, owners, modes."""
    require_gpg()
    testdir = go_testdir(tmp_path)
    secrets_path, symlink_path = testdir / "secrets.d", testdir / "secrets"
    folder = secrets_path if in_mount_point else symlink_path
    gpg_home = testdir / "gpg-home"
    gpg_home.mkdir(mode=0o700)
    GnupgHome(gpg_home).import_key(VECTOR_KEY_ASC)
    yaml_secret = go_secret("test", "test_key", testdir / "test-target")
    root = {"owner": "root", "group": "root"}
    json_secret = go_secret(
        "test2",
        "test_key",
        folder / "test2",
        format="json",
        sopsFile=str(SOPS_NIX_VECTORS / "secrets.json"),
        mode="0700",
        **root,
    )
    binary_secret = go_secret(
        "test3",
        "test_key",
        folder / "test3",
        format="binary",
        sopsFile=str(SOPS_NIX_VECTORS / "secrets.bin"),
    )
    dotenv_secret = go_secret(
        "test4",
        "test_key",
        folder / "test4",
        format="dotenv",
        sopsFile=str(SOPS_NIX_VECTORS / "secrets.env"),
        **root,
    )
    ini_secret = go_secret(
        "test5",
        "test_key",
        folder / "test5",
        format="ini",
        sopsFile=str(SOPS_NIX_VECTORS / "secrets.ini"),
        **root,
    )
    manifest = go_manifest(
        testdir,
        [yaml_secret, json_secret, binary_secret, dotenv_secret, ini_secret],
        gnupgHome=str(gpg_home),
    )
    gnupg = {"GNUPGHOME": str(gpg_home)}
    expected = {
        "test": sops_decrypt(
            SOPS_NIX_VECTORS / "secrets.yaml", "yaml", extract='["test_key"]', **gnupg
        ),
        "test2": sops_decrypt(
            SOPS_NIX_VECTORS / "secrets.json", "json", extract='["test_key"]', **gnupg
        ),
        "test3": sops_decrypt(SOPS_NIX_VECTORS / "secrets.bin", "binary", **gnupg),
        "test4": sops_decrypt(SOPS_NIX_VECTORS / "secrets.env", "dotenv", **gnupg),
        "test5": sops_decrypt(SOPS_NIX_VECTORS / "secrets.ini", "ini", **gnupg),
    }
    cli = installer(tmp_path)

    def body() -> None:
        try:
            done = run(cli, str(manifest))
            assert done.returncode == 0, done.stderr
            assert (done.stdout, done.stderr) == ("", ""), "logging is off: nothing to say"
            assert secrets_path.is_dir()
            assert mount_type(str(secrets_path)) == "ramfs"
            assert symlink_path.exists()
            yaml_path = Path(yaml_secret["path"])
            assert yaml_path.is_symlink()
            info = yaml_path.stat()
            assert stat.S_ISREG(info.st_mode)
            assert stat.S_IMODE(info.st_mode) == 0o400
            same_secret(yaml_path.read_bytes(), b"test_value", "the yaml secret")
            same_secret(yaml_path.read_bytes(), expected["test"], "the yaml secret (sops)")
            assert user_name(info.st_uid) == "nobody"
            assert group_name(info.st_gid) == "nogroup"
            json_info = os.stat(json_secret["path"])
            assert stat.S_ISREG(json_info.st_mode)
            assert stat.S_IMODE(json_info.st_mode) == 0o700
            assert (json_info.st_uid, json_info.st_gid) == (0, 0)
            assert len(Path(binary_secret["path"]).read_bytes()) == 13
            for name in ("test2", "test3", "test4", "test5"):
                same_secret((symlink_path / name).read_bytes(), expected[name], name)
            assert lists() == {}, "first installation: no unit is told"
            no_value(cli)

            again = run(cli, str(manifest))
            assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), again.stderr
            assert os.readlink(symlink_path) == str(secrets_path / "2")
        finally:
            stop_agent(gpg_home)

    in_fresh_run(body)


def test_ssh_key(tmp_path: Path) -> None:
    """testSSHKey: the RSA ssh-key imported as a GPG key; an existing file becomes the link."""
    require_gpg()
    testdir = go_testdir(tmp_path)
    target = existing_target(testdir)
    manifest = go_manifest(
        testdir,
        [go_secret("test", "test_key", target)],
        sshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-key")],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), "logging is off: nothing to say"
        assert target.is_symlink()
        assert os.readlink(target) == str(testdir / "secrets" / "test")
        same_secret(target.read_bytes(), b"test_value", "the secret")

    in_fresh_run(body)


@pytest.mark.interop  # the real sops decrypts the expected values
def test_age(tmp_path: Path) -> None:
    """TestAge: ageKeyFile opens secrets.yaml; an existing file becomes the link."""
    testdir = go_testdir(tmp_path)
    target = existing_target(testdir)
    manifest = go_manifest(
        testdir,
        [go_secret("test", "test_key", target)],
        ageKeyFile=str(SOPS_NIX_VECTORS / "age-keys.txt"),
    )
    expected = sops_decrypt(
        SOPS_NIX_VECTORS / "secrets.yaml",
        "yaml",
        extract='["test_key"]',
        SOPS_AGE_KEY_FILE=str(SOPS_NIX_VECTORS / "age-keys.txt"),
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), "logging is off: nothing to say"
        assert target.is_symlink()
        same_secret(target.read_bytes(), expected, "the secret")
        info = target.stat()
        assert (user_name(info.st_uid), group_name(info.st_gid)) == ("nobody", "nogroup")
        link = target.lstat()  # main.go's SecureSymlinkChown: the link is the owner's too
        assert (user_name(link.st_uid), group_name(link.st_gid)) == ("nobody", "nogroup")

    in_fresh_run(body)


def test_age_with_ssh(tmp_path: Path) -> None:
    """TestAgeWithSSH: the ed25519 ssh key through ssh-to-age opens secrets.yaml."""
    testdir = go_testdir(tmp_path)
    target = existing_target(testdir)
    manifest = go_manifest(
        testdir,
        [go_secret("test", "test_key", target)],
        ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), "logging is off: nothing to say"
        same_secret(target.read_bytes(), b"test_value", "the secret")

    in_fresh_run(body)


def test_age_with_ssh_writes_the_combined_key_file(tmp_path: Path) -> None:
    """main.go writes secretsMountPoint/age-keys.txt (0600): the converted key, then the file's."""
    testdir = go_testdir(tmp_path)
    target = existing_target(testdir)
    manifest = go_manifest(
        testdir,
        [go_secret("test", "test_key", target)],
        ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
        ageKeyFile=str(SOPS_NIX_VECTORS / "age-keys.txt"),
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert (done.stdout, done.stderr) == ("", ""), "logging is off: nothing to say"
        key_file = testdir / "secrets.d" / "age-keys.txt"
        info = key_file.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        identities = [
            line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
        ]
        assert len(identities) == 2, "the ssh key's and the key file's identities"
        same_secret(
            identities[1] + "\n" in (SOPS_NIX_VECTORS / "age-keys.txt").read_text(),
            True,
            "the key file's identity",
        )

    in_fresh_run(body)


def test_validate_manifest(tmp_path: Path) -> None:
    """TestValidateManifest: both check modes pass though the ssh key does not exist."""
    testdir = go_testdir(tmp_path)
    manifest = go_manifest(
        testdir,
        [go_secret("test", "test_key", testdir / "test-target", restartUnits=[], reloadUnits=[])],
        sshKeyPaths=["non-existing-key"],
    )
    cli = installer(tmp_path)

    def body() -> None:
        for mode in ("manifest", "sopsfile"):
            done = run(cli, f"-check-mode={mode}", str(manifest))
            assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), mode
        assert sorted(os.listdir("/run")) == ["nixos"], "a check wrote under /run"
        assert sorted(os.listdir(testdir)) == ["manifest.json"], "a check wrote a file"

    in_fresh_run(body)


@pytest.mark.parametrize("name", ["yaml", "json", "binary", "dotenv", "ini"])
def test_is_valid_format(name: str, tmp_path: Path) -> None:
    """TestIsValidFormat: the lower-case names are formats, their upper-case spellings not.

    sops-nix's manifest reader turns an unknown format into yaml, so IsValidFormat never
    sees one at run time; the drop-in refuses it instead (docs/migrating.md).
    """

    def check(spelling: str) -> subprocess.CompletedProcess[str]:
        folder = tmp_path / spelling
        folder.mkdir()
        manifest = go_manifest(
            folder, [go_secret("test", "test_key", folder / "t", format=spelling)]
        )
        return run(installer(tmp_path), "-check-mode=manifest", str(manifest))

    assert check(name).returncode == 0
    refused = check(name.upper())
    assert refused.returncode == 1
    assert f"unsupported format {name.upper()} for secret test" in refused.stderr


# --- checks/nixos-test.nix --------------------------------------------------------------------


def age_key_at_run() -> str:
    """``cp test-assets/age-keys.txt /run/age-keys.txt; chmod -R 700`` (the initrd step)."""
    shutil.copyfile(SOPS_NIX_VECTORS / "age-keys.txt", "/run/age-keys.txt")
    os.chmod("/run/age-keys.txt", 0o700)
    return "/run/age-keys.txt"


def test_vm_age_keys(users: Users, tmp_path: Path) -> None:
    """sops-age-keys: owners given as uid/gid numbers, known and unknown."""
    unknown = unused_id()
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key"),
            nix_secret(
                "test_key_someuser_somegroup", "test_key", uid=users.alice_uid, gid=users.group_gid
            ),
            nix_secret("test_key_someuser_root", "test_key", uid=users.alice_uid),
            nix_secret("test_key_root_root", "test_key"),
            nix_secret("test_key_1001_1001", "test_key", uid=unknown, gid=unknown),
        ],
        [],
        ageKeyFile="/run/age-keys.txt",
    )
    cli = installer(tmp_path)

    def body() -> None:
        age_key_at_run()
        os.mkdir("/run/secrets")  # "if the directory exists, sops-nix should replace it"
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")

        def owner(name: str) -> tuple[int, int, str, str]:
            info = (LIVE / name).stat()
            return info.st_uid, info.st_gid, user_name(info.st_uid), group_name(info.st_gid)

        assert owner("test_key_someuser_somegroup") == (
            users.alice_uid,
            users.group_gid,
            users.alice,
            users.group,
        )
        assert owner("test_key_someuser_root") == (users.alice_uid, 0, users.alice, "root")
        assert owner("test_key_root_root") == (0, 0, "root", "root")
        assert owner("test_key_1001_1001") == (unknown, unknown, "UNKNOWN", "UNKNOWN")

    in_fresh_run(body)


def test_vm_age_ssh_keys(tmp_path: Path) -> None:
    """sops-age-ssh-keys: a generated key file (not a recipient) next to the ed25519 host key."""
    key_file = tmp_path / "testkey"  # the VM test's /tmp/testkey
    subprocess.run(["age-keygen", "-o", str(key_file)], capture_output=True, check=True)
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [],
        ageKeyFile=str(key_file),
        ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")],
    )
    cli = installer(tmp_path)

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")

    in_fresh_run(body)


def test_vm_pgp_keys(users: Users, tmp_path: Path) -> None:
    """sops-pgp-keys: sops-nix's own GnuPG home, read by its owner, an existing file linked."""
    require_gpg()
    manifest = nix_manifest(
        tmp_path,
        [
            nix_secret("test_key", "test_key", owner=users.alice),
            nix_secret("nested/test/file", "nested/test/file", owner=users.alice),
            nix_secret("existing-file", "test_key", path="/run/existing-file"),
        ],
        [],
        ageKeyFile=None,
        gnupgHome="/run/gpghome",
    )
    cli = installer(tmp_path)

    def body() -> None:
        try:
            copy_gnupghome(Path("/run/gpghome"))
            Path("/run/existing-file").touch()
            done = run(cli, str(manifest))
            assert done.returncode == 0, done.stderr
            same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
            as_owner = subprocess.run(
                ["runuser", "-u", users.alice, "--", "cat", "/run/secrets/test_key"],
                capture_output=True,
                check=False,
            )
            assert as_owner.returncode == 0, "its owner cannot read the secret"
            same_secret(as_owner.stdout, b"test_value", "test_key as its owner")
            same_secret(
                (LIVE / "nested/test/file").read_bytes(), b"another value", "nested/test/file"
            )
            assert os.path.realpath("/run/existing-file") == "/run/secrets.d/1/existing-file"
            no_value(cli)
        finally:
            stop_agent(Path("/run/gpghome"))

    in_fresh_run(body)


TEMPLATE = (
    "This line is not modified.\n"
    f"The next value will be replaced by {placeholder('test_key')}\n"
    "This line is also not modified.\n"
)


def test_vm_templates(users: Users, tmp_path: Path) -> None:
    """sops-templates: owners, ids, contents and the link of a template at a custom path.

    nested/test/file is neededForUsers, so the module leaves it out of this manifest but
    keeps its placeholder (Mic92/sops-nix#659).
    """
    default = f"Test value: {placeholder('test_key')}\n"
    manifest = nix_manifest(
        tmp_path,
        [nix_secret("test_key", "test_key")],
        [
            nix_template("test_template", TEMPLATE, owner=users.alice, group=users.group),
            nix_template("test_default", default, path="/run/externally/linked"),
            nix_template("test_uid_gid", default, uid=420, gid=420),
        ],
        ageKeyFile="/run/age-keys.txt",
        placeholderBySecretName={
            name: placeholder(name) for name in ("test_key", "nested/test/file")
        },
    )
    cli = installer(tmp_path)

    def body() -> None:
        age_key_at_run()
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        rendered = LIVE / "rendered"

        def names(name: str) -> tuple[str, str]:
            info = (rendered / name).stat()
            return user_name(info.st_uid), group_name(info.st_gid)

        def ids(name: str) -> tuple[int, int]:
            info = (rendered / name).stat()
            return info.st_uid, info.st_gid

        assert names("test_template") == (users.alice, users.group)
        assert names("test_default") == ("root", "root")
        assert ids("test_uid_gid") == (420, 420)
        same_secret(
            (rendered / "test_template").read_text(),
            TEMPLATE.replace(placeholder("test_key"), "test_value"),
            "test_template",
        )
        same_secret(
            (rendered / "test_default").read_text(), "Test value: test_value\n", "test_default"
        )
        assert os.path.realpath("/run/externally/linked") == (
            "/run/secrets.d/1/rendered/test_default"
        )

    in_fresh_run(body)


def for_users_manifest(folder: Path, **top: Any) -> Path:
    """The module's manifest-for-users.json: the neededForUsers secret test_key."""
    sub = folder / "for-users"
    sub.mkdir(exist_ok=True)
    return nix_manifest(
        sub,
        [nix_secret("test_key", "test_key", path="/run/secrets-for-users/test_key")],
        [],
        ageKeyFile="/run/age-keys.txt",
        secretsMountPoint="/run/secrets-for-users.d",
        symlinkPath="/run/secrets-for-users",
        **top,
    )


@pytest.mark.parametrize("variant", ["activation-script", "sysusers"])
def test_vm_user_passwords(variant: str, users: Users, tmp_path: Path) -> None:
    """sops-user-passwords(-sysusers): the password file is ready before users are made.

    The for-users manifest runs first with -ignore-passwd (from the activation script, or
    from a unit with SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1 in the sysusers and userborn
    variants); the password hash is then set from its file as NixOS does, then the regular
    manifest runs. The activation-script variant then switches again
    (switch-to-configuration test runs both once more).
    """
    for_users = for_users_manifest(tmp_path)
    regular = nix_manifest(
        tmp_path,
        [nix_secret("nested/test/file", "nested/test/file", owner=users.alice)],
        [],
        ageKeyFile="/run/age-keys.txt",
    )
    extra = {"SOPS_RESTART_UNITS_VIA_SYSTEMCTL": "1"} if variant == "sysusers" else {}
    for_users_cli = installer(tmp_path, **extra)
    cli = installer(tmp_path)

    def activate() -> None:
        done = run(for_users_cli, "-ignore-passwd", str(for_users))
        assert done.returncode == 0, done.stderr
        hashed = Path("/run/secrets-for-users/test_key").read_text()
        subprocess.run(["usermod", "-p", hashed, users.alice], capture_output=True, check=True)
        done = run(cli, str(regular))
        assert done.returncode == 0, done.stderr

    def check() -> None:
        shadow = subprocess.run(
            ["getent", "shadow", users.alice], capture_output=True, text=True, check=True
        ).stdout
        same_secret(shadow.split(":")[1], "test_value", "the password hash")
        same_secret((LIVE / "nested/test/file").read_bytes(), b"another value", "nested/test/file")
        assert user_name((LIVE / "nested/test/file").stat().st_uid) == users.alice
        same_secret(Path("/run/secrets-for-users/test_key").read_bytes(), b"test_value", "test_key")
        info = Path("/run/secrets-for-users/test_key").stat()
        assert (info.st_uid, info.st_gid) == (0, 0)

    def body() -> None:
        age_key_at_run()
        try:
            activate()
            check()
            assert os.readlink("/run/secrets-for-users") == "/run/secrets-for-users.d/1"
            assert os.readlink("/run/secrets") == "/run/secrets.d/1"
            assert os.stat("/run/secrets-for-users.d/1").st_gid == 0, "-ignore-passwd: gid 0"
            assert os.stat("/run/secrets.d/1").st_gid == keys_gid()
            if variant == "activation-script":
                activate()
                check()
                assert os.readlink("/run/secrets-for-users") == "/run/secrets-for-users.d/2"
                assert os.readlink("/run/secrets") == "/run/secrets.d/2"
        finally:
            subprocess.run(["usermod", "-p", "!", users.alice], capture_output=True, check=False)

    in_fresh_run(body)


@pytest.mark.parametrize("variable", ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"])
def test_module_environment_keys(variable: str, tmp_path: Path) -> None:
    """sops.environment: the module exports it around the program, whose sops library reads it.

    No VM test sets it, but main.go relies on it: with no key in the manifest, sops's own
    key lookup (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE) opens the file.
    """
    key_file = SOPS_NIX_VECTORS / "age-keys.txt"
    value = key_file.read_text() if variable == "SOPS_AGE_KEY" else str(key_file)
    manifest = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [], ageKeyFile=None)
    cli = installer(tmp_path, **{variable: value})

    def body() -> None:
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")

    in_fresh_run(body)


# --- deliberate differences found by the replay (README: Differences from sops-nix) ---------


def test_a_non_numeric_generation_link_is_not_fatal(tmp_path: Path) -> None:
    """main.go fails ("cannot parse abc ... as a number"); a stray link must not stop boot."""
    manifest = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [])
    cli = installer(tmp_path)

    def body() -> None:
        os.makedirs("/run/secrets.d/abc")
        os.symlink("/run/secrets.d/abc", "/run/secrets")
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert "points at /run/secrets.d/abc" in done.stderr
        assert os.readlink("/run/secrets") == "/run/secrets.d/1"

    in_fresh_run(body)


def test_a_negative_keep_generations_is_refused(tmp_path: Path) -> None:
    """main.go would prune every other generation; the drop-in calls it invalid."""
    manifest = nix_manifest(tmp_path, [nix_secret("test_key", "test_key")], [], keepGenerations=-1)
    done = run(installer(tmp_path), "-check-mode=manifest", str(manifest))
    assert done.returncode == 1
    assert "keepGenerations: must not be negative" in done.stderr


def test_units_are_not_listed_where_systemd_is_not_running(
    tmp_path: Path, systemctl: Systemctl
) -> None:
    """main.go appends every named unit to the list files; the drop-in asks systemd first."""
    manifest = nix_manifest(
        tmp_path, [nix_secret("test_key", "test_key", restartUnits=["restart-unit.service"])], []
    )
    cli = installer(tmp_path, systemctl, SYSTEMCTL_STANDIN_DOWN="1")

    def body() -> None:
        assert run(cli, str(manifest)).returncode == 0
        os.truncate(LIVE / "test_key", 0)
        done = run(cli, str(manifest))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "modifying secret: test_key\n"
        assert "systemd is not running here, so restart-unit.service is not restarted" in (
            done.stderr
        )
        assert lists() == {}

    in_fresh_run(body)


def test_units_are_told_after_the_switch_and_a_failure_keeps_it(
    tmp_path: Path, systemctl: Systemctl
) -> None:
    """main.go runs systemctl before switching /run/secrets and stops there when it fails.

    The drop-in switches first, so a restarted service reads the new files, and a failed
    systemctl call is reported (exit 1) without taking the new generation back.
    """
    manifest = nix_manifest(
        tmp_path, [nix_secret("test_key", "test_key", restartUnits=["restart-unit.service"])], []
    )
    cli = installer(tmp_path, systemctl, SOPS_RESTART_UNITS_VIA_SYSTEMCTL="1")

    def body() -> None:
        assert run(cli, str(manifest)).returncode == 0
        os.truncate(LIVE / "test_key", 0)
        cli.env["SYSTEMCTL_STANDIN_FAIL"] = "1"
        done = run(cli, str(manifest))
        assert done.returncode == 1
        assert done.stdout == "modifying secret: test_key\n"
        assert done.stderr.startswith(
            "secretsctl: error: error running 'systemctl --no-block try-restart"
            " restart-unit.service': exit status 1"
        )
        assert os.readlink("/run/secrets") == "/run/secrets.d/2"
        same_secret((LIVE / "test_key").read_bytes(), b"test_value", "test_key")
        assert systemctl.delivered() == [["--no-block", "try-restart", "restart-unit.service"]]

    in_fresh_run(body)
