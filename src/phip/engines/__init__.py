"""Analytical engines behind one interface: DuckDB embedded (default) and Apache Spark
(`PHIP_ENGINE=spark`), each with its SQL dialect (`dialects.py`)."""

from __future__ import annotations

from typing import Any

from phip.engines.dialects import DIALECTS, Dialect, dialect, quote
from phip.engines.duckdb import DuckDBEngine
from phip.engines.engine import Engine, QueryError
from phip.engines.spark import SparkEngine

#: every engine, by name (the values `PHIP_ENGINE` and `--engine` take)
ENGINES: dict[str, type[Engine]] = {e.name: e for e in (DuckDBEngine, SparkEngine)}

__all__ = [
    "DIALECTS",
    "ENGINES",
    "Dialect",
    "DuckDBEngine",
    "Engine",
    "QueryError",
    "SparkEngine",
    "dialect",
    "engine_for",
    "quote",
]


def engine_for(which: str | Engine | None = None, **options: Any) -> Engine:
    """An engine by name (None: the `PHIP_ENGINE` setting); an engine object is returned as it
    is. `options` go to the engine's constructor."""
    if isinstance(which, Engine):
        return which
    if which is None:
        from phip.settings import get_settings

        which = get_settings().engine
    try:
        kind = ENGINES[which]
    except KeyError:
        raise ValueError(f"unknown engine {which!r}: {' or '.join(ENGINES)}") from None
    return kind(**options)
