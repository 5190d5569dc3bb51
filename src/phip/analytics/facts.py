"""The catalogue's sources kept in the lake as analytics tables (the fact tables of a star
schema, like DHIS2's analytics tables): each source's rows already joined with their org units
and the attributes breakdowns use, published into the lake after every refresh
(`publish_facts`, through the lake's `derive`: the lake knows nothing of the catalogue).
Computing the catalogue then reads them instead of joining the lake's tables again for every
indicator; until they are published, it joins the lake's tables as before.

A fact table records the hash of the SQL that wrote it; when the catalogue's sources change (a
new release), a lake whose facts were written by other SQL is computed from the lake's tables
as before until its next refresh rewrites them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb

from phip.analytics.catalogue import sources
from phip.analytics.rows import base_sql
from phip.lake.build import derive
from phip.lake.manifest import Manifest, TableFiles

PREFIX = "analytics_"


def fact_table(source: str) -> str:
    """The lake table holding a source's rows."""
    return f"{PREFIX}{source}"


def definition(source: str) -> str:
    """The hash of the SQL a source's fact table is written with."""
    return hashlib.sha256(base_sql(sources()[source]).encode()).hexdigest()[:16]


def write_facts(con: duckdb.DuckDBPyConnection, lake: Path, run: str, manifest: Manifest) -> None:
    """Write every source's fact table and add it to `manifest` (`con` has a view per lake
    table of the manifest, derived tables included)."""
    for name, src in sources().items():
        if not src.facts:
            continue
        query = base_sql(src)
        rel = f"tables/{fact_table(name)}/{run}/data.parquet"
        (lake / rel).parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({query}) TO '{(lake / rel).as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
        columns = [[r[0], r[1]] for r in con.execute(f"DESCRIBE {query}").fetchall()]
        got = con.execute(f"SELECT count(*) FROM read_parquet('{(lake / rel).as_posix()}')").fetchall()
        files = [{"path": rel, "county": "none", "month": "none", "rows": int(got[0][0])}]
        manifest.tables[fact_table(name)] = TableFiles(columns, files, definition(name), False)


def fact_sources() -> frozenset[str]:
    """The sources the lake keeps as fact tables (not those judged on the day)."""
    return frozenset(name for name, src in sources().items() if src.facts)


def current_facts(manifest: Manifest) -> frozenset[str]:
    """The sources whose fact table in the lake was written by the SQL of this release."""
    return frozenset(
        name
        for name, src in sources().items()
        if src.facts
        and fact_table(name) in manifest.tables
        and manifest.tables[fact_table(name)].definition == definition(name)
    )


def publish_facts(lake: Path) -> float:
    """Write every source's fact table from the lake's current version and publish them as a
    new version; returns the seconds it took."""
    started = time.perf_counter()
    derive(lake, lambda con, run, manifest: write_facts(con, lake, run, manifest))
    return time.perf_counter() - started
