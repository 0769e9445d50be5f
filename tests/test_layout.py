"""Issue 21: the package's shape stays reviewable. No import cycles between modules, no module importing
one of a higher layer, and no function longer than 60 lines (checked on the source, not by convention)."""

from __future__ import annotations

import ast
from pathlib import Path

import evalkit

ROOT = Path(evalkit.__file__).parent
MAX_LINES = 60
# Lower layers never import higher ones (a module may import its own layer and below). The sandbox's
# out-of-process scripts are not part of the harness's import graph.
LAYERS = [
    {"types", "hub", "shard"},
    {"config", "store", "environment", "determinism", "cost"},
    {"adapters", "scoring", "samplers", "verify", "analysis", "prompts", "models", "samples_file", "formats", "checkpoints", "tiny_model",
     "tiny_think", "thinking"},
    {"pipeline", "base_tests", "forcing"},
    {"reports", "distributed", "sweep", "watch", "reproduce", "budgets"},
    {"api", "cli", "interrupts", "__main__", "__init__"},
]


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        if "procs" in rel.parts or "sandboxed" in rel.parts:
            continue
        name = ".".join(("evalkit", *rel.parts))
        out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            while c and c not in known:
                c = c.rpartition(".")[0]
            if c and c != name and c.startswith("evalkit"):
                found.add(c)
    return found


def layer(name: str) -> int:
    top = name.split(".")[1] if "." in name else "__init__"
    return next(i for i, group in enumerate(LAYERS) if top in group)


def test_no_module_imports_a_higher_layer() -> None:
    mods = modules()
    bad = [f"{a} -> {b}" for a, p in mods.items() for b in imports_of(a, p, set(mods)) if "." in a and "." in b and layer(b) > layer(a)]
    assert not bad, bad


def test_no_import_cycles() -> None:
    mods = modules()
    graph = {a: {b for b in imports_of(a, p, set(mods)) if not a.startswith(b + ".")} for a, p in mods.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_function_over_60_lines() -> None:
    long = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long

