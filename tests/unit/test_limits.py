"""secretsctl.limits: bounded reads of every input, and the alias-expansion rule."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from secretsctl import limits
from secretsctl.errors import ExitCode, InputLimitError


def test_reads_a_file_within_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "100")
    assert limits.read_file(path) == b"x" * 100


def test_a_file_over_the_limit_is_refused_naming_file_and_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"x" * 101)
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "100")
    with pytest.raises(InputLimitError) as caught:
        limits.read_file(path)
    assert caught.value.message == f"{path}: larger than the input limit of 100 bytes"
    assert caught.value.exit_code == ExitCode.COULD_NOT_READ_INPUT_FILE
    assert caught.value.hint is not None
    assert limits.MAX_INPUT_BYTES_ENV in caught.value.hint


def test_a_file_that_grows_past_its_size_is_still_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size from fstat is only a first guess: the read itself stops at the limit."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "1000")
    writer_pid = os.fork()
    if writer_pid == 0:  # pragma: no cover - the child writes and leaves
        try:
            with open(fifo, "wb") as out:
                out.write(b"y" * 5000)
        finally:
            os._exit(0)
    try:
        with pytest.raises(InputLimitError, match="larger than the input limit of 1000 bytes"):
            limits.read_file(fifo, label="the fifo")
    finally:
        os.waitpid(writer_pid, 0)


def test_an_endless_device_is_refused_at_the_default_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(limits.MAX_INPUT_BYTES_ENV, raising=False)
    with pytest.raises(
        InputLimitError, match=r"^/dev/zero: larger than the input limit of 67108864"
    ):
        limits.read_file("/dev/zero")


def test_a_stream_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "10")
    assert limits.read_stream(io.BytesIO(b"0123456789"), "<stdin>") == b"0123456789"
    with pytest.raises(InputLimitError, match=r"^<stdin>: larger than"):
        limits.read_stream(io.BytesIO(b"0123456789a"), "<stdin>")


def test_nofollow_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert limits.read_file(tmp_path / "link") == b"x"
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        limits.read_file(tmp_path / "link", nofollow=True)


@pytest.mark.parametrize("value", ["", "abc", "0", "-5", "1.5"])
def test_a_bad_limit_setting_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, value)
    with pytest.raises(InputLimitError, match=f"^{limits.MAX_INPUT_BYTES_ENV} must be a positive"):
        limits.max_input_bytes()


def test_aliases_may_multiply_a_small_document_a_hundredfold_and_a_large_one_barely() -> None:
    allowed = limits.alias_expansion_allowed
    assert allowed(10, 100)  # anything, up to 100 nodes through aliases
    assert allowed(2, 998)  # anything, up to 1,000 nodes
    assert allowed(1_000, 99_000)
    assert not allowed(1_000, 99_100)
    assert allowed(4_000, 396_000)
    assert not allowed(4_000, 500_000)
    assert allowed(10_000_000, 1_000_000)
    assert not allowed(10_000_000, 1_200_000)


# --- the readers that use it ---------------------------------------------------------------


def test_an_oversized_key_file_is_a_problem_of_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from secretsctl.keys.sources import load_identities

    path = tmp_path / "keys.txt"
    path.write_text("# public key: none\n" * 10)
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "100")
    result = load_identities(environ={"SOPS_AGE_KEY_FILE": str(path)}, home=tmp_path)
    assert [p.message for p in result.problems] == [
        f"{path}: larger than the input limit of 100 bytes"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 200, "larger than the input limit of 100 bytes"),
        ("creation_rules: " + "[" * 300 + "\n", "yaml: line 1: the document is nested more than"),
    ],
    ids=["oversized", "too-deep"],
)
def test_sops_yaml_within_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    from secretsctl.errors import ConfigError
    from secretsctl.sops.creation_rules import load_config

    path = tmp_path / ".sops.yaml"
    path.write_text(text)
    monkeypatch.setenv(limits.MAX_INPUT_BYTES_ENV, "100" if len(text) == 200 else "1000")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}: {message}")
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG


def test_an_alias_bomb_in_sops_yaml_is_refused(tmp_path: Path) -> None:
    from secretsctl.errors import ConfigError
    from secretsctl.sops.creation_rules import load_config
    from tests.memory_support import refusal

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / ".sops.yaml"
    path.write_text("\n".join(lines) + "\n")
    error = refusal(lambda: load_config(path), ConfigError)
    assert error.message == f"{path}: yaml: line 4: the document expands too much through aliases"
    assert error.exit_code == ExitCode.ERROR_READING_CONFIG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, 7.0),
        ("", 7.0),
        ("2.5", 2.5),
        ("86400", 86400.0),
        ("86401", 7.0),
        ("0", 7.0),
        ("-3", 7.0),
        ("nan", 7.0),
        ("inf", 7.0),
        ("ten", 7.0),
    ],
)
def test_seconds_from_env_takes_a_positive_deadline_up_to_a_day(
    monkeypatch: pytest.MonkeyPatch, text: str | None, expected: float
) -> None:
    if text is None:
        monkeypatch.delenv("SECRETSCTL_TEST_DEADLINE", raising=False)
    else:
        monkeypatch.setenv("SECRETSCTL_TEST_DEADLINE", text)
    assert limits.seconds_from_env("SECRETSCTL_TEST_DEADLINE", 7.0) == expected
