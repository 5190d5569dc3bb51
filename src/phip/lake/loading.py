"""Reading changes into the lake's tables: the changed resources parsed and normalised in worker
processes, each fact table's view run over them on DuckDB (two engine threads, a cursor per
table), and, for a build of every table, the rows saved every few minutes so that an
interrupted build can go on where it stopped (`resume.py`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from phip.engines.dialects import quote as _quote
from phip.lake import resume
from phip.lake.annotate import annotate
from phip.lake.compile import compile_view
from phip.lake.normal import normalise
from phip.lake.source import Change
from phip.lake.tables import CARRIED, NO_COUNTY, NO_MONTH, FactTable
from phip.store.workers import pool as workers_pool

Progress = Callable[[int, int], None]
_FLUSH_ROWS = 50_000
#: batches handed to DuckDB and not yet loaded, over all tables: parsing waits beyond this, so
#: memory stays bounded when DuckDB is the slower side (a large province)
IN_FLIGHT = 6
ENGINE_THREADS = 2


class ChangeSource(Protocol):
    def count(self) -> int: ...

    def __iter__(self) -> Any: ...


@runtime_checkable
class PositionedSource(ChangeSource, Protocol):
    """A source that can say where it is after each batch and read on from there (a build of
    every table from it can be resumed)."""

    def describe(self) -> str: ...

    def positioned(self, cursor: Any) -> Iterator[tuple[list[Change], Any]]: ...


#: a batch's changes ready for the engine, by resource type: the normal-form JSON texts ("" for
#: a deleted resource), the keys (`Type/id`) and the facilities, column by column
Prepared = dict[str, tuple[list[str], list[str], list[str | None]]]


def _prepare(batch: list[Change]) -> Prepared:
    """Parse and normalise a batch of changes (in a worker process: this is the CPU-bound part),
    returned as columns per resource type, so the main process only appends them. A source
    that does not know a resource's id or facility leaves them to be read here."""
    out: Prepared = {}
    for c in batch:
        texts, keys, facilities = out.setdefault(c.res_type, ([], [], []))
        if c.deleted:
            texts.append("")
            keys.append(f"{c.res_type}/{c.res_id}")
            facilities.append(None)
            continue
        res = orjson.loads(c.content)
        facilities.append(c.facility)
        annotate(res, c.seq)
        texts.append(orjson.dumps(normalise(res)).decode())
        keys.append(f"{c.res_type}/{c.res_id or res.get('id', '')}")
    return out


def _prepared(batches: Iterable[list[Change]], workers: int) -> Iterator[Prepared]:
    if workers <= 1:
        yield from map(_prepare, batches)
        return
    # a bounded window of batches in the workers, in order (Pool.imap would read the whole input
    # ahead and hold every result until it is taken: memory grows with the province)
    with workers_pool(workers) as pool:
        window: deque[AsyncResult[Prepared]] = deque()
        for batch in batches:
            window.append(pool.apply_async(_prepare, (batch,)))
            if len(window) >= 2 * workers + 2:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()


class FactBuild:
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
        self.texts: list[str] = []  # pending rows, column by column (see `Prepared`)
        self.keys: list[str] = []
        self.facilities: list[str | None] = []
        self.changed = 0
        self.segments: list[str] = []  # rows saved by a resumable build (files under the lake)
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

    def add(self, texts: list[str], keys: list[str], facilities: list[str | None]) -> None:
        """Changed resources of the table's type, as columns (see `Prepared`)."""
        self.changed += len(keys)
        self.texts += texts
        self.keys += keys
        self.facilities += facilities
        if len(self.keys) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.keys:
            return
        texts = pa.array(self.texts, pa.string())
        keys = pa.array(self.keys, pa.string())
        arrow = pa.table(
            {
                "resource_type": pa.array([self.table.resource_type] * len(texts), pa.string()),
                "resource": texts,
                "_rid": keys,
                "source_facility": pa.array(self.facilities, pa.string()),
            }
        )
        if "" in self.texts:  # deleted resources: changed, with no rows
            arrow = arrow.filter(pc.not_equal(texts, ""))
        changed = pa.table({"_rid": keys})
        self.texts, self.keys, self.facilities = [], [], []
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

    def spill(self, path: Path, rel: str) -> None:
        """Move the rows built so far to a segment file (after `flush` and `wait`)."""
        if self.con.execute(f"SELECT count(*) FROM {self.rows}").fetchall() == [(0,)]:
            return
        self.con.execute(f"COPY {self.rows} TO {_quote(path.as_posix())} (FORMAT parquet, COMPRESSION zstd)")
        self.con.execute(f"DELETE FROM {self.rows}")
        self.con.execute(f"DELETE FROM {self.chg}")  # a build of every table does not read them
        self.segments.append(rel)

    def all_rows(self, lake: Path) -> str:
        """A query of every row built: the segments saved and those still in the engine."""
        query = f"SELECT * FROM {self.rows}"
        if self.segments:
            query += f" UNION ALL BY NAME SELECT * FROM {scan(self.segments, lake)}"
        return query

    def columns(self) -> list[list[str]]:
        return [[r[0], r[1]] for r in self.con.execute(f"DESCRIBE {self.rows}").fetchall()]


def parquet_list(files: Iterable[str], lake: Path) -> str:
    return "[" + ", ".join(_quote((lake / f).as_posix()) for f in files) + "]"


def scan(files: Iterable[str], lake: Path) -> str:
    """read_parquet of lake files; the columns come from the files (partition folders are not
    parsed: DuckDB would make a county code an integer)."""
    return f"read_parquet({parquet_list(files, lake)}, hive_partitioning = false)"


def load_changes(
    lake: Path,
    source: ChangeSource,
    builds: dict[str, FactBuild],
    keep: Callable[[Change], bool],
    workers: int,
    progress: Progress | None,
    key: str | None,
    checkpoint_seconds: float,
) -> bool:
    """Read the source's changes into the builds. With a `key` (a build of every table) the
    progress is saved every `checkpoint_seconds`, and a build saved under the same key is
    continued. Returns whether one was."""
    by_type: dict[str, list[FactBuild]] = {}
    for b in builds.values():
        by_type.setdefault(b.table.resource_type, []).append(b)
    state = resume.load(lake, key) if key else None
    resumed = state is not None
    if state is not None:
        for name, b in builds.items():
            b.changed = state.changed.get(name, 0)
            b.segments = list(state.segments.get(name, []))
    elif key:
        state = resume.BuildState(key, total=source.count())
    total = state.total if state else source.count()
    positioned: Iterable[tuple[list[Change], Any]] = (
        source.positioned(state.cursor)
        if state is not None and isinstance(source, PositionedSource)
        else ((batch, None) for batch in source)
    )
    read = [state.seen if state else 0]
    after: deque[tuple[Any, int]] = deque()  # each batch in the workers: its position, resources read

    def wanted() -> Iterator[list[Change]]:
        for batch, cursor in positioned:
            read[0] += len(batch)
            after.append((cursor, read[0]))
            yield [c for c in batch if c.res_type in by_type and keep(c)]

    saved = time.monotonic()
    for prepared in _prepared(wanted(), workers):
        cursor, done = after.popleft()
        for res_type, columns in prepared.items():
            for b in by_type[res_type]:
                b.add(*columns)
        if progress:
            progress(done, total)
        if state is not None and time.monotonic() - saved >= checkpoint_seconds:
            _save(lake, state, builds, cursor, done)
            saved = time.monotonic()
    return resumed


def _save(lake: Path, state: resume.BuildState, builds: dict[str, FactBuild], cursor: Any, done: int) -> None:
    """Every row built so far into segment files, then the position they reach."""
    for b in builds.values():
        b.flush()
    for b in builds.values():
        b.wait()
    state.saves += 1
    for name, b in builds.items():
        path = resume.segment(lake, name, state.saves)
        b.spill(path, path.relative_to(lake).as_posix())
    state.cursor, state.seen = cursor, done
    state.changed = {name: b.changed for name, b in builds.items()}
    state.segments = {name: list(b.segments) for name, b in builds.items()}
    resume.save(lake, state)
