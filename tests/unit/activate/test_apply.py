"""apply, rollback, status without privileges: a runtime root on an existing tmpfs, no mount.

The same flows with real mounts, owners and crashes are in tests/privileged/.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretsctl.activate import fsops, links
from secretsctl.activate.apply import apply
from secretsctl.activate.diff import ItemState
from secretsctl.activate.result import ApplyResult
from secretsctl.activate.rollback import rollback
from secretsctl.activate.status import status
from secretsctl.activate.units import Delivery
from secretsctl.config.model import Manifest, SecretSpec, TemplateSpec
from secretsctl.errors import ActivationError, ExitCode, ProblemsError
from secretsctl.paths import RuntimePaths
from secretsctl.render.model import PlannedFile, RenderPlan
from tests.activate_support import (
    RecordingOs,
    Systemctl,
    expected_files,
    install_systemctl,
    instrument,
    live_files,
    manifest,
    ram_backed_tempdir,
    secret,
    template,
    tree_listing,
)

UID, GID = os.geteuid(), os.getegid()


@pytest.fixture
def root() -> Iterator[Path]:
    folder = ram_backed_tempdir()
    if folder is None:
        pytest.skip("no tmpfs directory (/dev/shm, $XDG_RUNTIME_DIR) to install into without root")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def paths(root: Path) -> RuntimePaths:
    return RuntimePaths(root=str(root))


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Systemctl:
    return install_systemctl(tmp_path / "bin", monkeypatch)


def run(p: RenderPlan, m: Manifest, paths: RuntimePaths, **options: object) -> ApplyResult:
    """apply() as this unprivileged suite runs it: never mount, the running group for dirs."""
    options.setdefault("may_mount", False)
    options.setdefault("keys_gid", GID)
    return apply(p, m, paths, **options)  # type: ignore[arg-type]


def own(*files: PlannedFile) -> RenderPlan:
    """A plan whose files belong to whoever runs the tests (only root could chown)."""
    return RenderPlan(tuple(f._replace(uid=UID, gid=GID) for f in files))


def gens(paths: RuntimePaths, m: Manifest) -> list[str]:
    return sorted(os.listdir(paths.runtime(m.mount_point)))


def test_first_second_and_changed_runs(paths: RuntimePaths, systemctl: Systemctl) -> None:
    m = manifest()
    first = own(
        secret("a", b"1", restart=("a.service",)),
        secret("nested/deep/b", b"2", mode=0o440),
        template("t", b"3", mode=0o404, reload=("t.service",)),
    )
    result = run(first, m, paths)
    assert (result.generation, result.previous, result.created) == (1, None, True)
    assert result.log_lines == ()
    assert result.restart_units == ()
    assert systemctl.delivered() == []
    assert live_files(paths, m) == expected_files(first)
    assert os.readlink(paths.runtime("/run/secrets")) == paths.runtime("/run/secrets.d/1")

    again = run(first, m, paths)
    assert (again.generation, again.created, again.log_lines) == (1, False, ())
    assert {i.state for i in again.items} == {ItemState.UNCHANGED}
    assert not again.changed
    assert systemctl.delivered() == []
    assert gens(paths, m) == ["1"], "no generation when nothing changed (13.14)"

    changed = own(
        secret("a", b"1", restart=("a.service",)),
        secret("nested/deep/b", b"22", mode=0o440, restart=("b.service",)),
        template("t", b"3", mode=0o404, reload=("t.service",)),
    )
    third = run(changed, m, paths)
    assert (third.generation, third.previous, third.created) == (2, 1, True)
    assert third.log_lines == ("modifying secret: nested/deep/b",)
    assert third.restart_units == ("b.service",)
    assert third.reload_units == ()
    assert systemctl.delivered() == [["--no-block", "try-restart", "b.service"]]
    assert gens(paths, m) == ["2"], "keep_generations 1 prunes the previous one"
    assert third.pruned == (1,)
    assert live_files(paths, m) == expected_files(changed)


def test_exact_modes_of_directories(paths: RuntimePaths) -> None:
    m = manifest()
    run(own(secret("x/y/z", mode=0o400), template("r/s")), m, paths)
    live = Path(paths.runtime("/run/secrets.d/1"))
    for folder in (live, live / "x", live / "x/y", live / "rendered", live / "rendered/r"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o751, folder
    assert stat.S_IMODE(Path(paths.runtime("/run/secrets.d")).stat().st_mode) == 0o751


def test_dry_run_writes_nothing(paths: RuntimePaths, root: Path, systemctl: Systemctl) -> None:
    m = manifest()
    fresh_before = tree_listing(root)
    dry = run(own(secret("a", restart=("a.service",))), m, paths, dry_run=True)
    after = tree_listing(root)
    assert set(after) == set(fresh_before), "a dry run wrote something (not even a lock file)"
    assert (dry.generation, dry.created, dry.log_lines) == (1, True, ())

    run(own(secret("a", b"old", restart=("a.service",)), secret("gone")), m, paths)
    systemctl.clear()
    before = tree_listing(root)
    dry = run(
        own(secret("a", b"new", restart=("a.service",)), template("t")), m, paths, dry_run=True
    )
    assert tree_listing(root) == before
    assert dry.log_lines == (
        "would modify secret: a",
        "would remove secret: gone",
        "would add rendered secret: t",
    )
    assert dry.restart_units == ("a.service",)
    assert dry.unit_lines() == ["would restart a.service"]
    assert (dry.generation, dry.previous) == (2, 1)
    assert [c[0] for c in systemctl.calls()] == ["show"], "a dry run only asks, never restarts"


def test_a_dry_run_warns_in_a_real_runs_order(paths: RuntimePaths, systemctl: Systemctl) -> None:
    m = manifest()
    run(own(secret("a", b"old", restart=("-bad.service",))), m, paths)
    changed = own(secret("a", b"new", restart=("-bad.service",)))
    state = links.state_file(paths.state_dir, m.mount_point)
    Path(state).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    Path(state).write_text("[]")
    dry = run(changed, m, paths, dry_run=True)
    Path(state).write_text("[]")
    real = run(changed, m, paths)
    assert real.warnings == (
        f"ignoring the malformed state file {state}",
        "ignoring '-bad.service' named by secret 'a': not a unit name",
    )
    assert dry.warnings == real.warnings


def test_dry_run_with_nixos_lists_writes_only_the_dry_lists(
    paths: RuntimePaths, root: Path
) -> None:
    m = manifest()
    run(own(secret("a", b"old", restart=("a.service",))), m, paths)
    nixos = Path(paths.nixos_dir)
    nixos.mkdir()
    before = tree_listing(root, exclude=(str(nixos),))
    dry = run(
        own(secret("a", b"new", restart=("a.service",))),
        m,
        paths,
        dry_run=True,
        deliver=Delivery.LIST_FILES,
        check_units=False,
    )
    assert (
        tree_listing(root, exclude=(str(nixos), str(nixos / "dry-activation-restart-list")))
        == before
    )
    assert (nixos / "dry-activation-restart-list").read_text() == "a.service\n"
    assert dry.list_files == (str(nixos / "dry-activation-restart-list"),)
    real = run(
        own(secret("a", b"new", restart=("a.service",))),
        m,
        paths,
        deliver=Delivery.LIST_FILES,
        check_units=False,
    )
    assert real.delivered
    assert (nixos / "activation-restart-list").read_text() == "a.service\n"


def test_problems_are_reported_together_before_anything(paths: RuntimePaths, root: Path) -> None:
    bad = own(
        secret("a"),
        secret("a/b"),
        secret("../up"),
        secret("dup"),
        secret("dup"),
        secret("suid", mode=0o4755),
        template("t", link="relative/path"),
        secret("/abs"),
    )
    with pytest.raises(ProblemsError) as caught:
        run(bad, manifest(), paths)
    messages = [p.message for p in caught.value.problems]
    invalid = "has an invalid name: it must be relative, without empty, '.' or '..' components"
    assert messages == [
        f"secret '../up' {invalid}",
        "secret 'dup' and secret 'dup' would both be written to dup",
        "secret 'suid' has mode 0o4755: only permission bits (at most 0777) are allowed",
        "template 't' has a relative path relative/path; it must be absolute",
        f"secret '/abs' {invalid}",
        "secret 'a/b' needs a directory a where secret 'a' is a file",
    ]
    assert list(root.iterdir()) == []


def test_runtime_paths_with_a_parent_component_are_refused_before_anything(
    paths: RuntimePaths, root: Path
) -> None:
    """A plan or manifest not read by the loaders (which refuse these first) is refused too."""
    outside = root.parent / f"{root.name}-outside"
    climb = "/" + "../" * (len(root.parts) + 1) + str(outside).lstrip("/")
    for m, p in (
        (manifest(), own(secret("a", link=f"{climb}/a"))),
        (manifest(), own(template("t", link="/run/secrets.d/../../etc/t"))),
        (manifest(mount_point=f"{climb}/m"), own(secret("a"))),
        (manifest(symlink_path=f"{climb}/s"), own(secret("a"))),
    ):
        for dry in (True, False):
            with pytest.raises(ProblemsError) as caught:
                run(p, m, paths, dry_run=dry)
            assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
            assert "must not have '..' components" in caught.value.message
    assert not outside.exists()
    assert list(root.iterdir()) == []


def test_a_check_only_plan_is_never_installed(paths: RuntimePaths, root: Path) -> None:
    with pytest.raises(ActivationError, match="cannot be installed"):
        run(RenderPlan((secret("a"),), check_only=True), manifest(), paths, dry_run=True)
    assert list(root.iterdir()) == []


def test_overlapping_mount_point_and_symlink_path(paths: RuntimePaths) -> None:
    with pytest.raises(ProblemsError, match="must be apart"):
        run(own(secret("a")), manifest(symlink_path="/run/secrets.d/current"), paths)


def test_disk_backed_mount_point_is_refused(tmp_path: Path) -> None:
    if fsops.fs_magic(str(tmp_path)) in fsops.RAM_BACKED:
        pytest.skip("the temporary directory is on tmpfs here; the privileged suite covers it")
    paths = RuntimePaths(root=str(tmp_path))
    for dry in (True, False):
        with pytest.raises(ActivationError) as caught:
            run(own(secret("a")), manifest(), paths, dry_run=dry)
        assert "not on a RAM-backed filesystem" in caught.value.message
        assert caught.value.hint
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["secretsctl.lock"]


def test_lock_held_fails_fast(paths: RuntimePaths) -> None:
    from secretsctl.activate.generations import RunLock

    with RunLock(paths.lock_file), pytest.raises(ActivationError) as caught:
        run(own(secret("a")), manifest(), paths, wait=False)
    assert caught.value.exit_code == ExitCode.LOCK_HELD
    assert f"PID {os.getpid()}" in caught.value.message


def test_a_real_directory_at_the_symlink_path(paths: RuntimePaths) -> None:
    m = manifest()
    occupied = Path(paths.runtime("/run/secrets"))
    occupied.mkdir(parents=True)
    (occupied / "old").write_text("x")
    with pytest.raises(ActivationError, match="is a directory") as caught:
        run(own(secret("a")), m, paths)
    assert caught.value.hint
    assert "--force" in caught.value.hint
    assert occupied.is_dir()
    assert not Path(paths.runtime("/run/secrets.d")).exists()
    dry = run(own(secret("a")), m, paths, dry_run=True, force=True)
    assert any("would replace the directory" in w for w in dry.warnings)
    assert occupied.is_dir()
    run(own(secret("a")), m, paths, force=True)
    assert occupied.is_symlink()


def test_failure_before_the_switch_leaves_the_live_generation(
    paths: RuntimePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = manifest(keep_generations=0)
    first = own(secret("a", b"1"), secret("b", b"2"))
    run(first, m, paths)
    real = fsops.create_file
    calls = []

    def full(*args: object, **kwargs: object) -> None:
        calls.append(args[1])
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fsops, "create_file", full)
    with pytest.raises(ActivationError) as caught:
        run(own(secret("a", b"x"), secret("b", b"y"), template("t", b"z")), m, paths)
    assert caught.value.message == "cannot write templates: rendered/t: No space left on device"
    assert caught.value.hint
    assert "full" in caught.value.hint
    assert gens(paths, m) == ["1"], "the unfinished generation is removed"
    assert live_files(paths, m) == expected_files(first)


def test_a_half_written_generation_is_cleaned_by_the_next_run(paths: RuntimePaths) -> None:
    m = manifest(keep_generations=0)
    run(own(secret("a", b"1")), m, paths)
    leftover = Path(paths.runtime("/run/secrets.d/2"))
    leftover.mkdir()
    (leftover / "partial").write_bytes(b"")
    switch_leftover = Path(paths.runtime("/run/.secretsctl-switch-secrets.xyz"))
    switch_leftover.mkdir()
    unchanged = run(own(secret("a", b"1")), m, paths)
    assert not unchanged.created
    assert not leftover.exists()
    assert not switch_leftover.exists()
    assert any("removed generation 2" in w for w in unchanged.warnings)
    changed = run(own(secret("a", b"2")), m, paths)
    assert changed.generation == 2
    assert sorted(os.listdir(paths.runtime("/run/secrets.d/2"))) == ["a"]


def test_write_order_through_apply(paths: RuntimePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    layer = RecordingOs()
    instrument(monkeypatch, layer)
    run(
        own(secret("a", b"1", mode=0o440), secret("n/b", b"2"), template("t", b"3")),
        manifest(),
        paths,
    )
    by_fd: dict[int, list[str]] = {}
    created = []
    for call in layer.calls:
        if call.name == "open" and call.args[0] in ("a", "b", "t") and call.args[1] & os.O_CREAT:
            assert call.args[1] & (os.O_EXCL | os.O_NOFOLLOW) == os.O_EXCL | os.O_NOFOLLOW
            assert call.args[2] == 0
            created.append(call.args[0])
            by_fd[call.result] = []
        elif call.name in ("fchown", "fchmod", "write", "fsync") and call.args[0] in by_fd:
            by_fd[call.args[0]].append(call.name)
        elif call.name == "close" and call.args[0] in by_fd:
            sequence = by_fd.pop(call.args[0])
            expected = ["fchmod", "write", "fsync"]
            if UID == 0:
                expected.insert(0, "fchown")
            assert sequence == expected
    assert created == ["a", "b", "t"], "secrets first, then templates"


def test_unknown_units_are_warned_about_and_left_out(
    paths: RuntimePaths, systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = manifest()
    run(own(secret("a", b"1")), m, paths)
    monkeypatch.setenv("SYSTEMCTL_STANDIN_UNKNOWN", "typo.service")
    result = run(own(secret("a", b"2", restart=("typo.service", "real.service"))), m, paths)
    assert "unit 'typo.service' named by secret 'a' does not exist" in result.warnings
    assert result.restart_units == ("real.service",)
    assert systemctl.delivered() == [["--no-block", "try-restart", "real.service"]]
    assert result.ok


def test_a_failing_systemctl_is_an_error_after_the_switch(
    paths: RuntimePaths, systemctl: Systemctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = manifest()
    run(own(secret("a", b"1", restart=("a.service",))), m, paths)
    monkeypatch.setenv("SYSTEMCTL_STANDIN_FAIL", "1")
    result = run(own(secret("a", b"2", restart=("a.service",))), m, paths)
    assert not result.ok
    assert result.generation == 2
    assert "try-restart a.service" in result.errors[0]
    assert live_files(paths, m)["a"][0] == b"2", "the new generation stays live"


def test_user_mode_tells_no_unit_and_logs_nothing(
    paths: RuntimePaths, systemctl: Systemctl
) -> None:
    m = manifest(user_mode=True)
    run(own(secret("a", b"1", restart=("a.service",))), m, paths)
    result = run(own(secret("a", b"2", restart=("a.service",))), m, paths)
    assert result.delivery is Delivery.NONE
    assert result.log_lines == ()
    assert systemctl.calls() == []
    assert result.items[0].state is ItemState.CHANGED


def test_logging_off_keeps_the_lines_out(paths: RuntimePaths) -> None:
    m = manifest(log_secret_changes=False)
    run(own(secret("a", b"1")), m, paths)
    assert run(own(secret("a", b"2")), m, paths).log_lines == ()


def test_custom_links_and_their_cleanup(paths: RuntimePaths, root: Path) -> None:
    m = manifest()
    link = root / "etc" / "app" / "token"
    run(
        own(secret("a", link="/etc/app/token"), template("t", link="/run/secrets/rendered/t")),
        m,
        paths,
    )
    assert os.readlink(link) == paths.runtime("/run/secrets/a")
    assert link.read_bytes() == b"value"
    assert not (root / "run/secrets/rendered/t").is_symlink(), "the default path is not linked"
    result = run(own(secret("b")), m, paths)
    assert result.links_removed == (str(link),)
    assert "removing stale link: " + str(link) in result.log_lines
    assert not link.exists()
    assert not link.is_symlink()


def test_a_stale_link_replaced_by_the_user_is_left_alone(paths: RuntimePaths, root: Path) -> None:
    m = manifest()
    run(own(secret("a", link="/etc/token")), m, paths)
    (root / "etc" / "token").unlink()
    (root / "etc" / "token").write_text("mine")
    result = run(own(secret("b")), m, paths)
    assert (root / "etc" / "token").read_text() == "mine"
    assert any("left " in w and "token" in w for w in result.warnings)


def specs_of(p: RenderPlan, **overrides: object) -> Manifest:
    secrets = tuple(
        SecretSpec(
            f.name, "/dev/null", mode=f.mode, restart_units=f.restart_units, path=f.link_path
        )
        for f in p.files
        if f.relative_path == f.name
    )
    templates = tuple(
        TemplateSpec(f.name, "", mode=f.mode, restart_units=f.restart_units)
        for f in p.files
        if f.relative_path != f.name
    )
    return manifest(secrets=secrets, templates=templates, **overrides)


def test_rollback_switches_back_with_the_same_handling(
    paths: RuntimePaths, systemctl: Systemctl
) -> None:
    old = own(secret("a", b"1", restart=("a.service",)), template("t", b"t"))
    new = own(secret("a", b"2", restart=("a.service",)), secret("b", b"b"), template("t", b"t"))
    m = specs_of(new, keep_generations=3)
    run(old, m, paths)
    run(new, m, paths)
    systemctl.clear()
    dry = rollback(m, paths, dry_run=True, keys_gid=GID)
    assert dry.log_lines == ("would modify secret: a", "would remove secret: b")
    assert systemctl.delivered() == []
    result = rollback(m, paths, keys_gid=GID)
    assert (result.generation, result.previous) == (1, 2)
    assert result.log_lines == ("modifying secret: a", "removing secret: b")
    assert systemctl.delivered() == [["--no-block", "try-restart", "a.service"]]
    assert live_files(paths, m) == expected_files(old)
    with pytest.raises(ActivationError) as caught:
        rollback(m, paths, keys_gid=GID)
    assert caught.value.exit_code == ExitCode.NO_ROLLBACK_TARGET
    assert "keep_generations is 3" in caught.value.message


def test_rollback_refuses_a_generation_changed_since_it_was_written(paths: RuntimePaths) -> None:
    m = manifest(keep_generations=0)
    run(own(secret("a", b"1")), m, paths)
    run(own(secret("a", b"2")), m, paths)
    os.chmod(paths.runtime("/run/secrets.d/1/a"), 0o444)
    with pytest.raises(ActivationError, match=r"a is .* 0444, written as .* 0400"):
        rollback(m, paths, keys_gid=GID)
    assert os.readlink(paths.runtime("/run/secrets")).endswith("/2")


def test_rollback_without_a_live_generation(paths: RuntimePaths) -> None:
    with pytest.raises(ActivationError) as caught:
        rollback(manifest(), paths, keys_gid=GID)
    assert caught.value.exit_code == ExitCode.NO_ROLLBACK_TARGET


def test_status_reports_files_and_looser_modes(paths: RuntimePaths) -> None:
    p = own(secret("a", b"1"), secret("n/b", b"22", mode=0o440), template("t", b"3"))
    m = specs_of(p)
    assert status(m, paths).warnings == (
        f"{paths.runtime('/run/secrets')} does not exist: nothing is installed",
    )
    run(p, m, paths)
    report = status(m, paths)
    assert report.generation == 1
    assert report.warnings == ()
    assert [(f.relative_path, f.mode, f.size) for f in report.files] == [
        ("a", 0o400, 1),
        ("n/b", 0o440, 2),
        ("rendered/t", 0o400, 1),
    ]
    os.chmod(paths.runtime("/run/secrets/a"), 0o644)
    Path(paths.runtime("/run/secrets/extra")).write_text("x")
    warnings = status(m, paths).warnings
    assert "secret 'a' has mode 0644, more permissive than its configured 0400" in warnings
    assert "secret 'extra' is in the live generation but not in the configuration" in warnings


def test_no_value_in_results(paths: RuntimePaths) -> None:
    m = manifest()
    run(own(secret("a", b"SECRET-VALUE-1")), m, paths)
    result = run(
        own(secret("a", b"SECRET-VALUE-2"), template("t", b"SECRET-VALUE-3")),
        m,
        paths,
        dry_run=True,
    )
    assert "SECRET-VALUE" not in repr(result) + repr(status(m, paths))


def test_a_link_into_another_ram_tree_is_compared(paths: RuntimePaths, root: Path) -> None:
    """Moving from another mount point (e.g. a former sops-nix one): changes are still told."""
    m = manifest()
    old = Path(paths.runtime("/run/old-secrets.d/7"))
    old.mkdir(parents=True)
    (old / "a").write_bytes(b"1")
    (old / "a").chmod(0o400)
    (old / "gone").write_bytes(b"x")
    Path(paths.runtime("/run/secrets")).symlink_to(old)
    result = run(own(secret("a", b"2")), m, paths)
    assert (result.previous, result.generation) == (None, 1)
    assert result.log_lines == ("modifying secret: a", "removing secret: gone")


def test_a_link_into_a_disk_tree_is_not_walked(paths: RuntimePaths, tmp_path: Path) -> None:
    if fsops.fs_magic(str(tmp_path)) in fsops.RAM_BACKED:
        pytest.skip("the temporary directory is on tmpfs here")
    (tmp_path / "a").write_bytes(b"1")
    link = Path(paths.runtime("/run/secrets"))
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path)
    result = run(own(secret("a", b"1")), manifest(), paths)
    assert any("not compared" in w for w in result.warnings)
    assert result.log_lines == ()
    assert {i.state for i in result.items} == {ItemState.NEW}


def test_user_mode_locks_and_records_under_the_runtime_dir(
    paths: RuntimePaths, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    m = manifest(user_mode=True)
    run(own(secret("a", link="/home/u/.token")), m, paths)
    assert Path(paths.runtime("/run/user/1000/secretsctl.lock")).exists()
    assert Path(paths.runtime("/run/user/1000/secretsctl/run-secrets.d.json")).exists()
    assert not Path(paths.lock_file).exists()
