"""A facility's verification report: every failing record with the rule, the element, the value
(masked where personal), the status and how to fix it; as a FHIR Bundle of OperationOutcomes,
CSV (UTF-8 with BOM, for Excel) or Excel; and a round summary of what changed."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from phip.quality.catalogue import DIMENSIONS, Catalogue, catalogue
from phip.quality.models import QualityFinding, QualityRound, QualityScore
from phip.store.models import Resource

RULE_SYSTEM = "https://phip.health/fhir/CodeSystem/quality-rule"
STATUS_EXT = "https://phip.health/fhir/StructureDefinition/quality-finding-status"
#: FHIR issue types for the dimensions
ISSUE_TYPE = {
    "conformance": "invalid",
    "completeness": "required",
    "accuracy": "value",
    "consistency": "business-rule",
    "uniqueness": "duplicate",
    "timeliness": "informational",
}
STATUS_NAMES = {
    "open": ("待处理", "open"),
    "acknowledged": ("已确认", "acknowledged"),
    "corrected": ("已更正待复核", "corrected"),
    "verified": ("已核验", "verified"),
}
HEADERS = {
    "zh": [
        "编号",
        "规则",
        "规则名称",
        "维度",
        "严重程度",
        "记录",
        "数据元",
        "值",
        "状态",
        "首次发现轮次",
        "最近轮次",
        "修改建议",
    ],
    "en": [
        "id",
        "rule",
        "rule title",
        "dimension",
        "severity",
        "record",
        "element",
        "value",
        "status",
        "first round",
        "last round",
        "how to fix",
    ],
}


def _lang(locale: str) -> str:
    return "en" if locale.lower().startswith("en") else "zh"


def facility_findings(
    session: Session, facility: str, statuses: tuple[str, ...] | None = None, cat: Catalogue | None = None
) -> list[dict[str, Any]]:
    """The facility's findings with their effective status: an open or acknowledged finding
    whose record the facility has resubmitted since the round that last found it is `corrected`."""
    cat = cat or catalogue()
    rounds = dict(session.execute(select(QualityRound.id, QualityRound.change_seq)).all())
    rows = session.scalars(
        select(QualityFinding).where(QualityFinding.facility == facility).order_by(QualityFinding.id)
    ).all()
    keys = [tuple(r.resource.split("/", 1)) for r in rows if not r.resource.startswith("Submission/")]
    changed: dict[tuple[str, str], int] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        q = select(Resource.res_type, Resource.res_id, Resource.change_seq).where(
            tuple_(Resource.res_type, Resource.res_id).in_(chunk)
        )
        changed.update({(t, rid): seq for t, rid, seq in session.execute(q)})
    known = {r.id: r for r in cat.rules}
    out = []
    for f in rows:
        status = f.status
        key = tuple(f.resource.split("/", 1))
        seq = changed.get(key)  # type: ignore[arg-type]
        if status in ("open", "acknowledged") and seq is not None and seq > rounds.get(f.last_round, 0):
            status = "corrected"
        if statuses and status not in statuses:
            continue
        rule = known.get(f.rule_id)
        out.append(
            {
                "id": f.id,
                "rule_id": f.rule_id,
                "title": rule.title if rule else {"zh": f.rule_id, "en": f.rule_id},
                "dimension": rule.dimension if rule else "",
                "severity": rule.severity if rule else "",
                "resource": f.resource,
                "element": rule.element if rule else "",
                "value": ("***" if rule and rule.personal and f.value not in (None, "differs") else f.value),
                "status": status,
                "first_round": f.first_round,
                "last_round": f.last_round,
                "note": f.note,
                "hint": rule.hint if rule else {"zh": "", "en": ""},
            }
        )
    return out


def bundle(facility: str, findings: list[dict[str, Any]], locale: str = "zh-CN") -> dict[str, Any]:
    """A FHIR Bundle (collection) with one OperationOutcome per failing record."""
    lang = _lang(locale)
    by_record: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_record.setdefault(f["resource"], []).append(f)
    entries = []
    for resource, items in by_record.items():
        issues = []
        for f in items:
            dim_name = DIMENSIONS.get(f["dimension"], ("", 0))[0] if lang == "zh" else f["dimension"]
            issues.append(
                {
                    "extension": [{"url": STATUS_EXT, "valueCode": f["status"]}],
                    "severity": "information" if f["severity"] == "info" else f["severity"],
                    "code": ISSUE_TYPE.get(f["dimension"], "processing"),
                    "details": {
                        "coding": [
                            {"system": RULE_SYSTEM, "code": f["rule_id"], "display": f["title"][lang]}
                        ],
                        "text": f"{dim_name}: {f['title'][lang]}",
                    },
                    "diagnostics": " | ".join(x for x in (f["value"] or "", f["hint"][lang]) if x),
                    "expression": [f["element"]] if f["element"] else [],
                }
            )
        entries.append(
            {
                "fullUrl": f"urn:phip:quality:{facility}:{resource}",
                "resource": {
                    "resourceType": "OperationOutcome",
                    "id": f"qf-{items[0]['id']}",
                    "extension": [
                        {
                            "url": "https://phip.health/fhir/StructureDefinition/quality-record",
                            "valueString": resource,
                        }
                    ],
                    "issue": issues,
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": "https://phip.health/fhir/sid/quality-report", "value": facility},
        "total": len(entries),
        "entry": entries,
    }


def _rows(findings: list[dict[str, Any]], lang: str) -> list[list[Any]]:
    out = []
    for f in findings:
        dim = DIMENSIONS.get(f["dimension"], ("", 0))[0] if lang == "zh" else f["dimension"]
        status = STATUS_NAMES.get(f["status"], (f["status"], f["status"]))[0 if lang == "zh" else 1]
        out.append(
            [
                f["id"],
                f["rule_id"],
                f["title"][lang],
                dim,
                f["severity"],
                f["resource"],
                f["element"],
                f["value"] or "",
                status,
                f["first_round"],
                f["last_round"],
                f["hint"][lang],
            ]
        )
    return out


def to_csv(findings: list[dict[str, Any]], locale: str = "zh-CN") -> bytes:
    lang = _lang(locale)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADERS[lang])
    w.writerows(_rows(findings, lang))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(findings: list[dict[str, Any]], locale: str = "zh-CN") -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(value: Any) -> Any:  # a submitted id or value may hold control characters Excel refuses
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value

    lang = _lang(locale)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("核查报告" if lang == "zh" else "verification report")
    ws.append(HEADERS[lang])
    for row in _rows(findings, lang):
        ws.append([cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(findings: list[dict[str, Any]], facility: str, fmt: str, out: Path, locale: str) -> None:
    if fmt == "json":
        out.write_bytes(orjson.dumps(bundle(facility, findings, locale), option=orjson.OPT_INDENT_2))
    elif fmt == "csv":
        out.write_bytes(to_csv(findings, locale))
    elif fmt == "xlsx":
        out.write_bytes(to_xlsx(findings, locale))
    else:
        raise ValueError(f"unknown format {fmt!r}: json, csv or xlsx")


def round_summary(session: Session, facility: str | None = None) -> dict[str, Any]:
    """What the last round changed: findings new, verified and still open (for one facility or
    the province), and each facility's score against the round before."""
    rounds = session.scalars(
        select(QualityRound)
        .where(QualityRound.finished_at.is_not(None))
        .order_by(QualityRound.id.desc())
        .limit(2)
    ).all()
    if not rounds:
        return {"round": None}
    last = rounds[0]
    prev = rounds[1] if len(rounds) > 1 else None
    q = select(QualityFinding.status, QualityFinding.first_round, QualityFinding.status_round)
    if facility:
        q = q.where(QualityFinding.facility == facility)
    counts = Counter[str]()
    for status, first, status_round in session.execute(q):
        if first == last.id:
            counts["new"] += 1
        if status == "verified" and status_round == last.id:
            counts["verified"] += 1
        if status in ("open", "acknowledged"):
            counts["open"] += 1
    scores: dict[str, dict[str, float | None]] = {}
    ids = [last.id] + ([prev.id] if prev else [])
    sq = select(QualityScore.round_id, QualityScore.facility, QualityScore.score).where(
        QualityScore.round_id.in_(ids)
    )
    if facility:
        sq = sq.where(QualityScore.facility == facility)
    for rid, fac, score in session.execute(sq):
        entry = scores.setdefault(fac, {"score": None, "previous": None})
        entry["score" if rid == last.id else "previous"] = score
    improved = sum(
        1 for s in scores.values() if s["previous"] is not None and (s["score"] or 0) > s["previous"]
    )
    return {
        "round": last.id,
        "previous_round": prev.id if prev else None,
        "findings": dict(counts),
        "facilities_improved": improved,
        "scores": scores if facility else {},
    }
