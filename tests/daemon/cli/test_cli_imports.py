"""The command line's modules import one another one way, the entry point included
(`antiphon.console`): no cycle, counting the imports inside functions. app.py registers
the commands; what commands share (options, consoles, exit statuses, offline answers)
lives in modules that import no command, so no command reaches back to the app."""

from __future__ import annotations

import ast
from pathlib import Path

import antiphon.daemon.cli as cli

ROOM = Path(cli.__file__).parent
PACKAGE = "antiphon.daemon.cli"
ENTRY = "antiphon"  # the entry point's package: daemon/cli/entry


def module_name(imported: str) -> str | None:
    """The CLI module an import names ("app", "entry.console"), or None for another."""
    if imported.startswith(f"{PACKAGE}."):
        name = imported.removeprefix(f"{PACKAGE}.")
        return name if (ROOM / f"{name.replace('.', '/')}.py").exists() else None
    if imported.startswith(f"{ENTRY}.") and imported.count(".") == 1:
        name = f"entry.{imported.removeprefix(f'{ENTRY}.')}"
        return name if (ROOM / f"{name.replace('.', '/')}.py").exists() else None
    return None


def imports_of(path: Path) -> set[str]:
    """The CLI modules `path` imports, at any level of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [module_name(f"{node.module}.{alias.name}") for alias in node.names]
            found |= {name for name in names if name} or {module_name(node.module)}
        elif isinstance(node, ast.Import):
            found |= {module_name(alias.name) for alias in node.names}
    return found - {None}


def cli_graph() -> dict[str, set[str]]:
    return {str(path.relative_to(ROOM).with_suffix("")).replace("/", "."): imports_of(path)
            for path in ROOM.rglob("*.py")}


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


def test_no_module_of_the_command_line_imports_itself_back():
    assert cycles_in(cli_graph()) == []


def test_only_the_entry_point_imports_the_app():
    graph = cli_graph()
    assert sorted(name for name, imported in graph.items() if "app" in imported) == [
        "entry.console"]


def test_the_check_sees_the_entry_point_and_imports_inside_functions(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("from antiphon.console import main\n"
                      "def later():\n    from antiphon.daemon.cli.app import app\n")
    assert imports_of(module) == {"entry.console", "app"}
