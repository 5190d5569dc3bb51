"""Batch linkage on Spark (`PHIP_ENGINE=spark`): the same comparison levels as Python and DuckDB,
the same clusters from the same model, and a model trained on Spark as good as on DuckDB."""

from pathlib import Path

import pyarrow as pa
import pytest

from phip.engines import DuckDBEngine, Engine, SparkEngine
from phip.identity.compare import compare
from phip.identity.features import feature_rows, patients_in, shared_phones
from phip.identity.linkage import TABLE, _load, feature_schema, link, pairwise_scores, read_truth
from phip.identity.person import PersonRecord
from phip.identity.splink_model import level_sql
from tests.identity.test_linkage import level_pairs

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark() -> SparkEngine:
    return SparkEngine()


def _levels(engine: Engine, records: list[PersonRecord], pairs: list[tuple[str, str]]) -> dict:  # type: ignore[type-arg]
    _load(engine, records)
    engine.register("pairs", pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}))
    sql = level_sql(engine.dialect)
    cols = []
    for attr, levels in sql.items():
        whens = " ".join(f"WHEN {cond} THEN '{name}'" for name, cond in levels if cond != "ELSE")
        cols.append(f"CASE {whens} ELSE '{levels[-1][0]}' END AS {attr}")
    names = list(feature_schema().names)
    sides = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in names)
    rows = engine.rows(
        f"SELECT a, b, {', '.join(cols)} FROM (SELECT pairs.a, pairs.b, {sides} FROM pairs "
        f"JOIN {TABLE} l ON l.unique_id = pairs.a JOIN {TABLE} r ON r.unique_id = pairs.b) AS x"
    )
    return {(row[0], row[1]): dict(zip(sql, row[2:], strict=True)) for row in rows}


def test_spark_levels_equal_python_levels(spark: SparkEngine, small_province: Path) -> None:
    records, pairs = level_pairs(small_province)
    people, _rows = feature_rows(records)
    shared = shared_phones(people)
    by_id = {p.record_id: p for p in people}
    on_spark = _levels(spark, records, pairs)
    on_duckdb = _levels(DuckDBEngine(), records, pairs)
    assert on_spark == on_duckdb
    wrong = [
        (a, b, attr, level, on_spark[(a, b)][attr])
        for a, b in pairs
        for attr, level in compare(by_id[a], by_id[b], shared).items()
        if on_spark[(a, b)][attr] != level
    ]
    assert wrong == []
    assert len({(attr, lvl) for v in on_spark.values() for attr, lvl in v.items()}) >= 30


def _partition(clusters: dict[str, str]) -> list[tuple[str, ...]]:
    groups: dict[str, set[str]] = {}
    for r, c in clusters.items():
        groups.setdefault(c, set()).add(r)
    return sorted(tuple(sorted(g)) for g in groups.values())


def test_spark_links_like_duckdb(spark: SparkEngine, small_province: Path) -> None:
    records = list(patients_in(small_province / "submissions"))
    truth = read_truth(small_province / "truth" / "persons.csv")
    on_duckdb = link(records, engine="duckdb")
    same_model = link(records, on_duckdb.model, on_duckdb.term_frequencies, engine=spark)
    assert _partition(same_model.clusters) == _partition(on_duckdb.clusters)
    assert same_model.pairs_scored == on_duckdb.pairs_scored
    assert [(a, b) for a, b, _p in same_model.possible] == [(a, b) for a, b, _p in on_duckdb.possible]
    trained = link(records, engine=spark)
    assert trained.model["sql_dialect"] == "spark"
    scores = pairwise_scores(trained.clusters, truth)
    assert scores["precision"] >= 0.995 and scores["f1"] >= 0.99
