"""Helpers for the key tests: read the sops metadata of a YAML or JSON file, check a data key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secretsctl.sops import metadata as md
from secretsctl.sops.tree import Branch, Seq


def to_tree(value: Any) -> Any:
    """Plain dicts and lists as the sops tree model (Branch, Seq)."""
    if isinstance(value, dict):
        return Branch((key, to_tree(child)) for key, child in value.items())
    if isinstance(value, list):
        return Seq(to_tree(child) for child in value)
    return value


def load_document(path: Path) -> dict[str, Any]:
    """A sops YAML or JSON file as plain Python data."""
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)  # type: ignore[no-any-return]
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)  # type: ignore[no-any-return]


def read_metadata(path: Path) -> md.Metadata:
    """The parsed ``sops`` block of a file written by sops."""
    return md.from_tree(to_tree(load_document(path)["sops"]))


def mac_opens(path: Path, data_key: bytes) -> bool:
    """Whether ``data_key`` decrypts the file's MAC (AES-256-GCM, AAD = lastmodified)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from secretsctl.sops.grammar import mac_aad, parse_enc

    sops = load_document(path)["sops"]
    data, iv, tag, _ = parse_enc(sops["mac"])
    try:
        AESGCM(data_key).decrypt(iv, data + tag, mac_aad(str(sops["lastmodified"])).encode())
    except InvalidTag:
        return False
    return True


# --- SSH keys -----------------------------------------------------------------------------------


def ssh_string(data: bytes) -> bytes:
    """An SSH wire-format string: a 32-bit big-endian length, then the bytes."""
    return len(data).to_bytes(4, "big") + data


def openssh_armour(body: bytes) -> bytes:
    """Wrap a binary openssh-key-v1 container in its PEM-style armour (70 columns)."""
    import base64

    text = base64.b64encode(body).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(lines)
        + "\n-----END OPENSSH PRIVATE KEY-----\n"
    ).encode()


def openssh_body(armoured: bytes) -> bytes:
    """The binary container inside an OpenSSH private key file."""
    import base64

    lines = armoured.decode().strip().splitlines()
    return base64.b64decode("".join(lines[1:-1]))


def ed25519_openssh(seed: bytes) -> tuple[bytes, str]:
    """An unencrypted OpenSSH private key file for ``seed`` and its public key line."""
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    private = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.OpenSSH, s.NoEncryption())
    public = key.public_key().public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH)
    return private, public.decode()


def encrypted_openssh(public_blob: bytes) -> bytes:
    """A passphrase-protected openssh-key-v1 container (random ciphertext; never decrypted)."""
    import os

    body = (
        b"openssh-key-v1\x00"
        + ssh_string(b"aes256-ctr")
        + ssh_string(b"bcrypt")
        + ssh_string(ssh_string(os.urandom(16)) + (16).to_bytes(4, "big"))
        + (1).to_bytes(4, "big")
        + ssh_string(public_blob)
        + ssh_string(os.urandom(160))
    )
    return openssh_armour(body)


def assert_not_leaked(text: str, *secrets: str | bytes) -> None:
    """Fail if ``text`` contains any of ``secrets`` (or their base64), naming only their index.

    The check happens before the assertion so pytest's introspection has no value to show.
    """
    import base64

    leaked = []
    for index, secret in enumerate(secrets):
        raw = secret.encode() if isinstance(secret, str) else secret
        forms = {raw.decode("latin-1"), base64.b64encode(raw).decode()[:16]}
        if isinstance(secret, str):
            forms.add(secret.lower())
        if any(form and form in text for form in forms):
            leaked.append(index)
    assert not leaked, f"key material leaked: secret number(s) {leaked}"


def hanging_program(folder: Path) -> tuple[Path, Path]:
    """A program that writes its pid to a file, then sleeps: (program, pid file)."""
    import shlex

    pid_file = folder / "hanging.pid"
    program = folder / "hanging-program"
    program.write_text(f"#!/bin/sh\necho $$ > {shlex.quote(str(pid_file))}\nexec sleep 60\n")
    program.chmod(0o755)
    return program, pid_file


def interrupt_once_started(pid_file: Path, call: Callable[[], object]) -> int:
    """Run ``call``; Ctrl-C it (KeyboardInterrupt) once ``pid_file`` names a process.

    Returns that pid, after asserting ``call`` ended by the interrupt.
    """
    import signal
    import threading
    import time

    import pytest

    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        for _ in range(1200):  # a hang guard, not a timing
            if pid_file.exists() and pid_file.read_text().strip():
                # A real SIGINT to the main thread, so its blocking wait is interrupted.
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.025)

    watcher = threading.Thread(target=interrupt, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        call()
    watcher.join()
    return int(pid_file.read_text())


def process_gone(pid: int) -> bool:
    """Whether ``pid`` is neither running nor a zombie waiting to be reaped."""
    return not Path(f"/proc/{pid}").exists()
