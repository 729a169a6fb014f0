"""RootedDirs: the walk to every folder written in, one component at a time (issue 16)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from secretsctl.activate.rooted import RootedDirs
from secretsctl.errors import ActivationError
from tests.activate_support import RecordingOs, instrument


def real(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_links_are_resolved_within_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run/app").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var/run").symlink_to("/run")  # absolute: under the root, as in a chroot
    (root / "var/rel").symlink_to("../run")
    (root / "var/up").symlink_to("../../../../../../../../run/app")  # '..' stops at the root
    with RootedDirs(str(root)) as dirs:
        for asked in ("var/run/app", "var/rel/app", "var/up"):
            fd = dirs.find(f"{root}/{asked}")
            assert fd is not None
            assert real(fd) == str(root / "run/app"), asked
        assert dirs.find(f"{root}/var/run/missing/x") is None


def test_missing_folders_are_made_and_a_loop_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "loop").symlink_to("loop")
    with RootedDirs(str(root)) as dirs:
        fd = dirs.directory(f"{root}/a/b/c", mode=0o750)
        assert real(fd) == str(root / "a/b/c")
        with pytest.raises(OSError, match="Too many levels of symbolic links") as caught:
            dirs.find(f"{root}/loop/x")
        assert caught.value.errno == errno.ELOOP
        (root / "file").write_text("x")
        with pytest.raises(NotADirectoryError):
            dirs.find(f"{root}/file/x")


def test_an_own_directory_must_be_real(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (root / "run/secretsctl").symlink_to("../elsewhere")
    with RootedDirs(str(root)) as dirs:
        assert dirs.find(f"{root}/run/secretsctl") is not None, "a folder may be a trusted link"
        with pytest.raises(ActivationError, match="it is a symlink"):
            dirs.own_directory(f"{root}/run/secretsctl", create=True)
        made = dirs.own_directory(f"{root}/run/new", create=True, mode=0o700)
        assert made is not None
        assert real(made) == str(root / "run/new")
    assert list(elsewhere.iterdir()) == []


def test_a_link_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a link another owner (tests/privileged covers it too)")
    root = tmp_path / "root"
    root.mkdir()
    (root / "app").symlink_to(tmp_path)
    os.lchown(root / "app", 65534, 65534)
    with RootedDirs(str(root)) as dirs, pytest.raises(ActivationError) as caught:
        dirs.parent(f"{root}/app/k")
    assert caught.value.message == (
        f"refusing to follow the symlink {root}/app: it is owned by uid 65534, not by root"
    )


def test_each_folder_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "etc/app").mkdir(parents=True)
    with RootedDirs(str(root)) as dirs:
        dirs.parent(f"{root}/etc/app/first")
        layer = RecordingOs()
        instrument(monkeypatch, layer)
        for name in ("a", "b", "c"):
            dirs.parent(f"{root}/etc/app/{name}")
        dirs.find(f"{root}/etc")
        assert layer.calls == [], "a folder already reached is not walked again"
