"""The package's layout: no module of digest/ imports one that imports it back, directly or
through others. Every import statement counts (top-level, inside functions, under
TYPE_CHECKING), read with ast from the source files, so no module list needs keeping."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import digest

PACKAGE = Path(digest.__file__).resolve().parent


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name; a package is named by its __init__.py."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names one module imports: `import a.b` gives a.b, `from a import b`
    gives a.b (a submodule, or a name defined in a); relative imports are resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """For each module of the package, the modules of the package it imports."""
    modules = module_files(package)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    """One circle as the imports that close it, e.g. `a -> b, b -> a`."""
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return ", ".join(edges)


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("import os\n")
    (package / "high.py").write_text("def later():\n    from pkg.sub import inner\n")
    (package / "sub" / "__init__.py").write_text("from . import inner\n")
    (package / "sub" / "inner.py").write_text("from ..low import thing\nimport pkg.high\n")
    graph = import_graph(package)
    assert graph == {
        "pkg": set(),
        "pkg.high": {"pkg.sub.inner"},
        "pkg.low": set(),
        "pkg.sub": {"pkg.sub.inner"},
        "pkg.sub.inner": {"pkg.low", "pkg.high"},
    }
    assert cycles(graph) == [["pkg.high", "pkg.sub.inner"]]


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    assert len(graph) > 10
    circles = [describe(component, graph) for component in cycles(graph)]
    assert not circles, "import circles in digest/:\n" + "\n".join(circles)
