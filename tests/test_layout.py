"""The package layout keeps its promises (../shared/STYLE.md): features do not import each other
in a cycle, their inner modules never import the doors (endpoints, tasks, the app), HTTP modules
are `endpoints.py`, and "router" names one thing, the outbox dispatcher."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import control_tower

ROOT = Path(control_tower.__file__).parent
# The doors and the composition root: they may import any feature.
OUTER_MODULES = {"endpoints.py", "tasks.py", "dependencies.py"}
OUTER_PACKAGES = {
    "app",
    "context",
    "cli",
    "web",
    "docs_export",
    "background",
    "migrate",
    "openapi",
    "api_docs",
}


def imports() -> dict[str, dict[str, list[str]]]:
    """For each inner module's package, the packages it imports, with where."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        package = parts[0].removesuffix(".py")
        if package in OUTER_PACKAGES | {"migrations"} or parts[-1] in OUTER_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "control_tower."
            ):
                module = str(node.module).split(".")
                if module[1] != package:
                    graph[package][module[1]].append(f"{'/'.join(parts)} imports {node.module}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for target in graph.get(node, {}):
            if target == path[0]:
                found.append([*path, target])
            elif target not in path and target > path[0]:
                walk(target, [*path, target])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_no_import_cycle_between_features() -> None:
    assert cycles(imports()) == []


def test_inner_modules_never_import_the_doors() -> None:
    wrong = [
        where
        for targets in imports().values()
        for target, places in targets.items()
        for where in places
        if target in OUTER_PACKAGES or where.rsplit(".", 1)[-1] + ".py" in OUTER_MODULES
    ]
    assert wrong == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}, "d": {"a": ["w"]}}
    assert cycles(graph) == [["a", "b", "c", "a"]]  # type: ignore[arg-type]


def test_http_modules_are_endpoints_and_router_means_the_dispatcher() -> None:
    named_router = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*router*.py"))
    assert named_router == ["routing/router.py"]
    declaring = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if "APIRouter(" in path.read_text() and "web/pages" not in str(path)
    )
    assert all(name.endswith("endpoints.py") for name in declaring), declaring
