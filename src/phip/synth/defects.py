"""Content defects injected into a chunk's resources, each recorded in the ground truth.

Identity corruptions are applied when Patient records are created (see `activity`); this module
adds invalid codes, impossible values, sex-inconsistent diagnoses, missing platform-required
elements, structurally invalid records and duplicate records.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

from phip.standards import codesystems as cs
from phip.synth.catalogues import FEMALE_ONLY_DX, MALE_ONLY_DX
from phip.synth.config import SynthConfig
from phip.synth.fhir_common import Json

KINDS_BY_TYPE = {
    "invalid_code": ("Condition", "Patient", "Immunization"),
    "impossible_value": ("Observation", "Patient"),
    "sex_inconsistent_dx": ("Condition",),
    "missing_required": ("Encounter", "Condition", "Observation", "Patient"),
    "structural_invalid": ("Encounter", "Observation", "Condition"),
    "duplicate_record": ("Encounter", "Observation", "Condition"),
}


def inject(rng: random.Random, cfg: SynthConfig, out: object, nid: Callable[[str], str]) -> None:
    d = cfg.defects
    rates = {k: getattr(d, k) for k in KINDS_BY_TYPE}
    resources: list[tuple[str, Json]] = out.resources  # type: ignore[attr-defined]
    defects: list[tuple[str, str, str]] = out.defects  # type: ignore[attr-defined]
    sex_of: dict[str, str] = {}
    for _fac, res in resources:
        if res["resourceType"] == "Patient":
            sex_of[res["id"]] = res.get("gender", "")
    _inherited(defects, resources)
    extra: list[tuple[str, Json]] = []
    for fac, res in resources:
        rtype = res["resourceType"]
        u = rng.random()
        for kind, rate in rates.items():
            if rtype not in KINDS_BY_TYPE[kind]:
                continue
            if u < rate:
                detail = _apply(kind, rng, res, sex_of, nid, extra, fac)
                if detail is not None:
                    _forget_overwritten(defects, f"{rtype}/{res['id']}", kind, detail)
                    if kind == "duplicate_record":  # the copy is the defective record
                        defects.append(
                            (f"{rtype}/{extra[-1][1]['id']}", kind, f"copy of {rtype}/{res['id']}")
                        )
                    else:
                        defects.append((f"{rtype}/{res['id']}", kind, detail))
                break
            u -= rate
    resources.extend(extra)
    recorded = {r for r, kind, _ in defects if kind == "impossible_value"}
    for _fac, res in resources:
        drawn = _drawn_implausible(res)
        rid = f"{res['resourceType']}/{res['id']}"
        if drawn and rid not in recorded:
            defects.append((rid, "impossible_value", drawn))


#: identity defects (given when the Patient was made) that a content defect removes with the
#: element it deletes or overwrites: (kind, detail) → the kinds no longer in the data
_OVERWRITES = {
    ("missing_required", "name"): {"homophone", "dropped_char", "pinyin_name"},
    ("impossible_value", "birthDate 1875-01-01"): {"birth_day_month_swap"},
}


def _forget_overwritten(defects: list[tuple[str, str, str]], rid: str, kind: str, detail: str) -> None:
    """A name deleted or a birth date overwritten no longer carries the defect the Patient was
    made with: the truth keeps only what the submitted data holds."""
    gone = _OVERWRITES.get((kind, detail))
    if gone:
        defects[:] = [d for d in defects if not (d[0] == rid and d[1] in gone)]


#: defects a second registration copies from the first one's record and that each record is
#: checked for on its own (at the door, or against its own identity number or script)
_SELF_CHECKED = {"id_typo", "id_swap", "id_legacy15", "id_missing", "birth_day_month_swap", "pinyin_name"}


def _inherited(defects: list[tuple[str, str, str]], resources: list[tuple[str, Json]]) -> None:
    """A resident registered again at a facility is a copy of the first record (a new MRN, often
    another spelling of the name): the identity defects it copied are in its data too, and are
    recorded for it (a name it does not share is the duplicate's own, found as one)."""
    names = {
        f"Patient/{r['id']}": (r.get("name") or [{}])[0].get("text")
        for _f, r in resources
        if r["resourceType"] == "Patient"
    }
    by_record: dict[str, list[tuple[str, str]]] = {}
    for rid, kind, detail in defects:
        by_record.setdefault(rid, []).append((kind, detail))
    for rid, kind, detail in list(defects):
        if kind != "duplicate_patient":
            continue
        first = detail.rsplit(" ", 1)[-1]
        for k, d in by_record.get(first, []):
            copied = k != "pinyin_name" or names.get(rid) == names.get(first)
            if k in _SELF_CHECKED and copied and (k, d) not in by_record.get(rid, []):
                defects.append((rid, k, d))


def _drawn_implausible(res: Json) -> str | None:
    """A blood pressure drawn at random with the systolic not above the diastolic (the two are
    drawn apart, so about one in a thousand is): a defect of the data like the injected ones,
    recorded with them so the truth holds every implausible value the facilities submit."""
    if res["resourceType"] != "Observation" or len(res.get("component") or ()) != 2:
        return None
    try:
        sbp, dbp = (float(c["valueQuantity"]["value"]) for c in res["component"])
    except (KeyError, TypeError, ValueError):
        return None
    return f"systolic {sbp:g} not above diastolic {dbp:g} (as drawn)" if sbp <= dbp else None


def _apply(
    kind: str,
    rng: random.Random,
    res: Json,
    sex_of: dict[str, str],
    nid: Callable[[str], str],
    extra: list[tuple[str, Json]],
    fac: str,
) -> str | None:
    rtype = res["resourceType"]
    if kind == "invalid_code":
        if rtype == "Condition":
            bad = rng.choice(("X99.9", "J18.99", "ABC", "U99"))
            res["code"]["coding"][0]["code"] = bad
            return f"icd10 {bad}"
        if rtype == "Patient":
            for e in res["extension"]:
                if e["url"] == cs.EXT_ETHNICITY:
                    e["valueCoding"] = {"system": cs.GB3304_ETHNICITY, "code": "99"}
                    return "ethnicity 99"
            return None
        res["vaccineCode"]["coding"][0]["code"] = "XYZ"
        return "vaccine XYZ"
    if kind == "impossible_value":
        if rtype == "Patient":
            res["birthDate"] = "1875-01-01"
            return "birthDate 1875-01-01"
        if "valueQuantity" in res:
            v = res["valueQuantity"]
            value = {"cm": 350.0, "kg": 900.0, "mmol/L": -1.0, "Cel": 48.5, "kg/m2": 95.0}.get(
                v["unit"], -5.0
            )
            v["value"] = value
            return f"value {value} {v['unit']}"
        if "component" in res:
            res["component"][0]["valueQuantity"]["value"] = 400
            return "systolic 400"
        return None
    if kind == "sex_inconsistent_dx":
        subject = res["subject"]["reference"].split("/", 1)[1]
        gender = sex_of.get(subject)
        if gender not in ("male", "female"):
            return None
        code = rng.choice(FEMALE_ONLY_DX if gender == "male" else MALE_ONLY_DX)
        res["code"]["coding"][0] = {"system": "http://hl7.org/fhir/sid/icd-10", "code": code}
        res["code"]["text"] = code
        return f"{code} for {gender}"
    if kind == "missing_required":
        field = {
            "Encounter": "period",
            "Condition": "code",
            "Observation": "valueQuantity",
            "Patient": "name",
        }[rtype]
        if field not in res:
            if rtype == "Observation" and "component" in res:
                del res["component"]
                return "component"
            return None
        del res[field]
        return field
    if kind == "structural_invalid":
        if rtype == "Encounter" and "period" in res:
            # a new period, not the old one changed: copies of a visit keyed in again (an outlier
            # month's) share it, and must not take this record's defect unrecorded
            res["period"] = {**res["period"], "start": "2025-13-45T25:61:00+08:00"}
            return "period.start not a date"
        if rtype == "Observation":
            res["effectiveDateTime"] = "yesterday"
            return "effectiveDateTime not a date"
        res["recordedDate"] = "31/02/2025"
        return "recordedDate not a date"
    if kind == "duplicate_record":
        dup = copy.deepcopy(res)
        dup["id"] = nid("dup")
        extra.append((fac, dup))
        return "copy"
    return None  # pragma: no cover
