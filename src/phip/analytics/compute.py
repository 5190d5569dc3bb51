"""Computing the catalogue over the lake on an engine (DuckDB embedded, the default, or Spark):
one query per indicator, every level, period and breakdown in it; the results as one Arrow table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pyarrow as pa

from phip.analytics.calendar import calendar, calendar_periods
from phip.analytics.catalogue import Indicator, catalogue
from phip.analytics.compile import base_sql, base_table, indicator_sql, passes
from phip.analytics.facts import current_facts
from phip.engines import Engine, engine_for
from phip.lake.manifest import Manifest, require_manifest
from phip.lake.reader import open_lake

RESULT_SCHEMA = pa.schema(
    [
        ("indicator", pa.string()),
        ("level", pa.string()),
        ("org_unit", pa.string()),
        ("period_type", pa.string()),
        ("period", pa.string()),
        ("breakdown", pa.string()),
        ("category", pa.string()),
        ("numerator", pa.float64()),
        ("denominator", pa.float64()),
        ("value", pa.float64()),
        ("numerator_records", pa.int64()),
        ("denominator_records", pa.int64()),
    ]
)


#: tables whose rows are services delivered: their months are the years indicators cover
ACTIVITY_TABLES = (
    "encounter",
    "observation",
    "medication_request",
    "medication_dispense",
    "immunization",
    "claim_item",
    "benefit",
    "appointment",
    "referral",
)


def covered_years(manifest: Manifest) -> tuple[int, int]:
    """The first and last year with services in the lake (this year when there are none): the
    years indicators are computed for. Start dates of older registrations (contracts, programme
    enrolments, problem-list entries) count in those years' states but add no years of their own."""
    years = {
        int(f["month"][:4])
        for name in ACTIVITY_TABLES
        if name in manifest.tables
        for f in manifest.tables[name].files
        if f["month"][:4].isdigit()
    }
    if not years:
        this = time.gmtime().tm_year
        return this, this
    return min(years), max(years)


def _select(ids: Iterable[str] | None) -> list[Indicator]:
    cat = catalogue()
    if ids is None:
        return list(cat.values())
    missing = [i for i in ids if i not in cat]
    if missing:
        raise KeyError(f"unknown indicators: {', '.join(missing)}")
    return [cat[i] for i in ids]


Progress = Callable[[str, float], None]


def compute(
    lake: Path,
    engine: Engine | str | None = "duckdb",
    indicators: Iterable[str] | None = None,
    progress: Progress | None = None,
    use_facts: bool = True,
    as_of: date | None = None,
) -> pa.Table:
    """Every selected indicator at every level, period and breakdown it supports (from the
    lake's analytics tables where they are current, unless `use_facts` is false), on `engine`
    (by name, None for the `PHIP_ENGINE` setting, or an engine object, left open). Reports owed
    are judged as of `as_of` (`PHIP_AS_OF`, else today, when not given)."""
    from phip.analytics.reporting import OWED_TABLE, owed_rows
    from phip.analytics.results import judged_on

    chosen = _select(indicators)
    manifest = require_manifest(lake)
    cal = calendar(*covered_years(manifest))
    periods = calendar_periods(cal)
    parts: list[pa.Table] = []
    # a source several indicators (or both measures of one) read is computed once, kept while
    # the catalogue runs, and read from there
    # sources the lake keeps as analytics tables are read from there
    facts = current_facts(manifest) if use_facts else frozenset()
    shared = frozenset(n for n, k in passes(chosen).items() if k > 1 and n not in facts)
    own = not isinstance(engine, Engine)
    runner = engine_for(engine)
    try:
        open_lake(runner, lake, manifest)
        runner.register("lake_calendar", cal)
        runner.register("lake_periods", periods)
        runner.register(OWED_TABLE, owed_rows(lake, manifest, as_of or judged_on()))
        for name in sorted(shared):
            started = time.perf_counter()
            runner.materialize(base_table(name), base_sql(name, runner.dialect))
            if progress:
                progress(f"source {name}", time.perf_counter() - started)
        for ind in chosen:
            started = time.perf_counter()
            sql = indicator_sql(ind, runner.dialect, shared=shared, facts=facts)
            parts.append(runner.query(sql).cast(RESULT_SCHEMA))
            if progress:
                progress(ind.id, time.perf_counter() - started)
        for name in sorted(shared):
            runner.drop(base_table(name))
    finally:
        if own:
            runner.close()
    if not parts:
        return RESULT_SCHEMA.empty_table()
    return pa.concat_tables(parts)
