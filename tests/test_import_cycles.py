"""No import cycles anywhere in Antiphon (docs/ARCHITECTURE.md, 'Dependency rules'),
counting the imports made inside functions and under `if TYPE_CHECKING`: a cycle hidden
in a function is a cycle still, since neither module can be read, or changed, without
the other. A module that needs part of another which needs it back has that part moved
into a lower module (for example daemon/config/config_checks.py, daemon/midi/edge_choice.py,
training/data/event_tables.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each folder and the package it installs as (pyproject.toml, [tool.setuptools.package-dir]).
PACKAGES = {"engine": "antiphon.engine", "daemon": "antiphon.daemon",
            "training": "antiphon.training", "exported_models": "antiphon.exported_models",
            "daemon/cli/entry": "antiphon"}


def module_name(path: Path) -> str:
    """The dotted name a source file is imported by (the most specific folder mapping)."""
    folder = max((folder for folder in PACKAGES if path.is_relative_to(ROOT / folder)),
                 key=len)
    parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGES[folder], *parts])


def imported_by(path: Path, known: set[str]) -> set[str]:
    """The known modules a file imports, at any level of the file: `from P import M`
    imports module P.M where there is one, else P (whose name M comes from)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}"
                          if f"{node.module}.{alias.name}" in known else node.module)
    return found & known


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path
             for folder in ("engine", "daemon", "training", "exported_models")
             for path in (ROOT / folder).rglob("*.py")}
    known = set(paths)
    return {name: imported_by(path, known) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
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


def test_the_finder_sees_a_cycle_and_its_members_only():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_an_import_inside_a_function_counts(tmp_path):
    late = tmp_path / "late.py"
    late.write_text("def later():\n    from antiphon.daemon.midi.edge import MidiEdge\n")
    known = {"antiphon.daemon.midi.edge", "antiphon.daemon.midi"}
    assert imported_by(late, known) == {"antiphon.daemon.midi.edge"}


def test_the_entry_package_is_named_as_it_installs():
    assert module_name(ROOT / "daemon/cli/entry/console.py") == "antiphon.console"
    assert module_name(ROOT / "daemon/play/clock.py") == "antiphon.daemon.play.clock"


def test_no_import_cycle_in_any_package():
    graph = import_graph()
    assert "antiphon.daemon.play.clock" in graph["antiphon.daemon.play.midi_clock"]
    assert cycles(graph) == []
