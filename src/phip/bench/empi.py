"""`phip bench empi`: batch linkage of a synthetic province's Patient records with our model and,
in the same run on the same records, plain Splink with library-default comparisons (records/s,
peak memory, pairwise precision/recall/F1 against the truth); then real-time lookup latency on the
person index and health-card code verifications per second."""

from __future__ import annotations

import logging
import multiprocessing as mp
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from phip.fhir import ndjson


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _ours(folder: str, q: Any, keep: str = "") -> None:
    """Our linker; with `keep`, the model and clusters are written there for the real-time part."""
    from phip.identity import splink_model
    from phip.identity.features import patients_in
    from phip.identity.linkage import link, pairwise_scores, read_truth

    records = list(patients_in(Path(folder) / "submissions"))
    t0 = time.perf_counter()
    result = link(records, engine="duckdb")
    seconds = time.perf_counter() - t0
    scores = pairwise_scores(result.clusters, read_truth(Path(folder) / "truth" / "persons.csv"))
    if keep:
        splink_model.save(
            result.model, Path(keep) / "empi" / "model.json", result.term_frequencies, len(records)
        )
        (Path(keep) / "clusters.json").write_bytes(orjson.dumps(result.clusters))
    q.put(
        {
            "seconds": round(seconds, 2),
            "records_per_second": round(len(records) / seconds),
            "peak_rss_mb": _peak_mb(),
            **scores,
        }
    )


def _plain_splink(folder: str, q: Any) -> None:
    """Splink with its library comparisons on the raw contract columns, as a newcomer would."""
    import duckdb
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from phip.identity.features import patients_in
    from phip.identity.linkage import pairwise_scores, read_truth

    records = list(patients_in(Path(folder) / "submissions"))
    t0 = time.perf_counter()
    rows = [
        {
            "unique_id": r.record_id,
            "name": r.name or None,
            "sex": r.sex or None,
            "birth_date": r.birth_date or None,
            "id_number": r.id_number or None,
            "phone": r.phone or None,
            "address": r.address or None,
        }
        for r in records
    ]
    con = duckdb.connect()
    con.register("raw", pa.Table.from_pylist(rows))
    con.execute("CREATE TABLE people AS SELECT * FROM raw")
    db = DuckDBAPI(con)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name"),
            cl.ExactMatch("sex"),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("id_number"),
            cl.ExactMatch("phone"),
            cl.JaroWinklerAtThresholds("address"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("name", "birth_date"),
            block_on("phone"),
        ],
    )
    linker = Linker(db.register("people"), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match([block_on("id_number")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "birth_date"))
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, 0.99)
    clusters = {
        str(u): str(c)
        for u, c in con.execute(f"SELECT unique_id, cluster_id FROM {clustered.physical_name}").fetchall()
    }
    seconds = time.perf_counter() - t0
    for r in records:
        clusters.setdefault(r.record_id, r.record_id)
    scores = pairwise_scores(clusters, read_truth(Path(folder) / "truth" / "persons.csv"))
    q.put(
        {
            "seconds": round(seconds, 2),
            "records_per_second": round(len(records) / seconds),
            "peak_rss_mb": _peak_mb(),
            **scores,
        }
    )


def _in_process(target: Any, folder: str, *extra: Any) -> dict[str, Any]:
    """Run one linker in its own process, so that its peak memory is its own."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(folder, q, *extra))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(1000 * values[int(p * (len(values) - 1))], 3)


def _realtime_and_card(folder: Path, work: Path, lookups: int = 1000, writes: int = 300) -> dict[str, Any]:
    """The person index in SQLite filled with every record of the province (persons from the
    batch run): lookup latency (candidates from the hashed keys, scored in process), the full
    write path of a new Patient (match, index, golden record), card verifications per second."""
    from sqlalchemy.orm import Session

    from phip.identity import card, splink_model
    from phip.identity.features import patients_in
    from phip.identity.person import derive
    from phip.identity.realtime import PersonIndex
    from phip.identity.scorer import Scorer
    from phip.identity.store_link import index_patient, model_path
    from phip.store import init_db, make_engine

    records = list(patients_in(folder / "submissions"))
    clusters: dict[str, str] = orjson.loads((work / "clusters.json").read_bytes())
    model, tf = splink_model.load(model_path(work))
    people = [derive(r) for r in records]
    del records
    engine = make_engine(f"sqlite:///{work / 'index.db'}")
    init_db(engine)
    with Session(engine) as s:
        index = PersonIndex(s, Scorer.from_model(model, tf))
        t0 = time.perf_counter()
        for i in range(0, len(people), 5000):
            index.add(people[i : i + 5000], clusters)
            if i % 100_000 == 0:
                s.commit()
        s.commit()
        build = time.perf_counter() - t0
        rng = random.Random(3)
        lat, found = [], 0
        for p in rng.sample(people, min(lookups, len(people))):
            t = time.perf_counter()
            found += bool(index.match(p))
            lat.append(time.perf_counter() - t)
        # new registrations of residents already indexed (a Patient created at another facility)
        files = ndjson.type_files(folder / "submissions", "Patient")
        per_file = -(-writes // max(1, len(files)))
        sample: list[dict[str, Any]] = []
        for f in files:
            lines = ndjson.lines(f)
            sample += [orjson.loads(line) for _, line in zip(range(per_file), lines, strict=False)]
        sample = rng.sample(sample, min(writes, len(sample)))
        write_lat = []
        for n, res in enumerate(sample):
            res = {**res, "id": f"bench-new-{n}"}
            t = time.perf_counter()
            index_patient(s, work, res)
            write_lat.append(time.perf_counter() - t)
        s.commit()
        cards = [card.issue_card(s, f"P{i}").card_id for i in range(2000)]
        s.commit()
        tokens = [card.issue_token(c) for c in cards] * 5
        t0 = time.perf_counter()
        for tk in tokens:
            card.verify(s, tk, "F-bench")
        verify_s = time.perf_counter() - t0
    engine.dispose()
    return {
        "indexed_records": len(people),
        "indexed_persons": len(set(clusters.values())),
        "index_build_seconds": round(build, 1),
        "lookups": len(lat),
        "lookups_with_candidates": found,
        "lookup_p50_ms": round(1000 * statistics.median(lat), 3),
        "lookup_p95_ms": _pct(lat, 0.95),
        "new_patient_writes": len(write_lat),
        "new_patient_p50_ms": round(1000 * statistics.median(write_lat), 3),
        "new_patient_p95_ms": _pct(write_lat, 0.95),
        "card_verifications_per_second_one_core": round(len(tokens) / verify_s),
    }


def run(scale: float = 0.0005, province: Path | None = None, plain: bool = True, **_: Any) -> dict[str, Any]:
    """Synthesise a province at `scale` (or take the one in `province`), link it with ours and
    with plain Splink (unless `plain` is off), then measure the real-time index."""
    from phip.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        folder = province
        if folder is None:
            folder = Path(tmp) / "province"
            synthesize(SynthConfig(scale=scale, seed=42), folder, workers=2)
        work = Path(tmp) / "work"
        ours = _in_process(_ours, str(folder), str(work))
        baseline = _in_process(_plain_splink, str(folder)) if plain else None
        live = _realtime_and_card(folder, work)
    return {
        "benchmark": "empi",
        "scale": None if province else scale,
        "province": province.name if province else None,
        "records": ours["records"],
        "ours": ours,
        "plain_splink_defaults": baseline,
        "realtime_sqlite": live,
    }
