"""The token file: read through the /run/secrets symlink, re-read on a generation switch."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from secretsctl.leds.daemon import TokenError, TokenSource
from tests.leds.secrets_support import same_secret

TOKEN_ONE = "ghp_generationOneToken1111"
TOKEN_TWO = "ghp_generationTwoToken2222"


def make_generation(root: Path, number: int, content: str) -> Path:
    folder = root / "secrets.d" / str(number) / "rendered"
    folder.mkdir(parents=True)
    (folder / "github_token_env").write_text(content)
    return folder.parent


def switch(root: Path, generation: Path) -> None:
    """Swap the symlink as secretsctl activation does: a new link renamed over the old."""
    staged = root / "secrets.new"
    staged.symlink_to(generation)
    os.replace(staged, root / "secrets")


def test_a_generation_switch_gives_the_new_token(tmp_path: Path) -> None:
    switch(tmp_path, make_generation(tmp_path, 1, f"GITHUB_TOKEN={TOKEN_ONE}\n"))
    tokens = TokenSource(str(tmp_path / "secrets" / "rendered" / "github_token_env"))
    tokens.load()
    same_secret(tokens(), TOKEN_ONE)
    switch(tmp_path, make_generation(tmp_path, 2, f'# rendered\nGITHUB_TOKEN="{TOKEN_TWO}"\n'))
    same_secret(tokens(), TOKEN_TWO)
    same_secret(tokens(), TOKEN_TWO)


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    env_file = tmp_path / "token_env"
    env_file.write_text(f"GITHUB_TOKEN={TOKEN_ONE}\n")
    tokens = TokenSource(str(env_file))
    tokens.load()
    staged = tmp_path / "staged"
    staged.write_text(f"GITHUB_TOKEN={TOKEN_TWO}\n")
    os.replace(staged, env_file)  # a new inode
    same_secret(tokens(), TOKEN_TWO)


def test_a_generation_without_the_file_logs_once_and_gives_no_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    switch(tmp_path, make_generation(tmp_path, 1, f"GITHUB_TOKEN={TOKEN_ONE}\n"))
    path = str(tmp_path / "secrets" / "rendered" / "github_token_env")
    tokens = TokenSource(path)
    tokens.load()
    empty = tmp_path / "secrets.d" / "2"
    empty.mkdir()
    switch(tmp_path, empty)
    with caplog.at_level(logging.WARNING, logger="ci_keyboard_leds"):
        assert tokens() is None
        assert tokens() is None
    assert caplog.text.count("does not exist") == 1
    switch(tmp_path, make_generation(tmp_path, 3, f"GITHUB_TOKEN={TOKEN_TWO}\n"))
    same_secret(tokens(), TOKEN_TWO)
    assert TOKEN_ONE not in caplog.text
    assert TOKEN_TWO not in caplog.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (f"OTHER={TOKEN_ONE}\n", "no GITHUB_TOKEN= line"),
        ("GITHUB_TOKEN=\n", "GITHUB_TOKEN is empty"),
        (f'GITHUB_TOKEN="{TOKEN_ONE} {TOKEN_TWO}"\n', "spaces, control or non-ASCII"),
        (f"{TOKEN_ONE}\n", "no GITHUB_TOKEN= line"),
    ],
)
def test_a_malformed_file_names_the_file_never_its_content(
    tmp_path: Path, content: str, reason: str
) -> None:
    env_file = tmp_path / "token_env"
    env_file.write_text(content)
    with pytest.raises(TokenError) as raised:
        TokenSource(str(env_file)).load()
    message = raised.value.message
    assert message.startswith(f"{env_file}: ")
    assert reason in message
    assert TOKEN_ONE not in message
    assert TOKEN_TWO not in message
    assert raised.value.exit_code == ExitCode.ERROR_READING_CONFIG


def test_a_missing_file_or_a_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="token_env: the token file does not exist"):
        TokenSource(str(tmp_path / "token_env")).load()
    with pytest.raises(TokenError, match="not a regular file"):
        TokenSource(str(tmp_path)).load()


def test_the_environment_token_without_a_file(tmp_path: Path) -> None:
    tokens = TokenSource(None, TOKEN_ONE)
    tokens.load()
    same_secret(tokens(), TOKEN_ONE)
    assert TOKEN_ONE not in repr(vars(tokens))  # held in a redacting Secret
    with pytest.raises(TokenError, match="GITHUB_TOKEN is not set"):
        TokenSource(None, None).load()
