"""Opening the lake: each table as a view over the files of one manifest version (DuckDB), or as
a temporary view (Spark). A reader pins the manifest it opened, so a refresh that lands meanwhile
does not change what it sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from phip.lake.dialect import quote as _quote
from phip.lake.manifest import Manifest, TableFiles, require_manifest


def _empty(t: TableFiles) -> str:
    cols = ", ".join(f'CAST(NULL AS {typ}) AS "{name}"' for name, typ in t.columns)
    return f"SELECT {cols} WHERE false"


def table_sql(lake: Path, t: TableFiles) -> str:
    """A DuckDB query giving the table's rows."""
    if not t.files:
        return _empty(t)
    files = ", ".join(_quote((lake / f["path"]).as_posix()) for f in t.files)
    return f"SELECT * FROM read_parquet([{files}], hive_partitioning = false)"


def open_duckdb(
    lake: Path, con: duckdb.DuckDBPyConnection | None = None, manifest: Manifest | None = None
) -> tuple[duckdb.DuckDBPyConnection, Manifest]:
    """A DuckDB connection with one view per lake table."""
    manifest = manifest or require_manifest(lake)
    con = con or duckdb.connect()
    for name, t in manifest.tables.items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {table_sql(lake, t)}')
    return con, manifest


def open_spark(lake: Path, spark: Any, manifest: Manifest | None = None) -> Manifest:
    """Register every lake table as a Spark temporary view."""
    manifest = manifest or require_manifest(lake)
    for name, t in manifest.tables.items():
        if t.files:
            df = spark.read.parquet(*[str((lake / f["path"]).resolve()) for f in t.files])
        else:
            schema = ", ".join(f"`{n}` {_spark_type(typ)}" for n, typ in t.columns)
            df = spark.createDataFrame([], schema)
        df.createOrReplaceTempView(name)
    return manifest


def _spark_type(duck: str) -> str:
    duck = duck.upper()
    if duck in ("BIGINT", "INTEGER", "HUGEINT"):
        return "bigint"
    if duck in ("DOUBLE", "FLOAT") or duck.startswith("DECIMAL"):
        return "double"
    if duck == "BOOLEAN":
        return "boolean"
    return "string"
