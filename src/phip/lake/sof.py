"""Running SQL-on-FHIR views: resources into the engine, the compiled view out as rows or CSV
(`phip sof run`)."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from phip.engines import Engine, QueryError, engine_for
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
    view: dict[str, Any], resources: Iterable[dict[str, Any]], engine: Engine | str = "duckdb"
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `view` over `resources` (as FHIR JSON; normalised on the way in)
    on an engine (by name, or an engine object, whose tables are left as they were)."""
    pairs = [(r["resourceType"], json.dumps(normalise(r), ensure_ascii=False)) for r in resources]
    table = pa.table(
        {"resource_type": [t for t, _ in pairs], "resource": [r for _, r in pairs]},
        schema=pa.schema([("resource_type", pa.string()), ("resource", pa.string())]),
    )
    own = not isinstance(engine, Engine)
    runner = engine_for(engine)
    name = f"phip_sof_{next(_views)}"
    try:
        runner.register(name, table)
        sql, names = compile_view(view, runner.dialect, name)
        return names, runner.rows(sql)
    except QueryError as exc:
        raise ViewError(str(exc).splitlines()[0]) from exc
    finally:
        runner.drop(name)
        if own:
            runner.close()


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
