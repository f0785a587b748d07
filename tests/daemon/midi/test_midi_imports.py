"""The MIDI room's modules import one another one way: no cycle, counting the imports inside
functions and under `if TYPE_CHECKING` (a cycle hidden in a function is a cycle still: the
two modules cannot be read, or changed, one without the other)."""

from __future__ import annotations

import ast
from pathlib import Path

import antiphon.daemon.midi as midi

ROOM = Path(midi.__file__).parent
PACKAGE = "antiphon.daemon.midi"


def imports_of(path: Path) -> set[str]:
    """The MIDI room's modules `path` imports, at any level of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= {name for name in named if (ROOM / f"{name.rsplit('.', 1)[1]}.py")
                      .exists()} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(PACKAGE)}
    return {name.removeprefix(f"{PACKAGE}.") for name in found if name != PACKAGE}


def test_no_module_of_the_midi_room_imports_itself_back():
    graph = {path.stem: imports_of(path) for path in ROOM.glob("*.py")}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                cycles.append(path[path.index(imported):] + [imported])
            elif imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [module])
    assert cycles == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def later():\n    from antiphon.daemon.midi.edge import MidiEdge\n")
    assert imports_of(module) == {"edge"}
