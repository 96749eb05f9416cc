"""The import structure: no import cycle anywhere in the project, imports flow one way, ``import numerics`` is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "numerics", "checks", "paper_figures", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("**/*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (a submodule if it exists, else its package), or None if external."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Edges module -> project modules it imports, counting every import statement (also inside functions: a lazy
    import that closes a loop is still a cycle of the design). A submodule's implicit import of its parent package
    is not an edge (every package has it)."""
    modules = _modules() if modules is None else modules
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule; `from pkg import name` the package's namespace
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                r = _resolve(t, modules)
                if r is not None and r != mod:
                    edges.add(r)
        graph[mod] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*stack[stack.index(n):], n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle_in_the_project():
    modules = _modules()
    graph = import_graph(modules)
    # a package's __init__ importing its own submodules (the public face) is a cycle only if one of them imports a
    # name from the package namespace back
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"numerics.limits": {"numerics.binary_limits"}, "numerics.binary_limits": {"numerics.limits"},
             "numerics.problem": set()}
    assert find_cycle(graph) in (["numerics.limits", "numerics.binary_limits", "numerics.limits"],
                                 ["numerics.binary_limits", "numerics.limits", "numerics.binary_limits"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_a_lazy_import_counts(tmp_path):
    modules = {"pkg": tmp_path / "pkg" / "__init__.py", "pkg.a": tmp_path / "pkg" / "a.py",
               "pkg.b": tmp_path / "pkg" / "b.py"}
    for p in modules.values():
        p.parent.mkdir(exist_ok=True)
    modules["pkg"].write_text("")
    modules["pkg.a"].write_text("from pkg import b\n")
    modules["pkg.b"].write_text("def f():\n    from pkg.a import x\n    return x\n")
    assert find_cycle(import_graph(modules)) is not None


@pytest.mark.parametrize(("low", "high"), [("numerics", "checks"), ("numerics", "paper_figures"),
                                           ("numerics", "theory"), ("theory", "numerics"), ("theory", "checks"),
                                           ("numerics", "benchmarks")])
def test_imports_flow_one_way(low, high):
    graph = import_graph()
    bad = sorted((m, n) for m, ns in graph.items() if m.split(".")[0] == low for n in ns if n.split(".")[0] == high)
    assert not bad, bad


def test_import_numerics_is_light():
    code = ("import sys, numerics; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sympy', 'theory', 'torch', 'jax', 'cupy', 'dask', 'numba', 'zarr', 'matplotlib', 'hypothesis') "
            "or m.startswith('scipy.optimize')); assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
