"""DuckDB embedded in the process (the default engine): Arrow tables are copied in, Parquet files
are views read where they lie."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from phip.engines.dialects import DuckDB, quote
from phip.engines.engine import Column, Engine, QueryError

_arrow_names = itertools.count()


def parquet_sql(files: Sequence[Path], columns: Sequence[Column] = ()) -> str:
    """A DuckDB query giving the rows of Parquet files (no files: an empty table of `columns`)."""
    if not files:
        cols = ", ".join(f'CAST(NULL AS {typ}) AS "{name}"' for name, typ in columns)
        return f"SELECT {cols} WHERE false"
    listed = ", ".join(quote(Path(f).as_posix()) for f in files)
    return f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"


class DuckDBEngine(Engine):
    """Over a connection of its own (closed by `close`), or over `con` (left open). `threads`
    caps the threads DuckDB uses (default: one per core)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, threads: int | None = None):
        self.dialect = DuckDB()
        self._own = con is None
        self.con = duckdb.connect() if con is None else con
        self._kinds: dict[str, str] = {}  # table name → TABLE or VIEW, as created here
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def _run(self, sql: str) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(sql)
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc

    def _replace(self, name: str, kind: str) -> None:
        """Drop `name` first when this engine made it as the other kind (a view cannot replace a
        table)."""
        if self._kinds.get(name, kind) != kind:
            self.drop(name)
        self._kinds[name] = kind

    def load_arrow(self, name: str, table: pa.Table) -> None:
        self._replace(name, "TABLE")
        view = f"phip_arrow_{next(_arrow_names)}"
        self.con.register(view, table)
        try:
            self._run(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM {view}')
        finally:
            self.con.unregister(view)

    def read_parquet(self, name: str, files: Sequence[Path], columns: Sequence[Column] = ()) -> None:
        self._replace(name, "VIEW")
        self._run(f'CREATE OR REPLACE VIEW "{name}" AS {parquet_sql(files, columns)}')

    def materialize(self, name: str, sql: str) -> None:
        self._replace(name, "TABLE")
        self._run(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')

    def drop(self, name: str) -> None:
        kind = self._kinds.pop(name, None)
        for k in [kind] if kind else ["VIEW", "TABLE"]:
            try:
                self.con.execute(f'DROP {k} IF EXISTS "{name}"')
                return
            except duckdb.CatalogException:  # it is of the other kind
                continue

    def query(self, sql: str) -> pa.Table:
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._run(sql).fetchall()]

    def execute(self, sql: str) -> None:
        self._run(sql)

    def splink_api(self) -> Any:
        from splink import DuckDBAPI

        return DuckDBAPI(self.con)

    def close(self) -> None:
        if self._own:
            self.con.close()
        else:
            for name in list(self._kinds):
                self.drop(name)
