"""The edit core: editor choice and hardening, the RAM-backed folder, the session loop, signals.

The editor is a Python function given as ``run_editor``; it changes the draft as a user would
and records what it saw. Files are written by secretsctl's own encrypt path here; the CLI tests
use the real sops.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from secretsctl import edit
from secretsctl.errors import ExitCode, OutputError, SecretsctlError
from secretsctl.keys.sources import IdentitySet, load_identities
from secretsctl.sops.creation_rules import EncryptionSettings
from secretsctl.sops.stores import Format
from tests.conftest import AgeKey

PLAIN = b"# head\nuser: admin\npassword: pw-old-1234\nport: 5432\n"
SHM = "/dev/shm"


def identities(key: AgeKey) -> IdentitySet:
    return load_identities(use_environment=False, age_key_file=str(key.key_file))


def encrypted_file(key: AgeKey, folder: Path, plain: bytes = PLAIN) -> Path:
    from secretsctl.api import encrypt_to_bytes

    settings = EncryptionSettings(key_groups=((key.recipient,),))
    target = folder / "s.yaml"
    target.write_bytes(
        encrypt_to_bytes(
            plain, input_format=Format.YAML, output_format=Format.YAML, settings=settings,
            label="s.yaml",
        )
    )  # fmt: skip
    return target


def decrypted(key: AgeKey, path: Path) -> bytes:
    from secretsctl.api import decrypt_to_bytes

    out = decrypt_to_bytes(
        path.read_bytes(), input_format=Format.YAML, output_format=Format.YAML,
        identities=identities(key), label=str(path),
    )  # fmt: skip
    return out.output.reveal()


class Editor:
    """A scripted user: each call applies the next change to the draft."""

    def __init__(self, *changes: bytes | None, status: int = 0) -> None:
        self.changes = list(changes)
        self.status = status
        self.seen: list[bytes] = []
        self.drafts: list[str] = []
        self.argv: list[Sequence[str]] = []

    def __call__(self, argv: Sequence[str], environ: Mapping[str, str]) -> int:
        draft = argv[-1]
        self.argv.append(argv)
        self.drafts.append(draft)
        self.seen.append(Path(draft).read_bytes())
        assert stat.S_IMODE(os.stat(draft).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(draft)).st_mode) == 0o700
        change = self.changes.pop(0) if self.changes else None
        if change is not None:
            Path(draft).write_bytes(change)
        return self.status


ENV = {"SOPS_EDITOR": "my-editor", "PATH": "/nonexistent"}


# --- editor choice ----------------------------------------------------------------------------


def executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_sops_editor_wins_and_is_split_like_a_shell() -> None:
    env = {"SOPS_EDITOR": "code --wait 'a b'", "EDITOR": "nano", "PATH": "/nonexistent"}
    assert edit.editor_command("/x/f.yaml", env) == ["code", "--wait", "a b", "/x/f.yaml"]


def test_editor_is_used_without_sops_editor() -> None:
    env = {"EDITOR": "emacs -nw", "PATH": "/nonexistent"}
    assert edit.editor_command("/x/f.yaml", env) == ["emacs", "-nw", "/x/f.yaml"]


def test_bad_quoting_is_exit_201() -> None:
    with pytest.raises(edit.EditorError) as caught:
        edit.editor_command("/x/f", {"EDITOR": "vim 'open"})
    assert caught.value.exit_code == ExitCode.NO_EDITOR_FOUND


def test_fallback_is_the_first_of_vim_nano_vi(tmp_path: Path) -> None:
    nano = executable(tmp_path, "nano")
    executable(tmp_path, "vi")
    assert edit.editor_command("/x/f", {"PATH": str(tmp_path)}) == [str(nano), "/x/f"]


def test_no_editor_is_exit_201(tmp_path: Path) -> None:
    with pytest.raises(edit.EditorError) as caught:
        edit.editor_command("/x/f", {"PATH": str(tmp_path)})
    assert caught.value.message.startswith("no editor available")


def test_vim_gets_no_swap_undo_backup_or_viminfo(tmp_path: Path) -> None:
    vim = executable(tmp_path, "vim")
    argv = edit.editor_command("/x/f", {"PATH": str(tmp_path)})
    assert argv == [str(vim), *edit.VIM_OPTIONS, "/x/f"]
    assert argv[1:4] == ["-n", "-i", "NONE"]
    for setting in ("noswapfile", "noundofile", "nobackup", "nowritebackup"):
        assert setting in argv[5]


def test_vi_that_is_vim_is_hardened_and_another_vi_is_not(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "vi").symlink_to(executable(real, "vim.basic"))
    env = {"PATH": str(tmp_path)}
    assert edit.editor_command("/x/f", env)[1:-1] == list(edit.VIM_OPTIONS)
    other = tmp_path / "other"
    other.mkdir()
    executable(other, "vi")  # busybox's or nvi: vim's options would make it fail
    assert edit.editor_command("/x/f", {"PATH": str(other)}) == [str(other / "vi"), "/x/f"]


def test_vim_options_go_before_the_users_own() -> None:
    argv = edit.editor_command("/x/f", {"EDITOR": "vim -u NONE", "PATH": "/nonexistent"})
    assert argv == ["vim", *edit.VIM_OPTIONS, "-u", "NONE", "/x/f"]


def test_nvim_also_disables_shada() -> None:
    argv = edit.editor_command("/x/f", {"EDITOR": "nvim", "PATH": "/nonexistent"})
    assert argv == ["nvim", *edit.NVIM_OPTIONS, "/x/f"]
    assert "shada=" in argv[5]


# --- where the plaintext goes -----------------------------------------------------------------


def test_xdg_runtime_dir_on_tmpfs_comes_first() -> None:
    runtime = Path(SHM) / f"xdg-unit-{os.getpid()}"
    runtime.mkdir()
    try:
        found = edit.temp_location({"XDG_RUNTIME_DIR": str(runtime)})
        assert found == edit.TempLocation(str(runtime), "tmpfs", True)
    finally:
        runtime.rmdir()


def test_dev_shm_without_xdg_runtime_dir() -> None:
    assert edit.temp_location({}) == edit.TempLocation(SHM, "tmpfs", True)


def test_a_disk_folder_is_refused_with_a_hint(tmp_path: Path) -> None:
    if edit.temp_location({}, base=str(tmp_path), allow_disk=True).ram_backed:
        pytest.skip("tmp_path is on a RAM-backed filesystem here")
    with pytest.raises(OutputError) as caught:
        edit.temp_location({}, base=str(tmp_path))
    assert caught.value.exit_code == ExitCode.COULD_NOT_WRITE_OUTPUT_FILE
    assert caught.value.message.startswith("no RAM-backed folder for the plaintext")
    assert caught.value.hint is not None
    assert "--allow-disk-tmp" in caught.value.hint
    allowed = edit.temp_location({}, base=str(tmp_path), allow_disk=True)
    assert allowed.path == str(tmp_path)
    assert not allowed.ram_backed


# --- the session --------------------------------------------------------------------------------


def test_a_changed_value_is_written_and_others_keep_their_ciphertext(
    age_key: AgeKey, tmp_path: Path
) -> None:
    target = encrypted_file(age_key, tmp_path)
    before = target.read_bytes().splitlines()
    user = Editor(PLAIN.replace(b"pw-old-1234", b"pw-new-5678"))
    result = edit.edit_file(
        str(target), identities=identities(age_key), environ=ENV, run_editor=user
    )
    assert (result.changed, result.created, result.editor_runs) == (True, False, 1)
    assert result.temp_location.ram_backed
    assert user.seen == [PLAIN]
    assert os.path.basename(user.drafts[0]) == "s.yaml"
    assert not os.path.exists(os.path.dirname(user.drafts[0]))
    after = target.read_bytes().splitlines()
    same = [line for line in after if line in before]
    assert [line.split(b":")[0] for line in same if b"ENC[" in line] == [
        b"#ENC[AES256_GCM,data",
        b"user",
        b"port",
    ]
    assert decrypted(age_key, target) == PLAIN.replace(b"pw-old-1234", b"pw-new-5678")


def test_unchanged_text_writes_nothing(age_key: AgeKey, tmp_path: Path) -> None:
    target = encrypted_file(age_key, tmp_path)
    before = target.read_bytes()
    user = Editor(None)
    result = edit.edit_file(
        str(target), identities=identities(age_key), environ=ENV, run_editor=user
    )
    assert not result.changed
    assert target.read_bytes() == before
    assert not os.path.exists(os.path.dirname(user.drafts[0]))


def test_invalid_text_is_shown_again_until_it_is_valid(age_key: AgeKey, tmp_path: Path) -> None:
    target = encrypted_file(age_key, tmp_path)
    broken = PLAIN + b"extra: [pw-unclosed-99\n"
    user = Editor(broken, b"sops: {}\n", PLAIN + b"extra: 1\n")
    problems: list[SecretsctlError] = []

    def on_invalid(problem: SecretsctlError) -> bool:
        problems.append(problem)
        return True

    result = edit.edit_file(
        str(target), identities=identities(age_key), environ=ENV, run_editor=user,
        on_invalid=on_invalid,
    )  # fmt: skip
    assert result.editor_runs == 3
    assert user.seen == [PLAIN, broken, b"sops: {}\n"]
    assert len({*user.drafts}) == 1
    assert "line" in problems[0].message
    assert "pw-unclosed" not in problems[0].message
    assert problems[1].exit_code == ExitCode.FILE_ALREADY_ENCRYPTED
    assert decrypted(age_key, target) == PLAIN + b"extra: 1\n"


def test_giving_up_leaves_the_file_and_removes_the_draft(age_key: AgeKey, tmp_path: Path) -> None:
    target = encrypted_file(age_key, tmp_path)
    before = target.read_bytes()
    user = Editor(b"a: [\n")
    with pytest.raises(edit.EditInterrupted) as caught:
        edit.edit_file(
            str(target), identities=identities(age_key), environ=ENV, run_editor=user,
            on_invalid=lambda _problem: False,
        )  # fmt: skip
    assert caught.value.exit_code == ExitCode.KEYBOARD_INTERRUPT
    assert target.read_bytes() == before
    assert not os.path.exists(os.path.dirname(user.drafts[0]))


@pytest.mark.parametrize(
    ("status", "expected"),
    [(1, "exited with status 1"), (-signal.SIGKILL, "was killed by SIGKILL")],
)
def test_a_failing_editor_is_exit_201(
    age_key: AgeKey, tmp_path: Path, status: int, expected: str
) -> None:
    target = encrypted_file(age_key, tmp_path)
    before = target.read_bytes()
    user = Editor(b"changed: yes\n", status=status)
    with pytest.raises(edit.EditorError) as caught:
        edit.edit_file(str(target), identities=identities(age_key), environ=ENV, run_editor=user)
    assert caught.value.message == f"Could not run editor: `my-editor` {expected}"
    assert target.read_bytes() == before
    assert not os.path.exists(os.path.dirname(user.drafts[0]))


def test_an_editor_that_cannot_start_is_exit_201(age_key: AgeKey, tmp_path: Path) -> None:
    target = encrypted_file(age_key, tmp_path)

    def missing(argv: Sequence[str], environ: Mapping[str, str]) -> int:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(edit.EditorError) as caught:
        edit.edit_file(str(target), identities=identities(age_key), environ=ENV, run_editor=missing)
    assert caught.value.message == "Could not run editor: `my-editor`: No such file or directory"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_removes_the_folder_and_restores_the_handlers(
    age_key: AgeKey, tmp_path: Path, signum: int
) -> None:
    target = encrypted_file(age_key, tmp_path)
    before = target.read_bytes()
    previous = signal.getsignal(signum)
    drafts: list[str] = []

    def interrupted(argv: Sequence[str], environ: Mapping[str, str]) -> int:
        drafts.append(argv[-1])
        os.kill(os.getpid(), signum)
        return 0

    with pytest.raises(edit.EditInterrupted) as caught:
        edit.edit_file(
            str(target), identities=identities(age_key), environ=ENV, run_editor=interrupted
        )
    assert caught.value.message.startswith(f"interrupted by {signal.Signals(signum).name}")
    assert not os.path.exists(os.path.dirname(drafts[0]))
    assert target.read_bytes() == before
    assert signal.getsignal(signum) == previous


def test_a_real_editor_process_is_stopped_when_secretsctl_is_interrupted(tmp_path: Path) -> None:
    import threading
    import time

    marker = tmp_path / "started"
    script = f"echo $$ > {marker}; exec sleep 60"
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))

    def run() -> int:
        with edit._signals_interrupt():
            timer.start()
            return edit.run_editor_process(["sh", "-c", script], dict(os.environ))

    started = time.monotonic()
    with pytest.raises(edit._Interrupted):
        run()
    assert time.monotonic() - started < edit.EDITOR_GRACE_SECONDS + 5
    # Stopped and reaped: the pid is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)


# --- new files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(Format))
def test_each_example_is_what_the_store_emits(fmt: Format) -> None:
    example = edit.EXAMPLES[fmt]
    assert fmt.store.emit_plain(fmt.store.load_plain(example)) == example


def test_a_new_file_from_settings(age_key: AgeKey, tmp_path: Path) -> None:
    target = tmp_path / "s.yaml"
    settings = EncryptionSettings(key_groups=((age_key.recipient,),))
    user = Editor(PLAIN)
    result = edit.create_file(str(target), settings, environ=ENV, run_editor=user)
    assert (result.changed, result.created) == (True, True)
    assert user.seen == [edit.EXAMPLES[Format.YAML]]
    assert decrypted(age_key, target) == PLAIN


def test_an_unchanged_example_creates_nothing(age_key: AgeKey, tmp_path: Path) -> None:
    target = tmp_path / "s.env"
    settings = EncryptionSettings(key_groups=((age_key.recipient,),))
    result = edit.create_file(str(target), settings, environ=ENV, run_editor=Editor(None))
    assert not result.changed
    assert not target.exists()


def test_a_bad_recipient_fails_before_the_editor(tmp_path: Path) -> None:
    settings = EncryptionSettings(key_groups=(("age1notarecipient",),))
    user = Editor(PLAIN)
    with pytest.raises(SecretsctlError):
        edit.create_file(str(tmp_path / "s.yaml"), settings, environ=ENV, run_editor=user)
    assert user.seen == []


# --- parse errors name the place, never the text ------------------------------------------------

MARK = "pw-SECRET-77"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (Format.YAML, f"key: {MARK}\n  bad: [\n"),
        (Format.YAML, f'key: "{MARK}\n'),
        (Format.YAML, f"- {MARK}\n"),
        (Format.YAML, f"a: {MARK}\na: {MARK}\n"),
        (Format.YAML, f"a: {MARK}\n\tb: {MARK}\n"),
        (Format.JSON, f'{{"a": "{MARK}" "b"}}'),
        (Format.JSON, f'{{"a": {MARK}}}'),
        (Format.JSON, f'{{"a": "{MARK}\x01"}}'),
        (Format.DOTENV, f"{MARK}\n"),
        (Format.INI, f"[s]\n{MARK}\n"),
        (Format.INI, f"{MARK}]\n"),
    ],
)
def test_parse_errors_do_not_quote_the_text(fmt: Format, text: str) -> None:
    with pytest.raises(SecretsctlError) as caught:
        edit._load_edited(fmt, text.encode())
    assert "pw-SECRET" not in caught.value.message, "the message quotes the edited text"
    assert "SECRET" not in (caught.value.hint or "")


def test_an_older_file_version_is_raised_as_sops_does() -> None:
    from secretsctl.sops.metadata import SOPS_VERSION

    assert edit._newer_version("3.7.1") == SOPS_VERSION
    assert edit._newer_version("99.0.0") == "99.0.0"


def test_a_new_file_in_a_missing_folder_fails_before_the_editor(
    age_key: AgeKey, tmp_path: Path
) -> None:
    settings = EncryptionSettings(key_groups=((age_key.recipient,),))
    user = Editor(PLAIN)
    with pytest.raises(OutputError) as caught:
        edit.create_file(str(tmp_path / "no" / "s.yaml"), settings, environ=ENV, run_editor=user)
    assert "does not exist" in caught.value.message
    assert user.seen == []


def test_a_signal_during_cleanup_is_held_until_the_cleanup_ends() -> None:
    finished = []

    def cleanup() -> None:
        with edit._signals_interrupt() as hold:
            hold()
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append(True)  # the cleanup went on past the signal

    with pytest.raises(edit._Interrupted) as caught:
        cleanup()
    assert finished == [True]
    assert caught.value.signum == signal.SIGTERM
