"""Where batch linkage runs: DuckDB in process (default) or Spark (`PHIP_ENGINE=spark`). Both take
the same feature table (Arrow), the same model and the same comparison levels, written per SQL
dialect in `splink_model.level_sql`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class LinkEngine(ABC):
    dialect = ""

    @abstractmethod
    def load(self, name: str, table: Any) -> None:
        """Make the Arrow `table` queryable as `name`."""

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The result rows of a query."""

    @abstractmethod
    def api(self) -> Any:
        """A Splink database API over this engine."""


class DuckDBEngine(LinkEngine):
    dialect = "duckdb"

    def __init__(self, con: Any = None):
        import duckdb

        self.con = con if con is not None else duckdb.connect()

    def load(self, name: str, table: Any) -> None:
        self.con.register("phip_arrow_in", table)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM phip_arrow_in")
        self.con.unregister("phip_arrow_in")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.con.execute(sql).fetchall()]

    def api(self) -> Any:
        from splink import DuckDBAPI

        return DuckDBAPI(self.con)


class SparkEngine(LinkEngine):
    dialect = "spark"

    def __init__(self, spark: Any = None):
        from phip.engines import spark as spark_engine

        self.spark = spark if spark is not None else spark_engine.session()

    def load(self, name: str, table: Any) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def api(self) -> Any:
        from splink import SparkAPI

        return SparkAPI(spark_session=self.spark)


def engine_for(name: str | None = None) -> LinkEngine:
    """The engine by name (default: the `PHIP_ENGINE` setting)."""
    if name is None:
        from phip.settings import get_settings

        name = get_settings().engine
    if name == "spark":
        return SparkEngine()
    if name == "duckdb":
        return DuckDBEngine()
    raise ValueError(f"unknown engine {name!r}: duckdb or spark")
