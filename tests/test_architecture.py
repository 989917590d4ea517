"""The shape of the code: no import cycles, no import from a lower layer to a higher one, and no hidden
imports of our own modules inside functions.

Layers, top to bottom: `ui` (web app and command line) -> `assistant` (the agent) -> `tools` (the stages)
-> the leaves (`tools.paths`, `tools.store`, `tools.vocab`, `tools._cli`, `prompts`). A module may import
its own layer or any layer below it. Function-level imports are kept for heavy third-party packages
(torch, transformers, vLLM...) so the app starts fast; for our own modules they only hide the graph.

    python tests/test_architecture.py     # prints the figures (cycles, upward edges, local imports, sizes)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ui", "assistant", "tools", "prompts")
LEAVES = {"tools.paths", "tools.store", "tools.vocab", "tools._cli", "prompts"}
LAYER = {"ui": 3, "assistant": 2, "tools": 1}
# The one deliberate lazy import of our own code: the web app's modules import Gradio (seconds) at their top,
# and the command line loads them only for `finetune-assistant ui`, so `data inspect` and `--help` stay fast.
GRADIO_FACADES = {("ui.cli", "ui.app"), ("ui.cli", "ui.services")}


def layer(module: str) -> int:
    if module in LEAVES or any(module.startswith(leaf + ".") for leaf in LEAVES):
        return 0
    return LAYER[module.split(".")[0]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, set[str]] = field(default_factory=dict)
    local_imports: list[str] = field(default_factory=list)  # "module:line -> target"

    def resolve(self, name: str) -> str | None:
        """The project module an import names (the longest known prefix), or None for third-party."""
        while name:
            if name in self.modules:
                return name
            name = name.rpartition(".")[0]
        return None


def _targets(node: ast.AST, current: str, graph: Graph) -> list[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative import
            package = current.split(".")[: len(current.split(".")) - node.level + (current in _packages(graph))]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        # `from pkg import name`: name is a submodule or an attribute of pkg.
        names = [n if n in graph.modules else base for n in names]
    return [t for t in (graph.resolve(n) for n in names) if t and t.split(".")[0] in PACKAGES]


def _packages(graph: Graph) -> set[str]:
    return {m for m, p in graph.modules.items() if p.name == "__init__.py"}


def build_graph() -> Graph:
    graph = Graph()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            graph.modules[module_name(path)] = path
    for name, path in graph.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph.edges[name] = set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, name, graph):
                if target != name:
                    graph.edges[name].add(target)
                if node.col_offset > 0 and not _under_type_checking(tree, node) and (name, target) not in GRADIO_FACADES:
                    graph.local_imports.append(f"{name}:{node.lineno} -> {target}")
    return graph


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            if any(child is node for child in ast.walk(stmt)):
                return True
    return False


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph.edges):
        if v not in index:
            visit(v)
    return found


def upward_edges(graph: Graph) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.edges.items() for b in targets if layer(b) > layer(a))


def largest(graph: Graph) -> tuple[tuple[int, str], tuple[int, str]]:
    modules, functions = [], []
    for name, path in graph.modules.items():
        text = path.read_text(encoding="utf-8")
        modules.append((len(text.splitlines()), name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
    return max(modules), max(functions)


def test_layers_are_known():
    # A new top-level package must be placed in a layer before it can be checked.
    graph = build_graph()
    assert graph.modules, "no modules found: is ROOT right?"
    assert {m.split(".")[0] for m in graph.modules} <= set(PACKAGES)


def test_no_import_cycles():
    assert cycles(build_graph()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    assert upward_edges(build_graph()) == []


def test_no_function_level_imports_of_our_own_modules():
    assert build_graph().local_imports == []


def test_the_checks_catch_what_they_claim():
    # The checks themselves on a made-up graph: a two-module loop and a tools -> assistant edge.
    graph = Graph(edges={"tools.a": {"tools.b"}, "tools.b": {"tools.a", "assistant.x"}, "assistant.x": set()})
    assert cycles(graph) == [["tools.a", "tools.b"]]
    assert upward_edges(graph) == ["tools.b -> assistant.x"]


if __name__ == "__main__":
    g = build_graph()
    (mod_lines, mod), (fn_lines, fn) = largest(g)
    print(f"modules: {len(g.modules)}, import edges: {sum(map(len, g.edges.values()))}")
    print(f"cycles: {len(cycles(g))} {cycles(g)}")
    print(f"upward imports: {len(upward_edges(g))} {upward_edges(g)}")
    print(f"function-level imports of own modules: {len(g.local_imports)}")
    print(f"largest module: {mod} ({mod_lines} lines); largest function: {fn} ({fn_lines} lines)")
