"""Warnings about how private key files are kept: readable by others, or committed to git.

A plain identity file in a repository (``secrets/identity.age`` beside the sops files it
opens) is a common and costly mistake: anyone with the repository reads every secret. Found by
``secretsctl check``; never an error, since a demo key is kept that way on purpose.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable

from secretsctl.record import Record

__all__ = ["KeyFileWarning", "key_file_warnings"]


class KeyFileWarning(Record):
    """One finding about one key file, and what to do about it."""

    text: str
    hint: str


def key_file_warnings(paths: Iterable[str]) -> list[KeyFileWarning]:
    """Check each existing key file's mode and whether git tracks it."""
    warnings: list[KeyFileWarning] = []
    for path in dict.fromkeys(paths):
        try:
            info = os.stat(path)
        except OSError:
            continue  # a missing key is reported where it is read
        if not stat.S_ISREG(info.st_mode):
            continue
        loose = stat.S_IMODE(info.st_mode) & 0o077
        if loose:
            who = " and ".join(
                name for bits, name in ((0o070, "its group"), (0o007, "others")) if loose & bits
            )
            warnings.append(
                KeyFileWarning(
                    f"{path}: this private key file is readable or writable by {who}"
                    f" (mode {stat.S_IMODE(info.st_mode):04o})",
                    f"chmod 600 {path}",
                )
            )
        if _tracked_by_git(path):
            warnings.append(
                KeyFileWarning(
                    f"{path}: this private key file is committed to a git repository; anyone"
                    " with the repository can decrypt every secret it opens",
                    "keep keys out of the repository (git rm --cached, then .gitignore), and"
                    " rotate the key and every file encrypted to it",
                )
            )
    return warnings


def _tracked_by_git(path: str) -> bool:
    """Ask git whether it tracks ``path`` (False without git or outside a work tree)."""
    git = shutil.which("git")
    if git is None:
        return False
    folder, name = os.path.split(os.path.abspath(path))
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program; the path is an argument
            [git, "-C", folder, "ls-files", "--error-unmatch", "--", name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
