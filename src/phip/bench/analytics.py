"""`phip bench analytics`: build the lake of a synthetic province from its submissions, compute
the whole indicator catalogue on DuckDB (median of several runs) and on Spark (the ratio), and
refresh the lake incrementally after 1% of the resources change.

The lake is built from the NDJSON submissions (`phip lake refresh --source`), not from a store:
ingesting a province at scale 0.1 into the store would take hours and is measured by `phip bench
ingest`. Persons come from the province's truth (`truth/persons.csv`) instead of the person
index, which `phip bench empi` measures, and submission batches from `truth/submissions.csv`;
the indicators' work is the same either way.
"""

from __future__ import annotations

import csv
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from phip.engines import Engine

RNG_SEED = 20261126


def registry_session(province: Path, folder: Path) -> Any:
    from sqlalchemy.orm import Session

    from phip.orgunits import OrgUnitService
    from phip.standards.divisions import get_divisions
    from phip.store import get_engine, init_db

    engine = get_engine(f"sqlite:///{(folder / 'registry.db').as_posix()}")
    init_db(engine)
    session = Session(engine)
    OrgUnitService(session).load_registry(province / "registry", get_divisions("620000"))
    session.commit()
    return session


def truth_persons(province: Path) -> pa.Table:
    keys, persons = [], []
    with open(province / "truth" / "persons.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            keys.append(row["record"])
            persons.append(row["person_id"])
    return pa.table({"patient_key": keys, "person_id": persons})


def truth_batches(province: Path) -> pa.Table:
    """The province's facility-month batches as the submission table would hold them."""
    from phip.lake.dims import SCHEMAS

    rows = []
    with open(province / "truth" / "submissions.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append(
                {
                    "submission_id": "bench",
                    "facility": r["facility"],
                    "month": r["month"],
                    "records": int(r["records"]),
                    "accepted": int(r["records"]),
                    "quarantined": 0,
                    "first_sent": r["submitted_at"],
                    "last_sent": r["submitted_at"],
                    "finished_at": r["submitted_at"],
                }
            )
    return pa.Table.from_pylist(rows, schema=SCHEMAS["submission_batch"])


class Changes:
    """A share of a province's resources, changed (a status, or a date moved to June), as the
    changes after the lake's last refresh: spread over every month (`month` None: the worst
    case, nearly every partition is touched), or all from one submission month (the usual case:
    a month's new and corrected records)."""

    def __init__(self, province: Path, types: list[str], share: float, seq: int, month: str | None = None):
        from phip.fhir import ndjson
        from phip.lake.source import Change

        rng = random.Random(RNG_SEED)
        self.changes: list[Change] = []
        marker = f':{month}"'.encode() if month else b""
        total = 0
        lines: list[tuple[str, bytes]] = []
        for t in types:
            for path in ndjson.type_files(province / "submissions", t):
                for line in ndjson.lines(path):
                    total += 1
                    if (marker and marker in line) or (not marker and rng.random() < share):
                        lines.append((t, line))
        if marker:
            rng.shuffle(lines)
            lines = lines[: round(total * share)]
        for t, line in lines:
            res = orjson.loads(line)
            period = res.get("period")
            if month is None and isinstance(period, dict) and "start" in period:
                period["start"] = "2025-06-15" + period["start"][10:]
            res["status"] = "entered-in-error" if rng.random() < 0.2 else res.get("status", "active")
            self.changes.append(Change(t, "", None, False, orjson.dumps(res), seq))

    def count(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[list[Any]]:
        for start in range(0, len(self.changes), 5000):
            yield self.changes[start : start + 5000]


def fixed_changes(changes: Changes, seq: int) -> Callable[[int], tuple[Any, int]]:
    def changes_since(_since: int) -> tuple[Any, int]:
        return changes, seq

    return changes_since


def _compute(lake: Path, engine: Engine | str) -> tuple[float, int]:
    from phip.analytics.compute import compute

    started = time.perf_counter()
    table = compute(lake, engine)
    return time.perf_counter() - started, table.num_rows


@contextmanager
def bench_folder(work: Path | None, prefix: str) -> Iterator[Path]:
    """`work` (created, kept) when given, else a temporary folder removed afterwards."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        yield work
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


@dataclass
class TruthLake:
    """A province's lake built from its submissions, with persons and batches from its truth."""

    province: Path
    session: Any  # the registry database (org units, facilities; quality rounds)
    lake: Path
    given: dict[str, pa.Table]
    build_seconds: float

    def dimensions(self) -> dict[str, pa.Table]:
        """Every dimension table as the build had it (for incremental refreshes)."""
        from phip.lake.dims import SCHEMAS, dimension

        return {n: self.given[n] if n in self.given else dimension(self.session, n) for n in SCHEMAS}

    def last_month(self) -> str:
        with open(self.province / "truth" / "submissions.csv", encoding="utf-8") as f:
            return max(row["month"] for row in csv.DictReader(f))


def truth_lake(
    work: Path, province: Path | None, scale: float, seed: int, workers: int, out: dict[str, Any]
) -> TruthLake:
    """Generate the province when none is given (`out["synth_seconds"]`), describe it
    (`out["province"]`) and build its lake under `work`. A lake `work` already holds, built from
    the same province folder, is used again (`out["lake_reused"]`): benchmarks given one `--work`
    folder share one build."""
    from phip.analytics.facts import publish_facts
    from phip.lake.manifest import read_manifest
    from phip.lake.service import build_from_folder

    if province is None:
        from phip.synth import SynthConfig, synthesize

        province = work / "province"
        t0 = time.perf_counter()
        synthesize(SynthConfig(scale=scale, seed=seed), province, workers=workers)
        out["synth_seconds"] = round(time.perf_counter() - t0, 1)
    manifest = orjson.loads((province / "manifest.json").read_bytes())
    out["province"] = {
        "scale": manifest["scale"],
        "residents": manifest["residents"],
        "resources": manifest["resources"]["total"],
    }
    session = registry_session(province, work)
    lake = work / "lake"
    given = {"record_person": truth_persons(province), "submission_batch": truth_batches(province)}
    built = work / "lake-built.json"
    if built.exists() and read_manifest(lake) is not None:
        record = orjson.loads(built.read_bytes())
        if record["province"] == str(province.resolve()):
            out["lake_reused"] = True
            return TruthLake(province, session, lake, given, record["seconds"])
    t0 = time.perf_counter()
    build_from_folder(session, province / "submissions", lake, dimensions=given)
    publish_facts(lake)  # the catalogue's analytics tables are part of the build
    seconds = time.perf_counter() - t0
    built.write_bytes(orjson.dumps({"province": str(province.resolve()), "seconds": seconds}))
    return TruthLake(province, session, lake, given, seconds)


def current_analytics(built: TruthLake) -> dict[str, float]:
    """Bring a reused lake's analytics tables up to this release (a lake built by an earlier one
    may lack them, or have them written by other SQL): they are published again. Gives the
    seconds that took, or nothing when they were current."""
    from phip.analytics.facts import current_facts, fact_sources, publish_facts
    from phip.lake.manifest import require_manifest

    if current_facts(require_manifest(built.lake)) == fact_sources():
        return {}
    return {"analytics_seconds": round(publish_facts(built.lake), 2)}


def run(
    scale: float = 0.01,
    province: Path | None = None,
    seed: int = 5,
    repeats: int = 3,
    spark: bool = True,
    workers: int = 2,
    work: Path | None = None,
) -> dict[str, Any]:
    from phip.analytics.facts import publish_facts
    from phip.lake.build import refresh
    from phip.lake.manifest import require_manifest
    from phip.lake.service import resource_types

    out: dict[str, Any] = {}
    with bench_folder(work, "phip-bench-analytics-") as folder:
        built = truth_lake(folder, province, scale, seed, workers, out)
        province, session, lake = built.province, built.session, built.lake
        build_seconds = built.build_seconds
        lake_rows = sum(t.rows for t in require_manifest(lake).tables.values())
        out["lake_build"] = {
            "seconds": round(build_seconds, 1),
            "reused": bool(out.get("lake_reused")),
            "resources_per_second": round(out["province"]["resources"] / build_seconds),
            "rows": lake_rows,
            "files": sum(len(t.files) for t in require_manifest(lake).tables.values()),
            "bytes": sum(p.stat().st_size for p in (lake / "tables").rglob("*.parquet")),
        }
        again = current_analytics(built)
        if again:
            out["lake_build"]["analytics_refresh"] = again
        runs = [_compute(lake, "duckdb") for _ in range(max(1, repeats))]
        duck = statistics.median(s for s, _ in runs)
        out["catalogue_duckdb"] = {
            "median_seconds": round(duck, 2),
            "runs": [round(s, 2) for s, _ in runs],
            "result_rows": runs[0][1],
        }
        if spark:
            # one run (the session is started before it): the whole catalogue takes minutes there
            from phip.engines import engine_for

            with engine_for("spark") as on_spark:
                seconds, rows = _compute(lake, on_spark)
            out["catalogue_spark"] = {
                "seconds": round(seconds, 2),
                "result_rows": rows,
                "spark_over_duckdb": round(seconds / duck, 1),
            }
        # incremental: 1% of the resources change after the build, all from the last month
        # (the usual case) or spread over every month (the worst case)
        dims, last_month = built.dimensions(), built.last_month()
        for label, month in (("incremental_last_month", last_month), ("incremental_spread", None)):
            seq = require_manifest(lake).change_seq + 1
            changes = Changes(province, resource_types(), 0.01, seq, month)
            t0 = time.perf_counter()
            inc = refresh(lake, fixed_changes(changes, seq), dims)
            facts_seconds = publish_facts(lake)
            inc_seconds = time.perf_counter() - t0
            out[label] = {
                "changed_resources": changes.count(),
                "submission_month": month or "all",
                "seconds": round(inc_seconds, 1),
                "partitions_written": inc.partitions_written,
                "partitions_total": sum(len(t.files) for t in require_manifest(lake).tables.values()),
                "analytics_tables_seconds": round(facts_seconds, 1),
                "full_build_over_incremental": round(build_seconds / inc_seconds, 1),
            }
        session.close()
    return out
