"""The configuration readers' limits: secretsctl.yaml, its template sources, manifest.json.

Alias expansion and nesting are bounded as in the sops stores (secretsctl.limits); every
refusal is a ManifestError (exit 5) naming the file and the place, and the input size is
bounded by SECRETSCTL_MAX_INPUT_BYTES.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secretsctl.config import _yaml
from secretsctl.config.load import load_config, parse_config
from secretsctl.config.sopsnix import load_manifest, parse_manifest
from secretsctl.errors import ExitCode, ManifestError, ProblemsError
from secretsctl.limits import MAX_INPUT_BYTES_ENV, MAX_NESTING_DEPTH
from tests.memory_support import refusal

CONFIG = "/etc/secretsctl/secretsctl.yaml"
TOO_DEEP = f"the document is nested more than {MAX_NESTING_DEPTH} levels deep"


def alias_bomb(levels: int = 9, fanout: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * fanout)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_the_configuration_is_refused() -> None:
    # The bomb sits under `secrets`, where the loader looks at every entry.
    text = "secrets:\n  " + alias_bomb().replace("\n", "\n  ").rstrip(" ")
    error = refusal(lambda: parse_config(text, CONFIG), ManifestError)
    assert error.exit_code == ExitCode.ERROR_READING_CONFIG
    assert error.message == f"{CONFIG}:5:12: the document expands too much through aliases"


def test_anchors_as_configurations_use_them_still_work() -> None:
    text = (
        "defaults: {sops_file: s.yaml}\n"
        "x-units: &units [a.service, b.service]\n"
        "secrets:\n"
        "  one: &one {mode: '0440', restart_units: *units}\n"
        "  two: *one\n"
    )
    with pytest.raises(ProblemsError, match="an unknown field"):  # x-units, but read
        parse_config(text, CONFIG)
    root = _yaml.read(text)
    assert root is not None
    assert root[1]["secrets"][1][1]["two"][1] == root[1]["secrets"][1][1]["one"][1]


def nested(depth: int, style: str) -> str:
    """A configuration whose deepest container is at ``depth`` (the top level is 1)."""
    inner = depth - 1
    if style == "flow":
        return "secrets: " + "[" * inner + "x" + "]" * inner + "\n"
    if style == "block":  # the fast reader's shape
        return "".join("  " * level + "k:\n" for level in range(inner)) + "  " * inner + "k: x\n"
    raise AssertionError(style)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_up_to_the_limit_reads_and_one_more_level_is_refused(style: str) -> None:
    assert _yaml.read(nested(MAX_NESTING_DEPTH, style)) is not None
    with pytest.raises(ManifestError) as caught:
        parse_config(nested(MAX_NESTING_DEPTH + 1, style), CONFIG)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    assert caught.value.message.startswith(f"{CONFIG}:")
    assert caught.value.message.endswith(f": {TOO_DEEP}")


def test_very_deep_nesting_stops_at_the_limit() -> None:
    for text in (
        "secrets: " + "[" * 200_000 + "\n",
        "secrets:\n  " + "- " * 200_000 + "x\n",
        # Block mappings: the fast reader recursed once per level (a RecursionError at ~1,000).
        "".join(" " * level + "k:\n" for level in range(3_000)),
    ):
        with pytest.raises(ManifestError, match=TOO_DEEP):
            parse_config(text, CONFIG)


def test_aliases_cannot_nest_past_the_limit() -> None:
    per = 100
    lines = ["a0: &a0 " + "[" * per + "x" + "]" * per]
    for i in range(1, 3):
        lines.append(f"a{i}: &a{i} " + "[" * per + f"*a{i - 1}" + "]" * per)
    with pytest.raises(ManifestError, match=f"{CONFIG}:3:109: {TOO_DEEP}"):
        parse_config("\n".join(lines) + "\n", CONFIG)


def test_an_oversized_configuration_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "secretsctl.yaml"
    config.write_text("secrets:\n  a: {sops_file: s.yaml}\n")
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, str(config.stat().st_size))
    assert load_config(config).secrets[0].name == "a"
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, str(config.stat().st_size - 1))
    with pytest.raises(ManifestError) as caught:
        load_config(config)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    assert caught.value.message == f"{config}: larger than the input limit of 33 bytes"
    assert MAX_INPUT_BYTES_ENV in (caught.value.hint or "")


def test_an_oversized_template_source_is_a_problem_of_its_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.j2").write_bytes(b"x" * 200)
    config = tmp_path / "secretsctl.yaml"
    config.write_text("templates:\n  t: {source: t.j2}\n")
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "100")
    with pytest.raises(ProblemsError) as caught:
        load_config(config)
    assert caught.value.problems[0].message.endswith(
        f"templates.t.source: {tmp_path}/t.j2: larger than the input limit of 100 bytes"
    )


# --- manifest.json -------------------------------------------------------------------------


def test_manifest_nesting_up_to_the_limit_reads_and_one_more_level_is_refused() -> None:
    def manifest(depth: int) -> str:
        inner = depth - 1  # the top-level object is level 1
        return '{"extra": ' + "[" * inner + "]" * inner + "}"

    with pytest.raises(ProblemsError):  # read; the empty manifest has problems of its own
        parse_manifest(manifest(MAX_NESTING_DEPTH), "m.json", check_only=True)
    for depth in (MAX_NESTING_DEPTH + 1, 900, 100_000):
        with pytest.raises(ManifestError) as caught:
            parse_manifest(manifest(depth), "m.json", check_only=True)
        assert caught.value.message == f"m.json: failed to parse manifest: {TOO_DEEP}"
        assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG


def test_an_oversized_manifest_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"secrets": [], "padding": "x" * 100}))
    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "100")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, check_only=True)
    assert caught.value.message == f"{path}: larger than the input limit of 100 bytes"
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
