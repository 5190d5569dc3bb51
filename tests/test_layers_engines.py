"""No module outside `phip.engines` decides by an engine's or dialect's name: it asks the engine
or its dialect object (`phip.engines`), so adding an engine touches one package."""

from __future__ import annotations

import ast
from pathlib import Path

from phip.engines import DIALECTS, ENGINES

SRC = Path(__file__).resolve().parents[1] / "src" / "phip"
NAMES = set(ENGINES) | set(DIALECTS)


def _names_in(node: ast.expr) -> list[str]:
    """Engine names a comparison operand spells out: a string literal, or literals in a tuple,
    list or set (`x in ("duckdb", "spark")`)."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return sorted({i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES})


def name_checks(source: str) -> list[tuple[int, str]]:
    """(line, name) of every comparison or `match` case against an engine name in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                found += [(node.lineno, n) for n in _names_in(operand)]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, n) for n in _names_in(node.value)]
    return found


def test_the_check_finds_name_comparisons() -> None:
    sample = (
        'if engine == "spark": pass\n'
        'if "duckdb" != d.name: pass\n'
        'if e not in ("duckdb", "spark"): pass\n'
        'match e:\n    case "spark": pass\n'
        'if dialect == "sqlite": pass\n'  # a database dialect, not an engine
    )
    assert name_checks(sample) == [(1, "spark"), (2, "duckdb"), (3, "duckdb"), (3, "spark"), (5, "spark")]


def test_no_module_outside_engines_compares_engine_names() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {name!r}"
        for path in sorted(SRC.rglob("*.py"))
        if "engines" not in path.relative_to(SRC).parts
        for line, name in name_checks(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "ask the engine or its dialect instead:\n" + "\n".join(offenders)
