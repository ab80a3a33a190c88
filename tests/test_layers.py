"""The import contract: every import of the package (top-level, inside functions, under
TYPE_CHECKING) points down the layers, and no two files import each other, directly or
through others.

The table is the layer table of DESIGN.md, with the packages it leaves out (``inference``,
``evaluation``, ``md``, ``quantities``, ``modelio`` = model I/O) placed where the code has
them. A layer may import what it lists and, through them, everything they may import.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "mlip_gnn"

#: base modules every layer may import (they import nothing of ours)
BASE = {"errors", "defaults"}
#: layer → the layers it imports directly
MAY_IMPORT = {
    "utils": set(),
    "data": {"utils"},
    "nn": {"data"},
    "model": {"nn"},
    "modelio": {"model"},
    "quantities": {"data"},
    "config": {"utils"},
    "export": {"modelio"},
    "inference": {"export"},
    "uncertainty": {"inference"},
    "calculators": {"uncertainty"},
    "md": {"calculators"},
    "evaluation": {"calculators", "quantities"},
    "validation": {"calculators", "md"},
    "search": {"calculators", "md"},
    "train": {"config", "modelio", "quantities"},
    "active_learning": {"train", "evaluation", "md", "search"},
    "cli": {"active_learning", "validation", "search"},
    "__main__": {"cli"},
}
#: layers that inference code (exported models, calculators, estimators) consists of:
#: they never load the trainer or the config, not even lazily
INFERENCE = {"nn", "model", "modelio", "export", "inference", "uncertainty", "calculators"}


def _allowed(layer: str) -> set:
    """Every layer ``layer`` may import: its own list, closed downwards."""
    seen, todo = set(), [layer]
    while todo:
        for below in MAY_IMPORT[todo.pop()]:
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen | BASE | {layer}


def _modules() -> dict:
    """Dotted module name → file, for every file of the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module a dotted import name lands in (``pkg.mod.attr`` → ``pkg.mod``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str) -> set:
    """The package's modules that ``module`` imports anywhere in its file."""
    path = MODULES[module]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.startswith("mlip_gnn")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            if not base.startswith("mlip_gnn"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else _resolve(base))
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mlip_gnn"


def test_every_package_has_a_layer():
    layers = {_layer(m) for m in MODULES} - {"mlip_gnn"}
    assert layers <= set(MAY_IMPORT) | BASE, sorted(layers - set(MAY_IMPORT) - BASE)


def test_base_modules_import_nothing_of_ours():
    for name in BASE | {"mlip_gnn"}:
        module = name if name == "mlip_gnn" else f"mlip_gnn.{name}"
        assert GRAPH[module] == set(), module


def test_inference_layers_never_reach_train_or_config():
    for layer in INFERENCE:
        assert not _allowed(layer) & {"train", "config"}, layer


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in MAY_IMPORT))
def test_imports_point_down(module):
    layer = _layer(module)
    allowed = _allowed(layer) | {"mlip_gnn"}
    wrong = sorted(f"{module} imports {target}" for target in GRAPH[module]
                   if _layer(target) not in allowed)
    assert not wrong, wrong


def _cycles(graph: dict) -> list:
    """Strongly connected sets of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_files():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_hidden_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
