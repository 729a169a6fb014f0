"""The cached debootstrap tree is complete or absent: built aside, renamed into place.

debootstrap itself is replaced by a stand-in here, so these run in a second and need
nothing; they carry the boot marker only to stay with their suite.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.boot import conftest as boot

pytestmark = pytest.mark.boot


def fake_debootstrap(returncode: int, calls: list[Path]):  # type: ignore[no-untyped-def]
    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        assert cmd[0] == "debootstrap"
        target = Path(cmd[-2])
        calls.append(target)
        (target / "usr" / "bin").mkdir(parents=True)
        (target / "usr" / "bin" / "systemd").write_text("half" if returncode else "whole")
        return subprocess.CompletedProcess(cmd, returncode, b"", b"E: no network\n")

    return run


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(boot, "CACHE", tmp_path)
    monkeypatch.setattr(boot.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.delenv("SECRETSCTL_REQUIRE_BOOT", raising=False)
    return tmp_path


def test_build_renames_into_place_and_removes_a_killed_builds_leftovers(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = boot.base_key()
    stale = cache / f".{key}.tmp-999999999"  # no such pid: a build that was killed
    (stale / "usr").mkdir(parents=True)
    calls: list[Path] = []
    monkeypatch.setattr(boot.subprocess, "run", fake_debootstrap(0, calls))

    tree = boot.build_base_tree()

    assert tree == cache / key
    assert (tree / "usr" / "bin" / "systemd").read_text() == "whole"
    assert len(calls) == 1
    assert calls[0].name.startswith(f".{key}.tmp-")
    assert not stale.exists()
    assert sorted(p.name for p in cache.iterdir()) == sorted([key, f".{key}.lock"])
    # Present: reused, debootstrap not run again.
    assert boot.build_base_tree() == tree
    assert len(calls) == 1


def test_failed_build_leaves_no_tree_and_skips_with_the_reason(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(boot.subprocess, "run", fake_debootstrap(1, calls))
    with pytest.raises(pytest.skip.Exception, match=r"debootstrap failed.*no network"):
        boot.build_base_tree()
    assert [p.name for p in cache.iterdir()] == [f".{boot.base_key()}.lock"]
