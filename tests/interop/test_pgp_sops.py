"""PGP keys with the real sops 3.11.0 binary and Debian's gpg, in both directions.

Every GnuPG home is made by the tests (tests/pgp_support.py): RSA and ed25519/cv25519 keys
without passphrase. sops and secretsctl see the same ``GNUPGHOME``; files written by one are
opened by the other, and the ``pgp`` entries secretsctl writes have sops's layout, byte for
byte once the random parts (ciphertext, times) are masked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import AgeKey, Runner, make_age_key, sops_binary
from tests.leds.secrets_support import same_secret
from tests.pgp_support import (  # noqa: F401 - fixtures
    VECTOR_PGP,
    GnupgHome,
    gnupg_home,
    session_gnupg,
)

pytestmark = pytest.mark.interop

PLAIN_YAML = b"password: hunter2\nnested:\n    token: abc123\nlist:\n    - 1\n    - two\n"
PLAIN_FLAT = b"password=hunter2\ntoken=abc123\n"
VALUES = ("hunter2", "abc123")


def sops(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run sops with HOME in ``cwd`` and only the variables given."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    full_env.update(env or {})
    return subprocess.run(
        [sops_binary(), *args], capture_output=True, cwd=cwd, env=full_env, input=input, check=False
    )


def ok(done: subprocess.CompletedProcess[bytes]) -> bytes:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def no_value_in(text: bytes) -> None:
    assert not any(value.encode() in text for value in VALUES), "a value leaked"


def pgp_fps(document: bytes) -> list[str]:
    return re.findall(r"fp: ([0-9A-F]+)", document.decode())


# --- sops writes, secretsctl reads, and back ----------------------------------------------------


@pytest.mark.parametrize("key", ["rsa", "ed"])
def test_sops_encrypts_to_pgp_we_decrypt(
    key: str, session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    encrypted = ok(
        sops(
            "encrypt",
            "--pgp",
            session_gnupg.keys[key],
            str(plain),
            cwd=tmp_path,
            env=session_gnupg.env,
        )
    )
    assert pgp_fps(encrypted) == [session_gnupg.keys[key]]
    target = write(tmp_path, "s.yaml", encrypted)
    done = secretsctl("decrypt", str(target), env=session_gnupg.env)
    assert done.returncode == 0, done.stderr.decode()
    same_secret(done.stdout, PLAIN_YAML, "the decrypted text")


@pytest.mark.parametrize("keys", [("rsa",), ("ed",), ("rsa", "ed")])
def test_we_encrypt_to_pgp_sops_decrypts(
    keys: tuple[str, ...], session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    fps = [session_gnupg.keys[k] for k in keys]
    done = secretsctl("encrypt", "--pgp", ",".join(fps), str(plain), env=session_gnupg.env)
    assert done.returncode == 0, done.stderr.decode()
    no_value_in(done.stdout + done.stderr)
    assert pgp_fps(done.stdout) == fps
    target = write(tmp_path, "s.yaml", done.stdout)
    decrypted = ok(sops("decrypt", str(target), cwd=tmp_path, env=session_gnupg.env))
    same_secret(decrypted, PLAIN_YAML, "the text sops decrypted")


def test_sops_pgp_fp_and_spaced_fingerprints(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    """SOPS_PGP_FP is --pgp's variable; a fingerprint with spaces is kept without them."""
    fp = session_gnupg.keys["rsa"]
    spaced = " ".join(fp[i : i + 4] for i in range(0, 40, 4))
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    done = secretsctl("encrypt", str(plain), env={**session_gnupg.env, "SOPS_PGP_FP": spaced})
    assert done.returncode == 0, done.stderr.decode()
    assert pgp_fps(done.stdout) == [fp]
    target = write(tmp_path, "s.yaml", done.stdout)
    same_secret(
        ok(sops("decrypt", str(target), cwd=tmp_path, env=session_gnupg.env)),
        PLAIN_YAML,
        "the text sops decrypted",
    )


def _masked(document: bytes) -> str:
    """The document with what is random or timed replaced: the layout is what remains."""
    text = document.decode()
    text = re.sub(r"ENC\[[^\]]*\]", "ENC", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", text)
    text = re.sub(
        r"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", "PGP", text, flags=re.S
    )
    return re.sub(r"(?:\\n|\n)(?:[A-Za-z0-9+/=]+)(?=\\n|\n)", "", text)


@pytest.mark.parametrize(
    ("store", "plain"),
    [("yaml", PLAIN_YAML), ("json", b'{"password": "hunter2", "nested": {"token": "abc123"}}'),
     ("dotenv", PLAIN_FLAT), ("ini", b"[s]\npassword = hunter2\ntoken = abc123\n")],
    ids=["yaml", "json", "dotenv", "ini"],  # never the plaintext in a test name
)  # fmt: skip
def test_our_pgp_entries_have_sops_layout(
    store: str, plain: bytes, session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    fps = ",".join((session_gnupg.keys["rsa"], session_gnupg.keys["ed"]))
    source = write(tmp_path, f"plain.{store}", plain)
    types = ("--input-type", store, "--output-type", store)
    theirs = ok(
        sops("encrypt", *types, "--pgp", fps, str(source), cwd=tmp_path, env=session_gnupg.env)
    )
    ours = secretsctl("encrypt", *types, "--pgp", fps, str(source), env=session_gnupg.env)
    assert ours.returncode == 0, ours.stderr.decode()
    if store == "ini":
        # sops writes its INI metadata in Go's random map order: compare the lines as a set.
        assert sorted(_masked(ours.stdout).splitlines()) == sorted(_masked(theirs).splitlines())
    else:
        assert _masked(ours.stdout) == _masked(theirs)
    # `enc` is gpg's armour trimmed as sops trims it: no newline after the END line.
    assert ours.stdout.count(b"-----END PGP MESSAGE-----") == 2
    assert b"-----END PGP MESSAGE-----\\n" not in ours.stdout


# --- key groups, Shamir, and files that mix age and PGP ---------------------------------------


def _config(folder: Path, text: str) -> None:
    (folder / ".sops.yaml").write_text(text)


def _decrypt_env(home: GnupgHome | None, age: AgeKey | None, gpg_log: Path) -> dict[str, str]:
    """Only the keys given; gpg through a wrapper that records every run."""
    env = {"SOPS_GPG_EXEC": str(gpg_log.with_suffix(".sh"))}
    gpg_log.with_suffix(".sh").write_text(f'#!/bin/sh\necho run >> "{gpg_log}"\nexec gpg "$@"\n')
    gpg_log.with_suffix(".sh").chmod(0o755)
    env["GNUPGHOME"] = str(home.path) if home else str(gpg_log.parent / "no-gnupg")
    if age is not None:
        env["SOPS_AGE_KEY_FILE"] = str(age.key_file)
    return env


def _gpg_runs(gpg_log: Path) -> int:
    return len(gpg_log.read_text().splitlines()) if gpg_log.exists() else 0


@pytest.mark.parametrize("writer", ["sops", "secretsctl"])
def test_shamir_groups_mixing_age_and_pgp_open_with_any_two(
    writer: str, session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    age_a = make_age_key(tmp_path, "a.txt")
    age_b = make_age_key(tmp_path, "b.txt")
    fp = session_gnupg.keys["ed"]
    _config(
        tmp_path,
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{age_a.recipient}]\n      - pgp: [{fp}]\n      - age: [{age_b.recipient}]\n",
    )
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    env = {**session_gnupg.env, "SOPS_CONFIG": str(tmp_path / ".sops.yaml")}
    if writer == "sops":
        encrypted = ok(sops("encrypt", str(plain), cwd=tmp_path, env=env))
    else:
        done = secretsctl("encrypt", str(plain), env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr.decode()
        encrypted = done.stdout
    assert pgp_fps(encrypted) == [fp]
    target = write(tmp_path, "s.yaml", encrypted)
    log = tmp_path / "gpg.log"
    for home, age in ((session_gnupg, age_a), (session_gnupg, age_b), (None, age_a)):
        if home is None:
            # Groups 1 and 2 (age) without gpg: need age_a and age_b, given as one key file.
            both = tmp_path / "both.txt"
            both.write_text(age_a.key_file.read_text() + age_b.key_file.read_text())
            age = AgeKey("", "", both)
        env = _decrypt_env(home, age, log)
        ours = secretsctl("decrypt", str(target), env=env)
        assert ours.returncode == 0, ours.stderr.decode()
        same_secret(ours.stdout, PLAIN_YAML, "the decrypted text")
        ok(sops("decrypt", str(target), cwd=tmp_path, env=env))
    # One sufficient key alone is not enough with threshold 2.
    alone = secretsctl("decrypt", str(target), env=_decrypt_env(session_gnupg, None, log))
    assert alone.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY == 128
    assert "  1 of 2 required key groups opened\n" in alone.stderr.decode()


def test_one_group_of_age_and_pgp_opens_with_either_and_age_never_runs_gpg(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    age = make_age_key(tmp_path)
    fp = session_gnupg.keys["rsa"]
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    encrypted = ok(
        sops(
            "encrypt",
            "--age",
            age.recipient,
            "--pgp",
            fp,
            str(plain),
            cwd=tmp_path,
            env=session_gnupg.env,
        )
    )
    target = write(tmp_path, "s.yaml", encrypted)
    log = tmp_path / "gpg.log"
    with_age = secretsctl("decrypt", str(target), env=_decrypt_env(session_gnupg, age, log))
    assert with_age.returncode == 0, with_age.stderr.decode()
    assert _gpg_runs(log) == 0, "gpg ran although the age key opens the file"
    with_pgp = secretsctl("decrypt", str(target), env=_decrypt_env(session_gnupg, None, log))
    assert with_pgp.returncode == 0, with_pgp.stderr.decode()
    same_secret(with_pgp.stdout, PLAIN_YAML, "the decrypted text")
    assert _gpg_runs(log) == 1


def test_an_age_only_file_never_runs_gpg_nor_imports_the_pgp_kind(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    age = make_age_key(tmp_path)
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    target = write(
        tmp_path, "s.yaml", ok(sops("encrypt", "--age", age.recipient, str(plain), cwd=tmp_path))
    )
    log = tmp_path / "gpg.log"
    env = {
        **os.environ,
        **_decrypt_env(session_gnupg, age, log),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "secretsctl", "decrypt", str(target)],
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    imported = [
        line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line
    ]
    assert "secretsctl.keys.kinds.pgp" not in imported
    assert "subprocess" not in imported
    assert _gpg_runs(log) == 0, "gpg ran for a file without PGP entries"


# --- updatekeys, rotate, edit ----------------------------------------------------------------


def test_updatekeys_adds_and_keeps_pgp_entries(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    age = make_age_key(tmp_path)
    fp_rsa, fp_ed = session_gnupg.keys["rsa"], session_gnupg.keys["ed"]
    _config(tmp_path, f"creation_rules:\n  - age: {age.recipient}\n    pgp: {fp_rsa}\n")
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    env = {**session_gnupg.env, "SOPS_AGE_KEY_FILE": str(age.key_file)}
    target = write(tmp_path, "s.yaml", ok(sops("encrypt", str(plain), cwd=tmp_path, env=env)))
    # The rule is what the file has: nothing to do (fingerprints compare as sops names them).
    same = secretsctl("updatekeys", "-y", str(target), env=env, cwd=tmp_path)
    assert same.returncode == 0, same.stderr.decode()
    assert pgp_fps(target.read_bytes()) == [fp_rsa]
    before = target.read_bytes()
    assert ok(sops("updatekeys", "-y", str(target), cwd=tmp_path, env=env)) is not None
    assert target.read_bytes() == before, "sops found something to update"
    # A second fingerprint in the rule: updatekeys adds it, sops opens the file with it alone.
    _config(tmp_path, f"creation_rules:\n  - age: {age.recipient}\n    pgp: {fp_rsa},{fp_ed}\n")
    done = secretsctl("updatekeys", "-y", str(target), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert fp_ed in done.stdout.decode() + done.stderr.decode()
    assert pgp_fps(target.read_bytes()) == [fp_rsa, fp_ed]
    home_ed = {**session_gnupg.env}  # both secret keys are in the session home
    same_secret(
        ok(sops("decrypt", str(target), cwd=tmp_path, env=home_ed)),
        PLAIN_YAML,
        "the text sops decrypted",
    )


def test_rotate_keeps_adds_and_removes_pgp(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    age = make_age_key(tmp_path)
    fp_rsa, fp_ed = session_gnupg.keys["rsa"], session_gnupg.keys["ed"]
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    env = {**session_gnupg.env, "SOPS_AGE_KEY_FILE": str(age.key_file)}
    encrypted = ok(
        sops("encrypt", "--age", age.recipient, "--pgp", fp_rsa, str(plain), cwd=tmp_path, env=env)
    )
    target = write(tmp_path, "s.yaml", encrypted)
    old_enc = re.findall(r"BEGIN PGP MESSAGE-----\n\n\s*(\S+)", target.read_text())
    done = secretsctl("rotate", "-i", str(target), env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert pgp_fps(target.read_bytes()) == [fp_rsa]
    assert re.findall(r"BEGIN PGP MESSAGE-----\n\n\s*(\S+)", target.read_text()) != old_enc
    only_gpg = {**session_gnupg.env}
    same_secret(
        ok(sops("decrypt", str(target), cwd=tmp_path, env=only_gpg)),
        PLAIN_YAML,
        "the text sops decrypted",
    )
    done = secretsctl("rotate", "-i", "--add-pgp", fp_ed, "--rm-pgp", fp_rsa, str(target), env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert pgp_fps(target.read_bytes()) == [fp_ed]
    same_secret(
        ok(sops("decrypt", str(target), cwd=tmp_path, env=only_gpg)),
        PLAIN_YAML,
        "the text sops decrypted",
    )
    # A fingerprint given to --add-age is refused, not taken as PGP; nothing changes.
    before = target.read_bytes()
    refused = secretsctl("rotate", "-i", "--add-age", fp_rsa, str(target), env=env)
    assert refused.returncode == ExitCode.GENERIC
    assert refused.stderr.decode().startswith("secretsctl: error: unknown age recipient type")
    assert target.read_bytes() == before


def test_edit_keeps_pgp_entries(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    fp = session_gnupg.keys["ed"]
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    target = write(
        tmp_path,
        "s.yaml",
        ok(sops("encrypt", "--pgp", fp, str(plain), cwd=tmp_path, env=session_gnupg.env)),
    )
    entry = re.search(r"    pgp:\n.*?fp: [0-9A-F]+\n", target.read_text(), re.S)
    assert entry is not None
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/abc123/changed/' \"$1\"\n")
    editor.chmod(0o755)
    env = {**session_gnupg.env, "SOPS_EDITOR": str(editor), "XDG_RUNTIME_DIR": "/dev/shm"}
    done = secretsctl("edit", str(target), env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert entry.group(0) in target.read_text(), "the pgp entry changed"
    edited = b"changed" in ok(sops("decrypt", str(target), cwd=tmp_path, env=session_gnupg.env))
    assert edited, "the edit did not reach the file (text not shown)"
    # A new file through --pgp.
    new = tmp_path / "new.yaml"
    writer = tmp_path / "writer.sh"
    writer.write_text("#!/bin/sh\nprintf 'token: abc123\\n' > \"$1\"\n")
    writer.chmod(0o755)
    done = secretsctl("edit", "--pgp", fp, str(new), env={**env, "SOPS_EDITOR": str(writer)})
    assert done.returncode == 0, done.stderr.decode()
    assert pgp_fps(new.read_bytes()) == [fp]
    ok(sops("decrypt", str(new), cwd=tmp_path, env=session_gnupg.env))


# --- failures ----------------------------------------------------------------------------------


def test_wrong_or_missing_secret_key_exits_128_naming_the_fingerprint(
    session_gnupg: GnupgHome, gnupg_home: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    fp = session_gnupg.keys["rsa"]
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    target = write(
        tmp_path,
        "s.yaml",
        ok(sops("encrypt", "--pgp", fp, str(plain), cwd=tmp_path, env=session_gnupg.env)),
    )
    # The public key only, and another secret key: gpg has nothing that opens the entry.
    gnupg_home.gpg("--import", input=session_gnupg.export_public(fp))
    gnupg_home.generate("other", "ed25519")
    done = secretsctl("decrypt", str(target), env=gnupg_home.env)
    assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY == 128
    err = done.stderr.decode()
    assert err.startswith("secretsctl: error: no identity matched")
    assert f"  pgp:{fp}: gpg: decryption failed: No secret key\n" in err
    assert f"GNUPGHOME ({gnupg_home.path}): 1 identity" in err
    assert "Traceback" not in err
    assert done.stdout == b""


@pytest.mark.parametrize("how", ["path", "sops_gpg_exec"])
def test_gpg_missing_is_a_clean_error(
    how: str, session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    fp = session_gnupg.keys["rsa"]
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    target = write(
        tmp_path,
        "s.yaml",
        ok(sops("encrypt", "--pgp", fp, str(plain), cwd=tmp_path, env=session_gnupg.env)),
    )
    env = {**session_gnupg.env}
    if how == "path":
        env["PATH"] = str(tmp_path / "empty-bin")
    else:
        env["SOPS_GPG_EXEC"] = str(tmp_path / "no-such-gpg")
    done = secretsctl("decrypt", str(target), env=env)
    assert done.returncode == 128
    err = done.stderr.decode()
    assert f"pgp:{fp}: cannot run `" in err
    assert "not found (install GnuPG, or set SOPS_GPG_EXEC)" in err
    assert "Traceback" not in err
    encrypted = secretsctl("encrypt", "--pgp", fp, str(plain), env=env)
    assert encrypted.returncode == ExitCode.GENERIC
    (line,) = encrypted.stderr.decode().splitlines()
    assert line.startswith(
        f"secretsctl: error: {plain}: cannot encrypt to PGP key {fp}: cannot run"
    )
    assert encrypted.stdout == b""


def test_a_fingerprint_given_to_age_is_refused(
    session_gnupg: GnupgHome, secretsctl: Runner, tmp_path: Path
) -> None:
    plain = write(tmp_path, "plain.yaml", PLAIN_YAML)
    out = tmp_path / "out.yaml"
    for fp in (session_gnupg.keys["rsa"], session_gnupg.keys["rsa"][-16:]):
        done = secretsctl(
            "encrypt", "--age", fp, "--output", str(out), str(plain), env=session_gnupg.env
        )
        assert done.returncode == ExitCode.GENERIC
        assert done.stderr.decode().splitlines() == [
            f"secretsctl: error: unknown age recipient type: `{fp}`",
            "secretsctl: hint: this looks like a pgp key; pass it with --pgp (or under `pgp:` in"
            " .sops.yaml)",
        ]
        assert not out.exists()
    # sops refuses it too.
    theirs = sops("encrypt", "--age", session_gnupg.keys["rsa"], str(plain), cwd=tmp_path)
    assert theirs.returncode != 0


def test_the_sops_nix_vector_opens_with_key_asc(
    session_gnupg: GnupgHome, secretsctl: Runner
) -> None:
    from tests.conftest import SOPS_NIX_VECTORS

    done = secretsctl("decrypt", str(SOPS_NIX_VECTORS / "secrets.json"), env=session_gnupg.env)
    assert done.returncode == 0, done.stderr.decode()
    same_secret(json.loads(done.stdout), {"test_key": "test_value"}, "the decrypted document")
    assert VECTOR_PGP in (SOPS_NIX_VECTORS / "secrets.json").read_text()
