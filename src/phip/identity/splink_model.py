"""The batch linkage model on Splink 5 (DuckDB or Spark): comparisons with the levels of
`compare.py` written as SQL over the feature table (in the engine's dialect), blocking rules,
training (u by random sampling, m by EM), prediction and clustering. A parity test checks that
every SQL level equals the Python level.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from phip.engines import DuckDBEngine, Engine
from phip.engines.dialects import Dialect, DuckDB, dialect
from phip.identity.compare import ADDRESS_SIMILAR, LEVELS, MISSING, PINYIN_CLOSE

#: both identifiers are of another kind than a resident identity number (`compare.other_identifier`)
OTHER_IDENTIFIER_SQL = (
    "id18_l IS NULL AND id18_r IS NULL"
    " AND length(id_raw_l) NOT IN (15, 18) AND length(id_raw_r) NOT IN (15, 18)"
)


def _levels(d: Dialect) -> dict[str, list[tuple[str, str]]]:
    """The SQL condition of every level in dialect `d`, in the order of `compare.LEVELS` (the last
    is ELSE). The similarity functions on Spark come from Splink's jar (`engines.spark`)."""
    dl, jw = d.damerau_levenshtein, d.jaro_winkler
    repairs = d.intersect(d.split("id_repairs_l", "|"), d.split("id_repairs_r", "|"))
    return {
        "id_number": [
            (MISSING, "id_raw_l IS NULL OR id_raw_r IS NULL"),
            ("exact", "id_raw_l = id_raw_r"),
            ("equivalent_15_18", "id18_l = id18_r"),
            (
                "one_edit",
                "contains(coalesce(id_repairs_r, ''), id18_l) OR contains(coalesce(id_repairs_l, ''), id18_r)"
                f" OR {d.length(repairs)} > 0"
                f" OR ({OTHER_IDENTIFIER_SQL} AND {dl('id_raw_l', 'id_raw_r')} <= 1)",
            ),
            ("different", "ELSE"),
        ],
        "name": [
            (MISSING, "name_l IS NULL OR name_r IS NULL"),
            ("exact", "name_l = name_r"),
            ("minority_variant", "(minority_l OR minority_r) AND name_nodot_l = name_nodot_r"),
            ("same_pinyin", "pinyin_l = pinyin_r"),
            (
                "one_char",
                "hanzi_l = hanzi_r AND greatest(length(name_l), length(name_r)) >= 3"
                f" AND {dl('name_l', 'name_r')} <= 1",
            ),
            ("pinyin_close", f"{jw('pinyin_l', 'pinyin_r')} >= {PINYIN_CLOSE}"),
            (
                "minority_partial",
                "(minority_l OR minority_r) AND"
                f" ({d.contains_all('name_parts_l', 'name_parts_r')}"
                f" OR {d.contains_all('name_parts_r', 'name_parts_l')})",
            ),
            ("same_surname", "surname_l = surname_r"),
            ("different", "ELSE"),
        ],
        "birth_date": [
            (MISSING, "birth_l IS NULL OR birth_r IS NULL"),
            ("exact", "birth_l = birth_r"),
            (
                "day_month_swapped",
                "substr(birth_l, 1, 4) = substr(birth_r, 1, 4)"
                " AND substr(birth_l, 6, 2) = substr(birth_r, 9, 2)"
                " AND substr(birth_l, 9, 2) = substr(birth_r, 6, 2)",
            ),
            # dates are written alike (YYYY-MM-DD), so of equal length
            ("one_digit", d.one_substitution("replace(birth_l, '-', '')", "replace(birth_r, '-', '')")),
            (
                "within_31_days",
                f"abs({d.days_between('CAST(birth_l AS DATE)', 'CAST(birth_r AS DATE)')}) <= 31",
            ),
            ("same_year", "substr(birth_l, 1, 4) = substr(birth_r, 1, 4)"),
            ("different", "ELSE"),
        ],
        "sex": [
            (MISSING, "sex_l IS NULL OR sex_r IS NULL"),
            ("agree", "sex_l = sex_r"),
            ("disagree", "ELSE"),
        ],
        "phone": [
            (MISSING, "phone_l IS NULL OR phone_r IS NULL"),
            ("exact", "phone_l = phone_r AND NOT phone_shared_l"),
            ("exact_shared", "phone_l = phone_r"),
            (
                "one_digit",
                "length(phone_l) = length(phone_r) AND"
                f" ({d.one_substitution('phone_l', 'phone_r')} OR {dl('phone_l', 'phone_r')} = 1)",
            ),
            ("different", "ELSE"),
        ],
        "address": [
            (
                MISSING,
                "NOT ((division_l IS NOT NULL AND division_r IS NOT NULL)"
                " OR (address_l IS NOT NULL AND address_r IS NOT NULL))",
            ),
            (
                "same_village",
                "length(division_l) >= 12 AND substr(division_l, 1, 12) = substr(division_r, 1, 12)",
            ),
            (
                "same_township",
                "length(division_l) >= 9 AND length(division_r) >= 9"
                " AND substr(division_l, 1, 9) = substr(division_r, 1, 9)",
            ),
            (
                "same_county",
                "substr(division_l, 1, 6) = substr(division_r, 1, 6) AND substr(division_l, 5, 2) <> '00'",
            ),
            ("text_similar", f"{jw('address_l', 'address_r')} >= {ADDRESS_SIMILAR}"),
            ("different", "ELSE"),
        ],
    }


#: the levels in DuckDB's dialect (the one the parity tests read)
LEVEL_SQL = _levels(DuckDB())

#: levels whose weight is adjusted by how common the value is (a common name agreeing says less)
TF_LEVELS = {("name", "exact"): "name", ("name", "same_pinyin"): "pinyin", ("birth_date", "exact"): "birth"}

#: pairs scored are those agreeing on at least one of these (measured recall: `phip empi evaluate`)
BLOCKING_RULES = [
    "l.id18 = r.id18",
    "l.id_raw = r.id_raw",
    "l.id14 = r.id14",
    "l.pinyin = r.pinyin AND l.birth = r.birth",
    "l.birth = r.birth AND substr(l.pinyin, 1, 3) = substr(r.pinyin, 1, 3)",
    "l.name = r.name AND l.county = r.county",
    "l.phone = r.phone AND l.surname = r.surname",
    "l.birth = r.birth AND l.county = r.county AND l.sex = r.sex",
    "l.surname = r.surname AND substr(l.birth, 1, 7) = substr(r.birth, 1, 7) AND l.county = r.county",
]
#: EM runs, each fixing what its blocking rule makes agree
TRAINING_BLOCKS = ["l.id18 = r.id18", "l.pinyin = r.pinyin AND l.birth = r.birth"]
#: used in their place, in this order, when records have too few pairs for one of them (data
#: without resident identity numbers, such as FEBRL's)
FALLBACK_TRAINING_BLOCKS = ["l.id_raw = r.id_raw", "l.name = r.name AND l.birth = r.birth"]
#: deterministic rules for the prior λ (recall 0.9 assumed)
DETERMINISTIC_RULES = ["l.id18 = r.id18", "l.name = r.name AND l.birth = r.birth", "l.id_raw = r.id_raw"]
#: pairs a training blocking must yield to be used (EM on very few pairs is crude, but a small
#: input has no better evidence; a model trained on more records can be given with --model)
MIN_TRAINING_PAIRS = 1

#: m probabilities for levels that training rarely observes among true matches (a valid but
#: different identity number, a different sex): used when EM could not estimate them, so that
#: disagreement on them counts as strong evidence against a match instead of Splink's default
PRIOR_M = {
    ("id_number", "different"): 0.002,
    ("sex", "disagree"): 0.01,
    ("birth_date", "different"): 0.01,
}

#: levels given no weight at all: a phone shared by several people is a household's phone, and
#: household members also share the village and the surname; counting the phone again would
#: merge mother and daughter (the comparisons are not independent within a household)
NEUTRAL_LEVELS = {("phone", "exact_shared")}

#: a pair at or above this probability is the same person (automatic link)
MATCH_THRESHOLD = 0.99
#: between this and MATCH_THRESHOLD a pair is a possible match (the review queue)
REVIEW_THRESHOLD = 0.5


def level_sql_consistent() -> None:
    """The SQL levels are exactly the Python levels (names and order)."""
    for attr, levels in LEVELS.items():
        names = [n for n, _sql in LEVEL_SQL[attr]]
        if names != [MISSING, *levels]:
            raise AssertionError(f"{attr}: SQL levels {names} differ from {levels}")


def level_sql(sql_dialect: Dialect | str = "duckdb") -> dict[str, list[tuple[str, str]]]:
    """The comparison levels as SQL of a dialect (by name or object)."""
    return _levels(dialect(sql_dialect))


def for_dialect(model: dict[str, Any], sql_dialect: Dialect | str) -> dict[str, Any]:
    """A trained model with its comparison and blocking SQL in a dialect (a model trained on
    DuckDB runs on Spark and back; parameters are untouched)."""
    import copy

    d = dialect(sql_dialect)
    out = copy.deepcopy(model)
    if out.get("sql_dialect", DuckDB.name) == d.name:
        return out
    sql = level_sql(d)
    out["sql_dialect"] = d.name
    for rule in out.get("blocking_rules_to_generate_predictions") or []:
        if isinstance(rule, dict):
            rule["sql_dialect"] = d.name
    for comp in out.get("comparisons") or []:
        conditions = dict(sql[comp["output_column_name"]])
        for lvl in comp["comparison_levels"]:
            cond = conditions[lvl["label_for_charts"]]
            lvl["sql_condition"] = cond
    return out


def comparisons(sql_dialect: Dialect | str = "duckdb") -> list[dict[str, Any]]:
    level_sql_consistent()
    out = []
    for attr, levels in level_sql(sql_dialect).items():
        out_levels = []
        for name, sql in levels:
            lvl: dict[str, Any] = {"sql_condition": sql, "label_for_charts": name}
            if name == MISSING:
                lvl["is_null_level"] = True
            col = TF_LEVELS.get((attr, name))
            if col:
                lvl["tf_adjustment_column"] = col
                lvl["tf_adjustment_weight"] = 1.0
            out_levels.append(lvl)
        out.append({"output_column_name": attr, "comparison_levels": out_levels})
    return out


def settings(sql_dialect: Dialect | str = "duckdb") -> dict[str, Any]:
    d = dialect(sql_dialect)
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "sql_dialect": d.name,
        "comparisons": comparisons(d),
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": b, "sql_dialect": d.name} for b in BLOCKING_RULES
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
    }


def _engine(con: Any) -> Engine:
    """An engine, or a bare DuckDB connection made one."""
    if isinstance(con, Engine):
        return con
    return DuckDBEngine(con)


def _linker(engine: Engine, table: str, model: dict[str, Any] | None) -> Any:
    from splink import Linker

    db_api = engine.splink_api()
    sdf = db_api.register(table)
    chosen = for_dialect(model, engine.dialect) if model else settings(engine.dialect)
    return Linker(sdf, chosen, log_level=logging.ERROR)


def train(con: Any, table: str, seed: int = 42, max_pairs: float = 2e6) -> dict[str, Any]:
    """Train on the records in table `table` (of an engine, or a DuckDB connection): λ from
    deterministic rules, u by random sampling, m by EM over several blockings. Returns the model
    (Splink settings JSON)."""
    engine = _engine(con)
    deterministic, blocks = training_rules(engine, table)
    linker = _linker(engine, table, None)
    linker.training.estimate_probability_two_random_records_match(
        [{"blocking_rule": r} for r in deterministic], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    for rule in blocks:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    model: dict[str, Any] = linker.misc.save_model_to_json()
    for comp in model["comparisons"]:
        for lvl in comp["comparison_levels"]:
            key = (comp["output_column_name"], lvl.get("label_for_charts", ""))
            prior = PRIOR_M.get(key)
            if prior is not None and lvl.get("m_probability") is None:
                lvl["m_probability"] = prior
            if key in NEUTRAL_LEVELS and lvl.get("u_probability") is not None:
                lvl["m_probability"] = lvl["u_probability"]
    return model


class TrainingError(ValueError):
    """The records give no basis to train a model on (link them with a trained one)."""


def count_pairs(engine: Engine, table: str, rule: str) -> int:
    sql = f"SELECT count(*) FROM {table} l JOIN {table} r ON l.unique_id < r.unique_id AND ({rule})"
    return int(engine.rows(sql)[0][0])


def training_rules(engine: Engine, table: str) -> tuple[list[str], list[str]]:
    """(deterministic rules for λ, EM blockings): the preferred ones when the records have pairs
    for them, else the fallbacks. Two EM blockings are needed, each training what the other fixes."""
    counts = {r: count_pairs(engine, table, r) for r in {*TRAINING_BLOCKS, *FALLBACK_TRAINING_BLOCKS}}
    blocks = [r for r in TRAINING_BLOCKS if counts[r] >= MIN_TRAINING_PAIRS]
    for r in FALLBACK_TRAINING_BLOCKS:
        if (
            len(blocks) < 2
            and counts[r] >= MIN_TRAINING_PAIRS
            and not (r == "l.id_raw = r.id_raw" and "l.id18 = r.id18" in blocks)
        ):
            blocks.append(r)
    deterministic = [r for r in DETERMINISTIC_RULES if counts.get(r, count_pairs(engine, table, r)) > 0]
    if len(blocks) < 2 or not deterministic:
        raise TrainingError(
            "too few likely pairs to train a model on these records (shared identity numbers, or equal"
            f" names and birth dates: {counts}); link them with a trained model (--model)"
        )
    return deterministic, blocks


def predict(
    con: Any,
    table: str,
    model: dict[str, Any],
    threshold: float = REVIEW_THRESHOLD,
    tf: dict[str, dict[str, float]] | None = None,
) -> Any:
    """Scored pairs at or above `threshold` (a Splink dataframe) and the linker that made them.
    `tf`: the term frequencies the model was trained with; without them they are computed from
    `table`, which is wrong for a small input (two records sharing a name make it "common")."""
    import pyarrow as pa

    engine = _engine(con)
    linker = _linker(engine, table, model)
    for col, freqs in (tf or {}).items():
        name = f"phip_tf_{col}"
        engine.register(
            name,
            pa.table(
                {
                    col: pa.array(list(freqs), pa.string()),
                    f"tf_{col}": pa.array(list(freqs.values()), pa.float64()),
                }
            ),
        )
        sdf = linker._db_api.register(name)
        linker.table_management.register_term_frequency_lookup(sdf, col)
    return linker, linker.inference.predict(threshold_match_probability=threshold)


MODEL_FORMAT = "phip-empi-model/1"


def save(
    model: dict[str, Any], path: Path, tf: dict[str, dict[str, float]] | None = None, records: int = 0
) -> None:
    """The model file: Splink's settings and trained parameters, the term frequencies real-time
    scoring needs, and when and on how many records it was trained (models are versioned by
    file; retraining writes a new one)."""
    from datetime import UTC, datetime

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": MODEL_FORMAT,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": records,
        "splink": model,
        "term_frequencies": tf or {},
    }
    path.write_text(json.dumps(doc, ensure_ascii=False))


def load(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """(Splink model, term frequencies) from a model file (a bare Splink model JSON works too)."""
    doc = json.loads(path.read_text())
    if doc.get("format") == MODEL_FORMAT:
        return doc["splink"], doc.get("term_frequencies") or {}
    return doc, {}
