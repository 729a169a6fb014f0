"""Write the store vectors in this folder with the real sops 3.11.0 binary.

Run from the repository root: ``python tests/vectors/stores/make_vectors.py``. For every input
in ``tests/flat_stores_support.CORPUS`` it writes ``<store>/<name>.enc`` (what ``sops encrypt``
wrote) and ``<store>/<name>.plain`` (what ``sops decrypt`` printed for it); for every entry of
``CONVERSIONS`` it writes ``conversions/<name>.out`` (or ``.exit`` with the exit status when
sops refuses). ``key.txt`` is a throw-away age key made for these vectors only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.conftest import make_age_key, sops_binary  # noqa: E402
from tests.flat_stores_support import CONVERSIONS, CORPUS  # noqa: E402


def run(args: list[str], data: bytes, key_file: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOPS_AGE_KEY_FILE": str(key_file)}
    return subprocess.run(
        [sops_binary(), *args], input=data, capture_output=True, env=env, check=False
    )


def main() -> None:
    key_file = HERE / "key.txt"
    if not key_file.exists():
        make_age_key(HERE, "key.txt")
    recipient = key_file.read_text().split("public key: ")[1].split()[0]
    for fmt, cases in CORPUS.items():
        folder = HERE / fmt
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name, data in cases.items():
            types = ["--input-type", fmt, "--output-type", fmt]
            enc = run(["encrypt", *types, "--age", recipient, "/dev/stdin"], data, key_file)
            if enc.returncode:
                raise SystemExit(f"sops could not encrypt {fmt}/{name}")
            dec = run(["decrypt", *types, "/dev/stdin"], enc.stdout, key_file)
            if dec.returncode:
                raise SystemExit(f"sops could not decrypt {fmt}/{name}")
            (folder / f"{name}.enc").write_bytes(enc.stdout)
            (folder / f"{name}.plain").write_bytes(dec.stdout)
    folder = HERE / "conversions"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name, (source, data, target) in CONVERSIONS.items():
        types = ["--input-type", source, "--output-type", source]
        enc = run(["encrypt", *types, "--age", recipient, "/dev/stdin"], data, key_file)
        if enc.returncode:
            raise SystemExit(f"sops could not encrypt conversion {name}")
        types = ["--input-type", source, "--output-type", target]
        dec = run(["decrypt", *types, "/dev/stdin"], enc.stdout, key_file)
        if dec.returncode:
            (folder / f"{name}.exit").write_text(f"{dec.returncode}\n")
        else:
            (folder / f"{name}.out").write_bytes(dec.stdout)


if __name__ == "__main__":
    main()
