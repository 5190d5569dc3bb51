"""The process's Spark session (local mode by default), with Splink's similarity functions."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

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
