"""Apache Spark: the process's session (local mode by default, a cluster through
`PHIP_SPARK_MASTER`), with Splink's similarity functions, and the engine over it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from phip.engines.dialects import Spark
from phip.engines.engine import Column, Engine, QueryError

_session: list[Any] = []


def session() -> Any:
    """The Spark session, started on first use from the settings."""
    if _session:
        return _session[0]
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    from phip.settings import get_settings

    settings = get_settings()
    cores = os.cpu_count() or 2
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("phip")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(4 * cores))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    from splink.internals.spark.jar_location import get_scala_udfs

    for name, java_class, return_type in get_scala_udfs():
        spark.udf.registerJavaFunction(name, java_class, return_type)
    # Splink breaks long lineages by checkpointing; the files live for the session only
    checkpoints = tempfile.mkdtemp(prefix="phip-spark-")
    spark.sparkContext.setCheckpointDir(checkpoints)
    _session.extend([spark, checkpoints])
    atexit.register(stop)
    return spark


def stop() -> None:
    if _session:
        spark, checkpoints = _session
        _session.clear()
        spark.stop()
        shutil.rmtree(checkpoints, ignore_errors=True)


def _errors() -> tuple[type[Exception], ...]:
    """What Spark raises for a statement it refuses or fails (its own classes, or the JVM's
    error when it has none for it)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


class SparkEngine(Engine):
    """Over the process's Spark session (`session()`) or a given one. Tables are temporary views;
    `close` drops the ones this object made and releases what it cached."""

    name = "spark"

    def __init__(self, spark: Any = None):
        self.dialect = Spark()
        self.spark = spark if spark is not None else session()
        self._views: set[str] = set()
        self._cached: dict[str, Any] = {}

    def _sql(self, sql: str) -> Any:
        try:
            return self.spark.sql(sql)
        except _errors() as exc:
            raise QueryError(str(exc)) from exc

    def _view(self, name: str, frame: Any) -> None:
        self._uncache(name)
        frame.createOrReplaceTempView(name)
        self._views.add(name)

    def _uncache(self, name: str) -> None:
        frame = self._cached.pop(name, None)
        if frame is not None:
            frame.unpersist()

    def load_arrow(self, name: str, table: pa.Table) -> None:
        self._view(name, self.spark.createDataFrame(table))

    def read_parquet(self, name: str, files: Sequence[Path], columns: Sequence[Column] = ()) -> None:
        if files:
            frame = self.spark.read.parquet(*[str(Path(f).resolve()) for f in files])
        else:
            schema = ", ".join(f"`{n}` {self.dialect.from_duckdb_type(t)}" for n, t in columns)
            frame = self.spark.createDataFrame([], schema)
        self._view(name, frame)

    def materialize(self, name: str, sql: str) -> None:
        frame = self._sql(sql).cache()
        self._view(name, frame)
        self._cached[name] = frame

    def drop(self, name: str) -> None:
        self._uncache(name)
        self._views.discard(name)
        self.spark.catalog.dropTempView(name)

    def _collect(self, frame: Any, how: str) -> Any:
        try:
            return frame.toArrow() if how == "arrow" else frame.collect()
        except _errors() as exc:
            raise QueryError(str(exc)) from exc

    def query(self, sql: str) -> pa.Table:
        return self._collect(self._sql(sql), "arrow")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._collect(self._sql(sql), "rows")]

    def execute(self, sql: str) -> None:
        self._sql(sql)  # a statement runs when it is issued

    def splink_api(self) -> Any:
        from splink import SparkAPI

        return SparkAPI(spark_session=self.spark)

    def close(self) -> None:
        for name in list(self._views):
            self.drop(name)
