"""Running the rule catalogue over the lake on DuckDB or Spark: every failing record of every
rule, and the records checked per facility (the scores' denominators)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from phip.lake.manifest import Manifest, require_manifest
from phip.lake.reader import open_duckdb, open_spark
from phip.quality.catalogue import Catalogue, Rule, catalogue
from phip.quality.compile import checked_sql, rule_sql

Progress = Callable[[str, float], None]

FINDINGS_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("resource", pa.string()),
        ("facility", pa.string()),
        ("month", pa.string()),
        ("value", pa.string()),
    ]
)
CHECKED_SCHEMA = pa.schema([("facility", pa.string()), ("resource", pa.string()), ("records", pa.int64())])


@dataclass
class RuleRun:
    manifest: Manifest
    findings: pa.Table  # FINDINGS_SCHEMA, one row per (rule, resource)
    checked: pa.Table  # CHECKED_SCHEMA
    seconds: dict[str, float]


def _chosen(cat: Catalogue, ids: Iterable[str] | None) -> list[Rule]:
    if ids is None:
        return list(cat.rules)
    wanted = set(ids)
    unknown = wanted - {r.id for r in cat.rules}
    if unknown:
        raise KeyError(f"unknown rules: {', '.join(sorted(unknown))}")
    return [r for r in cat.rules if r.id in wanted]


def run_rules(
    lake: Path,
    engine: str = "duckdb",
    rules: Iterable[str] | None = None,
    progress: Progress | None = None,
    cat: Catalogue | None = None,
) -> RuleRun:
    cat = cat or catalogue()
    chosen = _chosen(cat, rules)
    manifest = require_manifest(lake)
    parts: list[pa.Table] = []
    seconds: dict[str, float] = {}
    if engine == "duckdb":
        con, _ = open_duckdb(lake, manifest=manifest)
        for rule in chosen:
            started = time.perf_counter()
            parts.append(con.sql(rule_sql(rule, cat)).to_arrow_table().cast(FINDINGS_SCHEMA))
            seconds[rule.id] = time.perf_counter() - started
            if progress:
                progress(rule.id, seconds[rule.id])
        checked = con.sql(checked_sql()).to_arrow_table().cast(CHECKED_SCHEMA)
        con.close()
    elif engine == "spark":
        from phip.engines.spark import session

        spark = session()
        open_spark(lake, spark, manifest)
        for rule in chosen:
            started = time.perf_counter()
            rows = spark.sql(rule_sql(rule, cat, "spark")).collect()
            parts.append(_from_rows([r.asDict() for r in rows], FINDINGS_SCHEMA))
            seconds[rule.id] = time.perf_counter() - started
            if progress:
                progress(rule.id, seconds[rule.id])
        rows = spark.sql(checked_sql("spark")).collect()
        checked = _from_rows([r.asDict() for r in rows], CHECKED_SCHEMA)
    else:
        raise ValueError(f"unknown engine {engine!r}: duckdb or spark")
    findings = pa.concat_tables(parts) if parts else FINDINGS_SCHEMA.empty_table()
    return RuleRun(manifest, _one_per_key(findings), checked, seconds)


def _from_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def _one_per_key(findings: pa.Table) -> pa.Table:
    """A record failing a rule several times (several quarantine reasons of one code) is one
    finding: the first value, in a stable order."""
    if findings.num_rows == 0:
        return findings
    ordered = findings.sort_by([("rule_id", "ascending"), ("resource", "ascending"), ("value", "ascending")])
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, (rule, res) in enumerate(
        zip(ordered.column("rule_id").to_pylist(), ordered.column("resource").to_pylist(), strict=True)
    ):
        if (rule, res) not in seen:
            seen.add((rule, res))
            keep.append(i)
    return ordered.take(keep)
