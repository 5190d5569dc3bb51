"""`phip bench ingest`: bulk import with full validation into SQLite and PostgreSQL, beside the
naive per-resource path (fhir.resources `model_validate` and one repository write and commit per
resource) measured in the same run; then read and patient-scoped search latency on the store."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session


def _percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(s), 3),
        "p95_ms": round(1000 * s[int(0.95 * (len(s) - 1))], 3),
    }


def _naive(url: str, files: list[Path], limit: int) -> dict[str, Any]:
    from fhir.resources.R4B import get_fhir_model_class

    from phip.store import init_db, make_engine
    from phip.store.repository import Repository

    engine = make_engine(url)
    init_db(engine)
    records = []
    for f in files:
        with open(f, "rb") as fh:
            for line in fh:
                records.append(orjson.loads(line))
                if len(records) >= limit:
                    break
        if len(records) >= limit:
            break
    t0 = time.perf_counter()
    ok = 0
    with Session(engine) as s:
        repo = Repository(s)
        for r in records:
            try:
                get_fhir_model_class(r["resourceType"]).model_validate(r)
            except Exception:
                continue
            repo.update(r["resourceType"], r["id"], r)
            s.commit()
            ok += 1
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {
        "records": len(records),
        "stored": ok,
        "seconds": round(seconds, 2),
        "resources_per_second": round(len(records) / seconds),
    }


def _ours(url: str, src: Path) -> tuple[dict[str, Any], Any]:
    from phip.exchange.ingest import ingest
    from phip.store import init_db, make_engine

    engine = make_engine(url)
    init_db(engine)
    t0 = time.perf_counter()
    with Session(engine) as s:
        summary = ingest(s, src)
    seconds = time.perf_counter() - t0
    return {
        "submitted": summary.submitted,
        "accepted": summary.accepted,
        "quarantined": summary.quarantined,
        "seconds": round(seconds, 2),
        "resources_per_second": round(summary.submitted / seconds),
    }, engine


def _latency(engine: Any, n: int = 500) -> dict[str, Any]:
    from phip.store.models import Resource
    from phip.store.repository import Repository
    from phip.store.search import search

    rng = random.Random(1)
    with Session(engine) as s:
        # a spread sample over all types (every 97th change), and Patients separately
        keys = [
            tuple(r)
            for r in s.execute(
                select(Resource.res_type, Resource.res_id).where(Resource.change_seq % 97 == 0).limit(50000)
            )
        ]
        patients = list(s.scalars(select(Resource.res_id).where(Resource.res_type == "Patient").limit(50000)))
        repo = Repository(s)
        reads, searches = [], []
        for t, i in rng.sample(keys, min(n, len(keys))):
            t0 = time.perf_counter()
            repo.read(t, i)
            reads.append(time.perf_counter() - t0)
        for pid in rng.sample(patients, min(n, len(patients))):
            t0 = time.perf_counter()
            search(repo, "Encounter", [("patient", pid), ("_count", "50")])
            searches.append(time.perf_counter() - t0)
        stored = s.scalar(select(func.count()).select_from(Resource))
    return {
        "stored_resources": stored,
        "read": _percentiles(reads),
        "patient_encounter_search": _percentiles(searches),
    }


def run(scale: float = 0.0001, postgres: bool = True, naive_records: int = 3000) -> dict[str, Any]:
    from phip.store import pgtemp
    from phip.synth import SynthConfig, synthesize

    out: dict[str, Any] = {"benchmark": "ingest", "scale": scale}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        province = Path(tmp) / "province"
        synthesize(SynthConfig(scale=scale, seed=42), province, workers=2)
        src = province / "submissions"
        files = sorted(src.rglob("*.ndjson"))
        out["sqlite"], engine = _ours(f"sqlite:///{tmp}/ours.db", src)
        out["sqlite"]["latency"] = _latency(engine)
        engine.dispose()
        out["sqlite_naive_fhir_resources"] = _naive(f"sqlite:///{tmp}/naive.db", files, naive_records)
        out["sqlite_speedup_vs_naive"] = round(
            out["sqlite"]["resources_per_second"]
            / out["sqlite_naive_fhir_resources"]["resources_per_second"],
            1,
        )
        if postgres and pgtemp.available():
            url = stack.enter_context(pgtemp.cluster("bench"))
            out["postgresql"], engine = _ours(url, src)
            out["postgresql"]["latency"] = _latency(engine)
            engine.dispose()
            naive_url = url.rsplit("/", 1)[0] + "/naive"
            import psycopg

            with psycopg.connect(
                url.replace("postgresql+psycopg", "postgresql").rsplit("/", 1)[0] + "/postgres",
                autocommit=True,
            ) as c:
                c.execute('CREATE DATABASE "naive"')
            out["postgresql_naive_fhir_resources"] = _naive(naive_url, files, naive_records)
            out["postgresql_speedup_vs_naive"] = round(
                out["postgresql"]["resources_per_second"]
                / out["postgresql_naive_fhir_resources"]["resources_per_second"],
                1,
            )
    return out
