"""Running the rule catalogue over the lake on an engine (DuckDB or Spark): every failing record
of every rule, and the records checked per facility (the scores' denominators)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from phip.engines import Engine, engine_for
from phip.lake.manifest import Manifest, TableFiles, require_manifest
from phip.lake.reader import open_lake
from phip.lake.tables import fact_tables
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
class Changed:
    """What changed in the lake since a version: (county, month) partitions and counties."""

    since_version: int
    partitions: set[tuple[str, str]]
    counties: set[str]

    def covers(self, scope: str, county: str | None, month: str | None) -> bool:
        """Whether an incremental run re-checked a finding of a rule of `scope` at this place."""
        if scope == "record":
            return (county or "none", month or "none") in self.partitions
        if scope == "facility":
            return (county or "none") in self.counties
        return True


@dataclass
class RuleRun:
    manifest: Manifest
    findings: pa.Table  # FINDINGS_SCHEMA, one row per (rule, resource)
    checked: pa.Table  # CHECKED_SCHEMA
    seconds: dict[str, float]
    changed: Changed | None = None  # set when only what changed was re-checked


_RUN = re.compile(r"/r(\d{6})_")


def _file_version(path: str) -> int:
    m = _RUN.search(path)
    return int(m.group(1)) if m else 0


def changed_since(manifest: Manifest, version: int) -> Changed:
    """Partitions of the fact tables written after lake `version`."""
    parts: set[tuple[str, str]] = set()
    for name in fact_tables():
        t = manifest.tables.get(name)
        for f in t.files if t else []:
            if _file_version(f["path"]) > version:
                parts.add((f["county"], f["month"]))
    return Changed(version, parts, {c for c, _ in parts})


def _narrowed(manifest: Manifest, changed: Changed, scope: str) -> Manifest:
    """The manifest with the fact tables cut to what a rule of `scope` re-checks."""
    if scope == "all":
        return manifest
    tables = dict(manifest.tables)
    for name in fact_tables():
        t = tables.get(name)
        if t is None:
            continue
        keep = [f for f in t.files if changed.covers(scope, f["county"], f["month"])]
        tables[name] = TableFiles(t.columns, keep, t.definition, t.partitioned)
    return Manifest(manifest.version, manifest.change_seq, manifest.built_at, tables, manifest.stats)


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
    engine: Engine | str | None = "duckdb",
    rules: Iterable[str] | None = None,
    progress: Progress | None = None,
    cat: Catalogue | None = None,
    since_version: int | None = None,
) -> RuleRun:
    """Every failing record of the chosen rules, on `engine` (by name, None for the `PHIP_ENGINE`
    setting, or an engine object, left open). With `since_version`, a rule of scope `record`
    or `facility` reads only the fact partitions (or counties) written after that lake version."""
    cat = cat or catalogue()
    chosen = _chosen(cat, rules)
    manifest = require_manifest(lake)
    changed = changed_since(manifest, since_version) if since_version is not None else None
    parts: list[pa.Table] = []
    seconds: dict[str, float] = {}
    scopes = ("all",) if changed is None else ("record", "facility", "all")
    own = not isinstance(engine, Engine)
    runner = engine_for(engine)
    try:
        for scope in scopes:
            todo = [r for r in chosen if changed is None or r.scope == scope]
            if not todo:
                continue
            open_lake(runner, lake, manifest if changed is None else _narrowed(manifest, changed, scope))
            for rule in todo:
                started = time.perf_counter()
                parts.append(runner.query(rule_sql(rule, cat, runner.dialect)).cast(FINDINGS_SCHEMA))
                seconds[rule.id] = time.perf_counter() - started
                if progress:
                    progress(rule.id, seconds[rule.id])
        open_lake(runner, lake, manifest)
        checked = runner.query(checked_sql(runner.dialect)).cast(CHECKED_SCHEMA)
    finally:
        if own:
            runner.close()
    findings = pa.concat_tables(parts) if parts else FINDINGS_SCHEMA.empty_table()
    return RuleRun(manifest, _one_per_key(findings), checked, seconds, changed)


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
