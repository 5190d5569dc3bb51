"""Running SQL-on-FHIR views: resources into the engine, the compiled view out as rows or CSV
(`phip sof run`)."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from phip.lake.compile import ViewError, compile_view
from phip.lake.normal import normalise

_views = itertools.count()


def read_ndjson(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                res = json.loads(line)
                if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                    raise ViewError(f"{path}:{n}: not a FHIR resource")
                yield res


def run_view(
    view: dict[str, Any], resources: Iterable[dict[str, Any]], engine: str = "duckdb"
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `view` over `resources` (as FHIR JSON; normalised on the way in)
    on DuckDB or Spark."""
    pairs = [(r["resourceType"], json.dumps(normalise(r), ensure_ascii=False)) for r in resources]
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("CREATE TABLE resources(resource_type VARCHAR, resource VARCHAR)")
        con.executemany("INSERT INTO resources VALUES (?, ?)", pairs)
        sql, names = compile_view(view, "duckdb", "resources")
        try:
            return names, [tuple(r) for r in con.execute(sql).fetchall()]
        except duckdb.Error as exc:
            raise ViewError(str(exc).splitlines()[0]) from exc
    if engine == "spark":
        from phip.engines.spark import session

        spark = session()
        table = f"phip_sof_{next(_views)}"
        spark.createDataFrame(pairs, "resource_type string, resource string").createOrReplaceTempView(table)
        sql, names = compile_view(view, "spark", table)
        try:
            return names, [
                tuple(list(v) if isinstance(v, list) else v for v in r) for r in spark.sql(sql).collect()
            ]
        except Exception as exc:  # Spark raises its own exception classes
            raise ViewError(str(exc).splitlines()[0]) from exc
        finally:
            spark.catalog.dropTempView(table)
    raise ViewError(f"unknown engine {engine!r}: duckdb or spark")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write_csv(names: list[str], rows: list[tuple[Any, ...]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for r in rows:
            w.writerow([_cell(v) for v in r])
