"""The core of exec-env and exec-file: sops's variable rules, the fifo writer, the file name."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.errors import ExitCode, OutputError, UsageError
from secretsctl.exec import (
    ExecError,
    RunAs,
    _FifoWriter,
    _make_plaintext,
    check_filename,
    child_environment,
    file_variables,
)
from secretsctl.redact import Secret
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.leds.secrets_support import same_secret

_names = st.text(
    st.characters(blacklist_characters="=\0", blacklist_categories=("Cs",)), min_size=1
)
_values = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)))


@given(st.dictionaries(_names, _values))
def test_string_items_become_variables_in_order(items: dict[str, str]) -> None:
    variables = file_variables([Branch(items.items())]).reveal()
    assert list(variables.items()) == list(items.items())


def test_non_strings_are_written_as_sops_writes_them_and_comments_skipped() -> None:
    document = Branch(
        [("f", 1.0), ("big", 1e21), ("i", 3), ("b", False), (Comment(" c"), None), ("n", None)]
    )
    assert file_variables([document]).reveal() == {
        "f": "1.0",
        "big": "1E+21",
        "i": "3",
        "b": "false",
        "n": "<nil>",
    }


def test_only_the_first_document_counts() -> None:
    assert file_variables([Branch([("a", "1")]), Branch([("b", "2")])]).reveal() == {"a": "1"}
    assert file_variables([]).reveal() == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (("a", Branch([("b", "v")])), "cannot use complex value in environment; offending key a"),
        (("l", Seq(["v"])), "cannot use complex value in environment; offending key l"),
        (("a=b", "v"), "cannot use keys with '=' in environment: a=b"),
        ((1, "v"), "cannot use non-string keys in environment, got int"),
        (("", "v"), "cannot use an empty key"),
        (("k", "a\0b"), "the value of k holds a NUL byte"),
    ],
)
def test_refusals_name_the_key_never_the_value(item: tuple[object, object], message: str) -> None:
    with pytest.raises(ExecError) as caught:
        file_variables([Branch([("ok", "fine"), item])])
    assert caught.value.message.startswith(message)
    assert caught.value.exit_code == ExitCode.GENERIC
    assert "a\0b" not in caught.value.message


def test_the_files_variables_win_and_pristine_drops_the_rest() -> None:
    variables = Secret({"HOME": "/file", "A": "1"})
    base = {"HOME": "/home", "PATH": "/bin"}
    assert child_environment(variables, base, pristine=False).reveal() == {
        "HOME": "/file",
        "PATH": "/bin",
        "A": "1",
    }
    # sops 3.11 passes its whole environment on when --pristine meets a file without keys.
    assert child_environment(Secret({}), base, pristine=True).reveal() == {}


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/abs", "a\0b"])
def test_a_filename_must_be_a_plain_name(name: str) -> None:
    with pytest.raises(UsageError):
        check_filename(name)


@pytest.mark.parametrize("name", [None, "foobar", "secrets.env", "..hidden"])
def test_plain_names_pass(name: str | None) -> None:
    check_filename(name)


def test_a_fifo_nobody_reads_does_not_keep_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path, 0o600)
    before = threading.active_count()
    writer = _FifoWriter(str(path), b"x" * 200_000)  # more than a pipe's buffer
    finishing = threading.Thread(target=writer.finish, daemon=True)
    finishing.start()
    finishing.join(60)  # a hang guard only
    assert not finishing.is_alive(), "finish() waits for a reader that never comes"
    assert threading.active_count() == before


def test_a_fifo_is_read_once_in_full(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path, 0o600)
    data = os.urandom(200_000)
    writer = _FifoWriter(str(path), data)
    with open(path, "rb") as reader:
        read = reader.read()
    writer.finish()
    same_secret(read, data, "what the fifo carried")


@pytest.mark.parametrize("fifo", [True, False], ids=["fifo", "file"])
def test_a_plaintext_that_cannot_be_given_to_the_user_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fifo: bool
) -> None:
    """Not root: chown fails (EPERM), which exits 3 as a write failure, not as a bug."""
    asked: list[tuple[int, int]] = []

    def refuse(path: str, uid: int, gid: int, *, follow_symlinks: bool = True) -> None:
        asked.append((uid, gid))
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr("secretsctl.exec.os.chown", refuse)
    user = RunAs("nobody", 65534, 65534, (65534,))
    with pytest.raises(OutputError) as raised:
        _make_plaintext(str(tmp_path), b"plain", fifo=fifo, filename=None, user=user)
    assert raised.value.exit_code == ExitCode.COULD_NOT_WRITE_OUTPUT_FILE
    assert asked == [(65534, 65534)], "chown was not asked for the user's ids"
