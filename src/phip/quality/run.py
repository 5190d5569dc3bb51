"""Running the rule catalogue over the lake on an engine (DuckDB or Spark): every failing record
of every rule, and the records checked per facility (the scores' denominators).

Rules that follow a resident across records (a name that differs from the resident's other
records, a visit after the resident's death, a second registration…) read the person index
through the lake (`patient_person`, `refused_person`). Without it every record stands for a
resident of its own and those rules find next to nothing, silently: so a run over a lake whose
Patient records are mostly not linked (the lake built before `phip empi link-store`, or the index
far behind the store) is refused, and a run over one with some unlinked records says how many
(`RuleRun.warnings`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from phip.engines import Engine, engine_for
from phip.lake.manifest import LakeError, Manifest, TableFiles, require_manifest
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


#: the share of the lake's Patient records the person index may leave unlinked before a run of
#: the rules that need it is refused: more means the index was not built, or the lake was built
#: before it (below it, records submitted since the index last caught up: a warning)
MAX_UNLINKED_SHARE = 0.5
#: the lake's tables that carry the person index
_PERSON_TABLES = re.compile(r"\b(patient_person|refused_person)\b")


def needs_person_index(rule: Rule) -> bool:
    """Whether the rule follows a resident across records (reads the person index)."""
    return bool(_PERSON_TABLES.search(rule.source))


@dataclass
class PersonIndexCoverage:
    """How much of the lake's Patient records the person index covers, for the rules needing it."""

    patients: int
    linked: int
    rules: list[str]

    @property
    def unlinked(self) -> int:
        return self.patients - self.linked

    @property
    def unlinked_share(self) -> float:
        return self.unlinked / self.patients if self.patients else 0.0

    def message(self) -> str:
        return (
            f"the person index links {self.linked} of the lake's {self.patients} Patient records "
            f"({self.unlinked} unlinked): rules {', '.join(self.rules)} compare a resident's records "
            "and miss what the unlinked ones hold. Run `phip empi link-store`, then `phip lake refresh`"
        )


class PersonIndexMissing(LakeError):
    """The lake's Patient records are not linked to persons: the rules that follow a resident
    across records would find next to nothing."""

    def __init__(self, coverage: PersonIndexCoverage) -> None:
        self.coverage = coverage
        super().__init__(
            f"refused: {coverage.message()} (or run with --without-person-index to run them anyway)"
        )


def person_index_coverage(
    runner: Engine, manifest: Manifest, rules: Iterable[Rule]
) -> PersonIndexCoverage | None:
    """The person index's coverage of the Patients of the lake open on `runner` (its `manifest`),
    when one of `rules` needs it."""
    needing = [r.id for r in rules if needs_person_index(r)]
    if not needing or "patient" not in manifest.tables:
        return None
    patients = runner.rows("SELECT count(DISTINCT patient_key) FROM patient WHERE patient_key IS NOT NULL")
    if "record_person" not in manifest.tables:  # a lake built from files, with no operational store
        return PersonIndexCoverage(int(patients[0][0]), 0, needing)
    linked = runner.rows(
        "SELECT count(DISTINCT p.patient_key) FROM patient p"
        " JOIN record_person rp ON rp.patient_key = p.patient_key"
    )
    return PersonIndexCoverage(int(patients[0][0]), int(linked[0][0]), needing)


@dataclass
class RuleRun:
    manifest: Manifest
    findings: pa.Table  # FINDINGS_SCHEMA, one row per (rule, resource)
    checked: pa.Table  # CHECKED_SCHEMA
    seconds: dict[str, float]
    changed: Changed | None = None  # set when only what changed was re-checked
    person_index: PersonIndexCoverage | None = None  # when a rule run needs the person index
    warnings: list[str] = field(default_factory=list)


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
    without_person_index: bool = False,
) -> RuleRun:
    """Every failing record of the chosen rules, on `engine` (by name, None for the `PHIP_ENGINE`
    setting, or an engine object, left open). With `since_version`, a rule of scope `record`
    or `facility` reads only the fact partitions (or counties) written after that lake version.
    Refuses (`PersonIndexMissing`) when rules that need the person index would run over a lake
    with more than `MAX_UNLINKED_SHARE` of its Patient records unlinked, unless
    `without_person_index`; fewer unlinked records, or that flag, give a warning."""
    cat = cat or catalogue()
    chosen = _chosen(cat, rules)
    manifest = require_manifest(lake)
    changed = changed_since(manifest, since_version) if since_version is not None else None
    parts: list[pa.Table] = []
    seconds: dict[str, float] = {}
    scopes = ("all",) if changed is None else ("record", "facility", "all")
    own = not isinstance(engine, Engine)
    runner = engine_for(engine)
    warnings: list[str] = []
    try:
        open_lake(runner, lake, manifest)
        coverage = person_index_coverage(runner, manifest, chosen)
        if coverage is not None and coverage.unlinked:
            if coverage.unlinked_share > MAX_UNLINKED_SHARE and not without_person_index:
                raise PersonIndexMissing(coverage)
            warnings.append(coverage.message())
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
    return RuleRun(manifest, _one_per_key(findings), checked, seconds, changed, coverage, warnings)


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
