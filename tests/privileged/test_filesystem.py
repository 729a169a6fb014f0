"""Real ramfs/tmpfs mounts, real owners, exact modes, custom links: as root, in a namespace."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import Path

import pytest

from secretsctl.activate import fsops
from secretsctl.activate.apply import apply
from secretsctl.activate.diff import ItemState
from secretsctl.activate.status import status
from secretsctl.errors import ActivationError
from secretsctl.paths import RuntimePaths
from tests.activate_support import (
    Systemctl,
    Users,
    disk_backed_dir,
    expected_files,
    in_child,
    in_private_namespace,
    live_files,
    manifest,
    plan,
    secret,
    template,
)
from tests.conftest import REPO

pytestmark = pytest.mark.privileged


def mount(fs_type: str, target: Path, options: str, flags: int = 0) -> None:
    target.mkdir(parents=True, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if (
        libc.mount(
            b"none", bytes(target), fs_type.encode(), ctypes.c_ulong(flags), options.encode()
        )
        != 0
    ):
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(target))


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner(path: str | Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def users_plan(u: Users):  # type: ignore[no-untyped-def]
    return plan(
        secret("github_token", b"ghp_1", uid=u.alice_uid, gid=u.alice_gid, mode=0o400),
        secret("db/password", b"pw", uid=u.bob_uid, gid=u.group_gid, mode=0o440),
        secret("a/b/c/deep", b"d", mode=0o400),
        template(
            "github_token_env",
            b"GITHUB_TOKEN=ghp_1\n",
            uid=u.alice_uid,
            gid=u.alice_gid,
            mode=0o400,
        ),
        template(
            "nix/access-tokens.conf",
            b"access-tokens = github.com=ghp_1\n",
            uid=0,
            gid=u.group_gid,
            mode=0o440,
        ),
    )


def test_first_run_mounts_ramfs_with_exact_owners_and_modes(
    users: Users, tmp_path: Path, systemctl: Systemctl
) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "root"))
        m = manifest()
        p = users_plan(users)
        keys = fsops.keys_group_id()
        result = apply(p, m, paths, systemctl=systemctl.program)
        mount_point = paths.runtime("/run/secrets.d")
        assert result.mount is not None
        assert result.mount.mounted
        assert result.mount.fs_type == "ramfs"
        assert fsops.fs_magic(mount_point) == fsops.RAMFS_MAGIC
        (entry,) = fsops.mounts_at(mount_point)
        assert entry.fs_type == "ramfs"
        assert {"nodev", "nosuid", "noexec"} <= set(entry.options)
        assert (mode(mount_point), owner(mount_point)) == (0o751, (0, keys))
        generation = Path(mount_point) / "1"
        for folder in ("", "db", "a", "a/b", "a/b/c", "rendered", "rendered/nix"):
            assert (mode(generation / folder), owner(generation / folder)) == (0o751, (0, keys)), (
                folder
            )
        assert live_files(paths, m) == expected_files(p)
        assert os.readlink(paths.runtime("/run/secrets")) == str(generation)
        assert systemctl.calls() == [], "first activation: nothing to restart, nothing asked"
        assert result.log_lines == ()

        os.chmod(mount_point, 0o700)
        again = apply(p, m, paths, systemctl=systemctl.program)
        assert again.mount is not None
        assert not again.mount.mounted, "the correct mount is reused"
        assert len(fsops.mounts_at(mount_point)) == 1
        assert mode(mount_point) == 0o751, "the mode is re-asserted on a reused mount"
        assert (again.generation, again.created) == (1, False)

    in_private_namespace(body)


def test_tmpfs_with_noswap(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(use_tmpfs=True)
        result = apply(plan(secret("a")), m, paths)
        mount_point = paths.runtime("/run/secrets.d")
        assert fsops.fs_magic(mount_point) == fsops.TMPFS_MAGIC
        (entry,) = fsops.mounts_at(mount_point)
        assert entry.fs_type == "tmpfs"
        assert {"nodev", "nosuid", "noexec"} <= set(entry.options)
        assert result.mount is not None
        if result.mount.noswap:
            assert "noswap" in entry.options
        else:  # a kernel before 6.4: the fallback was taken
            assert "noswap" not in entry.options

    in_private_namespace(body)


def test_noswap_refused_falls_back_without_it(tmp_path: Path) -> None:
    def body() -> None:
        real = fsops._mount
        tried = []

        def old_kernel(source, target, fs_type, flags, data):  # type: ignore[no-untyped-def]
            tried.append(data)
            if data and "noswap" in data:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            real(source, target, fs_type, flags, data)

        fsops._mount = old_kernel  # type: ignore[assignment]
        paths = RuntimePaths(root=str(tmp_path))
        result = apply(plan(secret("a")), manifest(use_tmpfs=True), paths)
        assert tried == ["mode=0751,noswap", "mode=0751"]
        assert result.mount is not None
        assert result.mount.noswap is False
        assert fsops.fs_magic(paths.runtime("/run/secrets.d")) == fsops.TMPFS_MAGIC

    in_private_namespace(body)


def test_a_mount_of_the_wrong_type_is_mounted_over(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        mount_point = Path(paths.runtime("/run/secrets.d"))
        mount("tmpfs", mount_point, "mode=0755")
        apply(plan(secret("a")), manifest(), paths)
        stacked = fsops.mounts_at(str(mount_point))
        assert [e.fs_type for e in stacked] == ["tmpfs", "ramfs"]
        assert fsops.fs_magic(str(mount_point)) == fsops.RAMFS_MAGIC

    in_private_namespace(body)


def test_a_reused_mount_without_nodev_nosuid_noexec_is_hardened(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        mount_point = Path(paths.runtime("/run/secrets.d"))
        mount("ramfs", mount_point, "mode=0755")
        result = apply(plan(secret("a")), manifest(), paths)
        assert result.mount is not None
        assert not result.mount.mounted
        assert result.mount.remounted
        flags = os.statvfs(mount_point).f_flag
        assert flags & (os.ST_NODEV | os.ST_NOSUID | os.ST_NOEXEC) == (
            os.ST_NODEV | os.ST_NOSUID | os.ST_NOEXEC
        )
        assert len(fsops.mounts_at(str(mount_point))) == 1
        assert mode(mount_point) == 0o751

    in_private_namespace(body)


def test_secrets_never_go_to_a_disk_backed_directory(tmp_path: Path) -> None:
    disk = disk_backed_dir(tmp_path, REPO, Path("/var/tmp"))
    if disk is None:
        pytest.skip("no disk-backed directory here to refuse (all of them are tmpfs)")

    def body() -> None:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix=".secretsctl-disk-test-", dir=disk))
        try:
            paths = RuntimePaths(root=str(root))
            for options in ({"may_mount": False}, {"may_mount": False, "dry_run": True}):
                with pytest.raises(ActivationError) as caught:
                    apply(plan(secret("a")), manifest(), paths, **options)  # type: ignore[arg-type]
                assert "not on a RAM-backed filesystem" in caught.value.message
                assert caught.value.hint
                assert "tmpfs" in caught.value.hint
            with pytest.raises(ActivationError, match="not on a RAM-backed"):
                apply(plan(secret("a")), manifest(user_mode=True), paths)
            assert not Path(paths.runtime("/run/secrets.d")).exists()
            assert not os.path.lexists(paths.runtime("/run/secrets"))
            # The same root is fine once the mount point is on tmpfs; nothing is mounted.
            mount("tmpfs", Path(paths.runtime("/run/secrets.d")), "mode=0700")
            result = apply(plan(secret("a")), manifest(), paths, may_mount=False)
            assert result.mount is not None
            assert not result.mount.mounted
            assert len(fsops.mounts_at(paths.runtime("/run/secrets.d"))) == 1
        finally:
            import shutil

            libc = ctypes.CDLL(None, use_errno=True)
            libc.umount2(os.fsencode(root / "run/secrets.d"), 2)
            shutil.rmtree(root, ignore_errors=True)

    in_private_namespace(body)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``:``gid`` for good, after importing what the code imports lazily."""
    import fcntl  # noqa: F401
    import grp  # noqa: F401
    import json  # noqa: F401
    import pwd  # noqa: F401
    import subprocess  # noqa: F401
    import tempfile  # noqa: F401

    import secretsctl.activate.links
    import secretsctl.activate.units  # noqa: F401

    fsops.fs_magic("/")  # loads ctypes and libc
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def test_an_unprivileged_user_installs_into_an_existing_tmpfs(users: Users, tmp_path: Path) -> None:
    def body() -> None:
        import tempfile

        # Somewhere alice can reach (pytest's folders are root's own).
        base = Path(tempfile.mkdtemp(prefix="secretsctl-alice-", dir="/tmp"))
        base.chmod(0o755)
        mount("tmpfs", base, f"mode=0700,uid={users.alice_uid},gid={users.alice_gid}")

        def as_alice() -> None:
            drop_privileges(users.alice_uid, users.alice_gid)
            paths = RuntimePaths(root=str(base))
            p = plan(
                secret("a", uid=0, gid=0, mode=0o400, link="/etc/token"), template("t", mode=0o440)
            )
            result = apply(p, manifest(), paths)
            assert result.mount is not None
            assert not result.mount.mounted
            assert live_files(paths, manifest()) == expected_files(
                p, owners=(users.alice_uid, users.alice_gid)
            )
            assert {i.owner for i in result.items} == {users.alice}
            again = apply(p, manifest(), paths)
            assert not again.created, "owners never applied are no drift"
            assert not again.changed
            assert os.readlink(paths.runtime("/etc/token")) == paths.runtime("/run/secrets/a")

        try:
            in_child(as_alice)
            assert fsops.mounts_at(str(base / "run/secrets.d")) == []
        finally:
            ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(base), 2)
            base.rmdir()

    in_private_namespace(body)


@pytest.mark.parametrize("mask", [0o077, 0o000])
def test_modes_are_exact_whatever_the_umask(users: Users, tmp_path: Path, mask: int) -> None:
    def body() -> None:
        os.umask(mask)
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(keep_generations=0)
        p = users_plan(users)
        apply(p, m, paths)
        apply(plan(*p.files, secret("more/x", b"x", mode=0o600)), m, paths)
        for number in ("1", "2"):
            generation = Path(paths.runtime("/run/secrets.d")) / number
            for path in [generation, *generation.rglob("*")]:
                if path.is_dir():
                    assert mode(path) == 0o751, path
        assert mode(paths.runtime("/run/secrets.d")) == 0o751
        assert live_files(paths, m) == expected_files(
            plan(*p.files, secret("more/x", b"x", mode=0o600))
        )

    in_private_namespace(body)


def test_custom_links_are_owned_and_cleaned_up(users: Users, tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest()
        first = plan(
            secret("token", b"t", uid=users.alice_uid, gid=users.group_gid, link="/etc/app/token"),
            template("env", b"E=1\n", uid=users.bob_uid, gid=users.bob_gid, link="/etc/app/env"),
            secret("kept", link="/run/secrets/kept"),
        )
        Path(paths.runtime("/etc/app")).mkdir(parents=True)
        Path(paths.runtime("/etc/app/env")).write_text("a file in the way")
        result = apply(first, m, paths)
        token, env = paths.runtime("/etc/app/token"), paths.runtime("/etc/app/env")
        assert os.readlink(token) == paths.runtime("/run/secrets/token")
        assert os.readlink(env) == paths.runtime("/run/secrets/rendered/env")
        assert owner(token) == (users.alice_uid, users.group_gid), "the link itself is lchowned"
        assert owner(env) == (users.bob_uid, users.bob_gid)
        assert Path(env).read_bytes() == b"E=1\n"
        assert set(result.links_created) == {token, env}
        assert sorted(os.listdir(paths.runtime("/etc/app"))) == ["env", "token"]

        same = apply(first, m, paths)
        assert same.links_created == ()
        assert same.links_removed == ()

        os.lchown(token, 0, 0)  # a link with the wrong owner is made again
        assert apply(first, m, paths).links_created == (token,)
        assert owner(token) == (users.alice_uid, users.group_gid)

        second = plan(secret("kept"), secret("token", b"t2", link="/etc/app/token"))
        os.unlink(env)
        os.symlink("/elsewhere", env)  # the user took the env path over
        result = apply(second, m, paths)
        assert result.links_removed == ()
        assert os.readlink(env) == "/elsewhere"
        assert any("left " in w and env in w for w in result.warnings)
        third = apply(plan(secret("kept")), m, paths)
        assert third.links_removed == (token,)
        assert f"removing stale link: {token}" in third.log_lines
        assert not os.path.lexists(token)

    in_private_namespace(body)


def test_a_directory_at_the_symlink_path_needs_force(tmp_path: Path) -> None:
    """The sops-nix age-keys VM test pre-creates /run/secrets as a directory."""

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        Path(paths.runtime("/run/secrets")).mkdir(parents=True)
        with pytest.raises(ActivationError, match="is a directory"):
            apply(plan(secret("a")), manifest(), paths)
        assert fsops.mounts_at(paths.runtime("/run/secrets.d")) == [], "refused before mounting"
        apply(plan(secret("a")), manifest(), paths, force=True)
        assert os.path.islink(paths.runtime("/run/secrets"))

    in_private_namespace(body)


def test_status_warns_about_looser_files_and_other_owners(users: Users, tmp_path: Path) -> None:
    from secretsctl.config.model import Ownership, SecretSpec

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(
            secrets=(
                SecretSpec("a", "/dev/null", ownership=Ownership(owner=users.alice)),
                SecretSpec(
                    "b",
                    "/dev/null",
                    mode=0o440,
                    ownership=Ownership(uid=users.bob_uid, gid=users.group_gid),
                ),
            )
        )
        p = plan(
            secret("a", uid=users.alice_uid, gid=users.alice_gid),
            secret("b", uid=users.bob_uid, gid=users.group_gid, mode=0o440),
        )
        apply(p, m, paths)
        assert status(m, paths).warnings == ()
        os.chmod(paths.runtime("/run/secrets/a"), 0o444)
        os.chown(paths.runtime("/run/secrets/b"), users.alice_uid, users.alice_gid)
        report = status(m, paths)
        assert report.warnings == (
            "secret 'a' has mode 0444, more permissive than its configured 0400",
            f"secret 'b' is owned by {users.alice}, configured {users.bob}",
            f"secret 'b' has group {users.alice}, configured {users.group}",
        )
        assert [(f.name, f.owner, f.mode) for f in report.files] == [
            ("a", users.alice, 0o444),
            ("b", users.alice, 0o440),
        ]
        result = apply(p, m, paths)
        assert result.log_lines == ("changing permissions of secrets: a, b",), (
            "drift is repaired by a new generation and reported apart"
        )
        assert {i.state for i in result.items} == {ItemState.UNCHANGED}
        assert status(m, paths).warnings == ()

    in_private_namespace(body)


def test_a_mount_hidden_under_a_later_mount_does_not_count(tmp_path: Path) -> None:
    def body() -> None:
        inner = tmp_path / "outer" / "inner"
        mount("ramfs", inner, "mode=0755")
        assert fsops.is_mount_point(str(inner))
        entry = fsops.filesystem_of(str(inner))
        assert entry is not None
        assert entry.fs_type == "ramfs"
        mount("tmpfs", tmp_path / "outer", "mode=0755")
        inner.mkdir()
        assert [e.fs_type for e in fsops.mounts_at(str(inner))] == ["ramfs"], "still listed"
        assert not fsops.is_mount_point(str(inner)), "but hidden"
        entry = fsops.filesystem_of(str(inner))
        assert entry is not None
        assert entry.fs_type == "tmpfs"
        paths = RuntimePaths(root=str(tmp_path / "outer" / "root"))
        Path(paths.runtime("/run")).mkdir(parents=True)
        mount("ramfs", Path(paths.runtime("/run/secrets.d")), "mode=0751")
        mount("tmpfs", Path(paths.runtime("/run")), "mode=0755")
        result = apply(plan(secret("a")), manifest(), paths)
        assert result.mount is not None
        assert result.mount.mounted, "the hidden ramfs is not reused"

    in_private_namespace(body)


def test_links_inside_the_symlink_path_are_reported_made_and_dropped(tmp_path: Path) -> None:
    """They live in the generation, yet a run (and a dry run) names them as it names others."""

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest()
        alias = paths.runtime("/run/secrets/alias/token")
        linked = plan(secret("token", b"t", link="/run/secrets/alias/token"), secret("other"))
        assert apply(linked, m, paths, dry_run=True).links_created == (alias,)
        assert not os.path.lexists(paths.runtime("/run/secrets")), "a dry run wrote"
        made = apply(linked, m, paths)
        assert made.links_created == (alias,)
        assert os.readlink(alias) == paths.runtime("/run/secrets/token")
        same = apply(linked, m, paths)
        assert (same.links_created, same.links_removed) == ((), ())
        moved = plan(secret("token", b"t"), secret("other", link="/run/secrets/alias/token"))
        assert apply(moved, m, paths, dry_run=True).links_created == (alias,), "points elsewhere"
        unlinked = plan(secret("token", b"t"), secret("other"))
        would = apply(unlinked, m, paths, dry_run=True)
        assert would.links_removed == (alias,)
        dropped = apply(unlinked, m, paths)
        assert dropped.links_removed == (alias,)
        assert not os.path.lexists(alias)
        for result in (would, dropped):
            # The link is no secret: it is named once, as a link, never as a removed item.
            assert [i.name for i in result.items] == ["token", "other"]
            assert not any("alias" in line for line in result.log_lines), result.log_lines

    in_private_namespace(body)
