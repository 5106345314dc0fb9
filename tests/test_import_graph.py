"""The packages import each other without circles, counting every import statement.

A circle that works today (an import under TYPE_CHECKING, or one inside a function) still
ties two modules together: neither can be understood, tested or moved alone, and the
next top-level import between them breaks startup. So the graph is built from the source
(ast), with every `import` and `from ... import` wherever it stands, and must be acyclic.

Run as a script to print the graph's cycles: `python -m tests.test_import_graph`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("yamlgraph", "yamlgraph_django")


def module_name(path: Path) -> str:
    """`yamlgraph_django/services/stores.py` -> `yamlgraph_django.services.stores`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the packages (migrations included), by dotted name."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Dotted names each import in `path` asks for, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            for alias in node.names:  # `from pkg import module` imports pkg.module
                yield f"{base}.{alias.name}"


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` loads (the longest project prefix), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (importing `a.b.c` also runs `a` and `a.b`)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for name in imported_names(module, path):
            target = resolve(name, modules)
            if target is None:
                continue
            for parent in parents(target):
                if parent != module and not module.startswith(parent + "."):
                    graph[module].add(parent)
    return graph


def parents(module: str) -> Iterable[str]:
    """`a.b.c` -> `a`, `a.b`, `a.b.c`: the modules Python runs to import it."""
    parts = module.split(".")
    return (".".join(parts[:count]) for count in range(1, len(parts) + 1))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete circle through `component`'s first module, for the error message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def describe(graph: dict[str, set[str]]) -> list[str]:
    return [" -> ".join(cycle_path(graph, component)) for component in cycles(graph)]


def test_the_graph_builder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycles(graph) == [["a", "b", "c"]]
    assert describe(graph) == ["a -> b -> c -> a"]


def test_the_graph_sees_type_checking_and_function_level_imports():
    graph = import_graph()

    # services.stores imports GraphConfig under TYPE_CHECKING only, and get_app
    # imports compile_graph inside the function.
    assert "yamlgraph.config" in graph["yamlgraph_django.services.stores"]
    assert "yamlgraph.graph_loader" in graph["yamlgraph_django.services.stores"]


def test_no_module_imports_itself_through_others():
    graph = import_graph()

    assert describe(graph) == []


if __name__ == "__main__":
    found = describe(import_graph())
    print("\n".join(found) or "no import cycles")
    sys.exit(1 if found else 0)
