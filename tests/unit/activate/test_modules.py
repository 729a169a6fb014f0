"""The activation package's module structure: no private names across modules, lazy pieces."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from tests.conftest import REPO

PACKAGE = REPO / "secretsctl" / "activate"


def test_no_module_imports_another_modules_private_names() -> None:
    borrowed = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                borrowed += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert borrowed == []


def test_apply_has_no_module_getattr() -> None:
    from secretsctl.activate import apply

    assert not hasattr(apply, "__getattr__")


def test_status_stands_apart_and_apply_loads_only_what_a_run_needs() -> None:
    script = textwrap.dedent(
        """
        import sys
        import secretsctl.activate.status
        assert "secretsctl.activate.apply" not in sys.modules, "status imports apply"
        import secretsctl.activate.apply
        lazy = {"dryrun", "rollback"}
        loaded = {m.rpartition(".")[2] for m in sys.modules if m.startswith("secretsctl.activate.")}
        assert not lazy & loaded, f"apply loads {sorted(lazy & loaded)}"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)
