"""Building and refreshing the lake: the platform views materialised as Parquet, partitioned by
the county of the submitting facility and the month of the row, from the store's changes since
the last refresh; published atomically (`manifest.py`).

A refresh reads the changed resources once (all types in one pass over the change sequence),
turns them into view rows on DuckDB, and rewrites only the partitions those rows fall in or
that held the changed resources' old rows. A table whose definition changed is rebuilt whole.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from phip.lake.annotate import annotate
from phip.lake.compile import compile_view
from phip.lake.dialect import quote as _quote
from phip.lake.manifest import LakeError, Manifest, TableFiles, locked, publish, read_manifest
from phip.lake.normal import normalise
from phip.lake.reader import open_duckdb
from phip.lake.source import Change, facility_of
from phip.lake.tables import CARRIED, NO_COUNTY, NO_MONTH, FactTable, fact_tables

Progress = Callable[[int, int], None]
_FLUSH_ROWS = 50_000
#: batches handed to DuckDB and not yet loaded, over all tables: parsing waits beyond this, so
#: memory stays bounded when DuckDB is the slower side (a large province)
_IN_FLIGHT = 6
ENGINE_THREADS = 2


class ChangeSource(Protocol):
    def count(self) -> int: ...

    def __iter__(self) -> Any: ...


@dataclass
class RefreshReport:
    version: int
    change_seq: int
    full: list[str] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    partitions_written: int = 0
    seconds: float = 0.0
    analytics_seconds: float = 0.0  # writing the catalogue's analytics tables (part of `seconds`)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "change_seq": self.change_seq,
            "rebuilt": self.full,
            "changed_resources": self.changed,
            "rows": self.rows,
            "partitions_written": self.partitions_written,
            "seconds": round(self.seconds, 3),
            "analytics_seconds": round(self.analytics_seconds, 3),
        }


#: a change ready for the engine: (type, normal-form JSON text or "" when deleted, id, facility)
Prepared = tuple[str, str, str, str | None]


def _prepare(batch: list[Change]) -> list[Prepared]:
    """Parse and normalise a batch of changes (in a worker process: this is the CPU-bound part).
    A source that does not know a resource's id or facility leaves them to be read here."""
    out: list[Prepared] = []
    for c in batch:
        if c.deleted:
            out.append((c.res_type, "", c.res_id, None))
            continue
        res = orjson.loads(c.content)
        facility = c.facility if c.res_id else facility_of(res)
        annotate(res, c.seq)
        out.append(
            (c.res_type, orjson.dumps(normalise(res)).decode(), c.res_id or str(res.get("id", "")), facility)
        )
    return out


def _prepared(batches: Iterable[list[Change]], workers: int) -> Iterator[list[Prepared]]:
    if workers <= 1:
        yield from map(_prepare, batches)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    # a bounded window of batches in the workers, in order (Pool.imap would read the whole input
    # ahead and hold every result until it is taken: memory grows with the province)
    with ctx.Pool(workers) as pool:
        window: deque[AsyncResult[list[Prepared]]] = deque()
        for batch in batches:
            window.append(pool.apply_async(_prepare, (batch,)))
            if len(window) >= 2 * workers + 2:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()


class _FactBuild:
    """One fact table's rows for this refresh, accumulated in DuckDB."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: FactTable,
        n: int,
        engine: ThreadPoolExecutor,
        gate: threading.BoundedSemaphore,
    ):
        # its own cursor: tables load side by side on the engine threads, each table's
        # statements in order (a job waits for the table's previous one)
        self.con, self.table, self.engine, self.gate = con.cursor(), table, engine, gate
        con = self.con
        self.engine_jobs: list[Future[None]] = []
        self.order = threading.Lock()
        self.src, self.rows, self.chg = f"src_{n}", f"new_{n}", f"chg_{n}"
        self.pending: list[tuple[str, str, str, str | None]] = []
        self.changed = 0
        con.execute(
            f"CREATE TABLE {self.src}(resource_type VARCHAR, resource VARCHAR, "
            "_rid VARCHAR, source_facility VARCHAR)"
        )
        con.execute(f"CREATE TABLE {self.chg}(_rid VARCHAR)")
        view_sql, _ = compile_view(table.view, "duckdb", self.src, CARRIED)
        dates = [f"CAST(v.{c} AS VARCHAR)" for c in table.month_from]
        month = f"substr(coalesce({', '.join(dates)}), 1, 7)" if dates else "NULL"
        self.sql = (
            f"SELECT v.*, coalesce(f.county_code, {_quote(NO_COUNTY)}) AS county, "
            f"coalesce({month}, {_quote(NO_MONTH)}) AS month FROM ({view_sql}) v "
            "LEFT JOIN lake_facility_county f ON f.code = v.source_facility"
        )
        con.execute(f"CREATE TABLE {self.rows} AS {self.sql}")

    def add(self, row: Prepared) -> None:
        """A changed resource: (type, normal-form JSON or "" when deleted, id, facility)."""
        self.changed += 1
        self.pending.append(row)
        if len(self.pending) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        key = f"{self.table.resource_type}/"
        arrow = pa.table(
            {
                "resource_type": [p[0] for p in self.pending if p[1]],
                "resource": [p[1] for p in self.pending if p[1]],
                "_rid": [key + p[2] for p in self.pending if p[1]],
                "source_facility": [p[3] for p in self.pending if p[1]],
            },
            schema=pa.schema(
                [
                    ("resource_type", pa.string()),
                    ("resource", pa.string()),
                    ("_rid", pa.string()),
                    ("source_facility", pa.string()),
                ]
            ),
        )
        changed = pa.table({"_rid": [key + p[2] for p in self.pending]})
        self.pending = []
        # DuckDB runs the view while this thread goes on parsing (it releases the GIL); one
        # engine thread keeps the connection's statements in order; the gate bounds the backlog
        self.gate.acquire()
        self.engine_jobs.append(self.engine.submit(self._load, arrow, changed))

    def _load(self, arrow: pa.Table, changed: pa.Table) -> None:
        try:
            with self.order:
                self._insert(arrow, changed)
        finally:
            self.gate.release()

    def _insert(self, arrow: pa.Table, changed: pa.Table) -> None:
        self.con.register("lake_batch", arrow)
        self.con.register("lake_changed", changed)
        try:
            self.con.execute(f"INSERT INTO {self.src} SELECT * FROM lake_batch")
            self.con.execute(f"INSERT INTO {self.chg} SELECT _rid FROM lake_changed")
            self.con.execute(f"INSERT INTO {self.rows} {self.sql}")
            self.con.execute(f"DELETE FROM {self.src}")
        finally:
            self.con.unregister("lake_batch")
            self.con.unregister("lake_changed")

    def wait(self) -> None:
        for job in self.engine_jobs:
            job.result()
        self.engine_jobs = []

    def columns(self) -> list[list[str]]:
        return [[r[0], r[1]] for r in self.con.execute(f"DESCRIBE {self.rows}").fetchall()]


def _parquet_list(files: Iterable[str], lake: Path) -> str:
    return "[" + ", ".join(_quote((lake / f).as_posix()) for f in files) + "]"


def _scan(files: Iterable[str], lake: Path) -> str:
    """read_parquet of lake files; the columns come from the files (partition folders are not
    parsed: DuckDB would make a county code an integer)."""
    return f"read_parquet({_parquet_list(files, lake)}, hive_partitioning = false)"


def _written(con: duckdb.DuckDBPyConnection, lake: Path, folder: Path) -> list[dict[str, Any]]:
    """The files a partitioned COPY wrote under `folder`, with partition and row count."""
    paths = sorted(folder.rglob("*.parquet")) if folder.exists() else []
    if not paths:
        return []
    meta = dict(
        con.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata("
            + _parquet_list((p.relative_to(lake).as_posix() for p in paths), lake)
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
    build: _FactBuild,
    old: TableFiles | None,
    rebuild: bool,
) -> tuple[TableFiles, int]:
    """The table's files after this refresh, and how many partitions were written."""
    table = build.table
    folder = lake / "tables" / table.name / run
    if rebuild or old is None:
        _copy_partitioned(con, f"SELECT * FROM {build.rows}", folder)
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
                f"SELECT DISTINCT county, month FROM {_scan(old_paths, lake)} "
                f"WHERE _rid IN (SELECT _rid FROM {build.chg})"
            ).fetchall()
        )
    rewrite = [f["path"] for f in old.files if (f["county"], f["month"]) in touched]
    kept = [f for f in old.files if (f["county"], f["month"]) not in touched]
    query = f"SELECT * FROM {build.rows}"
    if rewrite:
        query = (
            f"SELECT * FROM {_scan(rewrite, lake)} "
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
) -> RefreshReport:
    """Bring the lake up to date. `changes_since(seq)` gives the changes after `seq` and the
    change sequence they reach; `dimensions` are the dimension tables, written whole."""
    from phip.analytics.facts import write_facts
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
        gate = threading.BoundedSemaphore(_IN_FLIGHT)
        builds = {
            name: _FactBuild(con, spec, n, engine, gate) for n, (name, spec) in enumerate(specs.items())
        }
        by_type: dict[str, list[_FactBuild]] = {}
        for b in builds.values():
            by_type.setdefault(b.table.resource_type, []).append(b)
        total, seen = source.count(), [0]
        incremental = {t for t, bs in by_type.items() if any(b.table.name not in rebuild for b in bs)}

        def wanted() -> Iterator[list[Change]]:
            for batch in source:
                seen[0] += len(batch)
                # resources older than the last refresh matter only to tables being rebuilt
                yield [
                    c
                    for c in batch
                    if c.res_type in by_type and (c.res_type not in incremental or c.seq > since)
                ]

        for rows in _prepared(wanted(), workers):
            for row in rows:
                for b in by_type[row[0]]:
                    b.add(row)
            if progress:
                progress(seen[0], total)
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
        open_duckdb(lake, con, manifest)  # every table of the new version, derived ones too
        facts_started = time.perf_counter()
        write_facts(con, lake, run, manifest)
        report.analytics_seconds = time.perf_counter() - facts_started
        report.rows = {name: t.rows for name, t in sorted(manifest.tables.items())}
        report.seconds = time.perf_counter() - started
        manifest.stats = report.to_json()
        publish(lake, manifest)
        con.close()
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
