"""Faults, for real: kill -9 at every system call and at random moments, a full filesystem,
two runs at once, readers during switches, and a non-owner probing every file as it is made."""

from __future__ import annotations

import ctypes
import errno
import os
import random
import signal
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from secretsctl.activate import fsops
from secretsctl.activate.apply import apply
from secretsctl.errors import ActivationError, ExitCode
from secretsctl.paths import RuntimePaths
from secretsctl.render.model import RenderPlan
from tests.activate_support import (
    RecordingOs,
    Users,
    expected_files,
    in_private_namespace,
    instrument,
    live_files,
    manifest,
    plan,
    secret,
    template,
    tree_listing,
)

pytestmark = pytest.mark.privileged

MNT_DETACH = 2


def umount(path: str | Path) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(str(path)), MNT_DETACH)


def mount_tmpfs(target: Path, options: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"none", os.fsencode(target), b"tmpfs", ctypes.c_ulong(0), options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(target))


def killed_by_sigkill(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def run_with_kill_at(call_number: int, action: Callable[[], object]) -> int:
    """Run ``action`` in a child that SIGKILLs itself at its ``call_number``-th system call."""
    pid = os.fork()
    if pid == 0:
        count = 0

        def hook(name: str, args: tuple[object, ...]) -> None:
            nonlocal count
            count += 1
            if count == call_number:
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            instrument(None, RecordingOs(hook))
            action()
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1]


def assert_clean(paths: RuntimePaths, live_generation: str) -> None:
    """Nothing left behind: one generation, no temporary directory or file anywhere."""
    assert os.listdir(paths.runtime("/run/secrets.d")) == [live_generation]
    leftovers = [
        str(p)
        for base in (paths.runtime("/run"), paths.runtime("/etc"))
        if os.path.isdir(base)
        for p in Path(base).rglob("*")
        if ".secretsctl-" in p.name or p.name.endswith(".tmp")
    ]
    assert leftovers == []


def old_and_new(users: Users) -> tuple[RenderPlan, RenderPlan]:
    old = plan(
        secret("a", b"A1", uid=users.alice_uid, gid=users.alice_gid),
        secret("n/b", b"B", uid=users.bob_uid, gid=users.group_gid, mode=0o440, link="/etc/b"),
        secret("old-only", b"O", link="/etc/old"),
        template("t", b"T1", uid=users.alice_uid, gid=users.group_gid, mode=0o440),
    )
    new = plan(
        secret("a", b"A2", uid=users.alice_uid, gid=users.alice_gid),
        secret("n/b", b"B", uid=users.bob_uid, gid=users.group_gid, mode=0o440, link="/etc/b"),
        secret("new-only", b"N", uid=users.bob_uid, gid=users.bob_gid, link="/etc/new"),
        template("t", b"T2", uid=users.alice_uid, gid=users.group_gid, mode=0o440),
        template("x/y", b"Y", mode=0o400),
    )
    return old, new


def test_kill_9_at_every_system_call(users: Users, tmp_path: Path) -> None:
    """The symlink always leads to a complete generation; the next run cleans up."""

    def body() -> None:
        old, new = old_and_new(users)
        m = manifest()
        outcomes = {"old": 0, "new": 0}
        call = 0
        while True:
            call += 1
            paths = RuntimePaths(root=str(tmp_path / f"kill-at-{call}"))
            apply(old, m, paths)
            status = run_with_kill_at(call, lambda p=paths: apply(new, m, p))  # type: ignore[misc]
            live = live_files(paths, m)
            assert live in (expected_files(old), expected_files(new)), f"kill at call {call}"
            target = os.readlink(paths.runtime("/run/secrets"))
            assert target in (paths.runtime("/run/secrets.d/1"), paths.runtime("/run/secrets.d/2"))
            outcomes["new" if live == expected_files(new) else "old"] += 1
            recovery = apply(new, m, paths)
            assert recovery.ok
            assert live_files(paths, m) == expected_files(new)
            assert_clean(paths, "2")
            assert os.readlink(paths.runtime("/etc/b")) == paths.runtime("/run/secrets/n/b")
            assert os.readlink(paths.runtime("/etc/new")) == paths.runtime("/run/secrets/new-only")
            assert not os.path.lexists(paths.runtime("/etc/old")), f"stale link after kill {call}"
            umount(paths.runtime("/run/secrets.d"))
            if not killed_by_sigkill(status):
                assert status == 0
                break
        assert call > 60, f"only {call} system calls: the hook did not see the run"
        assert outcomes["old"] > 10
        assert outcomes["new"] > 10

    in_private_namespace(body)


def big(prefix: bytes, users: Users, count: int = 1000) -> RenderPlan:
    owners = ((users.alice_uid, users.alice_gid), (users.bob_uid, users.group_gid), (0, 0))
    return plan(
        *(
            secret(
                f"s{i // 100}/k{i}",
                prefix + str(i).encode() * 4,
                uid=owners[i % 3][0],
                gid=owners[i % 3][1],
                mode=(0o400, 0o440, 0o600)[i % 3],
            )
            for i in range(count)
        ),
        template("env", prefix + b"-env"),
    )


def test_kill_9_at_random_moments_of_a_large_render(users: Users, tmp_path: Path) -> None:
    def body() -> None:
        old, new = big(b"old", users), big(b"new", users)
        m = manifest()
        rng = random.Random(1234)
        for attempt in range(12):
            paths = RuntimePaths(root=str(tmp_path / f"attempt-{attempt}"))
            apply(old, m, paths)
            pid = os.fork()
            if pid == 0:
                try:
                    apply(new, m, paths)
                finally:
                    os._exit(0)
            time.sleep(rng.uniform(0, 0.05))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            live = live_files(paths, m)
            assert live in (expected_files(old), expected_files(new)), f"attempt {attempt}"
            apply(new, m, paths)
            assert live_files(paths, m) == expected_files(new)
            assert_clean(paths, "2")
            umount(paths.runtime("/run/secrets.d"))

    in_private_namespace(body)


def test_a_full_filesystem_leaves_the_live_generation(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        mount_point = Path(paths.runtime("/run/secrets.d"))
        mount_tmpfs(mount_point, "size=128k,mode=0751")
        m = manifest(use_tmpfs=True)
        small = plan(secret("a", b"1"), template("t", b"2"))
        result = apply(small, m, paths)
        assert result.mount is not None
        assert not result.mount.mounted, "the small tmpfs is reused"
        too_big = plan(secret("a", b"1"), secret("huge", b"x" * 600_000), template("t", b"3"))
        with pytest.raises(ActivationError) as caught:
            apply(too_big, m, paths)
        assert caught.value.message == "cannot write secrets: huge: No space left on device"
        assert caught.value.hint
        assert "full" in caught.value.hint
        assert live_files(paths, m) == expected_files(small)
        assert os.listdir(mount_point) == ["1"], "no partial generation is left"
        changed = plan(secret("a", b"11"), template("t", b"2"))
        assert apply(changed, m, paths).generation == 2
        assert live_files(paths, m) == expected_files(changed)

    in_private_namespace(body)


def test_two_runs_are_serialised_by_the_lock(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(keep_generations=0)
        apply(plan(secret("a", b"1")), m, paths)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                real = fsops.create_file

                def slow(*args: object, **kwargs: object) -> None:
                    os.write(write_end, b"x")
                    time.sleep(0.6)
                    real(*args, **kwargs)  # type: ignore[arg-type]

                fsops.create_file = slow  # type: ignore[assignment]
                result = apply(plan(secret("a", b"2")), m, paths)
                code = 0 if result.generation == 2 else 3
            finally:
                os._exit(code)
        assert os.read(read_end, 1) == b"x", "the first run is writing, holding the lock"
        with pytest.raises(ActivationError) as caught:
            apply(plan(secret("a", b"3")), m, paths, wait=False)
        assert caught.value.exit_code == ExitCode.LOCK_HELD
        assert f"PID {pid}" in caught.value.message
        started = time.monotonic()
        second = apply(plan(secret("a", b"3")), m, paths)
        waited = time.monotonic() - started
        assert os.waitpid(pid, 0)[1] == 0
        assert waited > 0.3, "the second run waited for the first"
        assert (second.previous, second.generation) == (2, 3)
        assert second.log_lines == ("modifying secret: a",)
        assert live_files(paths, m) == expected_files(plan(secret("a", b"3")))

    in_private_namespace(body)


def test_readers_see_a_complete_generation_at_every_switch(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(keep_generations=0)  # nothing pruned under the reader's feet
        names = [f"d{i % 3}/s{i}" for i in range(30)]

        def version(v: int) -> RenderPlan:
            return plan(*(secret(n, f"v{v}".encode()) for n in names))

        apply(version(0), m, paths)
        link = paths.runtime("/run/secrets")
        stop = tmp_path / "stop"
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            rounds, failures = 0, 0
            try:
                while not stop.exists():
                    rounds += 1
                    try:
                        target = os.readlink(link)
                    except OSError:
                        failures += 1
                        continue
                    seen = set()
                    for name in names:
                        try:
                            with open(os.path.join(target, name), "rb") as handle:
                                seen.add(handle.read())
                        except OSError:
                            failures += 1
                    if len(seen) != 1:
                        failures += 1
            finally:
                os.write(write_end, f"{rounds} {failures}".encode())
                os._exit(0)
        os.close(write_end)
        for v in range(1, 41):
            apply(version(v), m, paths)
        stop.touch()
        os.waitpid(pid, 0)
        rounds, failures = map(int, os.read(read_end, 100).split())
        assert failures == 0
        assert rounds > 40

    in_private_namespace(body)


def test_no_file_is_ever_readable_beyond_its_final_owner_and_mode(users: Users) -> None:
    """Bob probes every file of the next generations while they are being written."""

    def body() -> None:
        base = Path(tempfile.mkdtemp(prefix="secretsctl-probe-", dir="/tmp"))
        base.chmod(0o755)
        try:
            probe(base)
        finally:
            umount(base / "run/secrets.d")
            import shutil

            shutil.rmtree(base, ignore_errors=True)

    def version(v: int) -> RenderPlan:
        value = f"v{v}".encode()
        return plan(
            secret("alice-only", value, uid=users.alice_uid, gid=users.alice_gid, mode=0o400),
            secret("group-only", value, uid=users.alice_uid, gid=users.group_gid, mode=0o440),
            secret("root-only", value, mode=0o400),
            secret("nested/alice", value, uid=users.alice_uid, gid=users.alice_gid, mode=0o600),
            template("rendered-root", value, mode=0o400),
            secret("bob-own", value, uid=users.bob_uid, gid=users.bob_gid, mode=0o400),
            secret("everyone", value, mode=0o444),
        )

    forbidden = ["alice-only", "group-only", "root-only", "nested/alice", "rendered/rendered-root"]
    allowed = ["bob-own", "everyone"]

    def probe(base: Path) -> None:
        paths = RuntimePaths(root=str(base))
        m = manifest(keep_generations=0)
        apply(version(0), m, paths)
        mount_point = paths.runtime("/run/secrets.d")
        stop = base / "stop"
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            opened, violations = 0, []
            try:
                os.setgroups([])
                os.setgid(users.bob_gid)
                os.setuid(users.bob_uid)
                link = paths.runtime("/run/secrets")
                while not os.path.exists(stop):
                    # The generation being written is the one after the live one.
                    number = int(os.readlink(link).rpartition("/")[2]) + 1
                    for name in (*forbidden, *allowed):
                        try:
                            fd = os.open(f"{mount_point}/{number}/{name}", os.O_RDONLY)
                        except OSError:
                            continue
                        os.close(fd)
                        if name in forbidden:
                            violations.append(f"{number}/{name}")
                        else:
                            opened += 1
            finally:
                os.write(write_end, f"{opened} {len(violations)} {violations[:5]}".encode())
                os._exit(0)
        os.close(write_end)
        # A pause before every system call of the writer widens any window a wrong order
        # of operations would open, so that the probe would see it.
        instrument(None, RecordingOs(lambda name, args: time.sleep(0.0002)))
        for v in range(1, 31):
            apply(version(v), m, paths)
        stop.touch()
        os.waitpid(pid, 0)
        report = os.read(read_end, 10000).decode()
        opened, violations = int(report.split()[0]), int(report.split()[1])
        assert violations == 0, report
        assert opened > 20, "bob reached the generations being written (the probe means something)"
        # Every file of every generation kept has exactly its planned owner and mode.
        expected = {rel: spec[1:] for rel, spec in expected_files(version(0)).items()}
        for number in os.listdir(mount_point):
            for rel, owner_mode in expected.items():
                info = os.lstat(f"{mount_point}/{number}/{rel}")
                got = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
                assert got == owner_mode, f"{number}/{rel}"

    in_private_namespace(body)


def test_dry_run_writes_nothing_at_all(users: Users, tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "fresh"))
        dry = apply(plan(secret("a")), manifest(), paths, dry_run=True)
        assert dry.created
        assert not (tmp_path / "fresh").exists(), "a dry run wrote something"
        assert fsops.mounts_at(paths.runtime("/run/secrets.d")) == []

        paths = RuntimePaths(root=str(tmp_path / "live"))
        m = manifest(keep_generations=2)
        old, new = old_and_new(users)
        Path(paths.nixos_dir).mkdir(parents=True)
        apply(old, m, paths)
        before = tree_listing(tmp_path / "live")
        mounts = fsops.mounts_at(paths.runtime("/run/secrets.d"))
        time.sleep(0.01)  # any write would show in an mtime
        result = apply(new, m, paths, dry_run=True)
        assert tree_listing(tmp_path / "live") == before
        assert fsops.mounts_at(paths.runtime("/run/secrets.d")) == mounts
        assert result.log_lines == (
            "would add secret: new-only",
            "would modify secret: a",
            "would remove secret: old-only",
            "would add rendered secret: x/y",
            "would modify rendered secret: t",
            f"would remove stale link: {paths.runtime('/etc/old')}",
        )
        assert set(result.links_created) == {paths.runtime("/etc/new")}
        assert result.pruned == ()
        assert not result.delivered

    in_private_namespace(body)


def test_write_failure_in_the_middle_removes_the_new_generation(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest()
        first = plan(secret("a", b"1"), secret("b", b"2"))
        apply(first, m, paths)
        real = os.fchown
        calls = []

        def failing(fd: int, uid: int, gid: int) -> None:
            calls.append(uid)
            if len(calls) == 4:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            real(fd, uid, gid)

        os_fchown = os.fchown
        os.fchown = failing  # type: ignore[assignment]
        try:
            with pytest.raises(
                ActivationError, match=r"cannot write secrets: b: Input/output error"
            ):
                apply(plan(secret("a", b"x"), secret("b", b"y"), secret("c", b"z")), m, paths)
        finally:
            os.fchown = os_fchown
        assert live_files(paths, m) == expected_files(first)
        assert os.listdir(paths.runtime("/run/secrets.d")) == ["1"]

    in_private_namespace(body)
