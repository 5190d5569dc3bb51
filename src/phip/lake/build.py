"""Building and refreshing the lake: the platform views materialised as Parquet, partitioned by
the county of the submitting facility and the month of the row, from the store's changes since
the last refresh; published atomically (`manifest.py`).

A refresh reads the changed resources once (all types in one pass over the change sequence),
turns them into view rows on DuckDB, and rewrites only the partitions those rows fall in or
that held the changed resources' old rows. A table whose definition changed is rebuilt whole.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from phip.engines.dialects import quote as _quote
from phip.lake import resume
from phip.lake.loading import (
    ENGINE_THREADS,
    IN_FLIGHT,
    ChangeSource,
    FactBuild,
    PositionedSource,
    Progress,
    load_changes,
    parquet_list,
    scan,
)
from phip.lake.manifest import LakeError, Manifest, TableFiles, locked, publish, read_manifest
from phip.lake.reader import open_duckdb
from phip.lake.source import Change
from phip.lake.tables import NO_COUNTY, NO_MONTH, fact_tables

__all__ = ["ChangeSource", "Progress", "RefreshReport", "attach", "derive", "refresh"]


@dataclass
class RefreshReport:
    version: int
    change_seq: int
    full: list[str] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    partitions_written: int = 0
    seconds: float = 0.0
    resumed: bool = False  # an interrupted build was continued

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "change_seq": self.change_seq,
            "rebuilt": self.full,
            "changed_resources": self.changed,
            "rows": self.rows,
            "partitions_written": self.partitions_written,
            "seconds": round(self.seconds, 3),
            "resumed": self.resumed,
        }


def _written(con: duckdb.DuckDBPyConnection, lake: Path, folder: Path) -> list[dict[str, Any]]:
    """The files a partitioned COPY wrote under `folder`, with partition and row count."""
    paths = sorted(folder.rglob("*.parquet")) if folder.exists() else []
    if not paths:
        return []
    meta = dict(
        con.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata("
            + parquet_list((p.relative_to(lake).as_posix() for p in paths), lake)
            + ")"
        ).fetchall()
    )
    out = []
    for p in paths:
        parts = dict(seg.split("=", 1) for seg in p.relative_to(folder).parts[:-1] if "=" in seg)
        out.append(
            {
                "path": p.relative_to(lake).as_posix(),
                "county": parts.get("county", NO_COUNTY),
                "month": parts.get("month", NO_MONTH),
                "rows": int(meta[p.as_posix()]),
            }
        )
    return out


def _copy_partitioned(con: duckdb.DuckDBPyConnection, query: str, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY ({query}) TO {_quote(folder.as_posix())} (FORMAT parquet, PARTITION_BY (county, month), "
        "WRITE_PARTITION_COLUMNS true, FILENAME_PATTERN 'part_{uuid}', COMPRESSION zstd)"
    )


def _write_fact(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    run: str,
    build: FactBuild,
    old: TableFiles | None,
    rebuild: bool,
) -> tuple[TableFiles, int]:
    """The table's files after this refresh, and how many partitions were written."""
    table = build.table
    folder = lake / "tables" / table.name / run
    if rebuild or old is None:
        _copy_partitioned(con, build.all_rows(lake), folder)
        files = _written(con, lake, folder)
        return TableFiles(build.columns(), files, table.definition), len(files)
    if build.changed == 0:
        return old, 0
    old_paths = [f["path"] for f in old.files]
    touched: set[tuple[str, str]] = set(
        con.execute(f"SELECT DISTINCT county, month FROM {build.rows}").fetchall()
    )
    if old_paths:
        touched |= set(
            con.execute(
                f"SELECT DISTINCT county, month FROM {scan(old_paths, lake)} "
                f"WHERE _rid IN (SELECT _rid FROM {build.chg})"
            ).fetchall()
        )
    rewrite = [f["path"] for f in old.files if (f["county"], f["month"]) in touched]
    kept = [f for f in old.files if (f["county"], f["month"]) not in touched]
    query = f"SELECT * FROM {build.rows}"
    if rewrite:
        query = (
            f"SELECT * FROM {scan(rewrite, lake)} "
            f"WHERE _rid NOT IN (SELECT _rid FROM {build.chg}) UNION ALL BY NAME {query}"
        )
    _copy_partitioned(con, query, folder)
    files = _written(con, lake, folder)
    return TableFiles(old.columns, kept + files, table.definition), len(files)


def write_dimension(lake: Path, run: str, name: str, data: pa.Table) -> TableFiles:
    rel = f"tables/{name}/{run}/data.parquet"
    (lake / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, lake / rel, compression="zstd")
    columns = [[f.name, _arrow_sql_type(f.type)] for f in data.schema]
    return TableFiles(
        columns, [{"path": rel, "county": NO_COUNTY, "month": NO_MONTH, "rows": data.num_rows}], "", False
    )


def _arrow_sql_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    return "VARCHAR"


def refresh(
    lake: Path,
    changes_since: Callable[[int], tuple[ChangeSource, int]],
    dimensions: dict[str, pa.Table],
    progress: Progress | None = None,
    full: bool = False,
    memory_limit: str = "4GB",
    workers: int | None = None,
    checkpoint_seconds: float = 300.0,
) -> RefreshReport:
    """Bring the lake up to date. `changes_since(seq)` gives the changes after `seq` and the
    change sequence they reach; `dimensions` are the dimension tables, written whole. A build of
    every table saves its progress every `checkpoint_seconds` and, interrupted, is resumed by
    the next call over the same source (`resume.py`)."""
    from phip.lake.derived import write_derived

    workers = workers if workers is not None else min(2, os.cpu_count() or 1)

    started = time.perf_counter()
    with locked(lake):
        current = previous = read_manifest(lake)
        if full:
            current = None
        specs = fact_tables()
        rebuild = {
            name
            for name, spec in specs.items()
            if current is None
            or name not in current.tables
            or current.tables[name].definition != spec.definition
        }
        since = 0 if current is None or rebuild == set(specs) else current.change_seq
        # a table being rebuilt needs every resource of its type, not just the changes
        source, upto = changes_since(0 if rebuild else since)
        version = (current.version if current else 0) + 1
        run = f"r{version:06d}_{int(time.time())}"
        report = RefreshReport(version, upto, sorted(rebuild))
        tmp = lake / "_tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute(f"SET temp_directory = {_quote(tmp.as_posix())}")
        con.execute(f"SET memory_limit = {_quote(memory_limit)}")
        con.execute("SET preserve_insertion_order = false")
        fac = dimensions["facility"].select(["code", "county_code"])
        con.register("lake_fac_arrow", fac)
        con.execute("CREATE TABLE lake_facility_county AS SELECT * FROM lake_fac_arrow")
        con.unregister("lake_fac_arrow")
        engine = ThreadPoolExecutor(max_workers=ENGINE_THREADS)
        gate = threading.BoundedSemaphore(IN_FLIGHT)
        builds = {name: FactBuild(con, spec, n, engine, gate) for n, (name, spec) in enumerate(specs.items())}
        by_type: dict[str, list[FactBuild]] = {}
        for b in builds.values():
            by_type.setdefault(b.table.resource_type, []).append(b)
        incremental = {t for t, bs in by_type.items() if any(b.table.name not in rebuild for b in bs)}
        # a build of every table from a source that can say where it is can be resumed
        key = None
        if rebuild == set(specs) and isinstance(source, PositionedSource):
            definitions = {name: spec.definition for name, spec in specs.items()}
            key = resume.build_key(source.describe(), upto, definitions)
        else:
            resume.clear(lake)

        def keep(c: Change) -> bool:
            # resources older than the last refresh matter only to tables being rebuilt
            return c.res_type not in incremental or c.seq > since

        report.resumed = load_changes(lake, source, builds, keep, workers, progress, key, checkpoint_seconds)
        manifest = Manifest(version, upto, datetime.now(UTC).isoformat(timespec="seconds"))
        for b in builds.values():
            b.flush()
        for b in builds.values():
            b.wait()
        engine.shutdown()
        for name, b in builds.items():
            old = current.tables.get(name) if current else None
            files, written = _write_fact(con, lake, run, b, old, name in rebuild)
            manifest.tables[name] = files
            report.changed[name] = b.changed
            report.partitions_written += written
        for name, data in dimensions.items():
            manifest.tables[name] = write_dimension(lake, run, name, data)
        write_derived(con, lake, run, manifest)
        for name, t in (previous.tables if previous else {}).items():
            if t.definition == ATTACHED and name not in manifest.tables:
                manifest.tables[name] = t  # written by another domain: kept until it replaces it
        # tables another domain derived from the previous version (`derive`) are not kept: they
        # describe tables this version replaces, and their domain derives them again
        report.rows = {name: t.rows for name, t in sorted(manifest.tables.items())}
        report.seconds = time.perf_counter() - started
        manifest.stats = report.to_json()
        publish(lake, manifest)
        con.close()
        resume.clear(lake)
        return report


#: the definition of a table another domain attaches to the lake (`attach`)
ATTACHED = "attached"


def attach(lake: Path, tables: dict[str, pa.Table]) -> int:
    """Publish `tables` (name → data) in the lake as one new version, every other table unchanged
    (e.g. the quality findings); refreshes keep them. Returns the new version."""
    with locked(lake):
        current = read_manifest(lake)
        if current is None:
            raise LakeError(f"no lake at {lake}: run `phip lake refresh` first")
        for name in tables:
            if name in current.tables and current.tables[name].definition != ATTACHED:
                raise LakeError(f"{name} is one of the lake's own tables")
        version = current.version + 1
        run = f"r{version:06d}_{int(time.time())}"
        written = dict(current.tables)
        for name, data in tables.items():
            files = write_dimension(lake, run, name, data)
            files.definition = ATTACHED
            written[name] = files
        manifest = Manifest(
            version,
            current.change_seq,
            datetime.now(UTC).isoformat(timespec="seconds"),
            written,
            current.stats,
        )
        publish(lake, manifest)
        return version


#: what a domain deriving tables from the lake runs (`derive`): given a DuckDB connection with a
#: view per table of the current version, the run's folder name and the new version's manifest,
#: it writes its tables under `tables/<name>/<run>/` and adds them to the manifest
Deriver = Callable[[duckdb.DuckDBPyConnection, str, Manifest], None]


def derive(lake: Path, write: Deriver, memory_limit: str = "4GB") -> int:
    """Publish one new version: every table of the current one, and the tables `write` derives
    from them (e.g. the analytics tables of the indicator catalogue). A derived table carries
    its own definition; the next refresh drops it (it describes tables that refresh replaces)
    until its domain derives it again. Returns the new version."""
    with locked(lake):
        current = read_manifest(lake)
        if current is None:
            raise LakeError(f"no lake at {lake}: run `phip lake refresh` first")
        version = current.version + 1
        run = f"r{version:06d}_{int(time.time())}"
        manifest = Manifest(
            version,
            current.change_seq,
            datetime.now(UTC).isoformat(timespec="seconds"),
            dict(current.tables),
            current.stats,
        )
        tmp = lake / "_tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        try:
            con.execute(f"SET temp_directory = {_quote(tmp.as_posix())}")
            con.execute(f"SET memory_limit = {_quote(memory_limit)}")
            con.execute("SET preserve_insertion_order = false")
            open_duckdb(lake, con, current)
            write(con, run, manifest)
            for name, t in manifest.tables.items():
                if current.tables.get(name) is not t and t.definition == ATTACHED:
                    raise LakeError(f"{name}: a derived table needs a definition of its own")
            for name in current.tables:
                if name not in manifest.tables:
                    raise LakeError(f"{name} was removed: deriving only adds or replaces tables")
        finally:
            con.close()
        publish(lake, manifest)
        return version
