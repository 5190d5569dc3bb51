"""Opening the lake: each table of one manifest version as a table of an engine over its Parquet
files (`open_lake`), or as DuckDB views on a connection (`open_duckdb`, for the work that runs on
DuckDB only). A reader pins the manifest it opened, so a refresh that lands meanwhile does not
change what it sees."""

from __future__ import annotations

from pathlib import Path

import duckdb

from phip.engines import DuckDBEngine, Engine
from phip.engines.duckdb import parquet_sql
from phip.lake.manifest import Manifest, TableFiles, require_manifest


def _files(lake: Path, t: TableFiles) -> list[Path]:
    return [(lake / f["path"]).resolve() for f in t.files]


def table_sql(lake: Path, t: TableFiles) -> str:
    """A DuckDB query giving the table's rows."""
    return parquet_sql([lake / f["path"] for f in t.files], t.columns)


def open_lake(engine: Engine, lake: Path, manifest: Manifest | None = None) -> Manifest:
    """Every table of the lake (of `manifest`, default the current one) as a table of `engine`."""
    manifest = manifest or require_manifest(lake)
    for name, t in manifest.tables.items():
        engine.read_parquet(name, _files(lake, t), t.columns)
    return manifest


def open_duckdb(
    lake: Path, con: duckdb.DuckDBPyConnection | None = None, manifest: Manifest | None = None
) -> tuple[duckdb.DuckDBPyConnection, Manifest]:
    """A DuckDB connection (a new one unless given) with one view per lake table."""
    con = con or duckdb.connect()
    return con, open_lake(DuckDBEngine(con), lake, manifest)
