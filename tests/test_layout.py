"""The house rules of the package layout: imports run one way, through every import statement.

A room (module or subpackage) may import only rooms of a lower layer, or modules of its own
subpackage. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "glassmm"

#: units -> geometry -> potentials -> systems -> simulation -> analysis / models -> training -> workflows / studies -> cli
LAYERS: list[list[str]] = [
    ["_lazy", "_version", "units"],
    ["geometry"],
    ["platforms"],
    ["potentials"],
    ["systems"],
    ["io"],
    ["trajectory"],
    ["simulation"],
    ["minimize", "cage"],
    ["isoconf", "graph", "structures"],
    ["analysis", "models"],
    ["backends", "torchforce", "dataset", "reference"],
    ["training", "reporters", "sampling"],
    ["studies", "workflows", "testing"],
    ["cli"],
]
RANK = {room: k for k, rooms in enumerate(LAYERS) for room in rooms}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """glassmm modules that ``name`` imports (resolved to the longest existing module)."""
    out = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
            # ``from pkg import name`` depends on pkg itself only when name is not a submodule
            if not all(t in mods for t in targets):
                targets.append(base)
        for t in targets:
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t.startswith("glassmm") and t != name:
                out.add(t)
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_room_has_a_layer():
    rooms = {_room(m) for m in _modules() if m != "glassmm"}
    assert rooms <= set(RANK), f"rooms without a layer in LAYERS: {sorted(rooms - set(RANK))}"


def test_imports_run_one_way():
    mods = _modules()
    bad = []
    for name, path in mods.items():
        if name == "glassmm":  # the flat, lazy public namespace re-exports everything
            continue
        room = _room(name)
        for dep in _imports(name, path, mods):
            if dep == "glassmm":
                bad.append(f"{name} imports the top-level package (import the room itself)")
                continue
            dep_room = _room(dep)
            if dep_room == room:
                continue
            if RANK[dep_room] >= RANK[room]:
                bad.append(f"{name} (layer {RANK[room]}) imports {dep} (layer {RANK[dep_room]})")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_lazy_imports(tmp_path):
    """The rule above would be empty if imports inside functions were missed."""
    mods = _modules()
    deps = _imports("glassmm.cli", mods["glassmm.cli"], mods) if "glassmm.cli" in mods else set()
    for sub in (m for m in mods if m.startswith("glassmm.cli.")):
        deps |= _imports(sub, mods[sub], mods)
    # the command line reaches the workflows only through imports inside its command functions
    assert "glassmm.workflows" in deps
