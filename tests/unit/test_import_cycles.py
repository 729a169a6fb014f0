"""No import circles: no module imports, even inside a function, one that imports it back.

The graph is read from the source (``import`` statements anywhere but under
``TYPE_CHECKING``), so an in-function import that closes a circle counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

# The packages whose circles are gone; the rest of the package joins as its circles go.
CHECKED = ("secretsctl.leds", "secretsctl.keys", "secretsctl.sops")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (REPO / "secretsctl").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {other for other in _imported(ast.parse(path.read_text())) if other in modules}
        - {name}
        for name, path in modules.items()
    }


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


@pytest.mark.parametrize("package", CHECKED)
def test_no_module_of_the_package_is_in_an_import_circle(package: str) -> None:
    graph = _graph()
    in_circles = sorted(
        name
        for name in graph
        if (name == package or name.startswith(package + ".")) and name in _reaches(graph, name)
    )
    assert in_circles == []
