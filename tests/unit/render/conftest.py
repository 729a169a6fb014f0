"""Helpers for the render tests: sops files made on the fly, a user database of our own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secretsctl.api import encrypt_to_bytes
from secretsctl.sops.creation_rules import EncryptionSettings
from secretsctl.sops.stores import Format
from tests.conftest import AgeKey


@dataclass
class FakeAccounts:
    """Users (name -> uid, primary gid) and groups (name -> gid)."""

    users: dict[str, tuple[int, int]] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    lookups: int = 0

    def user(self, name: str) -> tuple[int, int] | None:
        self.lookups += 1
        return self.users.get(name)

    def group(self, name: str) -> int | None:
        self.lookups += 1
        return self.groups.get(name)

    def user_name(self, uid: int) -> str | None:
        return next((n for n, (u, _) in self.users.items() if u == uid), None)

    def group_name(self, gid: int) -> str | None:
        return next((n for n, g in self.groups.items() if g == gid), None)


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts(
        users={"root": (0, 0), "alice": (1000, 100), "bob": (1001, 1001)},
        groups={"root": 0, "users": 100, "bob": 1001, "wheel": 10},
    )


@dataclass(frozen=True)
class Encryptor:
    key: AgeKey
    folder: Path

    def __call__(self, name: str, plaintext: bytes | str, fmt: Format | None = None) -> Path:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        fmt = fmt or Format.for_path(name)
        path = self.folder / name
        settings = EncryptionSettings(key_groups=((self.key.recipient,),))
        path.write_bytes(
            encrypt_to_bytes(data, input_format=fmt, output_format=fmt, settings=settings, label=name)
        )
        return path


@pytest.fixture
def encrypt(age_key: AgeKey, tmp_path: Path) -> Encryptor:
    """Write a sops file encrypted to this test's age key: ``encrypt("s.yaml", "a: b\\n")``."""
    return Encryptor(age_key, tmp_path)
