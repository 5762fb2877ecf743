"""The package import graph of the project, read from the source with ``ast`` (nothing is imported).

``python -m tests.architecture`` prints who imports whom, with counts (module-level and inside functions), and the
file-level import cycles. tests/unit/test_architecture.py uses the same reader to keep the import direction one-way.
"""
from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "access", "app", "layers", "styles", "mapserver", "emergency", "supervision", "data")


@dataclass(frozen=True)
class Import:
    source: str        # dotted module that imports
    target: str        # dotted module imported
    in_function: bool  # a deferred import inside a function body
    line: int
    type_only: bool = False  # under ``if TYPE_CHECKING:``: for annotations, never run

    @property
    def source_package(self) -> str:
        return self.source.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(packages: tuple[str, ...] = PACKAGES) -> Iterator[Path]:
    for package in packages:
        base = ROOT / package
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*.py") if "vendor" not in p.parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool = False) -> None:
        for child in ast.iter_child_nodes(node):
            deferred = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            typing_block = type_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, in_function, child.lineno, type_only) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child, path.name == "__init__.py")
                for alias in child.names:
                    # "from pkg import submodule" imports pkg.submodule; "from mod import name" imports mod
                    candidate = f"{target}.{alias.name}"
                    is_module = (ROOT / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                        (ROOT / candidate.replace(".", "/") / "__init__.py").exists()
                    found.append(Import(module, candidate if is_module else target, in_function, child.lineno,
                                        type_only))
            visit(child, deferred, typing_block)

    visit(tree, False)
    return [i for i in found if i.target_package in PACKAGES]


def all_imports(packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    return [i for path in source_files(packages) for i in imports_of(path)]


def package_graph(imports: list[Import]) -> Counter[tuple[str, str, bool]]:
    return Counter((i.source_package, i.target_package, i.in_function) for i in imports
                   if i.source_package != i.target_package)


def module_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components (size > 1) of the module-level import graph (type-only imports run never)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if not i.in_function and not i.type_only and i.source != i.target:
            graph.setdefault(i.source, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
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

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strongconnect(v)
    return found


def main() -> None:
    imports = all_imports()
    graph = package_graph(imports)
    pairs = sorted({(s, t) for s, t, _ in graph})
    print(f"{'from':<12}{'to':<12}{'top':>5}{'in fn':>7}")
    for s, t in pairs:
        print(f"{s:<12}{t:<12}{graph[(s, t, False)]:>5}{graph[(s, t, True)]:>7}")
    print(f"total {sum(graph.values())} cross-package imports, {sum(v for k, v in graph.items() if k[2])} inside functions")
    for cycle in module_cycles(imports):
        print("cycle:", " <-> ".join(cycle))


if __name__ == "__main__":
    main()
