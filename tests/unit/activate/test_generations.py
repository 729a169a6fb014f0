"""generations: the live generation, canonical names, pruning, the switch, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secretsctl.activate import generations
from secretsctl.activate.generations import parse_generation, read_live
from secretsctl.errors import ActivationError, ExitCode


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("1", 1),
        ("0", 0),
        ("42", 42),
        ("100", 100),
        ("01", None),
        ("007", None),
        ("+1", None),
        ("-1", None),
        ("1a", None),
        ("", None),
        (" 1", None),
        ("\u0661", None),
        ("1_0", None),
        ("non-numeric", None),
    ],
)
def test_only_canonical_decimal_names_are_generations(name: str, number: int | None) -> None:
    assert parse_generation(name) == number


def test_live_generation_from_the_symlink(tmp_path: Path) -> None:
    mount = tmp_path / "secrets.d"
    link = tmp_path / "secrets"
    assert read_live(str(link), str(mount)).kind == "absent"
    link.symlink_to(mount / "5")
    live = read_live(str(link), str(mount))
    assert (live.kind, live.generation, live.target) == ("symlink", 5, str(mount / "5"))


@pytest.mark.parametrize(
    "target",
    [
        "{tmp}/secrets.d2/5",
        "{tmp}/secrets.d/5/x",
        "{tmp}/other/5",
        "secrets.d/5",
        "{tmp}/secrets.d/05",
        "{tmp}/secrets.d/abc",
        "{tmp}/secrets.d/-1",
    ],
)
def test_a_target_outside_the_mount_point_or_not_canonical_does_not_count(
    tmp_path: Path, target: str
) -> None:
    link = tmp_path / "secrets"
    link.symlink_to(target.format(tmp=tmp_path))
    live = read_live(str(link), str(tmp_path / "secrets.d"))
    assert live.kind == "symlink"
    assert live.generation is None


def test_path_comparison_not_string_prefix(tmp_path: Path) -> None:
    link = tmp_path / "secrets"
    link.symlink_to(f"{tmp_path}/secrets.d/./7")
    assert read_live(str(link), f"{tmp_path}/secrets.d/").generation == 7


@pytest.mark.parametrize("as_dir", [True, False])
def test_a_real_file_or_directory_at_the_symlink_path_is_refused_unless_forced(
    tmp_path: Path, as_dir: bool
) -> None:
    path = tmp_path / "secrets"
    if as_dir:
        path.mkdir()
        (path / "keep").write_text("x")
    else:
        path.write_text("x")
    live = read_live(str(path), str(tmp_path / "secrets.d"))
    assert live.kind == "other"
    assert live.is_dir is as_dir
    with pytest.raises(ActivationError) as caught:
        generations.refuse_non_symlink(live, force=False)
    assert caught.value.hint
    assert "--force" in caught.value.hint
    generations.refuse_non_symlink(live, force=True)
    assert path.exists(), "refusing or checking never removes anything"


def make_generations(mount: Path, names: list[str]) -> int:
    mount.mkdir(exist_ok=True)
    for name in names:
        (mount / name).mkdir()
        (mount / name / "secret").write_text("x")
    return os.open(mount, os.O_RDONLY | os.O_DIRECTORY)


def remaining(mount: Path) -> set[str]:
    return {p.name for p in mount.iterdir()}


def test_pruning_keep_zero_one_ten_and_foreign_names(tmp_path: Path) -> None:
    mount = tmp_path / "m"
    names = [str(n) for n in range(1, 102)] + ["non-numeric", "007", "+5", "age-keys.txt"]
    fd = make_generations(mount, names[:-1])
    (mount / "age-keys.txt").write_text("k")
    (mount / "3").rename(mount / "3-moved")
    (mount / "3").symlink_to(mount / "3-moved")  # a symlink named like a generation
    try:
        assert generations.prune(fd, 100, 0) == ()
        assert len(remaining(mount)) == len(names) + 1
        pruned = generations.prune(fd, 101, 10)
        assert pruned == tuple(n for n in range(1, 92) if n != 3)
        assert {
            "92",
            "101",
            "non-numeric",
            "007",
            "+5",
            "age-keys.txt",
            "3",
            "3-moved",
        } <= remaining(mount)
        assert "91" not in remaining(mount)
        assert generations.prune(fd, 101, 1) == tuple(range(92, 101))
        assert remaining(mount) == {
            "101",
            "non-numeric",
            "007",
            "+5",
            "age-keys.txt",
            "3",
            "3-moved",
        }
    finally:
        os.close(fd)


def test_pruning_keeps_numbers_above_the_current_one(tmp_path: Path) -> None:
    mount = tmp_path / "m"
    fd = make_generations(mount, ["1", "2", "50"])
    try:
        assert generations.prune(fd, 2, 1) == (1,)
        assert remaining(mount) == {"2", "50"}
        assert generations.would_prune([2, 50, 3], 3, 1) == (2,)
    finally:
        os.close(fd)


def test_rollback_target_is_the_newest_older_generation(tmp_path: Path) -> None:
    mount = tmp_path / "m"
    fd = make_generations(mount, ["2", "5", "7", "9", "x", "06"])
    try:
        assert generations.rollback_target(fd, 7) == 5
        assert generations.rollback_target(fd, 9) == 7
        assert generations.rollback_target(fd, 2) is None
        assert generations.list_generations(fd) == [2, 5, 7, 9]
    finally:
        os.close(fd)


def test_prepare_generation_replaces_a_leftover(tmp_path: Path) -> None:
    mount = tmp_path / "m"
    fd = make_generations(mount, ["4"])
    try:
        gen_fd, removed = generations.prepare_generation(fd, 4, keys_gid=0, chown=False)
        os.close(gen_fd)
        assert removed is True
        assert list((mount / "4").iterdir()) == []
        assert (mount / "4").stat().st_mode & 0o777 == 0o751
    finally:
        os.close(fd)


def test_switch_replaces_the_link_atomically_and_leaves_nothing_behind(tmp_path: Path) -> None:
    link = tmp_path / "run" / "secrets"
    generations.switch_symlink(str(link), "/x/1")
    assert os.readlink(link) == "/x/1"
    generations.switch_symlink(str(link), "/x/2")
    assert os.readlink(link) == "/x/2"
    assert sorted(p.name for p in link.parent.iterdir()) == ["secrets"]


def test_switch_over_a_file_and_over_a_directory_when_forced(tmp_path: Path) -> None:
    link = tmp_path / "secrets"
    link.write_text("x")
    generations.switch_symlink(str(link), "/x/1")
    assert os.readlink(link) == "/x/1"
    link.unlink()
    link.mkdir()
    (link / "inside").write_text("x")
    with pytest.raises(ActivationError, match="cannot update secrets symlink"):
        generations.switch_symlink(str(link), "/x/2")
    assert link.is_dir()
    generations.switch_symlink(str(link), "/x/2", replace_other=True)
    assert os.readlink(link) == "/x/2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets"]


def test_switch_leftovers_of_a_crash_are_cleaned(tmp_path: Path) -> None:
    link = tmp_path / "secrets"
    stale = tmp_path / ".secretsctl-switch-secrets.abc123"
    stale.mkdir()
    (stale / "link").symlink_to("/x/1")
    other = tmp_path / ".secretsctl-switch-other.abc"
    other.mkdir()
    generations.clean_switch_leftovers(str(link))
    assert not stale.exists()
    assert other.exists(), "only the leftovers of this symlink path"


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "run" / "secretsctl.lock"
    path.parent.mkdir()
    holder = hold_lock(path, 30)
    try:
        with pytest.raises(ActivationError) as caught:
            generations.RunLock(str(path), wait=False).acquire()
        assert caught.value.exit_code == ExitCode.LOCK_HELD
        assert f"PID {holder.pid}" in caught.value.message
    finally:
        holder.kill()
        holder.wait()
    with generations.RunLock(str(path), wait=False):
        pass
    assert path.read_bytes() == b"", "the lock file holds no data"


def test_lock_waits_by_default(tmp_path: Path) -> None:
    path = tmp_path / "secretsctl.lock"
    holder = hold_lock(path, 0.5)
    started = time.monotonic()
    try:
        with generations.RunLock(str(path)):
            waited = time.monotonic() - started
    finally:
        holder.wait()
    assert waited >= 0.3
