"""RuntimePaths: every runtime path lands under the root, and `..` is refused (issue 16)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.errors import ExitCode, ManifestError
from secretsctl.paths import RuntimePaths

ROOT = "/srv/root"


@pytest.mark.parametrize("root", ["/", ROOT])
@pytest.mark.parametrize(
    "path",
    [
        "/../../../../../tmp/x",
        "/run/secrets.d/../../etc/x",
        "/run/..",
        "/..",
        "/a/b/../c",
    ],
)
def test_a_parent_component_is_refused(root: str, path: str) -> None:
    with pytest.raises(ManifestError) as caught:
        RuntimePaths(root).runtime(path)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    assert caught.value.message == (
        f"runtime path {path}: must not have '..' components (a runtime path may not climb out"
        " of its folder)"
    )
    assert caught.value.hint is not None
    assert "'..'" in caught.value.hint


def test_a_relative_path_is_refused() -> None:
    with pytest.raises(ManifestError, match="must be an absolute path"):
        RuntimePaths(ROOT).runtime("run/secrets")


@pytest.mark.parametrize(
    ("path", "under_root", "at_root"),
    [
        ("/run/secrets", f"{ROOT}/run/secrets", "/run/secrets"),
        ("//run/./secrets/", f"{ROOT}/run/secrets", "/run/secrets"),
        ("/run/..x/x..", f"{ROOT}/run/..x/x..", "/run/..x/x.."),  # names, not '..'
        ("/", ROOT, "/"),
    ],
)
def test_paths_are_normalised_under_the_root(path: str, under_root: str, at_root: str) -> None:
    assert RuntimePaths(ROOT).runtime(path) == under_root
    assert RuntimePaths(ROOT + "/").runtime(path) == under_root
    assert RuntimePaths("/").runtime(path) == at_root


_PARTS = st.lists(st.sampled_from(["a", "b..", "..", ".", "", "...", "run"]), max_size=8)


@given(parts=_PARTS, root=st.sampled_from(["/", ROOT, "/r/s"]))
def test_a_runtime_path_never_leaves_the_root(parts: list[str], root: str) -> None:
    path = "/" + "/".join(parts)
    try:
        placed = RuntimePaths(root).runtime(path)
    except ManifestError:
        assert ".." in parts, "refused without a '..' component"
        return
    assert ".." not in parts
    assert os.path.normpath(placed) == placed or placed == "/"
    prefix = root.rstrip("/") + "/"
    assert placed == root or placed.startswith(prefix) or root == "/"
    assert "/../" not in placed + "/"
