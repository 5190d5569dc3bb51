"""The feedback loop end to end: a round finds one facility's defects, the facility follows the
fix hints and resubmits, and the next round verifies the fixed findings and raises its score,
leaving every other facility as it was."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.exchange.ingest import ingest
from phip.lake.service import refresh_from_store
from phip.quality.models import QualityFinding, QualityScore
from phip.quality.report import facility_findings
from phip.quality.run import run_rules
from phip.quality.service import acknowledge, run_round
from phip.standards import vaccines
from phip.store import get_engine, protect
from phip.store.models import Quarantine
from phip.store.repository import Repository
from tests.quality.conftest import QualityStore

#: what a facility's staff would key instead of an impossible value (by unit)
PLAUSIBLE = {"cm": 165.0, "kg": 62.0, "mmol/L": 5.6, "Cel": 36.6, "kg/m2": 22.5}
FIXABLE = ("ACC-OBS-RANGE", "ACC-BP-RANGE", "CONF-CODE", "CONF-STRUCTURE", "COMP-UNRESOLVED-REF")


def _fix_observation(res: dict) -> dict:  # type: ignore[type-arg]
    if "valueQuantity" in res:
        q = res["valueQuantity"]
        q["value"] = PLAUSIBLE.get(q.get("unit"), 1.0)
    for c in res.get("component") or []:
        code = c["code"]["coding"][0]["code"]
        c["valueQuantity"]["value"] = 120 if code == "8480-6" else 80
    return res


def _fix_refused(res: dict, reasons: list[dict]) -> dict:  # type: ignore[type-arg]
    """Follow the hints of CONF-CODE and CONF-STRUCTURE on a refused record."""
    codes = {r["code"] for r in reasons}
    rtype = res.get("resourceType")
    if "profile:invalid-code" in codes:
        if rtype == "Condition":
            res["code"]["coding"][0]["code"] = "I10"
        elif rtype == "Immunization":
            res["vaccineCode"]["coding"][0]["code"] = vaccines.VACCINES[0][0]
        elif rtype == "Patient":
            for e in res.get("extension", []):
                if e.get("url", "").endswith("/ethnicity"):
                    e["valueCoding"]["code"] = "01"
    if any(c.startswith("structure:") for c in codes):
        for key in ("effectiveDateTime", "recordedDate"):
            if key in res:
                res[key] = "2025-06-15"
        if "period" in res and "start" in res["period"]:
            res["period"]["start"] = res["period"].get("end") or "2025-06-15T09:00:00+08:00"
    return res


def _open(session: Session) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    q = select(QualityFinding.facility, QualityFinding.rule_id, QualityFinding.resource).where(
        QualityFinding.status.in_(("open", "acknowledged"))
    )
    for fac, rule, res in session.execute(q):
        out[fac].add((rule, res))
    return out


def _scores(session: Session, round_id: int) -> dict[str, float]:
    q = select(QualityScore.facility, QualityScore.score).where(QualityScore.round_id == round_id)
    return dict(session.execute(q).all())  # type: ignore[arg-type]


def test_a_facility_fixes_resubmits_and_its_findings_are_verified(
    quality_store: QualityStore, tmp_path: Path
) -> None:
    engine = get_engine(quality_store.db_url)
    with Session(engine) as s:
        first = run_round(s, quality_store.lake)
        before = _open(s)
        scores_before = _scores(s, first.round_id)
        fixable = defaultdict(list)
        for fac, items in before.items():
            for rule, res in items:
                if rule in FIXABLE[:4]:
                    fixable[fac].append((rule, res))
        facility = max(fixable, key=lambda f: len(fixable[f]))
        targets = fixable[facility]
        assert len(targets) >= 3, targets

        # the facility reads its report and acknowledges what it will fix
        ids = [
            f["id"] for f in facility_findings(s, facility) if (f["rule_id"], f["resource"]) in set(targets)
        ]
        assert acknowledge(s, ids[:2], facility) == 2
        assert acknowledge(s, ids[:2], "somewhere-else") == 0  # not another facility's
        # each move is a workflow event of the finding's lifecycle, with its actor
        from phip import workflow

        steps = [
            (h["transition"], h["from"], h["to"]) for h in workflow.history(s, "quality-finding", str(ids[0]))
        ]
        assert steps == [("acknowledge", "open", "acknowledged")]
        statuses = {f["id"]: f["status"] for f in facility_findings(s, facility)}
        assert statuses[ids[0]] == "acknowledged"

        # it follows the hints and resubmits: fixed observations, corrected refused records, and
        # then the records refused because they referred to those
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        out: dict[str, list[bytes]] = defaultdict(list)
        repo = Repository(s)
        refused_ids = {res for rule, res in targets if rule in ("CONF-CODE", "CONF-STRUCTURE")}
        for rule, res in targets:
            if rule in ("ACC-OBS-RANGE", "ACC-BP-RANGE"):
                fixed = _fix_observation(repo.read(*res.split("/", 1)))
                fixed["meta"] = {"lastUpdated": now, "source": _source(facility, fixed)}
                out[fixed["resourceType"]].append(orjson.dumps(fixed))
        quarantined = s.execute(
            select(Quarantine.res_type, Quarantine.res_id, Quarantine.raw, Quarantine.reasons).where(
                Quarantine.facility == facility
            )
        ).all()
        later: dict[str, list[bytes]] = defaultdict(list)
        for rtype, rid, raw, reasons in quarantined:
            key = f"{rtype}/{rid}"
            res = orjson.loads(protect.decrypt_bytes(raw))
            if key in refused_ids:
                fixed = _fix_refused(res, orjson.loads(reasons))
                out[rtype].append(orjson.dumps(fixed))
            elif any(r["code"] == "reference:unresolved" for r in orjson.loads(reasons)):
                later[rtype].append(orjson.dumps(res))
        folder = tmp_path / "resubmit" / facility
        folder.mkdir(parents=True)
        for rtype in set(out) | set(later):
            (folder / f"{rtype}.ndjson").write_bytes(b"\n".join(out[rtype] + later[rtype]) + b"\n")
        summary = ingest(s, tmp_path / "resubmit", None, workers=1)
        assert summary.accepted + summary.quarantined == summary.submitted
        refused_again = {
            f"{t}/{i}"
            for t, i in s.execute(
                select(Quarantine.res_type, Quarantine.res_id).where(
                    Quarantine.submission_id == summary.submission_id
                )
            )
        }
        # a corrected record that still refers to a refused one (a patient whose identity number
        # the facility has not corrected) is refused again and its finding stays open
        fixed = [(rule, res) for rule, res in targets if res not in refused_again]
        still = [(rule, res) for rule, res in targets if res in refused_again]
        assert len(fixed) >= 3 and len(still) < len(fixed)
        s.commit()

        # before the next round the report shows them corrected
        corrected = {f["resource"] for f in facility_findings(s, facility) if f["status"] == "corrected"}
        assert {res for _, res in fixed} <= corrected

        refresh_from_store(s, quality_store.lake)
        second = run_round(s, quality_store.lake)
        assert second.incremental and (second.partitions_rechecked or 0) > 0
        # re-checking only what changed finds what re-checking everything finds
        everything = run_rules(quality_store.lake)
        full = set(
            zip(
                everything.findings.column("rule_id").to_pylist(),
                everything.findings.column("resource").to_pylist(),
                strict=True,
            )
        )
        now_open = {(r, x) for items in _open(s).values() for r, x in items}
        assert now_open == full
        after = _open(s)
        scores_after = _scores(s, second.round_id)
        verified = set(
            s.execute(
                select(QualityFinding.rule_id, QualityFinding.resource).where(
                    QualityFinding.facility == facility,
                    QualityFinding.status == "verified",
                    QualityFinding.status_round == second.round_id,
                )
            ).all()
        )
        from phip.workflow.models import WorkflowEvent

        verify_events = s.scalar(
            select(func.count()).where(
                WorkflowEvent.machine == "quality-finding",
                WorkflowEvent.transition == "verify",
                WorkflowEvent.actor == f"system:quality-round-{second.round_id}",
            )
        )
    assert set(fixed) <= verified
    assert second.verified >= len(fixed) and verify_events == second.verified
    assert not set(fixed) & after[facility]
    assert set(still) <= after[facility]
    assert scores_after[facility] > scores_before[facility]
    for fac in set(before) | set(after):
        if fac != facility:
            assert after.get(fac, set()) == before.get(fac, set()), fac
            assert scores_after.get(fac) == scores_before.get(fac), fac


def _source(facility: str, res: dict) -> str:  # type: ignore[type-arg]
    month = (res.get("effectiveDateTime") or "2025-06")[:7]
    return f"urn:phip:submission:{facility}:{month}"
