"""Search parameters of the resource types the platform uses, and how index rows are extracted.

Each parameter is (name, type, paths); a path is a dotted list of elements, `x[x]` matching a
choice element (`effective[x]` → effectiveDateTime, effectivePeriod …). Types: token, reference,
date, string, division (an address's GB/T 2260 code and all its ancestors, as tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache, lru_cache
from typing import Any

from phip.standards import codesystems as cs
from phip.standards.names import normalize_name, pinyin_key

TZ_LOCAL = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    paths: tuple[tuple[str, ...], ...]


def P(name: str, type_: str, *paths: str) -> Param:
    return Param(name, type_, tuple(tuple(p.split(".")) for p in paths))


COMMON = (P("_id", "token", "id"), P("_lastUpdated", "date", "meta.lastUpdated"))
SUBJECT = (P("subject", "reference", "subject"), P("patient", "reference", "subject"))

PARAMS: dict[str, tuple[Param, ...]] = {
    "Patient": (
        P("identifier", "token", "identifier"),
        P("name", "string", "name"),
        P("birthdate", "date", "birthDate"),
        P("gender", "token", "gender"),
        P("address", "division", "address"),
        P("organization", "reference", "managingOrganization"),
        P("phone", "token", "telecom"),
        P("active", "token", "active"),
        P("link", "reference", "link.other"),
    ),
    "Encounter": (
        *SUBJECT,
        P("identifier", "token", "identifier"),
        P("date", "date", "period"),
        P("status", "token", "status"),
        P("class", "token", "class"),
        P("type", "token", "type"),
        P("organization", "reference", "serviceProvider"),
        P("service-provider", "reference", "serviceProvider"),
        P("practitioner", "reference", "participant.individual"),
        P("performer", "reference", "participant.individual"),
        P("based-on", "reference", "basedOn"),
        P("appointment", "reference", "appointment"),
        P("episode-of-care", "reference", "episodeOfCare"),
    ),
    "Condition": (
        *SUBJECT,
        P("encounter", "reference", "encounter"),
        P("code", "token", "code"),
        P("clinical-status", "token", "clinicalStatus"),
        P("category", "token", "category"),
        P("date", "date", "onset[x]", "recordedDate"),
        P("onset-date", "date", "onset[x]"),
        P("recorded-date", "date", "recordedDate"),
        P("identifier", "token", "identifier"),
    ),
    "Observation": (
        *SUBJECT,
        P("encounter", "reference", "encounter"),
        P("code", "token", "code"),
        P("component-code", "token", "component.code"),
        P("category", "token", "category"),
        P("status", "token", "status"),
        P("date", "date", "effective[x]"),
        P("performer", "reference", "performer"),
        P("identifier", "token", "identifier"),
    ),
    "MedicationRequest": (
        *SUBJECT,
        P("encounter", "reference", "encounter"),
        P("code", "token", "medication[x]"),
        P("status", "token", "status"),
        P("intent", "token", "intent"),
        P("date", "date", "authoredOn"),
        P("authoredon", "date", "authoredOn"),
        P("requester", "reference", "requester"),
        P("identifier", "token", "identifier"),
    ),
    "MedicationDispense": (
        *SUBJECT,
        P("code", "token", "medication[x]"),
        P("status", "token", "status"),
        P("date", "date", "whenHandedOver"),
        P("whenhandedover", "date", "whenHandedOver"),
        P("prescription", "reference", "authorizingPrescription"),
        P("performer", "reference", "performer.actor"),
    ),
    "Immunization": (
        P("patient", "reference", "patient"),
        P("date", "date", "occurrence[x]"),
        P("status", "token", "status"),
        P("vaccine-code", "token", "vaccineCode"),
        P("code", "token", "vaccineCode"),
        P("performer", "reference", "performer.actor"),
        P("encounter", "reference", "encounter"),
    ),
    "Procedure": (
        *SUBJECT,
        P("encounter", "reference", "encounter"),
        P("code", "token", "code"),
        P("status", "token", "status"),
        P("date", "date", "performed[x]"),
        P("performer", "reference", "performer.actor"),
    ),
    "ServiceRequest": (
        *SUBJECT,
        P("encounter", "reference", "encounter"),
        P("code", "token", "code"),
        P("category", "token", "category"),
        P("status", "token", "status"),
        P("intent", "token", "intent"),
        P("date", "date", "authoredOn"),
        P("authored", "date", "authoredOn"),
        P("requester", "reference", "requester"),
        P("performer", "reference", "performer"),
        P("identifier", "token", "identifier"),
    ),
    "Appointment": (
        P("patient", "reference", "participant.actor"),
        P("actor", "reference", "participant.actor"),
        P("practitioner", "reference", "participant.actor"),
        P("date", "date", "start"),
        P("status", "token", "status"),
        P("slot", "reference", "slot"),
    ),
    "Slot": (
        P("schedule", "reference", "schedule"),
        P("start", "date", "start"),
        P("status", "token", "status"),
    ),
    "Schedule": (
        P("actor", "reference", "actor"),
        P("active", "token", "active"),
        P("date", "date", "planningHorizon"),
    ),
    "Claim": (
        P("patient", "reference", "patient"),
        P("created", "date", "created"),
        P("date", "date", "created"),
        P("provider", "reference", "provider"),
        P("organization", "reference", "provider"),
        P("status", "token", "status"),
        P("encounter", "reference", "item.encounter"),
        P("identifier", "token", "identifier"),
    ),
    "ExplanationOfBenefit": (
        P("patient", "reference", "patient"),
        P("created", "date", "created"),
        P("date", "date", "created"),
        P("provider", "reference", "provider"),
        P("organization", "reference", "provider"),
        P("claim", "reference", "claim"),
        P("coverage", "reference", "insurance.coverage"),
        P("status", "token", "status"),
        P("identifier", "token", "identifier"),
    ),
    "Coverage": (
        P("beneficiary", "reference", "beneficiary"),
        P("patient", "reference", "beneficiary"),
        P("type", "token", "type"),
        P("status", "token", "status"),
        P("payor", "reference", "payor"),
        P("identifier", "token", "identifier"),
    ),
    "CareTeam": (
        *SUBJECT,
        P("status", "token", "status"),
        P("category", "token", "category"),
        P("participant", "reference", "participant.member"),
        P("date", "date", "period"),
        P("organization", "reference", "managingOrganization"),
    ),
    "EpisodeOfCare": (
        P("patient", "reference", "patient"),
        P("organization", "reference", "managingOrganization"),
        P("type", "token", "type"),
        P("status", "token", "status"),
        P("date", "date", "period"),
    ),
    "Flag": (
        *SUBJECT,
        P("code", "token", "code"),
        P("date", "date", "period"),
        P("author", "reference", "author"),
    ),
    "RelatedPerson": (
        P("patient", "reference", "patient"),
        P("identifier", "token", "identifier"),
        P("name", "string", "name"),
        P("relationship", "token", "relationship"),
    ),
    "Organization": (
        P("identifier", "token", "identifier"),
        P("name", "string", "name", "alias"),
        P("type", "token", "type"),
        P("partof", "reference", "partOf"),
        P("address", "division", "address"),
        P("active", "token", "active"),
    ),
    "Location": (
        P("organization", "reference", "managingOrganization"),
        P("type", "token", "type"),
        P("name", "string", "name", "alias"),
        P("status", "token", "status"),
        P("identifier", "token", "identifier"),
    ),
    "Practitioner": (
        P("identifier", "token", "identifier"),
        P("name", "string", "name"),
        P("gender", "token", "gender"),
        P("active", "token", "active"),
    ),
    "PractitionerRole": (
        P("practitioner", "reference", "practitioner"),
        P("organization", "reference", "organization"),
        P("role", "token", "code"),
        P("specialty", "token", "specialty"),
        P("location", "reference", "location"),
    ),
    "Group": (
        P("identifier", "token", "identifier"),
        P("member", "reference", "member.entity"),
        P("type", "token", "type"),
    ),
}
#: Types without their own list get these (Synthea and official examples use many more types).
GENERIC = (
    *SUBJECT,
    P("identifier", "token", "identifier"),
    P("status", "token", "status"),
    P("code", "token", "code"),
    P("encounter", "reference", "encounter", "context"),
)

#: Elements that place a resource in a Patient's compartment, in order of preference.
PATIENT_LINKS = ("subject", "patient", "beneficiary")


def params_for(rtype: str) -> tuple[Param, ...]:
    return COMMON + PARAMS.get(rtype, GENERIC)


@cache
def stored_name(rtype: str, name: str) -> str:
    """The parameter under which `name`'s index rows are stored: a parameter with the same type
    and paths as an earlier one of its resource type (`patient` = `subject`, `performer` =
    `practitioner`) is an alias and has no rows of its own."""
    p = param(rtype, name)
    if p is None:
        return name
    for q in params_for(rtype):
        if q.type == p.type and q.paths == p.paths:
            return q.name
    return name  # pragma: no cover - p itself is in the list


def param(rtype: str, name: str) -> Param | None:
    for p in params_for(rtype):
        if p.name == name:
            return p
    return None


# ---- extraction --------------------------------------------------------------------------------
def _walk(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if not path:
        if isinstance(node, list):
            yield from node
        elif node is not None:
            yield node
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, path)
        return
    if not isinstance(node, dict):
        return
    key = path[0]
    if key.endswith("[x]"):
        stem = key[:-3]
        for k, v in node.items():
            if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper():
                yield from _walk(v, path[1:])
    elif key in node:
        yield from _walk(node[key], path[1:])


def values(resource: dict[str, Any], p: Param) -> Iterator[Any]:
    for path in p.paths:
        yield from _walk(resource, path)


def collect(node: Any, path: tuple[str, ...], i: int, out: list[Any]) -> None:
    """`_walk` without generators (the bulk indexer's hot path): appends the values at `path[i:]`."""
    if i == len(path):
        if isinstance(node, list):
            out.extend(node)
        elif node is not None:
            out.append(node)
        return
    if isinstance(node, list):
        for item in node:
            collect(item, path, i, out)
        return
    if not isinstance(node, dict):
        return
    key = path[i]
    if key.endswith("[x]"):
        stem = key[:-3]
        for k, v in node.items():
            if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper():
                collect(v, path, i + 1, out)
    else:
        v = node.get(key)
        if v is not None:
            collect(v, path, i + 1, out)


def tokens(v: Any) -> Iterator[tuple[str, str]]:
    if isinstance(v, bool):
        yield "", "true" if v else "false"
    elif isinstance(v, str):
        yield "", v
    elif isinstance(v, dict):
        if "coding" in v or ("text" in v and "system" not in v and "value" not in v):
            for c in v.get("coding") or []:
                if isinstance(c, dict) and c.get("code"):
                    yield c.get("system") or "", str(c["code"])
        elif "code" in v:  # Coding
            yield v.get("system") or "", str(v["code"])
        elif "value" in v:  # Identifier, ContactPoint
            yield v.get("system") or "", str(v["value"])


def reference(v: Any) -> tuple[str, str] | None:
    if not isinstance(v, dict):
        return None
    ref = v.get("reference")
    if not isinstance(ref, str) or ref.startswith("#") or ref.startswith("urn:"):
        return None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2:
        return None
    return parts[-2], parts[-1]


LOWEST, HIGHEST = "0001-01-01T00:00:00", "9999-12-31T23:59:59"


@lru_cache(maxsize=1 << 16)
def _to_utc(s: str, end: bool) -> str:
    """A FHIR date/dateTime/instant as an ISO UTC instant; partial dates widen to their span.
    The ends of the calendar (year 1, year 9999) are clamped to its first and last instant."""
    try:
        return _utc(s, end)
    except OverflowError:
        return LOWEST if s[:4] < "5000" else HIGHEST
    except ValueError:
        if s[:4] == "9999" and len(s) in (4, 7):  # its end is past the last date there is
            return HIGHEST if end else _utc((s + "-01-01")[:10], False)
        raise


def _utc(s: str, end: bool) -> str:
    if len(s) <= 10:
        y = int(s[0:4])
        if len(s) == 4:
            d0, d1 = date(y, 1, 1), date(y + 1, 1, 1)
        elif len(s) == 7:
            m = int(s[5:7])
            d0, d1 = date(y, m, 1), date(y + (m == 12), 1 if m == 12 else m + 1, 1)
        else:
            d0 = date(y, int(s[5:7]), int(s[8:10]))
            d1 = d0 + timedelta(days=1)
        d = d1 if end else d0
        dt = datetime(d.year, d.month, d.day, tzinfo=TZ_LOCAL)
    else:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=TZ_LOCAL)
        if end:
            dt = dt + timedelta(seconds=1)
    u = dt.astimezone(UTC)  # formatted by hand: strftime does not pad years before 1000
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"


def date_range(v: Any) -> tuple[str, str] | None:
    try:
        if isinstance(v, str):
            return _to_utc(v, False), _to_utc(v, True)
        if isinstance(v, dict) and ("start" in v or "end" in v):
            lo = _to_utc(v["start"], False) if v.get("start") else LOWEST
            hi = _to_utc(v["end"], True) if v.get("end") else HIGHEST
            return lo, hi
    except (ValueError, TypeError):
        return None
    return None


def _has_hanzi(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def string_keys(text: str) -> set[str]:
    """Index keys of a name or text: lower-case words and the joined form; for hanzi every
    contiguous substring and the pinyin key of the whole and of each substring of 2+ chars."""
    s = normalize_name(text).lower()
    out: set[str] = set()
    if not s:
        return out
    if _has_hanzi(s):
        chars = "".join(ch for ch in s if not ch.isspace())
        n = min(len(chars), 12)
        for i in range(n):
            for j in range(i + 1, n + 1):
                out.add(chars[i:j])
        if len(chars) <= 6:
            out.add(pinyin_key(chars))
            for i in range(len(chars)):
                for j in range(i + 2, len(chars) + 1):
                    out.add(pinyin_key(chars[i:j]))
    else:
        words = [w for w in s.replace(",", " ").split() if w]
        out.update(words)
        out.add("".join(words))
    return {k[:200] for k in out if k}


def strings(v: Any) -> Iterator[str]:
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        if v.get("text"):
            yield v["text"]
        fam = v.get("family")
        given = v.get("given") or []
        if fam or given:
            yield (
                (fam or "") + "".join(given)
                if _has_hanzi((fam or "") + "".join(given))
                else " ".join([*given, fam or ""])
            )
        for k in ("line", "city", "district", "state"):
            val = v.get(k)
            if isinstance(val, str):
                yield val
            elif isinstance(val, list):
                yield from (x for x in val if isinstance(x, str))


def divisions(v: Any) -> Iterator[str]:
    """An address's division code and every ancestor prefix (2, 4, 6, 9 and 12 digits)."""
    if not isinstance(v, dict):
        return
    for e in v.get("extension") or []:
        if isinstance(e, dict) and e.get("url") == cs.EXT_DIVISION and isinstance(e.get("valueCode"), str):
            code = e["valueCode"]
            for n in (2, 4, 6, 9, 12):
                if len(code) >= n:
                    prefix = code[:n]
                    yield prefix + "0" * (6 - n) if n < 6 else prefix
    if v.get("postalCode") and isinstance(v["postalCode"], str):
        yield v["postalCode"]


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the Patient whose compartment holds this resource."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for key in PATIENT_LINKS:
        r = reference(resource.get(key))
        if r and r[0] == "Patient":
            return r[1]
    return None
