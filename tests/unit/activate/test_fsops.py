"""fsops: secure creation order, exact modes whatever the umask, no symlink followed, walks."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from secretsctl.activate import fsops
from secretsctl.errors import ActivationError
from tests.activate_support import RecordingOs, instrument


@pytest.fixture
def umask() -> object:
    """Restore the process umask after a test changes it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def chown_ok() -> bool:
    return os.geteuid() == 0


# --- creation order -------------------------------------------------------------------------


def test_file_gets_owner_then_mode_before_any_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = RecordingOs()
    instrument(monkeypatch, layer)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsops.create_file(
            fd, "f", b"data", uid=os.geteuid(), gid=os.getegid(), mode=0o440, chown=True
        )
    finally:
        os.close(fd)
    names = [c.name for c in layer.calls]
    assert names[:2] == ["open", "fchown"]
    assert names.index("fchown") < names.index("fchmod") < names.index("write")
    assert names.index("write") < names.index("fsync") < names.index("close")
    opened = layer.calls[0]
    flags, created_mode = opened.args[1], opened.args[2]
    for flag in (os.O_CREAT, os.O_EXCL, os.O_NOFOLLOW, os.O_CLOEXEC, os.O_WRONLY):
        assert flags & flag == flag
    assert created_mode == 0, "a file must be created with no permission at all"
    assert opened.kwargs["dir_fd"] == fd, "files are created relative to a directory fd"
    descriptor = opened.result
    assert all(c.args[0] == descriptor for c in layer.calls[1:] if c.name != "close")
    assert mode_of(tmp_path / "f") == 0o440
    assert (tmp_path / "f").read_bytes() == b"data"


def test_without_chown_only_the_mode_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = RecordingOs()
    instrument(monkeypatch, layer)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsops.create_file(fd, "f", b"x", uid=12345, gid=12345, mode=0o600, chown=False)
    finally:
        os.close(fd)
    names = [c.name for c in layer.calls]
    assert "fchown" not in names
    assert names.index("fchmod") < names.index("write")


def test_directories_start_closed_and_widen_after_the_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = RecordingOs()
    instrument(monkeypatch, layer)
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = fsops.make_dir(parent, "d", uid=os.geteuid(), gid=os.getegid(), chown=True)
        os.close(fd)
    finally:
        os.close(parent)
    names = [c.name for c in layer.calls]
    assert names[:4] == ["mkdir", "open", "fchown", "fchmod"]
    assert layer.calls[0].args[1] == 0o700
    assert mode_of(tmp_path / "d") == 0o751


# --- exact modes, whatever the umask ---------------------------------------------------------


@pytest.mark.parametrize("mask", [0o077, 0o000, 0o022, 0o777])
def test_modes_are_exact_under_any_umask(tmp_path: Path, umask: object, mask: int) -> None:
    os.umask(mask)
    root = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    writer = fsops.TreeWriter(root, dir_uid=os.geteuid(), dir_gid=os.getegid(), chown=chown_ok())
    try:
        for name, mode in (("a", 0o400), ("x/y/z", 0o640), ("x/w", 0o777), ("e", 0o000)):
            writer.write(name, b"v", uid=os.geteuid(), gid=os.getegid(), mode=mode)
    finally:
        writer.close()
        os.close(root)
    assert mode_of(tmp_path / "a") == 0o400
    assert mode_of(tmp_path / "x/y/z") == 0o640
    assert mode_of(tmp_path / "x/w") == 0o777
    assert mode_of(tmp_path / "e") == 0o000
    assert mode_of(tmp_path / "x") == 0o751
    assert mode_of(tmp_path / "x/y") == 0o751


# --- no symlink is followed ------------------------------------------------------------------


def test_an_existing_file_or_symlink_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside)
    (tree / "file").write_bytes(b"old")
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in ("link", "file"):
            with pytest.raises(FileExistsError):
                fsops.create_file(fd, name, b"new", uid=0, gid=0, mode=0o600, chown=False)
    finally:
        os.close(fd)
    assert outside.read_bytes() == b"keep"
    assert (tree / "file").read_bytes() == b"old"


def test_a_symlinked_directory_in_the_tree_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "d").symlink_to(elsewhere, target_is_directory=True)
    root = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    writer = fsops.TreeWriter(root, dir_uid=0, dir_gid=0, chown=False)
    try:
        with pytest.raises(FileExistsError):
            writer.write("d/secret", b"v", uid=0, gid=0, mode=0o400)
    finally:
        writer.close()
        os.close(root)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "a/../../x", "a/../../../x", "/x", "//x", "/../x"])
def test_a_name_never_leads_out_of_the_generation(tmp_path: Path, name: str) -> None:
    """Names are checked before (config, validate.validate); the writer holds even without that."""
    tree = tmp_path / "top" / "generation"
    tree.mkdir(parents=True)
    root = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    writer = fsops.TreeWriter(root, dir_uid=0, dir_gid=0, chown=False)
    try:
        with contextlib.suppress(OSError):
            writer.write(name, b"v", uid=0, gid=0, mode=0o400)
    finally:
        writer.close()
        os.close(root)
    assert sorted(os.listdir(tmp_path)) == ["top"]
    assert sorted(os.listdir(tmp_path / "top")) == ["generation"]
    written = [p for p in tree.rglob("*") if p.is_file()]
    assert all(tree in p.parents for p in written)


def test_remove_tree_does_not_follow_symlinks(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious").write_text("x")
    victim = tmp_path / "victim"
    (victim / "a" / "b").mkdir(parents=True)
    (victim / "a" / "b" / "f").write_text("x")
    (victim / "a" / "to-keep").symlink_to(keep, target_is_directory=True)
    (victim / "file").write_text("x")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert fsops.remove_tree(fd, "victim") is True
        assert fsops.remove_tree(fd, "victim") is False
    finally:
        os.close(fd)
    assert not victim.exists()
    assert (keep / "precious").exists()


# --- walks -----------------------------------------------------------------------------------


def test_snapshot_walks_without_following_links_and_reads_exactly(tmp_path: Path) -> None:
    (tmp_path / "n" / "m").mkdir(parents=True)
    (tmp_path / "n" / "m" / "deep").write_bytes(b"deep")
    (tmp_path / "big").write_bytes(b"b" * 200_000)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "ln").symlink_to(tmp_path / "big")
    (tmp_path / "n").chmod(0o750)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        snapshot = fsops.TreeSnapshot(fd)
    finally:
        os.close(fd)  # the snapshot keeps its own descriptors
    with snapshot:
        assert set(snapshot.entries) == {"n/m/deep", "big", "empty", "ln"}
        assert set(snapshot.dirs) == {"n", "n/m"}
        assert snapshot.dirs["n"].mode == 0o750
        assert snapshot.entries["ln"].is_file is False
        data, info = snapshot.read(snapshot.entries["big"])
        assert data == b"b" * 200_000
        assert info.size == 200_000
        assert snapshot.read(snapshot.entries["empty"])[0] == b""
        assert snapshot.read(snapshot.entries["n/m/deep"])[0] == b"deep"
        assert snapshot.info(snapshot.entries["ln"]).size == len(str(tmp_path / "big"))


# --- mount table and filesystem types --------------------------------------------------------


def test_mountinfo_escapes() -> None:
    assert fsops._unescape_mountinfo(r"/run/with\040space") == "/run/with space"
    assert fsops._unescape_mountinfo(r"/a\134b") == "/a\\b"
    assert fsops._unescape_mountinfo("/plain") == "/plain"


def test_mount_points_come_from_the_kernel() -> None:
    assert fsops.is_mount_point("/")
    assert fsops.is_mount_point("/proc")
    assert not fsops.is_mount_point("/proc/self")
    (proc,) = fsops.mounts_at("/proc")[-1:]
    assert proc.fs_type == "proc"


def test_statfs_types() -> None:
    assert fsops.fs_magic("/proc") == 0x9FA0
    with pytest.raises(FileNotFoundError):
        fsops.fs_magic("/nonexistent/really")
    assert fsops.fs_name(fsops.RAMFS_MAGIC) == "ramfs"
    assert fsops.fs_name(0xEF53) == "ext2/ext3/ext4"
    assert fsops.fs_name(0x1234) == "type 0x1234"


def test_disk_backed_filesystem_is_refused_with_a_hint(tmp_path: Path) -> None:
    if fsops.fs_magic(str(tmp_path)) in fsops.RAM_BACKED:
        pytest.skip("the temporary directory is on tmpfs here; the privileged suite covers it")
    with pytest.raises(ActivationError) as caught:
        fsops.require_ram_backed(str(tmp_path / "not" / "yet"), why="testing")
    assert "not on a RAM-backed filesystem" in caught.value.message
    assert str(tmp_path / "not" / "yet") in caught.value.message
    assert caught.value.hint
    assert "tmpfs" in caught.value.hint
    assert not (tmp_path / "not").exists(), "the check creates nothing"


def test_proc_is_not_ram_backed_either() -> None:
    with pytest.raises(ActivationError, match="it is on proc, not on a RAM-backed"):
        fsops.require_ram_backed("/proc/sys", why="testing")
