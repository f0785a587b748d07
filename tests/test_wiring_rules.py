"""The wiring rule of docs/ARCHITECTURE.md, checked on the source: an object gets its
collaborators through its constructor (or one method of its own made for the change, such
as `InputGate.retune`), and no code outside the tests sets an attribute of another object
after it is made. The daemon's graph is built in one place (daemon/service/parts.py for the
daemon's own parts, daemon/service/wiring.py for `antiphon run`), so what an object does
depends on what it was given, not on attributes set later from two files away.

An assignment `X.name = ...` (or `X.name += ...`) where X is not the bare `self` or `cls`
is a finding, except:

- a record's field: `name` is a field of one of the project's dataclasses (counters,
  results, reports a function fills in) and no other class of ours keeps an attribute of
  that name (so `gate.thru = ...` is never taken for a record's field);
- an outside library's object: no class of ours has an attribute of that name at all
  (onnxruntime's session options, protobuf messages, Ableton Link's session);
- a module's own private helper (a class named `_Name` in the same file: a walk's cursor,
  a learn in progress), which is that module's state, not another object's;
- what ALLOWED names, each with the reason it stands.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daemon", "engine", "training")

# (file, the assignment's target as written): why it stands. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    ("training/data/music21_import.py", "report.seconds"):
        "an ImportReport (a record) unpacked from a tuple, which the walk does not follow",
}


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _is_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return False


def _targets(node: ast.AST) -> list[ast.expr]:
    """The targets an assignment statement sets, tuples unpacked."""
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return []
    flat: list[ast.expr] = []
    while targets:
        target = targets.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            targets.extend(target.elts)
        else:
            flat.append(target)
    return flat


def _class_named(node: ast.expr | None) -> str | None:
    """The class a value is made by (`Name(...)`, `module.Name(...)`) or an annotation
    names (`Name`, `Name | None`, "Name"), if it says one."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.BinOp):  # X | None
        return _class_named(node.left) or _class_named(node.right)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split("|")[0].strip() or None
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name) and node.id != "None":
        return node.id
    return None


class Project:
    """The project's classes: which are dataclasses (records), the attributes each other
    class keeps, and the classes of the attributes each class holds (`self.x = Name(...)`,
    `self.x: Name`, a dataclass field `x: Name`)."""

    def __init__(self) -> None:
        self.records: set[str] = set()
        self.classes: set[str] = set()
        self.kept: set[str] = set()  # attributes of non-record classes
        self.fields: set[str] = set()  # fields of records
        self.held: dict[tuple[str, str], str] = {}  # (class, attribute) -> its class
        self.private: dict[str, set[str]] = {}  # file -> the `_Name` classes it defines
        for path in sources():
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef):
                    self._read_class(node)
                    if node.name.startswith("_"):
                        self.private.setdefault(relative, set()).add(node.name)

    def _read_class(self, node: ast.ClassDef) -> None:
        self.classes.add(node.name)
        record = _is_dataclass(node)
        if record:
            self.records.add(node.name)
        names = self.fields if record else self.kept
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                names.add(item.target.id)
                self._hold(node.name, item.target.id, _class_named(item.annotation))
            elif isinstance(item, ast.Assign):
                names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        for inner in ast.walk(node):
            for target in _targets(inner):
                if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                        and target.value.id == "self"):
                    names.add(target.attr)
                    made = (_class_named(inner.annotation) if isinstance(inner, ast.AnnAssign)
                            else _class_named(getattr(inner, "value", None)))
                    self._hold(node.name, target.attr, made)

    def _hold(self, owner: str, attribute: str, held: str | None) -> None:
        if held is not None:
            self.held.setdefault((owner, attribute), held)

    def is_record(self, name: str | None) -> bool:
        return name in self.records

    def is_ours(self, name: str | None) -> bool:
        return name in self.classes


def _scopes(tree: ast.Module):
    """(the enclosing class's name or None, a function or the module) for every scope."""
    yield None, tree
    methods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in ast.walk(node):
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    methods.add(id(item))
                    yield node.name, item
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in methods:
            yield None, node


def _own_nodes(scope: ast.AST):
    """The nodes of a scope (the module, or a function) outside the functions and classes
    defined in it (those are scopes of their own)."""
    stack = list(scope.body)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


def _local_classes(scope: ast.AST, owner: str | None, project: Project) -> dict[str, str]:
    """What class each local name holds, where the scope says: `x = Name(...)`,
    `x: Name`, a parameter `x: Name`, `x = self.attr` (the attribute's class)."""
    known: dict[str, str] = {}
    arguments = getattr(scope, "args", None)
    if arguments is not None:
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            if (held := _class_named(argument.annotation)) is not None:
                known[argument.arg] = held
    for node in _own_nodes(scope):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if (held := _class_named(node.annotation)) is not None:
                known.setdefault(node.target.id, held)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            held = _value_class(node.value, owner, project, known)
            if held is not None:
                known.setdefault(node.targets[0].id, held)
    return known


def _value_class(value: ast.expr, owner: str | None, project: Project,
                 known: dict[str, str]) -> str | None:
    """The class of `value`: a call of a class, `self.attr`, a known local name."""
    if isinstance(value, ast.Call):
        return _class_named(value)
    if isinstance(value, ast.Name):
        return known.get(value.id)
    if isinstance(value, ast.Attribute):
        base = value.value
        if isinstance(base, ast.Name) and base.id == "self" and owner is not None:
            return project.held.get((owner, value.attr))
        outer = _value_class(base, owner, project, known)
        if outer is not None:
            return project.held.get((outer, value.attr))
    return None


def findings(extra: dict[str, str] | None = None) -> list[tuple[str, int, str]]:
    """(file, line, target) of every attribute set on another object, less the exceptions
    (module docstring) and ALLOWED; `extra`: more files (name -> source) to look at."""
    project = Project()
    found = set()
    texts = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sources()}
    for relative, text in (texts | (extra or {})).items():
        for owner, scope in _scopes(ast.parse(text, relative)):
            known = _local_classes(scope, owner, project)
            for node in _own_nodes(scope):
                for target in _targets(node):
                    if not isinstance(target, ast.Attribute):
                        continue
                    base = target.value
                    if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                        continue
                    held = _value_class(base, owner, project, known)
                    if project.is_record(held) or held in project.private.get(relative, ()):
                        continue  # a record's field, or the module's own helper's state
                    if held is not None and not project.is_ours(held):
                        continue  # an outside library's object, set as its API says
                    if held is None and target.attr not in project.kept:
                        continue  # a record's field, or an outside library's attribute
                    written = ast.unparse(target)
                    if (relative, written) not in ALLOWED:
                        found.add((relative, node.lineno, written))
    return sorted(found)


def test_no_attribute_of_another_object_is_set_after_it_is_made():
    found = findings()
    assert not found, "attributes set from outside the object (pass them to its constructor):\n" \
        + "\n".join(f"  {path}:{line}: {written} = ..." for path, line, written in found)


def test_every_allowed_assignment_is_still_there():
    """An entry of ALLOWED whose assignment went away goes too (the list only shrinks)."""
    present = set()
    for path in sources():
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            present.update((relative, ast.unparse(target)) for target in _targets(node)
                           if isinstance(target, ast.Attribute))
    assert set(ALLOWED) <= present, sorted(set(ALLOWED) - present)


WIRED_LATE = """
from antiphon.daemon.midi.input_gate import InputGate


def wire(inbox, daemon, knobs):
    gate = InputGate(inbox, range(1, 17))
    gate.thru = print  # a collaborator set from outside
    gate.stats.received += 1  # a record's field
    daemon.gate.controls = knobs  # through a chain, the class unknown: by the name
    options = SessionOptions()
    options.intra_op_num_threads = 1  # an outside library's object
"""


def test_the_rule_finds_a_collaborator_set_from_outside():
    """The walk itself: `gate.thru = ...` from outside is found, a record's field, an outside
    library's attribute and the object's own attribute are not."""
    found = [(line, written) for path, line, written in findings({"wired.py": WIRED_LATE})
             if path == "wired.py"]
    assert found == [(7, "gate.thru"), (9, "daemon.gate.controls")]
    project = Project()
    assert {"thru", "echo_guard", "clock_out", "controls"} <= project.kept
    assert project.is_record("GateStats") and not project.is_record("InputGate")
    assert project.held[("InputGate", "stats")] == "GateStats"
    assert "intra_op_num_threads" not in project.kept | project.fields  # onnxruntime's
