"""The dependency rules of docs/ARCHITECTURE.md ('Dependency rules'), checked on the source:
a wrong import fails here, not in a user's torch-free install.

- engine imports numpy, onnxruntime and the standard library only (never torch, daemon
  or training);
- the daemon's rooms point one way: midi <- play <- config <- record <- control <- service
  <- cli /
  bench (the MIDI edge knows nothing of the musical loop, the loop nothing of the
  configuration, the configuration nothing of who steers the daemon, remote control
  nothing of the lifecycle, the service nothing of the command line); nothing in the
  daemon imports torch, or training at module level;
- aalink (Ableton Link, network traffic) is imported only inside a function, when asked for;
- training imports the engine and torch, never the daemon; data/ imports no other training
  room, families/ only data/ (a model is a model, not a pipeline or a command);
- exported_models imports nothing of ours.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# Each room and the rooms of its own package it must never import.
DAEMON_FORBIDDEN = {
    "midi": ("play", "config", "record", "control", "service", "cli", "bench"),
    "play": ("config", "record", "control", "service", "cli", "bench"),
    "config": ("record", "control", "service", "cli", "bench"),
    "record": ("control", "service", "cli", "bench"),
    "control": ("service", "cli", "bench"),
    "service": ("cli", "bench"),
    "bench": ("cli",),
    "cli": (),
}
TRAINING_FORBIDDEN = {
    "data": ("families", "fit", "evaluation", "export", "commands", "bridge"),
    "families": ("fit", "evaluation", "export", "commands", "bridge"),
    "fit": ("commands", "bridge"),
    "evaluation": ("commands", "bridge"),
}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether at module level) for every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def label(path: Path) -> str:
    return str(path.relative_to(ROOT))


def top(module: str) -> str:
    return module.split(".")[0]


def room_cases(package: str, forbidden: dict[str, tuple[str, ...]]):
    return [
        pytest.param(path, room, id=label(path))
        for room in forbidden
        for path in files(f"{package}/{room}")
    ]


@pytest.mark.parametrize("path", files("engine"), ids=label)
def test_engine_imports_numpy_onnxruntime_and_itself(path):
    for module, _ in imports(path):
        allowed = top(module) in STDLIB | {"numpy", "onnxruntime"}
        assert allowed or module.startswith("antiphon.engine"), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", files("daemon"), ids=label)
def test_daemon_never_imports_torch_or_training_at_module_level(path):
    for module, at_module_level in imports(path):
        assert top(module) != "torch", f"{label(path)} imports torch"
        if module.startswith("antiphon.training"):
            assert not at_module_level, f"{label(path)} imports {module} at module level"


@pytest.mark.parametrize("path", files("daemon"), ids=label)
def test_aalink_is_imported_only_when_link_is_asked_for(path):
    """Link's discovery is network traffic: its library loads only with --clock link."""
    assert ("aalink", True) not in imports(path), f"{label(path)} imports aalink at module level"


@pytest.mark.parametrize(("path", "room"), room_cases("daemon", DAEMON_FORBIDDEN))
def test_daemon_rooms_point_one_way(path, room):
    for module, _ in imports(path):
        for other in DAEMON_FORBIDDEN[room]:
            assert not module.startswith(f"antiphon.daemon.{other}"), (
                f"{label(path)} ({room}) imports {module}"
            )


def test_every_daemon_module_lives_in_a_room():
    loose = [p.name for p in (ROOT / "daemon").glob("*.py")]
    assert sorted(loose) == ["__init__.py", "__main__.py"]
    rooms = {p.name for p in (ROOT / "daemon").iterdir() if (p / "__init__.py").exists()}
    assert rooms == set(DAEMON_FORBIDDEN)


@pytest.mark.parametrize("path", files("training"), ids=label)
def test_training_never_imports_the_daemon(path):
    for module, _ in imports(path):
        assert not module.startswith("antiphon.daemon"), f"{label(path)} imports {module}"


@pytest.mark.parametrize(("path", "room"), room_cases("training", TRAINING_FORBIDDEN))
def test_training_rooms_point_one_way(path, room):
    for module, _ in imports(path):
        for other in TRAINING_FORBIDDEN[room]:
            assert not module.startswith(f"antiphon.training.{other}"), (
                f"{label(path)} ({room}) imports {module}"
            )


def test_exported_models_import_nothing_of_ours():
    for path in files("exported_models"):
        assert all(not m.startswith("antiphon") for m, _ in imports(path)), path.name


@pytest.mark.parametrize("package", ["engine", "daemon", "training", "exported_models"])
def test_every_package_says_what_it_holds(package):
    for init in (ROOT / package).rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{label(init)} has no docstring saying what it is"


def test_no_source_file_is_over_400_lines():
    long = [
        f"{label(p)} ({n})"
        for package in ("engine", "daemon", "training")
        for p in files(package)
        if (n := len(p.read_text().splitlines())) > 400
    ]
    assert not long, long
