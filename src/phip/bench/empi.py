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


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _ours(folder: str, q: Any) -> None:
    from phip.identity.features import patients_in
    from phip.identity.linkage import link, pairwise_scores, read_truth

    records = list(patients_in(Path(folder) / "submissions"))
    t0 = time.perf_counter()
    result = link(records)
    seconds = time.perf_counter() - t0
    scores = pairwise_scores(result.clusters, read_truth(Path(folder) / "truth" / "persons.csv"))
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


def _in_process(target: Any, folder: str) -> dict[str, Any]:
    """Run one linker in its own process, so that its peak memory is its own."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(folder, q))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    return out


def _realtime_and_card(folder: Path, lookups: int = 1000) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from phip.identity import card
    from phip.identity.features import patients_in
    from phip.identity.linkage import link
    from phip.identity.person import derive
    from phip.identity.realtime import PersonIndex
    from phip.identity.scorer import Scorer
    from phip.store import init_db, make_engine

    records = list(patients_in(folder / "submissions"))
    result = link(records)
    people = [derive(r) for r in records]
    engine = make_engine(f"sqlite:///{folder.parent / 'index.db'}")
    init_db(engine)
    with Session(engine) as s:
        index = PersonIndex(s, Scorer.from_model(result.model, result.term_frequencies))
        t0 = time.perf_counter()
        for i in range(0, len(people), 5000):
            index.add(people[i : i + 5000], result.clusters)
        s.commit()
        build = time.perf_counter() - t0
        rng = random.Random(3)
        lat = []
        for p in rng.sample(people, min(lookups, len(people))):
            t = time.perf_counter()
            index.match(p)
            lat.append(time.perf_counter() - t)
        lat.sort()
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
        "index_build_seconds": round(build, 1),
        "lookup_p50_ms": round(1000 * statistics.median(lat), 3),
        "lookup_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 3),
        "card_verifications_per_second_one_core": round(len(tokens) / verify_s),
    }


def run(scale: float = 0.0005) -> dict[str, Any]:
    from phip.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        province = Path(tmp) / "province"
        synthesize(SynthConfig(scale=scale, seed=42), province, workers=2)
        ours = _in_process(_ours, str(province))
        plain = _in_process(_plain_splink, str(province))
        live = _realtime_and_card(province)
    return {
        "benchmark": "empi",
        "scale": scale,
        "records": ours["records"],
        "ours": ours,
        "plain_splink_defaults": plain,
        "realtime_sqlite": live,
    }
