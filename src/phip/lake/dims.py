"""The lake's dimension tables, copied whole from the operational database at each refresh:
the org-unit tree with every unit's ancestors, the facility registry, the person index's
record → person map, submission batches and their records' lags, quarantined records' reasons,
health-card scans and the resident population. None holds personal data: person ids are the
index's pseudonyms; card scans keep no card number; quarantine rows keep reasons, and facts about
the refused payloads (fingerprints, pseudonyms), not the payloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity.models import CardUsage, PersonRecordRow
from phip.lake import annotate
from phip.orgunits.models import Facility, OrgUnit, Population
from phip.store import protect
from phip.store.models import Quarantine, Resource, Submission, SubmissionBatch

LEVELS = ("province", "prefecture", "county", "township", "village")

_S, _I, _B, _D = pa.string(), pa.int64(), pa.bool_(), pa.float64()
IDENTITY_FACTS = tuple(annotate.IDENTITY_FACTS)

SCHEMAS: dict[str, pa.Schema] = {
    "org_unit": pa.schema(
        [("code", _S), ("name", _S), ("level", _S), ("parent_code", _S), ("depth", _I)]
        + [(f"{lv}_code", _S) for lv in LEVELS]
    ),
    "facility": pa.schema(
        [
            ("code", _S),
            ("name", _S),
            ("type_code", _S),
            ("tier", _S),
            ("grade_code", _S),
            ("org_unit_code", _S),
            ("province_code", _S),
            ("prefecture_code", _S),
            ("county_code", _S),
            ("township_code", _S),
            ("beds", _I),
            ("staff", _I),
            ("connected", _B),
            ("connected_since", _S),
            ("referral_enabled", _B),
        ]
    ),
    "record_person": pa.schema([("patient_key", _S), ("person_id", _S)]),
    "submission_batch": pa.schema(
        [
            ("submission_id", _S),
            ("facility", _S),
            ("month", _S),
            ("records", _I),
            ("accepted", _I),
            ("quarantined", _I),
            ("first_sent", _S),
            ("last_sent", _S),
            ("finished_at", _S),
        ]
    ),
    "submission_lag": pa.schema(
        [("submission_id", _S), ("facility", _S), ("year", _S), ("days", _I), ("records", _I)]
    ),
    "population": pa.schema(
        [("org_unit_code", _S), ("year", _I), ("sex", _S), ("age_group", _S), ("residents", _I)]
    ),
    "quarantine": pa.schema(
        [
            ("_rid", _S),
            ("res_type", _S),
            ("res_id", _S),
            ("facility", _S),
            ("submission_id", _S),
            ("received_at", _S),
            ("month", _S),
            ("code", _S),
            ("path", _S),
            ("detail", _S),
            ("resolved", _B),
        ]
    ),
    "quarantine_record": pa.schema(
        [
            ("_rid", _S),
            ("res_type", _S),
            ("facility", _S),
            ("month", _S),
            ("seq", _I),
            ("resolved", _B),
            ("fingerprint", _S),
            ("elements", _I),
            ("visit_key", _S),
            ("birth_date", _S),
        ]
        + [(name, _S) for name in IDENTITY_FACTS]
        + [("id_repairs", _S)]
    ),
    "card_usage": pa.schema(
        [("person_id", _S), ("facility", _S), ("scene", _S), ("channel", _S), ("at", _S), ("outcome", _S)]
    ),
}


def _ancestry(units: list[OrgUnit]) -> dict[str, dict[str, str | None]]:
    """code → {level_code: ancestor-or-self code at that level}."""
    level = {u.code: u.level for u in units}
    out: dict[str, dict[str, str | None]] = {}
    for u in units:
        chain: dict[str, str | None] = {f"{lv}_code": None for lv in LEVELS}
        for code in u.path.strip("/").split("/"):
            if level.get(code) in LEVELS:
                chain[f"{level[code]}_code"] = code
        out[u.code] = chain
    return out


def _org_units(session: Session) -> list[dict[str, Any]]:
    units = list(session.scalars(select(OrgUnit).order_by(OrgUnit.code)))
    chains = _ancestry(units)
    return [
        {
            "code": u.code,
            "name": u.name,
            "level": u.level,
            "parent_code": u.parent_code,
            "depth": u.depth,
            **chains[u.code],
        }
        for u in units
    ]


def _facilities(session: Session) -> list[dict[str, Any]]:
    units = list(session.scalars(select(OrgUnit)))
    chains = _ancestry(units)
    rows = []
    for f in session.scalars(select(Facility).order_by(Facility.code)):
        chain = chains.get(f.org_unit_code, {})
        rows.append(
            {
                "code": f.code,
                "name": f.name,
                "type_code": f.type_code,
                "tier": f.tier,
                "grade_code": f.grade_code,
                "org_unit_code": f.org_unit_code,
                "province_code": chain.get("province_code"),
                "prefecture_code": f.prefecture_code,
                "county_code": f.county_code,
                "township_code": chain.get("township_code"),
                "beds": f.beds,
                "staff": f.staff,
                "connected": f.connected,
                "connected_since": f.connected_since.isoformat() if f.connected_since else None,
                "referral_enabled": f.referral_enabled,
            }
        )
    return rows


def _record_person(session: Session) -> list[dict[str, Any]]:
    q = select(PersonRecordRow.record_id, PersonRecordRow.person_id).where(
        PersonRecordRow.person_id.is_not(None)
    )
    return [{"patient_key": r, "person_id": p} for r, p in session.execute(q)]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _submission_batches(session: Session) -> list[dict[str, Any]]:
    q = select(SubmissionBatch, Submission.finished_at).join(
        Submission, Submission.id == SubmissionBatch.submission_id
    )
    return [
        {
            "submission_id": b.submission_id,
            "facility": b.facility,
            "month": b.month,
            "records": b.records,
            "accepted": b.accepted,
            "quarantined": b.quarantined,
            "first_sent": b.first_sent,
            "last_sent": b.last_sent,
            "finished_at": _iso(done),
        }
        for b, done in session.execute(q)
    ]


_DIGITS = re.compile(r"\d{7,}")


def mask_digits(text: str) -> str:
    """Long digit runs (an identity number or phone quoted in a message) masked."""
    return _DIGITS.sub("*******", text)


def _accepted_since() -> Any:
    """SQL: the quarantined record has since been accepted (a corrected resubmission)."""
    return (
        select(Resource.last_updated)
        .where(
            Resource.res_type == Quarantine.res_type,
            Resource.res_id == Quarantine.res_id,
            Resource.deleted.is_(False),
            Resource.last_updated >= Quarantine.received_at,
        )
        .exists()
    )


def _quarantined_rid(qid: int, rtype: str | None, rid: str | None) -> str:
    """A quarantined record's key: its type and id, or the quarantine row's when it has none."""
    return f"{rtype}/{rid}" if rtype and rid else f"Quarantine/{qid}"


def _quarantine(session: Session) -> list[dict[str, Any]]:
    """One row per reason a quarantined record was refused (no payload; long digit runs in a
    reason's text masked, as an identity number or phone could be quoted there). `resolved`: the
    record has since been accepted (a corrected resubmission)."""
    q = select(
        Quarantine.qid,
        _accepted_since(),
        Quarantine.res_type,
        Quarantine.res_id,
        Quarantine.facility,
        Quarantine.submission_id,
        Quarantine.received_at,
        Quarantine.reasons,
    )
    rows = []
    for qid, resolved, rtype, rid, fac, sub, at, reasons in session.execute(q):
        when = _iso(at)
        for r in orjson.loads(reasons):
            rows.append(
                {
                    "_rid": _quarantined_rid(qid, rtype, rid),
                    "res_type": rtype,
                    "res_id": rid,
                    "facility": fac,
                    "submission_id": sub,
                    "received_at": when,
                    "month": when[:7] if when else None,
                    "code": r.get("code"),
                    "path": r.get("path"),
                    "detail": mask_digits(str(r.get("detail") or "")),
                    "resolved": bool(resolved),
                }
            )
    return rows


def _submission_lags(session: Session) -> list[dict[str, Any]]:
    """Each facility-month batch's records by their lag in days (from the record's own clinical
    date to when the facility sent it), counted at import: the per-record timeliness."""
    q = select(
        SubmissionBatch.submission_id,
        SubmissionBatch.facility,
        SubmissionBatch.month,
        SubmissionBatch.lag_histogram,
    )
    rows = []
    for sid, fac, month, histogram in session.execute(q):
        for days, n in orjson.loads(histogram or "{}").items():
            rows.append(
                {
                    "submission_id": sid,
                    "facility": fac,
                    "year": month[:4],
                    "days": int(days),
                    "records": int(n),
                }
            )
    return rows


def _quarantine_records(session: Session) -> list[dict[str, Any]]:
    """One row per quarantined record (its latest refused payload), with what the rules need to
    check the rest of it: the content fingerprint, its number of elements, an Encounter's visit
    key (patient, class, start) and, for a Patient, the birth date and the
    identity facts of the lake's Patients (pseudonyms, no values), plus the pseudonyms of the
    valid numbers one edit away from an identity number that fails its check. So a refused
    record's other defects are reported with it, and the facility fixes them in one resubmission."""
    q = select(
        Quarantine.qid,
        _accepted_since(),
        Quarantine.res_type,
        Quarantine.res_id,
        Quarantine.facility,
        Quarantine.received_at,
        Quarantine.raw,
    ).order_by(Quarantine.qid)
    latest: dict[str, dict[str, Any]] = {}
    for qid, resolved, rtype, rid, fac, at, raw in session.execute(q):
        when = _iso(at)
        rec: dict[str, Any] = {
            "_rid": _quarantined_rid(qid, rtype, rid),
            "res_type": rtype,
            "facility": fac,
            "month": when[:7] if when else None,
            "seq": qid,
            "resolved": bool(resolved),
        }
        res = _payload(raw)
        if res is not None:
            rec["fingerprint"] = annotate.fingerprint(res)
            rec["elements"] = len(res)
            if rtype == "Encounter":
                rec["visit_key"] = _visit_key(res)
            if rtype == "Patient":
                birth = res.get("birthDate")
                rec["birth_date"] = birth if isinstance(birth, str) else None
                rec.update({k: str(v) for k, v in annotate.identity_facts(res).items()})
                if "id_token" not in rec:  # a number that fails its check: its probable ones
                    rec["id_repairs"] = " ".join(annotate.repair_tokens(res))
        latest[rec["_rid"]] = rec
    return list(latest.values())


def _visit_key(res: dict[str, Any]) -> str | None:
    """Patient, class and start of a visit: two Encounters with one key are one visit keyed twice."""
    subject, cls, period = res.get("subject"), res.get("class"), res.get("period")
    start = period.get("start") if isinstance(period, dict) else None
    if not isinstance(subject, dict) or not isinstance(start, str):
        return None
    code = cls.get("code") if isinstance(cls, dict) else None
    return f"{subject.get('reference')}|{code}|{start}"


def _payload(raw: bytes) -> dict[str, Any] | None:
    """A quarantined record's resource, when its payload is a JSON object at all."""
    try:
        res = orjson.loads(protect.decrypt_bytes(raw))
    except orjson.JSONDecodeError:
        return None
    return res if isinstance(res, dict) else None


def _card_usage(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "person_id": u.person_id,
            "facility": u.facility,
            "scene": u.scene,
            "channel": u.channel,
            "at": _iso(u.at),
            "outcome": u.outcome,
        }
        for u in session.scalars(select(CardUsage))
    ]


def _population(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "org_unit_code": p.org_unit_code,
            "year": p.year,
            "sex": p.sex,
            "age_group": p.age_group,
            "residents": p.residents,
        }
        for p in session.scalars(select(Population))
    ]


READERS: dict[str, Callable[[Session], list[dict[str, Any]]]] = {
    "org_unit": _org_units,
    "facility": _facilities,
    "record_person": _record_person,
    "submission_batch": _submission_batches,
    "quarantine": _quarantine,
    "quarantine_record": _quarantine_records,
    "submission_lag": _submission_lags,
    "card_usage": _card_usage,
    "population": _population,
}


def dimension(session: Session, name: str) -> pa.Table:
    """One dimension table as Arrow (its schema fixed, so an empty table still has columns)."""
    schema = SCHEMAS[name]
    rows = READERS[name](session)
    return pa.Table.from_pylist(rows, schema=schema)
