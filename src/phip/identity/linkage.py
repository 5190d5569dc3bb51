"""Batch linkage end to end: records → features (DuckDB) → trained model → scored pairs →
clusters; and its evaluation against known truth (pairwise precision, recall, F1; blocking
recall)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phip.engines import Engine, engine_for
from phip.identity import splink_model
from phip.identity.features import feature_rows
from phip.identity.person import Person, PersonRecord
from phip.identity.scorer import term_frequencies

TABLE = "persons"
#: columns with term-frequency adjustments (see splink_model.TF_LEVELS)
TF_COLUMNS = sorted(set(splink_model.TF_LEVELS.values()))


@dataclass
class LinkResult:
    clusters: dict[str, str]  # record_id → cluster_id
    model: dict[str, Any]
    term_frequencies: dict[str, dict[str, float]]
    pairs_scored: int
    possible: list[tuple[str, str, float]]  # review band: (record, record, probability)
    #: per linked record, the probability of its strongest link into its cluster
    link_prob: dict[str, float] | None = None


def feature_schema() -> Any:
    """The Arrow schema of the feature table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("unique_id", pa.string()),
            ("name", pa.string()),
            ("name_nodot", pa.string()),
            ("minority", pa.bool_()),
            ("name_parts", pa.list_(pa.string())),
            ("hanzi", pa.bool_()),
            ("pinyin", pa.string()),
            ("surname", pa.string()),
            ("sex", pa.string()),
            ("birth", pa.string()),
            ("id_raw", pa.string()),
            ("id18", pa.string()),
            ("id14", pa.string()),
            ("id_repairs", pa.string()),
            ("phone", pa.string()),
            ("phone_shared", pa.bool_()),
            ("division", pa.string()),
            ("county", pa.string()),
            ("address", pa.string()),
        ]
    )


def _load(con: Any, records: list[PersonRecord]) -> list[Person]:
    """Derive the records and load their feature table (into an engine or a DuckDB connection)."""
    import pyarrow as pa

    people, rows = feature_rows(records)
    splink_model._engine(con).register(TABLE, pa.Table.from_pylist(rows, schema=feature_schema()))
    return people


def link(
    records: list[PersonRecord],
    model: dict[str, Any] | None = None,
    tf: dict[str, dict[str, float]] | None = None,
    engine: Engine | str | None = None,
) -> LinkResult:
    """Cluster `records` into persons; trains a model on them when none is given. A given model
    comes with the term frequencies it was trained with (`tf`). `engine`: duckdb (default) or
    spark, by name or instance; None follows the `PHIP_ENGINE` setting."""
    con = engine_for(engine)
    people = _load(con, records)
    if model is None or tf is None:
        tf = term_frequencies(people, TF_COLUMNS)
    if len(records) < 2:
        return LinkResult({r.record_id: r.record_id for r in records}, model or {}, tf, 0, [])
    given = model is not None
    model = model or splink_model.train(con, TABLE)
    linker, pairs = splink_model.predict(con, TABLE, model, tf=tf if given else None)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=splink_model.MATCH_THRESHOLD
    )
    clusters = {
        str(u): str(c) for u, c in con.rows(f"SELECT unique_id, cluster_id FROM {clustered.physical_name}")
    }
    for r in records:
        clusters.setdefault(r.record_id, r.record_id)
    possible = [
        (str(a), str(b), float(p))
        for a, b, p in con.rows(
            f"SELECT unique_id_l, unique_id_r, match_probability FROM {pairs.physical_name} "
            f"WHERE match_probability < {splink_model.MATCH_THRESHOLD} "
            "ORDER BY match_probability DESC, unique_id_l, unique_id_r"
        )
    ]
    n_pairs = con.rows(f"SELECT count(*) FROM {pairs.physical_name}")[0]
    strongest = {
        str(u): float(p)
        for u, p in con.rows(
            f"SELECT u, max(p) FROM (SELECT unique_id_l AS u, match_probability AS p "
            f"FROM {pairs.physical_name} UNION ALL "
            f"SELECT unique_id_r, match_probability FROM {pairs.physical_name}) AS both_sides "
            f"WHERE p >= {splink_model.MATCH_THRESHOLD} GROUP BY u"
        )
    }
    return LinkResult(clusters, model, tf, int(n_pairs[0]), possible, strongest)


def write_clusters(result: LinkResult, records: list[PersonRecord], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "cluster_id"])
        for r in records:
            w.writerow([r.record_id, result.clusters[r.record_id]])


# ---- evaluation ---------------------------------------------------------------------------------
def _pairs(groups: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in groups.values())


def pairwise_scores(predicted: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against the true persons."""
    ids = [i for i in predicted if i in truth]
    tp = _pairs(Counter((predicted[i], truth[i]) for i in ids))
    pred = _pairs(Counter(predicted[i] for i in ids))
    true = _pairs(Counter(truth[i] for i in ids))
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": len(ids),
        "true_pairs": true,
        "predicted_pairs": pred,
        "true_positive_pairs": tp,
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
    }


def blocking_recall(records: list[PersonRecord], truth: dict[str, str]) -> dict[str, Any]:
    """Share of true pairs that at least one blocking rule brings together, and per rule."""
    import duckdb

    con = duckdb.connect()
    _load(con, records)
    con.execute("CREATE TABLE truth(unique_id VARCHAR, person VARCHAR)")
    con.executemany(
        "INSERT INTO truth VALUES (?, ?)",
        [(r.record_id, truth[r.record_id]) for r in records if r.record_id in truth],
    )
    base = (
        f"FROM truth tl JOIN truth tr ON tl.person = tr.person AND tl.unique_id < tr.unique_id "
        f"JOIN {TABLE} l ON l.unique_id = tl.unique_id JOIN {TABLE} r ON r.unique_id = tr.unique_id"
    )
    total = con.execute(f"SELECT count(*) {base}").fetchone()[0]  # type: ignore[index]
    rules = splink_model.BLOCKING_RULES
    any_rule = " OR ".join(f"coalesce({b}, false)" for b in rules)
    caught = con.execute(f"SELECT count(*) {base} WHERE {any_rule}").fetchone()[0]  # type: ignore[index]
    per_rule = {b: con.execute(f"SELECT count(*) {base} WHERE {b}").fetchone()[0] for b in rules}  # type: ignore[index]
    return {
        "true_pairs": total,
        "caught": caught,
        "recall": round(caught / total, 5) if total else 1.0,
        "per_rule": per_rule,
    }


_FEBRL = re.compile(r"^rec-(\d+)-(org|dup-\d+)$")


def truth_from_ids(records: list[PersonRecord]) -> dict[str, str] | None:
    """Truth encoded in FEBRL-style record ids (`rec-12-org`, `rec-12-dup-0`), when they are."""
    out = {}
    for r in records:
        m = _FEBRL.match(r.record_id)
        if m is None:
            return None
        out[r.record_id] = m.group(1)
    return out


def read_truth(path: Path) -> dict[str, str]:
    """A truth CSV: `record_id,person_id` (a synthetic province's `truth/persons.csv` has
    `record,facility,person_id`)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        key = "record_id" if "record_id" in (reader.fieldnames or []) else "record"
        return {row[key]: row["person_id"] for row in reader}
