"""The render path's own modules import neither re, functools nor collections.

Modules of other packages (sops, keys) may still import them; this checks only the import
statements our config, activate, render and cli modules run, while being imported and while
reading a secrets-only configuration.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

PROBE = textwrap.dedent(
    """
    import builtins, sys

    OURS = ("secretsctl.config", "secretsctl.activate", "secretsctl.render",
            "secretsctl.cli.activation", "secretsctl.cli.app", "secretsctl.cli.fastpath",
            "secretsctl.cli._fastspec", "secretsctl.paths", "secretsctl.limits",
            "secretsctl.fsutil", "secretsctl.redact")
    LAZY = ("secretsctl.render.jinja", "secretsctl.render.sandbox")  # only with templates
    WATCHED = {"re", "functools", "collections"}
    found = set()
    real_import = builtins.__import__

    def watching(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        if (level == 0 and name.partition(".")[0] in WATCHED
                and importer.startswith(OURS) and not importer.startswith(LAZY)):
            found.add(f"{importer} imports {name}")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = watching
    import secretsctl.cli.activation, secretsctl.cli.app, secretsctl.cli.fastpath
    import secretsctl.activate.apply, secretsctl.render.plan
    from secretsctl.activate.validate import bad_name
    from secretsctl.config.load import read_config

    read = read_config(sys.argv[1])
    assert len(read.manifest.secrets) == 3 and not bad_name("a/b")
    print(sorted(found))
    """
)


def test_the_render_path_modules_import_no_re_functools_or_collections(tmp_path: Path) -> None:
    config = tmp_path / "secretsctl.yaml"
    config.write_text(
        "defaults:\n  sops_file: secrets.yaml\n  age_key_file: keys.txt\nsecrets:\n"
        "  a: {uid: 1001, gid: 1001, mode: '0440'}\n  b/c: {owner: root}\n  d: {}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
