"""A quality round: run the rules over the lake, carry every finding through its life (open →
acknowledged → corrected → verified), score every facility, and attach the findings to the lake.

Statuses move by themselves: a finding no longer found is `verified`; one found again after it
was verified is reopened; a facility acknowledges its findings (`acknowledge`). Between rounds a
finding whose record the facility has resubmitted shows as `corrected` (`effective_status`).
Every move is checked against the workflow machine `quality-finding` (`finding.states.yaml`) and
recorded as a workflow event (the round, or the facility user, as its actor).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson
import pyarrow as pa
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from phip import workflow
from phip.lake.build import attach
from phip.lake.dims import mask_digits
from phip.lake.reader import open_duckdb
from phip.quality import dqr
from phip.quality.catalogue import Catalogue, catalogue
from phip.quality.lifecycle import MACHINE
from phip.quality.models import QualityFinding, QualityRound, QualityScore
from phip.quality.run import Progress, RuleRun, run_rules
from phip.quality.score import Tally, facility_tallies
from phip.store.errors import Conflict

_FINDINGS = cast(Table, QualityFinding.__table__)

#: open findings are the ones a facility still has to act on
OPEN = ("open", "acknowledged", "corrected")


@dataclass
class RoundReport:
    round_id: int
    lake_version: int
    findings: int
    new: int
    still_open: int
    verified: int
    reopened: int
    facilities: int
    seconds: dict[str, float] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    incremental: bool = False
    partitions_rechecked: int | None = None
    metrics_flagged: int = 0
    #: what the round could not check as it should (the person index behind the lake)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round_id,
            "lake_version": self.lake_version,
            "findings": self.findings,
            "new": self.new,
            "still_open": self.still_open,
            "verified": self.verified,
            "reopened": self.reopened,
            "facilities_scored": self.facilities,
            "incremental": self.incremental,
            "partitions_rechecked": self.partitions_rechecked,
            "facility_metrics_flagged": self.metrics_flagged,
            "by_rule": self.by_rule,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "warnings": self.warnings,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def run_round(
    session: Session,
    lake: Path,
    engine: str = "duckdb",
    progress: Progress | None = None,
    cat: Catalogue | None = None,
    full: bool = False,
    without_person_index: bool = False,
) -> RoundReport:
    """Run the rules, record the round and its findings and scores (committed). After a round
    with the same catalogue, only what changed in the lake since is re-checked (by each rule's
    scope) and the other findings are carried over; `full` re-checks everything. A lake whose
    Patient records the person index has mostly not linked is refused (`run.PersonIndexMissing`,
    before anything is recorded) unless `without_person_index`; the round's `warnings` say how
    many records were unlinked."""
    import time

    cat = cat or catalogue()
    started = time.perf_counter()
    previous = latest_round(session)
    since = None
    if not full and previous is not None and previous.catalogue == cat.digest:
        since = previous.lake_version
    result = run_rules(
        lake,
        engine,
        progress=progress,
        cat=cat,
        since_version=since,
        without_person_index=without_person_index,
    )
    tiers, units = facility_registry(lake)
    if result.changed is not None:
        result.findings = _carried_over(session, cat, result, {f: u[1] for f, u in units.items()})
    ran = time.perf_counter()
    rnd = QualityRound(
        started_at=_now(),
        lake_version=result.manifest.version,
        change_seq=result.manifest.change_seq,
        catalogue=cat.digest,
        engine=engine,
        summary="{}",
    )
    session.add(rnd)
    session.flush()
    counts = _merge(session, rnd, result)
    tallies = facility_tallies(cat, result.findings, result.checked, tiers)
    _save_scores(session, rnd.id, tallies)
    by_rule = Counter(result.findings.column("rule_id").to_pylist())
    report = RoundReport(
        rnd.id,
        result.manifest.version,
        result.findings.num_rows,
        counts["new"],
        counts["still_open"],
        counts["verified"],
        counts["reopened"],
        len(tallies),
        by_rule={r.id: by_rule.get(r.id, 0) for r in cat.rules},
        incremental=result.changed is not None,
        partitions_rechecked=len(result.changed.partitions) if result.changed is not None else None,
        warnings=list(result.warnings),
    )
    rnd.finished_at = _now()
    report.seconds = {"rules": ran - started, "record": time.perf_counter() - ran}
    rnd.summary = orjson.dumps(report.to_json()).decode()
    session.commit()
    metrics = dqr.compute(lake, cat.deadline_day)
    report.metrics_flagged = sum(1 for f in metrics.column("flagged").to_pylist() if f)
    attach(lake, {"quality_finding": findings_table(session, cat), "quality_facility_metric": metrics})
    report.seconds["total"] = time.perf_counter() - started
    return report


def _carried_over(
    session: Session, cat: Catalogue, result: RuleRun, county_of: dict[str, str | None]
) -> pa.Table:
    """An incremental run's findings completed with the open findings of the places it did not
    re-check (a rule of scope `record` outside the changed partitions, `facility` outside the
    changed counties)."""
    changed = result.changed
    assert changed is not None
    scope = {r.id: r.scope for r in cat.rules}
    q = select(
        QualityFinding.rule_id,
        QualityFinding.resource,
        QualityFinding.facility,
        QualityFinding.month,
        QualityFinding.value,
    ).where(QualityFinding.status.in_(OPEN))
    kept: dict[str, list[Any]] = {name: [] for name in result.findings.schema.names}
    for rule, res, fac, month, value in session.execute(q):
        sc = scope.get(rule, "all")
        if sc == "all" or changed.covers(sc, county_of.get(fac or ""), month):
            continue
        for name, v in zip(kept, (rule, res, fac, month, value), strict=True):
            kept[name].append(v)
    carried = pa.table(kept, schema=result.findings.schema)
    return pa.concat_tables([result.findings, carried])


def _merge(session: Session, rnd: QualityRound, result: RuleRun) -> dict[str, int]:
    """Insert new findings, keep the ones found again, verify the ones gone."""
    now = rnd.started_at
    existing = {
        (rule, res): (fid, status)
        for fid, rule, res, status in session.execute(
            select(QualityFinding.id, QualityFinding.rule_id, QualityFinding.resource, QualityFinding.status)
        )
    }
    f = result.findings
    found = {
        (rule, res): (fac, month, value)
        for rule, res, fac, month, value in zip(
            f.column("rule_id").to_pylist(),
            f.column("resource").to_pylist(),
            f.column("facility").to_pylist(),
            f.column("month").to_pylist(),
            f.column("value").to_pylist(),
            strict=True,
        )
    }
    new_rows, seen_rows, changed_rows = [], [], []
    counts = Counter[str]()
    for key, (fac, month, value) in found.items():
        hit = existing.get(key)
        safe = _safe_value(value)
        if hit is None:
            new_rows.append(
                {
                    "rule_id": key[0],
                    "resource": key[1],
                    "facility": fac,
                    "month": month,
                    "value": safe,
                    "status": "open",
                    "first_round": rnd.id,
                    "last_round": rnd.id,
                    "status_round": rnd.id,
                    "status_at": now,
                    "note": "",
                }
            )
            counts["new"] += 1
        elif hit[1] == "verified":
            changed_rows.append(
                {
                    "fid": hit[0],
                    "s": "open",
                    "v": safe,
                    "n": "reopened: found again",
                    "r": rnd.id,
                    "at": now,
                    "was": hit[1],
                }
            )
            counts["reopened"] += 1
        else:
            seen_rows.append({"fid": hit[0], "v": safe, "r": rnd.id})
            counts["still_open"] += 1
    for key, (fid, status) in existing.items():
        if key not in found and status in OPEN:
            changed_rows.append(
                {
                    "fid": fid,
                    "s": "verified",
                    "v": None,
                    "n": "no longer found",
                    "r": rnd.id,
                    "at": now,
                    "was": status,
                }
            )
            counts["verified"] += 1
    moves = [
        (str(r["fid"]), str(r.pop("was")), "reopen" if r["s"] == "open" else "verify") for r in changed_rows
    ]
    targets = workflow.record_moves(session, MACHINE, moves, actor=f"system:quality-round-{rnd.id}", now=now)
    assert [r["s"] for r in changed_rows] == targets  # the machine and the round agree
    table = _FINDINGS
    if new_rows:
        session.execute(insert(QualityFinding), new_rows)
    if seen_rows:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("fid"))
            .values(value=bindparam("v"), last_round=bindparam("r")),
            seen_rows,
        )
    if changed_rows:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("fid"))
            .values(
                status=bindparam("s"),
                note=bindparam("n"),
                status_round=bindparam("r"),
                status_at=bindparam("at"),
            ),
            [{k: v for k, v in r.items() if k != "v"} for r in changed_rows],
        )
        reopened = [r for r in changed_rows if r["s"] == "open"]
        if reopened:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("fid"))
                .values(value=bindparam("v"), last_round=bindparam("r")),
                [{"fid": r["fid"], "v": r["v"], "r": r["r"]} for r in reopened],
            )
    return counts


def _safe_value(value: str | None) -> str | None:
    """Values are built from non-personal columns; long digit runs are masked all the same."""
    return None if value is None else mask_digits(value)[:200]


def _save_scores(session: Session, round_id: int, tallies: dict[str, Tally]) -> None:
    rows = []
    for fac, t in tallies.items():
        score = t.score()
        if score is None:
            continue
        rows.append(
            {
                "round_id": round_id,
                "facility": fac,
                "score": score,
                "dimensions": orjson.dumps(t.to_json()).decode(),
                "records": t.records,
                "findings": t.findings,
            }
        )
    if rows:
        session.execute(insert(QualityScore), rows)


def facility_registry(lake: Path) -> tuple[dict[str, str | None], dict[str, list[str | None]]]:
    """facility → tier, and facility → its org units (facility's township up to the province)."""
    con, _ = open_duckdb(lake)
    rows = con.sql(
        "SELECT code, tier, township_code, county_code, prefecture_code, province_code FROM facility"
    ).fetchall()
    con.close()
    tiers = {r[0]: r[1] for r in rows}
    units = {r[0]: [r[2], r[3], r[4], r[5]] for r in rows}
    return tiers, units


def findings_table(session: Session, cat: Catalogue) -> pa.Table:
    """The findings as the lake keeps them (no values: rule, record, facility, month, status)."""
    dims = {r.id: (r.dimension, r.severity) for r in cat.rules}
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "rule_id",
            "dimension",
            "severity",
            "resource",
            "facility",
            "month",
            "status",
            "first_round",
            "last_round",
        )
    }
    q = select(
        QualityFinding.rule_id,
        QualityFinding.resource,
        QualityFinding.facility,
        QualityFinding.month,
        QualityFinding.status,
        QualityFinding.first_round,
        QualityFinding.last_round,
    )
    for rule, res, fac, month, status, first, last in session.execute(q):
        dim, sev = dims.get(rule, (None, None))
        for k, v in zip(cols, (rule, dim, sev, res, fac, month, status, first, last), strict=True):
            cols[k].append(v)
    schema = pa.schema([(k, pa.int64() if k.endswith("_round") else pa.string()) for k in cols])
    return pa.table(cols, schema=schema)


def latest_round(session: Session) -> QualityRound | None:
    return session.scalars(
        select(QualityRound).where(QualityRound.finished_at.is_not(None)).order_by(QualityRound.id.desc())
    ).first()


def acknowledge(
    session: Session, finding_ids: list[int], facility: str | None = None, actor: str = "operator:cli"
) -> int:
    """Mark findings acknowledged (only the facility's own when `facility` is given). Every id
    must name a finding the facility holds whose state allows it: otherwise `IllegalTransition`
    (409, naming what its state allows) and nothing changes. Ids the facility does not hold are
    left out (they are not the caller's to probe). Returns how many were acknowledged."""
    q = select(QualityFinding.id, QualityFinding.status).where(QualityFinding.id.in_(finding_ids))
    if facility is not None:
        q = q.where(QualityFinding.facility == facility)
    rows = session.execute(q.order_by(QualityFinding.id)).all()
    now = _now()
    workflow.record_moves(
        session, MACHINE, [(str(fid), status, "acknowledge") for fid, status in rows], actor=actor, now=now
    )
    if rows:
        latest = latest_round(session)
        table = _FINDINGS
        done = session.execute(
            update(table)
            .where(table.c.id.in_([fid for fid, _s in rows]), table.c.status == "open")
            .values(
                status="acknowledged",
                status_at=now,
                status_round=latest.id if latest else table.c.status_round,
            )
        )
        if done.rowcount != len(rows):  # type: ignore[attr-defined]
            session.rollback()  # a round moved some of them meanwhile
            raise Conflict("some of these findings changed meanwhile; read the report again")
    session.commit()
    return len(rows)
