"""Small helpers shared by the FHIR resource builders."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

TZ = "+08:00"
Json = dict[str, Any]


def rid(*parts: object) -> str:
    """An opaque, deterministic resource id (it must not reveal who the person is)."""
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=10).hexdigest()


def ref(rtype: str, id_: str, display: str | None = None) -> Json:
    out: Json = {"reference": f"{rtype}/{id_}"}
    if display:
        out["display"] = display
    return out


def dt(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S") + TZ


def day(d: date) -> str:
    return d.isoformat()


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    coding: Json = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: Json = {"coding": [coding]}
    if text:
        out["text"] = text
    return out


def money(value: float) -> Json:
    return {"value": round(value, 2), "currency": "CNY"}


def qty(value: float, unit: str, system: str = "http://unitsofmeasure.org", code: str | None = None) -> Json:
    return {"value": value, "unit": unit, "system": system, "code": code or unit}
