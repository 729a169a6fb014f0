"""sops-nix's acceptance sequences, end to end: a manifest of the shape Nix writes (pointing at
sops-nix's own test vectors), decrypted, rendered and installed for real, as root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from secretsctl.activate.apply import apply
from secretsctl.activate.result import ApplyResult
from secretsctl.activate.rollback import rollback
from secretsctl.activate.status import status
from secretsctl.activate.units import Delivery
from secretsctl.config.model import Manifest
from secretsctl.errors import ActivationError, ExitCode, ProblemsError
from secretsctl.paths import RuntimePaths
from tests.activate_support import (
    Systemctl,
    Users,
    in_private_namespace,
    live_files,
    manifest,
    nix_secret,
    nix_template,
    placeholder,
    plan,
    secret,
    tree_listing,
)
from tests.conftest import SOPS_NIX_VECTORS
from tests.leds.secrets_support import same_secret

pytestmark = pytest.mark.privileged

UNITS = {
    "restartUnits": ["restart-unit.service", "reload-unit.service"],
    "reloadUnits": ["reload-trigger.service"],
}


def nix_manifest(secrets: list[dict[str, Any]], templates: list[dict[str, Any]], **top: Any) -> str:
    document = {
        "ageKeyFile": str(SOPS_NIX_VECTORS / "age-keys.txt"),
        "ageSshKeyPaths": [],
        "gnupgHome": None,
        "keepGenerations": 1,
        "logging": {"keyImport": True, "secretChanges": True},
        "placeholderBySecretName": {s["name"]: placeholder(s["name"]) for s in secrets}
        if templates
        else {},
        "secrets": secrets,
        "secretsMountPoint": "/run/secrets.d",
        "sshKeyPaths": [],
        "symlinkPath": "/run/secrets",
        "templates": templates,
        "useTmpfs": False,
        "userMode": False,
    }
    document.update(top)
    return json.dumps(document, sort_keys=True)


def load(folder: Path, text: str) -> Manifest:
    from secretsctl.config.sopsnix import load_manifest

    path = folder / "manifest.json"
    path.write_text(text)
    return load_manifest(str(path), environ={})


def activate(m: Manifest, paths: RuntimePaths, **options: Any) -> ApplyResult:
    from secretsctl.render.plan import build_plan

    return apply(build_plan(m), m, paths, **options)


def restart_and_reload(folder: Path) -> Manifest:
    return load(
        folder,
        nix_manifest(
            [nix_secret("test_key", "test_key", **UNITS)],
            [nix_template("test_template", f"pw={placeholder('test_key')}\n", **UNITS)],
        ),
    )


def truncate(path: str) -> None:
    os.truncate(path, 0)


def test_restart_and_reload_sequence_with_systemctl(tmp_path: Path, systemctl: Systemctl) -> None:
    """sops-nix's restart-and-reload sequence, delivered by systemctl --no-block (the default)."""

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "root"))
        m = restart_and_reload(tmp_path)
        live = Path(paths.runtime("/run/secrets"))
        restart = ["--no-block", "try-restart", "restart-unit.service", "reload-unit.service"]
        reload = ["--no-block", "try-reload-or-restart", "reload-trigger.service"]

        def run(**options: Any) -> ApplyResult:
            systemctl.clear()
            return activate(m, paths, systemctl=systemctl.program, **options)

        # 1. boot: nothing restarted, nothing asked
        first = run()
        assert first.log_lines == ()
        assert systemctl.calls() == []
        same_secret((live / "test_key").read_bytes(), b"test_value", "test_key")
        assert (live / "rendered/test_template").read_bytes() == b"pw=test_value\n"
        # 2. nothing changed: no restart, no reload
        assert run().log_lines == ()
        assert systemctl.calls() == []
        # 3. a truncated secret, then a truncated template: both units fire
        truncate(str(live / "test_key"))
        result = run()
        assert result.log_lines == ("modifying secret: test_key",)
        assert systemctl.delivered() == [restart, reload]
        truncate(str(live / "rendered/test_template"))
        assert run().log_lines == ("modifying rendered secret: test_template",)
        assert systemctl.delivered() == [restart, reload]
        # 4. the exact change-log lines
        os.unlink(live / "test_key")
        os.unlink(live / "rendered/test_template")
        assert run().log_lines == (
            "adding secret: test_key",
            "adding rendered secret: test_template",
        )
        assert systemctl.delivered() == [restart, reload], "each unit once, though named twice"
        truncate(str(live / "test_key"))
        truncate(str(live / "rendered/test_template"))
        assert run().log_lines == (
            "modifying secret: test_key",
            "modifying rendered secret: test_template",
        )
        (live / "another_key").write_text("x")
        (live / "rendered/another_template").write_text("y")
        assert run().log_lines == (
            "removing secret: another_key",
            "removing rendered secret: another_template",
        )
        assert systemctl.delivered() == [], "removed items trigger nothing"
        # 5. a dry run with one added and one removed item of each kind
        os.unlink(live / "test_key")
        os.unlink(live / "rendered/test_template")
        (live / "another_key").write_text("x")
        (live / "rendered/another_template").write_text("y")
        before = tree_listing(tmp_path / "root")
        dry = run(dry_run=True)
        assert dry.log_lines == (
            "would add secret: test_key",
            "would remove secret: another_key",
            "would add rendered secret: test_template",
            "would remove rendered secret: another_template",
        )
        assert dry.unit_lines() == [
            "would restart restart-unit.service",
            "would restart reload-unit.service",
            "would reload reload-trigger.service",
        ]
        assert tree_listing(tmp_path / "root") == before
        assert systemctl.delivered() == []
        # 6. a real run repairs the tree
        run()
        assert sorted(p.name for p in live.iterdir()) == ["rendered", "test_key"]
        same_secret((live / "test_key").read_bytes(), b"test_value", "test_key")
        # 7. a dry run after truncating: reported, not repaired, nothing restarted
        truncate(str(live / "test_key"))
        assert run(dry_run=True).log_lines == ("would modify secret: test_key",)
        assert (live / "test_key").read_bytes() == b""
        assert systemctl.delivered() == []

    in_private_namespace(body)


def test_restart_and_reload_with_nixos_list_files(tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "root"))
        m = restart_and_reload(tmp_path)
        nixos = Path(paths.nixos_dir)
        nixos.mkdir(parents=True)
        live = Path(paths.runtime("/run/secrets"))
        options: dict[str, Any] = {"deliver": Delivery.LIST_FILES, "check_units": False}
        activate(m, paths, **options)
        assert list(nixos.iterdir()) == [], "after boot: no list file"
        activate(m, paths, **options)
        assert list(nixos.iterdir()) == []
        truncate(str(live / "test_key"))
        truncate(str(live / "rendered/test_template"))
        activate(m, paths, dry_run=True, **options)
        assert (nixos / "dry-activation-restart-list").read_text() == (
            "restart-unit.service\nreload-unit.service\n"
        )
        assert (nixos / "dry-activation-reload-list").read_text() == "reload-trigger.service\n"
        assert not (nixos / "activation-restart-list").exists()
        activate(m, paths, **options)
        assert (nixos / "activation-restart-list").read_text() == (
            "restart-unit.service\nreload-unit.service\n"
        )
        assert (nixos / "activation-reload-list").read_text() == "reload-trigger.service\n"

    in_private_namespace(body)


def test_pruning_sequence(tmp_path: Path) -> None:
    """sops-nix's pruning sequence, and canonical names only."""

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        activate_with = lambda keep, value: apply(  # noqa: E731
            plan(secret("test_key", value)), manifest(keep_generations=keep), paths
        )
        activate_with(1, b"boot")
        mount_point = Path(paths.runtime("/run/secrets.d"))
        for number in range(2, 100):
            (mount_point / str(number)).mkdir()
        for name in ("non-numeric", "007", "+5"):
            (mount_point / name).mkdir()
        os.unlink(paths.runtime("/run/secrets"))
        os.symlink(mount_point / "99", paths.runtime("/run/secrets"))
        assert activate_with(0, b"a").generation == 100
        assert {"1", "90", "non-numeric", "007", "+5"} <= set(os.listdir(mount_point))
        result = activate_with(10, b"b")
        assert result.generation == 101
        names = set(os.listdir(mount_point))
        assert "91" not in names
        assert {"92", "100", "101", "non-numeric", "007", "+5"} <= names
        assert result.pruned == tuple(range(1, 92))
        # Nothing changed: no new generation, but a smaller keep still prunes.
        same = activate_with(1, b"b")
        assert (same.generation, same.created) == (101, False)
        assert set(os.listdir(mount_point)) == {"101", "non-numeric", "007", "+5"}

    in_private_namespace(body)


def test_rollback_with_owners_links_and_units(
    users: Users, tmp_path: Path, systemctl: Systemctl
) -> None:
    def body() -> None:
        from secretsctl.config.model import Ownership, SecretSpec

        paths = RuntimePaths(root=str(tmp_path))
        specs = (
            SecretSpec(
                "token",
                "/dev/null",
                ownership=Ownership(owner=users.alice),
                path="/etc/app/token",
                restart_units=("app.service",),
            ),
            SecretSpec("db", "/dev/null", mode=0o440, restart_units=("db.service",)),
        )
        m = manifest(secrets=specs, keep_generations=3)
        old = plan(
            secret(
                "token",
                b"t1",
                uid=users.alice_uid,
                gid=users.alice_gid,
                link="/etc/app/token",
                restart=("app.service",),
            ),
            secret("db", b"d", mode=0o440, restart=("db.service",)),
        )
        new = plan(secret("db", b"d2", mode=0o440, restart=("db.service",)))
        apply(old, m, paths, systemctl=systemctl.program)
        second = apply(new, m, paths, systemctl=systemctl.program)
        assert second.links_removed == (paths.runtime("/etc/app/token"),)
        systemctl.clear()
        back = rollback(m, paths, systemctl=systemctl.program)
        assert (back.previous, back.generation) == (2, 1)
        assert back.log_lines == ("adding secret: token", "modifying secret: db")
        assert systemctl.delivered() == [["--no-block", "try-restart", "app.service", "db.service"]]
        token = paths.runtime("/etc/app/token")
        assert os.readlink(token) == paths.runtime("/run/secrets/token")
        assert (os.lstat(token).st_uid, os.lstat(token).st_gid) == (
            users.alice_uid,
            users.alice_gid,
        )
        assert Path(token).read_bytes() == b"t1"
        assert status(m, paths).warnings == ()
        with pytest.raises(ActivationError) as caught:
            rollback(m, paths)
        assert caught.value.exit_code == ExitCode.NO_ROLLBACK_TARGET
        # The newer generation is still there; a render after a rollback makes generation 2 again.
        assert apply(new, m, paths, systemctl=systemctl.program).generation == 2

    in_private_namespace(body)


def test_rollback_refuses_a_tampered_generation(users: Users, tmp_path: Path) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path))
        m = manifest(keep_generations=0)
        apply(plan(secret("a", b"1", uid=users.alice_uid, gid=users.alice_gid)), m, paths)
        apply(plan(secret("a", b"2", uid=users.alice_uid, gid=users.alice_gid)), m, paths)
        os.chown(paths.runtime("/run/secrets.d/1/a"), users.bob_uid, users.bob_gid)
        with pytest.raises(ActivationError, match="cannot roll back to generation 1") as caught:
            rollback(m, paths)
        assert caught.value.exit_code == ExitCode.ACTIVATION_FAILED
        assert os.readlink(paths.runtime("/run/secrets")) == paths.runtime("/run/secrets.d/2")
        os.chown(paths.runtime("/run/secrets.d/1/a"), users.alice_uid, users.alice_gid)
        os.symlink("/etc/passwd", paths.runtime("/run/secrets.d/1/planted"))
        with pytest.raises(ActivationError, match="planted is not a regular file"):
            rollback(m, paths)

    in_private_namespace(body)


def test_a_missing_user_is_reported_before_anything_is_written(
    users: Users, tmp_path: Path
) -> None:
    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "root"))
        m = load(
            tmp_path,
            nix_manifest(
                [
                    nix_secret("test_key", "test_key", owner="no-such-user-secretsctl"),
                    nix_secret("nested/test/file", "nested/test/file", owner=users.alice),
                    nix_secret("other", "test_key", group="no-such-group-secretsctl"),
                ],
                [],
            ),
        )
        with pytest.raises(ProblemsError) as caught:
            activate(m, paths)
        text = caught.value.message
        assert "no-such-user-secretsctl" in text
        assert "no-such-group-secretsctl" in text
        assert "test_value" not in text
        assert not (tmp_path / "root").exists(), "nothing at all was written: not even the lock"

    in_private_namespace(body)


def test_sops_nix_owners_and_nested_names(users: Users, tmp_path: Path) -> None:
    """The templates and pgp-keys VM tests' checks, with age instead of PGP."""

    def body() -> None:
        paths = RuntimePaths(root=str(tmp_path / "root"))
        existing = Path(paths.runtime("/run/existing-file"))
        existing.parent.mkdir(parents=True)
        existing.write_text("in the way")
        m = load(
            tmp_path,
            nix_manifest(
                [
                    nix_secret("test_key", "test_key"),
                    nix_secret(
                        "nested/test/file", "nested/test/file", owner=users.alice, group=users.group
                    ),
                    nix_secret("existing-file", "test_key", path="/run/existing-file"),
                ],
                [
                    nix_template(
                        "test_template",
                        f"pw={placeholder('test_key')}\n",
                        owner=users.alice,
                        group=users.group,
                    ),
                    nix_template("test_default", "x", path="/etc/externally/linked"),
                    nix_template("test_ids", "y", uid=420, gid=420),
                ],
            ),
        )
        result = activate(m, paths)
        assert result.generation == 1
        files = live_files(paths, m)
        assert files["nested/test/file"] == (
            b"another value",
            users.alice_uid,
            users.group_gid,
            0o400,
        )
        assert files["rendered/test_template"] == (
            b"pw=test_value\n",
            users.alice_uid,
            users.group_gid,
            0o400,
        )
        assert files["rendered/test_default"][1:] == (0, 0, 0o400)
        assert files["rendered/test_ids"][1:] == (420, 420, 0o400)
        assert os.path.realpath(existing) == paths.runtime("/run/secrets.d/1/existing-file")
        assert os.path.realpath(paths.runtime("/etc/externally/linked")) == paths.runtime(
            "/run/secrets.d/1/rendered/test_default"
        )
        assert activate(m, paths).created is False

    in_private_namespace(body)
