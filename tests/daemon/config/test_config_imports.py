"""The configuration's modules import one another one way: no cycle, counting the imports
inside functions and under `if TYPE_CHECKING` (a cycle hidden in a function is a cycle
still: the two modules cannot be read, or changed, one without the other). The table of
options is at the bottom; DaemonConfig, which checks the CC map, above what that check
needs."""

from __future__ import annotations

import ast
from pathlib import Path

import antiphon.daemon.config as config

ROOM = Path(config.__file__).parent
PACKAGE = "antiphon.daemon.config"


def imports_of(path: Path) -> set[str]:
    """The configuration's modules `path` imports, at any level of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= {name for name in named if (ROOM / f"{name.rsplit('.', 1)[1]}.py")
                      .exists()} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(PACKAGE)}
    return {name.removeprefix(f"{PACKAGE}.") for name in found if name != PACKAGE}


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                cycles.append(path[path.index(imported):] + [imported])
            elif imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])
    return cycles


def test_no_module_of_the_configuration_imports_itself_back():
    assert cycles_in({path.stem: imports_of(path) for path in ROOM.glob("*.py")}) == []


def test_the_table_of_options_imports_no_other_module_of_the_room():
    assert imports_of(ROOM / "config_fields.py") == set()


def test_the_check_sees_a_cycle_through_an_import_inside_a_function(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def later():\n    from antiphon.daemon.config.cc_map import Knob\n")
    assert imports_of(module) == {"cc_map"}
    assert cycles_in({"daemon_config": {"cc_map"}, "cc_map": {"daemon_config"}}) == [
        ["cc_map", "daemon_config", "cc_map"]]
