"""DESIGN.md's dependency rules, checked on the source: a wrong import fails here, not in a
user's torch-free install.

- engine imports numpy, onnxruntime and the standard library only (never torch, daemon
  or training);
- daemon never imports training at module level (the CLI may, inside a command);
- training imports the engine and torch, never the daemon;
- exported_models imports nothing of ours.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


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


def top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", files("engine"), ids=lambda p: p.name)
def test_engine_imports_numpy_onnxruntime_and_itself(path):
    for module, _ in imports(path):
        allowed = top(module) in STDLIB | {"numpy", "onnxruntime"}
        assert allowed or module.startswith("antiphon.engine"), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", files("daemon"), ids=lambda p: p.name)
def test_daemon_never_imports_training_at_module_level(path):
    for module, at_module_level in imports(path):
        assert top(module) != "torch", f"{path.name} imports torch"
        if module.startswith("antiphon.training"):
            assert not at_module_level, f"{path.name} imports {module} at module level"


@pytest.mark.parametrize("path", files("training"), ids=lambda p: p.name)
def test_training_never_imports_the_daemon(path):
    for module, _ in imports(path):
        assert not module.startswith("antiphon.daemon"), f"{path.name} imports {module}"


def test_exported_models_import_nothing_of_ours():
    for path in files("exported_models"):
        assert all(not m.startswith("antiphon") for m, _ in imports(path)), path.name
