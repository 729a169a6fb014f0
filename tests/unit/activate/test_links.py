"""links: custom-path symlinks and the state record (unprivileged parts; owners in privileged/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secretsctl.activate import links
from secretsctl.activate.links import LinkSpec, State


def spec(tmp_path: Path, name: str = "link") -> LinkSpec:
    return LinkSpec(
        str(tmp_path / "etc" / name), "/run/secrets/x", os.geteuid(), os.getegid(), "secret 'x'"
    )


def test_install_creates_and_then_leaves_alone(tmp_path: Path) -> None:
    wanted = spec(tmp_path)
    assert links.install_link(wanted, chown=False) is True
    assert os.readlink(wanted.path) == "/run/secrets/x"
    assert links.link_is_current(wanted, chown=True)
    assert links.install_link(wanted, chown=False) is False
    assert sorted(os.listdir(tmp_path / "etc")) == ["link"], "no temporary directory left"


@pytest.mark.parametrize("occupant", ["file", "wrong-link", "empty-dir"])
def test_install_replaces_what_is_in_the_way(tmp_path: Path, occupant: str) -> None:
    wanted = spec(tmp_path)
    path = Path(wanted.path)
    path.parent.mkdir()
    if occupant == "file":
        path.write_text("x")
    elif occupant == "wrong-link":
        path.symlink_to("/elsewhere")
    else:
        path.mkdir()
    assert links.install_link(wanted, chown=False) is True
    assert os.readlink(path) == "/run/secrets/x"


def test_install_refuses_a_directory_with_content(tmp_path: Path) -> None:
    wanted = spec(tmp_path)
    Path(wanted.path).mkdir(parents=True)
    (Path(wanted.path) / "keep").write_text("x")
    with pytest.raises(OSError, match="cannot override"):
        links.install_link(wanted, chown=False)
    assert (Path(wanted.path) / "keep").exists()
    assert sorted(os.listdir(tmp_path / "etc")) == ["link"]


def test_stale_links_are_removable_only_while_still_ours(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.symlink_to("/run/secrets/a")
    retargeted = tmp_path / "retargeted"
    retargeted.symlink_to("/somewhere/else")
    replaced = tmp_path / "replaced"
    replaced.write_text("user data")
    recorded = {
        str(ours): "/run/secrets/a",
        str(retargeted): "/run/secrets/b",
        str(replaced): "/run/secrets/c",
        str(tmp_path / "vanished"): "/run/secrets/d",
        str(tmp_path / "wanted"): "/run/secrets/e",
    }
    removable, foreign = links.stale_links(recorded, [str(tmp_path / "wanted")])
    assert removable == [str(ours)]
    assert foreign == [str(replaced), str(retargeted)]


def test_link_leftovers_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / ".secretsctl-link-abc").mkdir()
    (tmp_path / ".secretsctl-link-abc" / "link").symlink_to("/x")
    (tmp_path / ".secretsctl-link-file").write_text("not a directory of ours")
    links.clean_link_leftovers([str(tmp_path), str(tmp_path / "missing")])
    assert sorted(os.listdir(tmp_path)) == [".secretsctl-link-file"]


def test_state_round_trip_and_damage(tmp_path: Path) -> None:
    path = links.state_file(str(tmp_path / "state"), "/run/secrets.d")
    assert path.endswith("/run-secrets.d.json")
    assert links.load_state(path) == (State(), None)
    state = State({"/etc/a": "/run/secrets/a"}, {3: {"a": (0, 0, 0o400)}})
    links.save_state(path, state)
    assert links.load_state(path) == (state, None)
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert Path(path).stat().st_mode & 0o777 == 0o600
    Path(path).write_text("{not json")
    loaded, warning = links.load_state(path)
    assert loaded == State()
    assert warning
    assert "unreadable" in warning
    Path(path).write_text('{"version": 1, "links": [1]}')
    assert links.load_state(path)[1] == f"ignoring the malformed state file {path}"


def test_state_file_names_escape_paths() -> None:
    assert (
        links.state_file("/s", "/run/secrets-for-users.d")
        == "/s/run-secrets\\x2dfor\\x2dusers.d.json"
    )
    assert links.state_file("/s", "/") == "/s/\\x2d.json"
