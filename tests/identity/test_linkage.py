"""Batch linkage on Splink/DuckDB: SQL levels equal Python levels; the CSV contract; accuracy."""

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import duckdb

from phip.identity.compare import compare
from phip.identity.features import feature_rows, patients_in
from phip.identity.linkage import TABLE, _load, pairwise_scores, read_truth, truth_from_ids
from phip.identity.person import PersonRecord
from phip.identity.splink_model import LEVEL_SQL, level_sql_consistent
from tests.identity.test_compare import CASES

PHIP = str(Path(sys.executable).parent / "phip")


def _sql_levels(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, str]]:
    con.execute("CREATE OR REPLACE TABLE pairs(a VARCHAR, b VARCHAR)")
    con.executemany("INSERT INTO pairs VALUES (?, ?)", pairs)
    cols = []
    for attr, levels in LEVEL_SQL.items():
        whens = " ".join(f"WHEN {sql} THEN '{name}'" for name, sql in levels if sql != "ELSE")
        cols.append(f"CASE {whens} ELSE '{levels[-1][0]}' END AS {attr}")
    # the comparison SQL names columns x_l / x_r: build them from the feature table
    feature_cols = [r[0] for r in con.execute(f"DESCRIBE {TABLE}").fetchall()]
    sides = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in feature_cols)
    sql = (
        f"SELECT a, b, {', '.join(cols)} FROM (SELECT pairs.a, pairs.b, {sides} FROM pairs "
        f"JOIN {TABLE} l ON l.unique_id = pairs.a JOIN {TABLE} r ON r.unique_id = pairs.b)"
    )
    names = list(LEVEL_SQL)
    return {(row[0], row[1]): dict(zip(names, row[2:], strict=True)) for row in con.execute(sql).fetchall()}


def level_pairs(small_province: Path) -> tuple[list[PersonRecord], list[tuple[str, str]]]:
    """Records and pairs for level parity: every table case both ways, 400 true pairs and 600
    random pairs of the province."""
    records: list[PersonRecord] = []
    pairs: list[tuple[str, str]] = []
    for n, (_attr, left, right, _level) in enumerate(CASES):
        a, b = f"case{n}a", f"case{n}b"
        records += [PersonRecord(record_id=a, **left), PersonRecord(record_id=b, **right)]
        pairs += [(a, b), (b, a)]
    province = list(patients_in(small_province / "submissions"))
    records += province
    rng = random.Random(3)
    by_person: dict[str, list[str]] = {}
    for rid, pid in read_truth(small_province / "truth" / "persons.csv").items():
        by_person.setdefault(pid, []).append(rid)
    pairs += [(g[0], g[1]) for g in by_person.values() if len(g) > 1][:400]  # true matches
    ids = [r.record_id for r in province]
    pairs += [(rng.choice(ids), rng.choice(ids)) for _ in range(600)]  # mostly non-matches
    return records, pairs


def test_sql_levels_equal_python_levels(small_province: Path) -> None:
    level_sql_consistent()
    records, pairs = level_pairs(small_province)
    people, _rows = feature_rows(records)
    from phip.identity.features import shared_phones

    shared = shared_phones(people)
    by_id = {p.record_id: p for p in people}
    con = duckdb.connect()
    _load(con, records)
    sql = _sql_levels(con, pairs)
    disagreements = [
        (a, b, attr, level, sql[(a, b)][attr])
        for a, b in pairs
        for attr, level in compare(by_id[a], by_id[b], shared).items()
        if sql[(a, b)][attr] != level
    ]
    assert disagreements == []
    seen = {(attr, lvl) for levels in sql.values() for attr, lvl in levels.items()}
    assert len(seen) >= 30  # the pairs exercise most levels, not just exact and different


def test_pairwise_scores() -> None:
    truth = {"a": "1", "b": "1", "c": "1", "d": "2", "e": "3"}
    perfect = pairwise_scores({"a": "x", "b": "x", "c": "x", "d": "y", "e": "z"}, truth)
    assert perfect["precision"] == perfect["recall"] == perfect["f1"] == 1.0
    merged = pairwise_scores({"a": "x", "b": "x", "c": "x", "d": "x", "e": "z"}, truth)
    assert merged["true_pairs"] == 3 and merged["predicted_pairs"] == 6 and merged["precision"] == 0.5
    split = pairwise_scores({"a": "x", "b": "x", "c": "w", "d": "y", "e": "z"}, truth)
    assert split["recall"] == round(1 / 3, 5) and split["precision"] == 1.0


def test_febrl_ids_carry_truth() -> None:
    recs = [PersonRecord("rec-1-org"), PersonRecord("rec-1-dup-0"), PersonRecord("rec-2-org")]
    assert truth_from_ids(recs) == {"rec-1-org": "1", "rec-1-dup-0": "1", "rec-2-org": "2"}
    assert truth_from_ids([PersonRecord("x1")]) is None


def test_link_command_contract(tmp_path: Path, small_province: Path) -> None:
    """Any CSV in the contract shape: hanzi and Latin names, missing columns and values."""
    people = list(patients_in(small_province / "submissions"))[:600]
    rows = [
        {
            "record_id": f"r{i}",
            "name": p.name,
            "sex": {"1": "男", "2": "F"}.get(p.sex, ""),
            "birth_date": p.birth_date.replace("-", "/") if i % 3 == 0 else p.birth_date,
            "id_number": p.id_number if i % 5 else "",
            "phone": p.phone,
            "address": p.address,
        }
        for i, p in enumerate(people)
    ]
    rows.append(
        {
            "record_id": "latin1",
            "name": "Zhang Li",
            "sex": "",
            "birth_date": "",
            "id_number": "",
            "phone": "",
            "address": "",
        }
    )
    src = tmp_path / "records.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "clusters.csv"
    done = subprocess.run(
        [
            PHIP,
            "empi",
            "link",
            "--input",
            str(src),
            "--output",
            str(out),
            "--save-model",
            str(tmp_path / "m.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(done.stdout)
    with open(out, newline="", encoding="utf-8") as f:
        result = list(csv.DictReader(f))
    assert [r["record_id"] for r in result] == [r["record_id"] for r in rows]  # one row per record, in order
    assert summary["records"] == len(rows) and summary["clusters"] < len(rows)
    # the same person's records (same valid identity number) end in one cluster
    cluster = {r["record_id"]: r["cluster_id"] for r in result}
    by_id: dict[str, set[str]] = {}
    for r in rows:
        if r["id_number"]:
            by_id.setdefault(r["id_number"], set()).add(cluster[r["record_id"]])
    assert sum(len(c) > 1 for c in by_id.values()) <= 2
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["format"] == "phip-empi-model/1" and saved["records"] == len(rows)
    assert saved["term_frequencies"]["name"] and saved["splink"]["comparisons"]
    # a saved model links again without training
    again = subprocess.run(
        [
            PHIP,
            "empi",
            "link",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "c2.csv"),
            "--model",
            str(tmp_path / "m.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(again.stdout)["records"] == len(rows)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,sex\n张三,1\n", encoding="utf-8")
    refused = subprocess.run(
        [PHIP, "empi", "link", "--input", str(bad), "--output", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "record_id" in refused.stderr


def test_evaluate_on_a_synthetic_province(small_province: Path) -> None:
    done = subprocess.run(
        [PHIP, "empi", "evaluate", str(small_province)], check=True, capture_output=True, text=True
    )
    scores = json.loads(done.stdout)
    assert scores["records"] > 1000 and scores["true_pairs"] > 500
    assert scores["blocking"]["recall"] >= 0.99
    assert scores["precision"] >= 0.995 and scores["f1"] >= 0.99, scores


def test_in_process_scorer_gives_splink_match_weights(small_province: Path) -> None:
    """Real-time scoring uses the model's weights without Splink: same match weight per pair."""
    from phip.identity import splink_model
    from phip.identity.features import shared_phones
    from phip.identity.scorer import Scorer, term_frequencies

    records = list(patients_in(small_province / "submissions"))
    people, _rows = feature_rows(records)
    con = duckdb.connect()
    _load(con, records)
    model = splink_model.train(con, TABLE)
    _linker, pairs = splink_model.predict(con, TABLE, model, threshold=0.0)
    scored = con.execute(
        f"SELECT unique_id_l, unique_id_r, match_weight FROM {pairs.physical_name}"
    ).fetchall()
    assert len(scored) > 1000
    scorer = Scorer.from_model(model, term_frequencies(people, ["name", "pinyin", "birth"]))
    by_id = {p.record_id: p for p in people}
    shared = shared_phones(people)
    worst = max(abs(scorer.score(by_id[a], by_id[b], shared)[0] - w) for a, b, w in scored)
    assert worst < 1e-6


def _febrl_shaped(n: int, seed: int) -> list[dict[str, str]]:
    """Records shaped like the FEBRL benchmark: Latin names, Australian addresses, 7-digit social
    security numbers, ids `rec-N-org` / `rec-N-dup-K`, duplicates with typos, swapped or missing
    values. Nothing in them is Chinese: no resident identity numbers, no division codes."""
    from faker import Faker

    fake = Faker("en_AU")
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def typo(s: str) -> str:
        if len(s) < 3:
            return s
        i = rng.randrange(len(s) - 1)
        return (
            s[:i] + s[i + 1] + s[i] + s[i + 2 :]
            if rng.random() < 0.5
            else s[:i] + rng.choice("aeiou") + s[i + 1 :]
        )

    rows = []
    for k in range(n):
        org = {
            "record_id": f"rec-{k}-org",
            "name": f"{fake.first_name()} {fake.last_name()}".lower(),
            "sex": "",
            "birth_date": fake.date_of_birth(minimum_age=1, maximum_age=95).strftime("%Y%m%d"),
            "id_number": str(rng.randrange(1_000_000, 9_999_999)),
            "phone": "",
            "address": fake.address().replace("\n", " ").lower(),
        }
        rows.append(org)
        for d in range(rng.choice([0, 0, 1, 1, 2])):
            dup = {**org, "record_id": f"rec-{k}-dup-{d}"}
            for field in rng.sample(["name", "birth_date", "id_number", "address"], rng.choice([1, 1, 2])):
                if field == "birth_date" and rng.random() < 0.5:
                    b = dup["birth_date"]
                    dup["birth_date"] = b[:4] + b[6:8] + b[4:6] if int(b[6:8]) <= 12 else typo(b)
                elif rng.random() < 0.15:
                    dup[field] = ""
                else:
                    dup[field] = typo(dup[field])
            rows.append(dup)
    return rows


def test_febrl_shaped_records_link_and_evaluate(tmp_path: Path) -> None:
    """A CSV unlike our synthetic province (no Chinese identity data at all): training falls back
    to the blockings the data supports, and the evaluation runs end to end."""
    rows = _febrl_shaped(600, seed=5)
    src = tmp_path / "febrl.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    done = subprocess.run([PHIP, "empi", "evaluate", str(src)], check=True, capture_output=True, text=True)
    scores = json.loads(done.stdout)
    assert scores["records"] == len(rows) and scores["true_pairs"] > 200
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.85, scores
    assert scores["blocking"]["per_rule"]["l.id_raw = r.id_raw"] > 0


def test_too_few_pairs_to_train_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "few.csv"
    src.write_text("record_id,name\nr1,alice\nr2,bob\nr3,carol\n", encoding="utf-8")
    done = subprocess.run(
        [PHIP, "empi", "link", "--input", str(src), "--output", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "too few likely pairs" in done.stderr + done.stdout
