"""diff: verdicts per item, drift apart, units de-duplicated in order, sops-nix's log lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secretsctl.activate import fsops
from secretsctl.activate.diff import Diff, ItemState, Owners, compare, dedupe
from secretsctl.render.model import ItemKind, PlannedFile
from tests.activate_support import secret, template

UID, GID = os.geteuid(), os.getegid()


def mine(f: PlannedFile) -> PlannedFile:
    """The planned file, owned by whoever runs the test (files are not chowned here)."""

    return f._replace(uid=UID, gid=GID)


def live_tree(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o751)
    for relative, (data, mode) in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o751)
        path.write_bytes(data)
        path.chmod(mode)


def run(files: list[PlannedFile], root: Path | None, *, owners_known: bool = True) -> Diff:
    owners = Owners(UID, GID, owners_known=owners_known)
    if root is None:
        return compare(
            files,
            None,
            owners=owners,
            symlink_path="/run/secrets",
            runtime=lambda p: p,
            names=lambda u, g: (str(u), str(g)),
        )
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with fsops.TreeSnapshot(fd) as snapshot:
            return compare(
                files,
                snapshot,
                owners=owners,
                symlink_path="/run/secrets",
                runtime=lambda p: "/root" + p,
                names=lambda u, g: (f"u{u}", f"g{g}"),
            )
    finally:
        os.close(fd)


def states(diff: Diff) -> dict[str, ItemState]:
    return {i.relative_path: i.state for i in diff.items}


def test_verdicts(tmp_path: Path) -> None:
    live_tree(
        tmp_path,
        {
            "same": (b"s", 0o400),
            "changed": (b"old", 0o400),
            "gone": (b"g", 0o400),
            "rendered/t_same": (b"t", 0o400),
            "rendered/t_gone": (b"x", 0o440),
            "became_dir": (b"f", 0o400),
            "dir/became_file": (b"f", 0o400),
        },
    )
    files = [
        mine(f)
        for f in (
            secret("same", b"s"),
            secret("changed", b"new"),
            secret("added", b"a"),
            secret("became_dir/inner", b"i"),
            secret("dir", b"f"),
            template("t_same", b"t"),
            template("t_added", b"n"),
        )
    ]
    diff = run(files, tmp_path)
    assert states(diff) == {
        "same": ItemState.UNCHANGED,
        "changed": ItemState.CHANGED,
        "added": ItemState.NEW,
        "became_dir/inner": ItemState.NEW,
        "dir": ItemState.NEW,
        "rendered/t_same": ItemState.UNCHANGED,
        "rendered/t_added": ItemState.NEW,
        "became_dir": ItemState.REMOVED,
        "dir/became_file": ItemState.REMOVED,
        "gone": ItemState.REMOVED,
        "rendered/t_gone": ItemState.REMOVED,
    }
    removed = {i.relative_path: i for i in diff.items if i.state is ItemState.REMOVED}
    assert removed["rendered/t_gone"].kind is ItemKind.TEMPLATE
    assert removed["rendered/t_gone"].name == "t_gone"
    assert removed["rendered/t_gone"].mode == 0o440
    assert removed["gone"].owner == f"u{UID}"
    assert diff.tree_changed


def test_identical_tree_is_unchanged(tmp_path: Path) -> None:
    live_tree(tmp_path, {"a": (b"1", 0o400), "n/b": (b"2", 0o440), "rendered/t": (b"3", 0o400)})
    files = [
        mine(secret("a", b"1")),
        mine(secret("n/b", b"2", mode=0o440)),
        mine(template("t", b"3")),
    ]
    diff = run(files, tmp_path)
    assert set(states(diff).values()) == {ItemState.UNCHANGED}
    assert not diff.tree_changed
    assert not diff.content_changed
    assert diff.change_log(dry_run=False) == []
    assert (diff.restart_units, diff.reload_units) == ((), ())


def test_an_extra_directory_or_a_looser_one_is_a_change_but_not_an_item(tmp_path: Path) -> None:
    live_tree(tmp_path, {"a": (b"1", 0o400)})
    (tmp_path / "empty").mkdir()
    files = [mine(secret("a", b"1"))]
    diff = run(files, tmp_path)
    assert diff.tree_changed
    assert not diff.content_changed
    (tmp_path / "empty").rmdir()
    tmp_path.chmod(0o755)
    assert run(files, tmp_path).tree_changed


def test_drift_is_reported_apart_and_triggers_nothing(tmp_path: Path) -> None:
    live_tree(tmp_path, {"a": (b"1", 0o644), "b": (b"2", 0o400), "rendered/t": (b"3", 0o444)})
    files = [
        mine(secret("a", b"1", restart=("a.service",))),
        mine(secret("b", b"2", mode=0o440)),
        mine(template("t", b"x", restart=("t.service",))),
    ]
    diff = run(files, tmp_path)
    drifted = {i.relative_path: (i.drift, i.old_mode, i.mode) for i in diff.items}
    assert drifted == {
        "a": (True, 0o644, 0o400),
        "b": (True, 0o400, 0o440),
        "rendered/t": (True, 0o444, 0o400),
    }
    assert diff.change_log(dry_run=False) == [
        "modifying rendered secret: t",
        "changing permissions of secrets: a, b",
        "changing permissions of rendered secret: t",
    ]
    assert diff.change_log(dry_run=True)[1] == "would change permissions of secrets: a, b"
    assert diff.restart_units == ("t.service",), "drift alone restarts nothing"
    assert diff.tree_changed


def test_units_only_for_changed_items_secrets_first_each_once(tmp_path: Path) -> None:
    live_tree(
        tmp_path, {"s1": (b"same", 0o400), "s2": (b"old", 0o400), "rendered/t": (b"old", 0o400)}
    )
    files = [
        mine(template("t", b"new", restart=("x.service", "a.service"), reload=("r.service",))),
        mine(secret("s1", b"same", restart=("never.service",))),
        mine(
            secret(
                "s2", b"new", restart=("a.service", "b.service", "a.service"), reload=("r.service",)
            )
        ),
        mine(secret("s3", b"added", restart=("b.service", "c.service"))),
    ]
    diff = run(files, tmp_path)
    assert diff.restart_units == ("a.service", "b.service", "c.service", "x.service")
    assert diff.reload_units == ("r.service",)
    assert dict(diff.unit_sources)["a.service"] == "secret 's2'"
    assert dict(diff.unit_sources)["x.service"] == "template 't'"


def test_first_activation_logs_nothing_and_restarts_nothing() -> None:
    diff = run([mine(secret("a", restart=("a.service",))), mine(template("t"))], None)
    assert {i.state for i in diff.items} == {ItemState.NEW}
    assert not diff.has_live
    assert diff.tree_changed
    assert diff.change_log(dry_run=False) == []
    assert diff.restart_units == ()


def test_display_paths_and_owner_override() -> None:
    files = [secret("a", uid=7, gid=8, link="/etc/a"), template("n/t", uid=7, gid=8)]
    owners = Owners(0, 0, (UID, GID, "me", "us"))
    diff = compare(
        files,
        None,
        owners=owners,
        symlink_path="/R/run/secrets",
        runtime=lambda p: "/R" + p,
        names=lambda u, g: ("?", "?"),
    )
    first, second = diff.items
    assert (first.path, first.uid, first.gid, first.owner, first.group) == (
        "/R/etc/a",
        UID,
        GID,
        "me",
        "us",
    )
    assert second.path == "/R/run/secrets/rendered/n/t"
    assert (first.size, second.size) == (5, 8)


# The change-log lines of sops-nix's restart-and-reload VM test, exactly.
SEQUENCE = [
    ({"rendered/test_template": b"t"}, ["adding secret: test_key"], False),
    ({"test_key": b"v"}, ["adding rendered secret: test_template"], False),
    (
        {"test_key": b"", "rendered/test_template": b""},
        ["modifying secret: test_key", "modifying rendered secret: test_template"],
        False,
    ),
    (
        {
            "test_key": b"v",
            "rendered/test_template": b"t",
            "another_key": b"x",
            "rendered/another_template": b"y",
        },
        ["removing secret: another_key", "removing rendered secret: another_template"],
        False,
    ),
    (
        {"another_key": b"x", "rendered/another_template": b"y"},
        [
            "would add secret: test_key",
            "would remove secret: another_key",
            "would add rendered secret: test_template",
            "would remove rendered secret: another_template",
        ],
        True,
    ),
    ({"test_key": b"", "rendered/test_template": b"t"}, ["would modify secret: test_key"], True),
]


@pytest.mark.parametrize(("live", "lines", "dry"), SEQUENCE)
def test_sops_nix_change_log_lines(
    tmp_path: Path, live: dict[str, bytes], lines: list[str], dry: bool
) -> None:
    live_tree(tmp_path, {k: (v, 0o400) for k, v in live.items()})
    files = [mine(secret("test_key", b"v")), mine(template("test_template", b"t"))]
    assert run(files, tmp_path).change_log(dry_run=dry) == lines


def test_plural_and_sorted_names(tmp_path: Path) -> None:
    live_tree(tmp_path, {"z": (b"0", 0o400)})
    files = [mine(secret(n)) for n in ("b", "a", "c/d")] + [mine(secret("z", b"1"))]
    assert run(files, tmp_path).change_log(dry_run=False) == [
        "adding secrets: a, b, c/d",
        "modifying secret: z",
    ]


def test_dedupe_keeps_first_positions() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ("b", "a", "c")


def test_no_value_in_any_repr(tmp_path: Path) -> None:
    live_tree(tmp_path, {"a": (b"old-VALUE-1234", 0o400)})
    diff = run([mine(secret("a", b"new-VALUE-5678"))], tmp_path)
    text = repr(diff) + "".join(diff.change_log(dry_run=False))
    assert "VALUE" not in text


def test_unknown_owners_count_only_the_mode_as_drift(tmp_path: Path) -> None:
    """A dry activation forces 0:0 without lookups: an owner difference means nothing then."""
    live_tree(tmp_path, {"owner": (b"o", 0o400), "mode": (b"m", 0o400)})
    other = UID + 1
    files = [
        mine(secret("owner", b"o"))._replace(uid=other),
        mine(secret("mode", b"m", mode=0o440))._replace(uid=other),
    ]
    known = {i.relative_path: i.drift for i in run(files, tmp_path).items}
    unknown = {i.relative_path: i.drift for i in run(files, tmp_path, owners_known=False).items}
    assert known == {"owner": True, "mode": True}
    assert unknown == {"owner": False, "mode": True}
