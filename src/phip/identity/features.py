"""Person records from the contract CSV or from Patient resources, and the feature table the batch
linker compares (one row per record; the comparison SQL in `splink_model.py` reads these columns,
and `compare.py` implements the same levels in Python on `Person`)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from phip.fhir import ndjson
from phip.identity.person import Person, PersonRecord, derive
from phip.standards import codesystems as cs

CSV_COLUMNS = ("record_id", "name", "sex", "birth_date", "id_number", "phone", "address")


def read_csv(path: Path) -> list[PersonRecord]:
    """Records of a contract CSV (`record_id,name,sex,birth_date,id_number,phone,address`; any
    column but record_id may be empty or absent)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "record_id" not in reader.fieldnames:
            raise ValueError(f"{path}: the first line must name the columns, including record_id")
        out = []
        for row in reader:
            out.append(
                PersonRecord(
                    record_id=(row.get("record_id") or "").strip(),
                    **{c: (row.get(c) or "").strip() for c in CSV_COLUMNS[1:]},
                )
            )
    ids = [r.record_id for r in out]
    if len(set(ids)) != len(ids) or "" in ids:
        raise ValueError(f"{path}: record_id must be present and unique on every line")
    return out


def from_patient(res: dict[str, Any]) -> PersonRecord:
    """The identity attributes of a FHIR Patient (identity numbers must be plain, not protected)."""
    name = next((n.get("text") or "" for n in res.get("name") or [] if isinstance(n, dict)), "")
    if not name:
        n0 = (res.get("name") or [{}])[0]
        name = (n0.get("family") or "") + "".join(n0.get("given") or [])
    ident = next(
        (i.get("value") or "" for i in res.get("identifier") or [] if i.get("system") == cs.ID_RESIDENT), ""
    )
    phone = next(
        (t.get("value") or "" for t in res.get("telecom") or [] if t.get("system") in ("phone", "sms")), ""
    )
    addr = (res.get("address") or [{}])[0]
    division = next(
        (e.get("valueCode") or "" for e in addr.get("extension") or [] if e.get("url") == cs.EXT_DIVISION), ""
    )
    return PersonRecord(
        record_id=f"Patient/{res['id']}",
        name=name,
        sex={"male": "1", "female": "2"}.get(res.get("gender") or "", ""),
        birth_date=res.get("birthDate") or "",
        id_number=ident,
        phone=phone,
        address=addr.get("text") or "",
        division=division,
        source=_source(res),
        updated=str((res.get("meta") or {}).get("lastUpdated") or ""),
    )


def _source(res: dict[str, Any]) -> str:
    """The recording facility: the managing organisation, else the submission named in meta.source."""
    ref = str((res.get("managingOrganization") or {}).get("reference") or "")
    if ref.startswith("Organization/"):
        return ref.removeprefix("Organization/")
    src = str((res.get("meta") or {}).get("source") or "")
    if src.startswith("urn:phip:submission:"):
        return src.removeprefix("urn:phip:submission:").split(":")[0]
    return ""


def patients_in(folder: Path) -> Iterator[PersonRecord]:
    """Patient records of every `Patient.ndjson[.gz]` under `folder` (a synthetic province's
    submissions)."""
    files = sorted(p for s in ndjson.SUFFIXES for p in folder.rglob(f"Patient{s}"))
    for f in files:
        for line in ndjson.lines(f):
            res = orjson.loads(line)
            if isinstance(res, dict) and res.get("resourceType") == "Patient" and res.get("id"):
                yield from_patient(res)


def shared_phones(people: Iterable[Person]) -> set[str]:
    """Phones recorded for people with different names: a household's or a village doctor's
    phone, whose agreement says less."""
    names: dict[str, set[str]] = defaultdict(set)
    for p in people:
        if p.phone:
            names[p.phone].add(p.pinyin or p.name)
    return {ph for ph, n in names.items() if len(n) > 1}


def feature_rows(records: Iterable[PersonRecord]) -> tuple[list[Person], list[dict[str, Any]]]:
    """Derived people and their feature rows (None = missing)."""
    people = [derive(r) for r in records]
    shared = shared_phones(people)
    rows = []
    for p in people:
        rows.append(
            {
                "unique_id": p.record_id,
                "name": p.name or None,
                "name_nodot": "".join(p.name_parts) or None,
                "minority": len(p.name_parts) > 1,
                "name_parts": list(p.name_parts) or None,
                "hanzi": p.hanzi,
                "pinyin": p.pinyin or None,
                "surname": p.surname or None,
                "sex": p.sex_any or None,
                "birth": p.birth_any or None,
                "id_raw": p.id_raw or None,
                "id18": p.id18 or None,
                "id14": p.id14 or None,
                "id_repairs": "|".join(p.id_repairs) or None,
                "phone": p.phone or None,
                "phone_shared": p.phone in shared,
                "division": p.division or None,
                "county": p.county or None,
                "address": p.address or None,
            }
        )
    return people, rows
