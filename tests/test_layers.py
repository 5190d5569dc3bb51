"""The layers of the design are checked: every import under `src/phip` (at module level, inside
a function, or under `TYPE_CHECKING`: each is a dependency) points down the layer table below
or stays in its layer, the tools are imported only by the command line and the benchmarks, and
no modules, and no packages, import each other in a circle.

The table is the one place the layers are written down; a new package adds its row here.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: the layer of each package (longest prefix wins): an import may point from a layer to a
#: lower one or within its own, never up
LAYERS: dict[str, int] = {
    # leaves anyone may import
    "phip": 0,  # the package itself (`__version__`) only, not a prefix of the others
    "phip.settings": 0,
    # 1: pure code and packaged data
    "phip.standards": 1,
    # 2: the platform
    "phip.store": 2,
    "phip.orgunits": 2,
    "phip.engines": 2,
    "phip.fhir": 2,
    "phip.security": 2,
    "phip.workflow": 2,
    # 3: the domains (each other's public API, never in a circle)
    "phip.exchange": 3,
    "phip.identity": 3,
    "phip.quality": 3,
    "phip.lake": 3,
    "phip.analytics": 3,
    "phip.services": 3,
    "phip.care": 3,
    "phip.surveillance": 3,
    # 4: the faces, and the Alembic environment: a script Alembic runs that no module imports,
    # where every package's models are registered for the migrations
    "phip.web": 4,
    "phip.cli": 4,
    "phip.store.migrations": 4,
}
#: tools beside the layers: they may import anything, and only these import them
TOOLS = ("phip.synth", "phip.bench")
TOOL_USERS = ("phip.cli", "phip.bench", "phip.synth")

Edge = tuple[str, str, int]  # importer, imported, line


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in sorted((SRC / "phip").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module `name` loads (a name inside a module resolves to that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "phip" or alias.name.startswith("phip."):
                    target = _resolve(alias.name)
                    if target:
                        yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source != "phip" and not source.startswith("phip."):
                continue
            for alias in node.names:
                # `from phip.store import protect` imports the module phip.store.protect
                target = _resolve(f"{source}.{alias.name}") if f"{source}.{alias.name}" in MODULES else None
                target = target or _resolve(source)
                if target:
                    yield target, node.lineno


def _edges() -> list[Edge]:
    return sorted(
        {(m, t, line) for m, p in MODULES.items() for t, line in _imports(m, p) if t != m},
    )


EDGES = _edges()


def _row(module: str) -> str:
    """The table's row for `module`: the longest package prefix (the root only by itself)."""
    if module == "phip":
        return "phip"
    found = [k for k in (*LAYERS, *TOOLS) if k != "phip" and (module == k or module.startswith(k + "."))]
    if not found:
        raise AssertionError(f"{module} is in no row of the layer table in {Path(__file__).name}")
    return max(found, key=len)


def _package(module: str) -> str:
    """The top-level package under phip a module belongs to (`phip.store.db` → `phip.store`)."""
    return ".".join(module.split(".")[:2])


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One circle through the component's first node: a path back to where it starts."""
    members = set(comp)
    start = comp[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError("a component without a circle")  # pragma: no cover


def _lines(edges: list[Edge]) -> dict[tuple[str, str], int]:
    return {(a, b): line for a, b, line in reversed(edges)}


def test_every_module_is_in_the_table() -> None:
    missing = sorted(
        {
            m
            for m in MODULES
            if m != "phip"
            and not any(m == k or m.startswith(k + ".") for k in (*LAYERS, *TOOLS) if k != "phip")
        }
    )
    assert not missing, f"modules in no row of the layer table: {missing}"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for importer, imported, line in EDGES:
        a, b = _row(importer), _row(imported)
        if b in TOOLS:
            if not any(importer == u or importer.startswith(u + ".") for u in TOOL_USERS):
                wrong.append(f"{importer}:{line} imports the tool {imported}")
            continue
        if a in TOOLS:
            continue
        if LAYERS[b] > LAYERS[a]:
            wrong.append(
                f"{importer}:{line} (layer {LAYERS[a]}, {a}) imports {imported} (layer {LAYERS[b]}, {b})"
            )
    assert not wrong, "imports that point up the layers:\n" + "\n".join(wrong)


def _report(graph: dict[str, set[str]], lines: dict[tuple[str, str], int], what: str) -> list[str]:
    out = []
    for comp in _sccs(graph):
        chain = _cycle(graph, comp)
        steps = " -> ".join(
            f"{a} (line {lines[(a, b)]})" if (a, b) in lines else a for a, b in itertools.pairwise(chain)
        )
        out.append(f"{what} in a circle {comp}: {steps} -> {chain[-1]}")
    return out


def test_no_module_imports_itself_through_others() -> None:
    graph: dict[str, set[str]] = {}
    for a, b, _line in EDGES:
        graph.setdefault(a, set()).add(b)
    circles = _report(graph, _lines(EDGES), "modules")
    assert not circles, "\n".join(circles)


def test_no_packages_import_each_other_in_a_circle() -> None:
    """Between the top-level packages (the domains above all: they may use each other's public
    API, never in a circle); each step names one import that makes it."""
    graph: dict[str, set[str]] = {}
    witness: dict[tuple[str, str], str] = {}
    for a, b, line in EDGES:
        pa, pb = _package(a), _package(b)
        if pa != pb and _row(a) not in TOOLS and _row(a) != "phip.store.migrations":
            graph.setdefault(pa, set()).add(pb)
            witness.setdefault((pa, pb), f"{a}:{line} imports {b}")
    circles = []
    for comp in _sccs(graph):
        chain = _cycle(graph, comp)
        steps = "; ".join(witness[(x, y)] for x, y in itertools.pairwise(chain))
        circles.append(f"packages in a circle {comp}, among them {' -> '.join(chain)}: {steps}")
    assert not circles, "\n".join(circles)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from phip.store import protect", ["phip.store.protect"]),
        ("from phip.store import Base", ["phip.store"]),
        ("import phip.identity.models", ["phip.identity.models"]),
        ("from .db import Base", ["phip.store.db"]),
        ("def f():\n    from phip.lake.build import attach", ["phip.lake.build"]),
        ("import json", []),
    ],
)
def test_the_parser_sees_every_kind_of_import(source: str, expected: list[str], tmp_path: Path) -> None:
    path = tmp_path / "repository.py"
    path.write_text(source)
    assert [t for t, _line in _imports("phip.store.repository", path)] == expected


def test_the_circle_check_names_the_chain() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _sccs(graph) == [["a", "b", "c"]]
    report = _report(graph, {("a", "b"): 3, ("b", "c"): 5, ("c", "a"): 7}, "modules")
    assert report == ["modules in a circle ['a', 'b', 'c']: a (line 3) -> b (line 5) -> c (line 7) -> a"]
