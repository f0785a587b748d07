"""No import cycle inside training/, counting the imports made inside functions: a module
that needs part of another which needs it back has that part moved into a lower module
(data/event_tables.py, data/workers.py, data/rolls.py, evaluation/note_density.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
PACKAGE = "antiphon.training"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TRAINING).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def import_graph() -> dict[str, set[str]]:
    """Each training module -> the training modules it imports, at any level."""
    modules = {module_name(path): path for path in TRAINING.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import module` imports the module; else the named one
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
                imported.add(node.module)
        graph[name] = {module for module in imported if module in modules} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_training_has_no_import_cycle():
    graph = import_graph()
    assert "antiphon.training.data.event_tables" in graph["antiphon.training.data.corpus"]
    assert cycles(graph) == []
