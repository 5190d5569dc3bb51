"""Issue 19: a bounded fuzz run over the platform's OpenAPI. Every operation gets requests built
from its parameters and body schema (and, for the FHIR endpoints whose bodies the schema does not
describe, arbitrary JSON, resources, Bundles, Parameters and NDJSON), laced with hostile values:
huge and negative numbers, NaN, long strings, unicode, NUL bytes, path traversal, deep nesting.
Each goes out as a random caller, anonymous and forged ones included. No answer may be a 5xx, and
every /fhir and /api error must be an OperationOutcome without a stack trace.

Schemathesis is not a dependency, so a small JSON-schema-to-Hypothesis converter does its job.
`PHIP_FUZZ_SCALE` multiplies the number of examples (CI may run it deeper); the requests sent per
route and their statuses are printed (`-s`), with the commonest refusals under `PHIP_FUZZ_REASONS=1`
(to see how deep the fuzzer gets)."""

from __future__ import annotations

import base64
import json
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.analytics.catalogue import BREAKDOWNS, LEVELS, PERIODS
from phip.identity import card
from phip.identity.models import PersonEvent, PersonRow, ReviewItem
from phip.standards import idcard
from phip.store import get_engine
from phip.store.models import BulkJob, Resource
from phip.store.search import CONTROL
from phip.store.search_params import PARAMS
from tests.web.conftest import F1, F2, PASSWORD, Api, install_model

Json = Any
Strategy = st.SearchStrategy

#: examples per operation; PostgreSQL runs fewer (each request costs more there)
EXAMPLES = {"sqlite": 80, "postgresql": 20}
SCALE = float(os.environ.get("PHIP_FUZZ_SCALE", "1"))
#: failed logins allowed per account name (the lockout is at 5) and in all (the address lockout is
#: at 50): past these, a login the fuzzer drew is sent with the right password instead
LOGIN_FAILURES_PER_NAME = 4
LOGIN_FAILURES_IN_ALL = 40
#: at most this many bulk jobs are started per kick-off route (each is a thread on the database);
#: past it, kick-offs are sent as the statistician (refused before any job starts)
MAX_BULK_JOBS = 8

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"
STAFF = ("prov", "lz-county", "ts-county", "doc1", "f1-admin", "stat", "auditor", "resident1")
CLIENTS = {"f1-his": "secret-1", "f2-his": "secret-2"}
WRITERS = ("f1-his", "f2-his", "doc1", "f1-admin")
REAL_TYPES = ("Patient", "Encounter", "Observation", "Condition", "Group", "Organization")
JUNK_TYPES = ("patient", "PATIENT", "NoSuchType", "Resource", "DomainResource", "Bundle", "OperationOutcome")
SEEDED = ("fz-p1", "fz-p2", "fz-p3", "pat-1", "fz-e1", "fz-o1", "fz-g1")

# ---- hostile values -----------------------------------------------------------------------------
#: any character but a lone surrogate (which no encoder can put on the wire)
CHARS = st.characters(codec="utf-8")
#: header values go out as ASCII; no CR/LF (httpx refuses those before they are sent)
HEADER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
HOSTILE_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "..\\..\\windows\\win.ini",
    "Patient/../../x",
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "1e400",
    "99999999999999999999999",
    "-1",
    "null",
    "true",
    "[]",
    "{}",
    '{"$ne": null}',
    "' OR '1'='1' --",
    "'; DROP TABLE resource; --",
    "%s%s%s%n",
    "${jndi:ldap://example.invalid/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "\u202egnp.exe",
    "\ufeff",
    "\u0000\u0001\u001f",
    "😀" * 50,
    "张三",
    "Ⅻ\u0301\u0301\u0301",
    "9999-12-31",
    "0000-00-00",
    "1990-02-30",
    "2025-03-01T25:61:61Z",
    "ge9999-12-31T23:59:59Z",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB",
    f"{RESIDENT_ID}|620102199001057001",
    "|",
    "a" * 64,
    "a" * 65,
)
HOSTILE_INTS = (
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    2**70,
    10**30,
)
long_strings = st.tuples(st.text(CHARS, min_size=1, max_size=8), st.integers(100, 2000)).map(
    lambda t: (t[0] * t[1])[:2000]
)
short_text = st.text(CHARS, max_size=30)
ints = st.one_of(st.sampled_from(HOSTILE_INTS), st.integers(), st.sampled_from([-(2**70), -(10**100)]))
floats = st.floats(allow_nan=True, allow_infinity=True)


def weighted(main: Strategy[Any], times: int, *others: Strategy[Any]) -> Strategy[Any]:
    """`main` `times` times as often as each of `others` (`one_of` would not weight: it treats a
    repeated branch as one)."""
    return st.sampled_from([main] * times + list(others)).flatmap(lambda s: s)


def _json_values() -> Strategy[Json]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        ints,
        st.floats(allow_nan=False, allow_infinity=False),
        short_text,
        st.sampled_from(HOSTILE_STRINGS),
    )
    return st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(short_text, c, max_size=4),
        max_leaves=12,
    )


json_values = _json_values()
strings = weighted(
    short_text,
    3,
    st.sampled_from(HOSTILE_STRINGS),
    long_strings,
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),  # nested JSON in a string
)
header_values = st.one_of(
    st.text(HEADER_CHARS, max_size=40),
    st.sampled_from([h for h in HOSTILE_STRINGS if h.isascii() and "\x00" not in h and "\x01" not in h]),
    st.integers(100, 2000).map(lambda n: "x" * n),
)


def _deep(levels: int) -> bytes:
    return b'{"resourceType":"Patient","extension":' + b"[" * levels + b"]" * levels + b"}"


RAW_BODIES = (
    b"",
    b" ",
    b"{",
    b"}",
    b"\x00",
    b"null",
    b"[]",
    b"7",
    b'"x"',
    b"\xff\xfe\xfd",
    b'{"resourceType": NaN}',
    b'{"resourceType":"Patient","birthDate":Infinity}',
    b'{"resourceType":"Patient","id":"a","gender":"male","gender":"female"}',
    b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET"}}],"entry":[]}',
    b'{"username": NaN, "password": -Infinity}',
    _deep(63),
    _deep(65),
    b"[" * 2000 + b"]" * 2000,
    b'{"a":' * 70 + b"1" + b"}" * 70,
    b'{"resourceType":"Patient","text":{"div":"' + b"x" * 2000 + b'"}}',
    b"\n".join([b'{"resourceType":"Patient","id":"nd1"}', b"not json", b"", b"[1]"]),
    b"\xef\xbb\xbf{}",
)
raw_bodies = st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=200))


def encode(value: Json, ascii_only: bool = False) -> bytes:
    """JSON as a client might send it: stdlib json writes big integers and NaN/Infinity tokens,
    which stricter encoders refuse to produce."""
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode()


# ---- JSON schema → strategy ---------------------------------------------------------------------
def from_schema(
    schema: dict[str, Any],
    components: dict[str, Any],
    depth: int = 0,
    hints: dict[str, Strategy[Json]] | None = None,
) -> Strategy[Json]:
    """Mostly values that fit the schema (so requests get past validation into the handler), with
    hostile ones of the right type, and now and then anything at all. `hints` are likely values
    of object properties by name (real account names, record ids, the card scenes)."""
    hints = hints or {}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(components[name], components, depth, hints)
    if depth > 4:
        return json_values
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), strings)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of([from_schema(s, components, depth + 1, hints) for s in schema[key]])
    kind = schema.get("type")
    typed: Strategy[Json]
    if kind == "string":
        typed = strings
        if schema.get("format") == "date-time":
            typed = st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.dates().map(str), strings)
        if "maxLength" in schema:  # at the limit and just past it
            n = schema["maxLength"]
            typed = st.one_of(typed, st.sampled_from(["x" * n, "x" * (n + 1), "\x00" * (n + 1)]))
    elif kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        edges = [v for b in (lo, hi) if b is not None for v in (b - 1, b, b + 1)]
        typed = st.one_of(st.integers(lo, hi), st.sampled_from(edges or [0]), ints)
    elif kind == "number":
        typed = st.one_of(floats, ints)
    elif kind == "boolean":
        typed = st.booleans()
    elif kind == "null":
        typed = st.none()
    elif kind == "array":
        typed = st.lists(from_schema(schema.get("items", {}), components, depth + 1, hints), max_size=5)
    elif kind == "object" or "properties" in schema:
        props = {}
        for k, v in schema.get("properties", {}).items():
            props[k] = from_schema(v, components, depth + 1, hints)
            if k in hints:
                props[k] = weighted(hints[k], 2, props[k])
        required = set(schema.get("required", ()))
        typed = st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={**{k: v for k, v in props.items() if k not in required}, "extra": json_values},
        )
    else:
        return json_values
    return weighted(typed, 6, json_values)


# ---- FHIR content -------------------------------------------------------------------------------
references = st.one_of(
    st.sampled_from([f"Patient/{i}" for i in SEEDED[:4]] + [f"Group/{SEEDED[-1]}", f"Organization/{F1}"]),
    st.sampled_from(["Patient/", "/", "Patient/a/b/c", "urn:uuid:x", "#contained", "Patient/../x"]),
    strings,
)
dates = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat() + "+08:00"),
    st.sampled_from(["1990", "1990-01", "2025-03-01T09:00:00Z", "9999-12-31", "0001-01-01"]),
    strings,
)
codings = st.fixed_dictionaries(
    {},
    optional={
        "system": st.one_of(st.sampled_from(["http://loinc.org", "http://snomed.info/sct"]), strings),
        "code": strings,
        "display": strings,
    },
)
concepts = st.fixed_dictionaries({}, optional={"coding": st.lists(codings, max_size=3), "text": strings})
FIELDS: dict[str, Strategy[Json]] = {
    "id": st.one_of(st.sampled_from(SEEDED), strings),
    "meta": st.fixed_dictionaries(
        {},
        optional={
            "versionId": st.one_of(strings, ints.map(str)),
            "lastUpdated": dates,
            "security": st.lists(codings, max_size=2),
            "profile": st.lists(strings, max_size=2),
        },
    ),
    "identifier": st.lists(
        st.fixed_dictionaries(
            {"value": strings}, optional={"system": st.one_of(st.just(RESIDENT_ID), strings)}
        ),
        max_size=3,
    ),
    "name": st.lists(
        st.fixed_dictionaries(
            {}, optional={"text": strings, "family": strings, "given": st.lists(strings, max_size=2)}
        ),
        max_size=3,
    ),
    "gender": st.one_of(st.sampled_from(["male", "female", "other", "unknown"]), strings),
    "birthDate": dates,
    "active": st.one_of(st.booleans(), strings),
    "address": st.lists(
        st.fixed_dictionaries({}, optional={"text": strings, "district": strings, "line": st.lists(strings)}),
        max_size=2,
    ),
    "telecom": st.lists(st.fixed_dictionaries({"system": st.just("phone"), "value": strings}), max_size=2),
    "managingOrganization": st.fixed_dictionaries({"reference": references}),
    "link": st.lists(
        st.fixed_dictionaries({"other": st.fixed_dictionaries({"reference": references}), "type": strings}),
        max_size=2,
    ),
    "status": st.one_of(st.sampled_from(["finished", "final", "active", "entered-in-error"]), strings),
    "class": codings,
    "code": concepts,
    "category": st.lists(concepts, max_size=2),
    "subject": st.fixed_dictionaries({"reference": references}),
    "encounter": st.fixed_dictionaries({"reference": references}),
    "period": st.fixed_dictionaries({}, optional={"start": dates, "end": dates}),
    "effectiveDateTime": dates,
    "valueQuantity": st.fixed_dictionaries({}, optional={"value": st.one_of(floats, ints), "unit": strings}),
    "member": st.lists(
        st.fixed_dictionaries({"entity": st.fixed_dictionaries({"reference": references})}), max_size=3
    ),
    "extension": st.lists(
        st.fixed_dictionaries({"url": strings}, optional={"valueString": strings}), max_size=3
    ),
    "contained": st.lists(json_values, max_size=2),
    "text": st.fixed_dictionaries({"status": strings, "div": strings}),
}


#: identity numbers of the seeded residents: 张丽 at both facilities (one person), 王建国 at each
#: (two numbers: two persons, queued for review as a possible match)
NUM = idcard.make("620102", date(1990, 1, 5), 7, False)
WJG1 = idcard.make("620502", date(1972, 6, 1), 40, True)
WJG2 = idcard.make("620502", date(1972, 6, 1), 41, True)
PEOPLE = {
    "fz-p1": ("张丽", NUM),
    "fz-p2": ("王建国", WJG1),
    "fz-p3": ("张丽", NUM),
    "pat-1": ("王建国", WJG2),
}


def valid_patient(rid: str, name: str = "张三", number: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rid,
        "name": [{"text": name}],
        "gender": "male",
        "birthDate": "1980-01-01",
    }
    if number:
        res["identifier"] = [{"system": RESIDENT_ID, "value": number}]
        born = idcard.birth_date(number)
        res["birthDate"] = born.isoformat() if born else "1980-01-01"
        res["gender"] = "male" if int(number[16]) % 2 else "female"
    return res


def resources(rtype: Strategy[str], rid: Strategy[str] | None = None) -> Strategy[Json]:
    """Resource-shaped objects: a valid Patient with some fields replaced, or a resource of
    `rtype` made of random FHIR fields; now and then without or with a wrong resourceType."""

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        t = draw(rtype)
        base: dict[str, Any] = valid_patient(draw(rid) if rid is not None else "x")
        if t != "Patient" or draw(st.booleans()):
            base = {"resourceType": t}
            if rid is not None and draw(st.booleans()):
                base["id"] = draw(rid)
        for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=6, unique=True)):
            base[name] = draw(weighted(FIELDS[name], 4, json_values))
        if draw(st.integers(0, 9)) == 0:  # no or a wrong resourceType
            base["resourceType"] = draw(st.one_of(st.none(), strings, json_values))
        return base

    return build()


any_type = weighted(st.sampled_from(REAL_TYPES), 4, st.sampled_from(JUNK_TYPES), strings)
any_resource = resources(st.one_of(st.sampled_from(REAL_TYPES), any_type), st.sampled_from(SEEDED))
request_urls = st.one_of(
    st.sampled_from(
        [
            "Patient",
            "Patient/fz-p1",
            "Patient/fz-p1/_history/1",
            "Patient?_count=1",
            "Patient?name=张",
            "Encounter?patient=fz-p1&_include=Encounter:subject",
            "Patient/$match",
            "metadata",
            "../api/auth/login",
            "http://example.invalid/fhir/Patient",
            "Patient?_count=99999999999999999999",
            "",
        ]
    ),
    st.tuples(st.sampled_from(REAL_TYPES), st.one_of(st.sampled_from(SEEDED), strings)).map("/".join),
    strings,
)
bundle_entries = st.fixed_dictionaries(
    {},
    optional={
        "fullUrl": st.one_of(st.just("urn:uuid:00000000-0000-0000-0000-000000000001"), strings),
        "resource": st.one_of(any_resource, json_values),
        "request": st.fixed_dictionaries(
            {
                "method": st.one_of(
                    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]), strings
                ),
                "url": request_urls,
            },
            optional={"ifMatch": header_values, "ifNoneExist": strings, "ifNoneMatch": strings},
        ),
        "search": json_values,
    },
)
bundles = st.fixed_dictionaries(
    {
        "resourceType": st.just("Bundle"),
        "type": st.one_of(st.sampled_from(["batch", "transaction", "collection", "searchset"]), strings),
    },
    optional={
        "entry": st.one_of(
            st.lists(bundle_entries, max_size=6), st.lists(json_values, max_size=3), json_values
        ),
        "id": strings,
    },
)
#: somebody like a seeded resident (so $match has candidates to score), or any Patient
lookalikes = st.sampled_from(sorted(PEOPLE)).flatmap(
    lambda rid: resources(st.just("Patient"), st.just(rid)).map(
        lambda res: {**valid_patient(rid, *PEOPLE[rid]), **res} if isinstance(res, dict) else res
    )
)
other_parameters = st.fixed_dictionaries(
    {
        "name": st.one_of(
            st.sampled_from(["resource", "count", "onlyCertainMatches", "onlySingleMatch"]), strings
        )
    },
    optional={
        "resource": st.one_of(resources(st.just("Patient")), json_values),
        "valueInteger": st.one_of(st.integers(1, 20), ints, strings),
        "valueBoolean": st.one_of(st.booleans(), strings),
        "valueString": strings,
    },
)
resource_parameter = st.fixed_dictionaries(
    {
        "name": st.just("resource"),
        "resource": weighted(lookalikes, 3, resources(st.just("Patient")), json_values),
    }
)
parameters = st.fixed_dictionaries(
    {"resourceType": st.just("Parameters")},
    optional={
        "parameter": weighted(
            st.tuples(
                weighted(st.lists(resource_parameter, min_size=1, max_size=1), 4, st.just([])),
                st.lists(other_parameters, max_size=3),
            ).map(lambda t: t[0] + t[1]),
            4,
            json_values,
        )
    },
)
ndjson = st.lists(st.one_of(any_resource, json_values), min_size=1, max_size=6).map(
    lambda rows: b"\n".join(encode(r) for r in rows) + b"\n"
)


def _cursor(values: Json) -> str:
    return base64.urlsafe_b64encode(encode(values)).decode().rstrip("=")


def search_params(rtype: str) -> Strategy[list[tuple[str, str]]]:
    """FHIR search parameters: the type's own, the control ones, modifiers, prefixes, junk."""
    names = sorted({p.name for p in PARAMS.get(rtype, ())} | CONTROL | {"_id", "_lastUpdated"})
    name = st.one_of(
        st.sampled_from(names),
        st.tuples(
            st.sampled_from(names), st.sampled_from(["exact", "not", "missing", "contains", "Patient", ""])
        ).map(":".join),
        strings,
    )
    special: dict[str, Strategy[str]] = {
        "_count": st.one_of(ints.map(str), strings),
        "_sort": st.sampled_from(
            ["_id", "-_id", "_lastUpdated", "-_lastUpdated", "birthdate", "-birthdate", "x"]
        ),
        "_include": st.one_of(
            st.sampled_from(
                ["Encounter:subject", "Encounter:subject:Patient", "Patient:link", "*", "a:b:c:d"]
            ),
            strings,
        ),
        "_summary": st.sampled_from(["count", "true", "data", "text", "false", ""]),
        "_total": st.sampled_from(["accurate", "estimate", "none", "x"]),
        "_cursor": st.one_of(json_values.map(_cursor), strings),
    }
    generic = st.one_of(
        strings,
        st.tuples(st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap", "zz"]), dates).map(
            "".join
        ),
        references,
        st.tuples(strings, strings).map("|".join),
        st.lists(strings, min_size=2, max_size=4).map(",".join),
    )

    @st.composite
    def build(draw: st.DrawFn) -> list[tuple[str, str]]:
        out = []
        for n in draw(st.lists(name, max_size=4)):
            out.append((n, draw(st.one_of(special[n], generic) if n in special else generic)))
        return out

    return build()


# ---- the operations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    method: str
    path: str
    params: tuple[dict[str, Any], ...]
    body: dict[str, Any] | None

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Req:
    """One request, printable as a reproducer."""

    op: Op
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None
    caller: str
    #: set by the sender when it replaced the drawn request (login budget, logout)
    note: str = ""

    def describe(self) -> str:
        body = self.body if self.body is None or len(self.body) <= 600 else self.body[:600] + b"...(cut)"
        headers = {
            k: (v if k.lower() not in ("authorization", "cookie") else v[:20] + "…")
            for k, v in self.headers.items()
        }
        url = f"{self.method} {self.path}" + (f"?{urlencode(self.query)}" if self.query else "")
        url = url if len(url) <= 600 else f"{url[:600]}...(cut {len(url) - 600} characters)"
        return (
            url
            + f"\n  caller={self.caller} headers={headers}\n  body={body!r}"
            + (f"\n  note={self.note}" if self.note else "")
        )


def operations(spec: dict[str, Any]) -> list[Op]:
    ops = []
    for path, items in spec["paths"].items():
        for method, op in items.items():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            ops.append(Op(method.upper(), path, tuple(op.get("parameters", ())), body))
    return ops


#: the order operations are fuzzed in: writes and kick-offs before the job routes that use their
#: results, deletes and logouts last (they take away what the others use)
def _phase(op: Op) -> int:
    if "$bulk-" in op.path:
        return 2
    if op.method == "DELETE" or op.path.endswith("/logout"):
        return 3
    return 1


@dataclass
class Pools:
    """What exists in the store when an operation's turn comes: real ids make deeper paths."""

    ids: list[str]
    persons: list[str]
    review_items: list[int]
    events: list[int]
    jobs: list[str]
    files: list[str]

    @classmethod
    def load(cls, api: Api) -> Pools:
        with Session(get_engine(api.settings.resolved_database_url())) as s:
            ids = sorted(set(SEEDED) | set(s.scalars(select(Resource.res_id).limit(40))))
            jobs = list(s.execute(select(BulkJob.id, BulkJob.folder)))
            files = {
                f.name for _, folder in jobs if folder and os.path.isdir(folder) for f in os.scandir(folder)
            }
            return cls(
                ids=ids,
                persons=sorted(s.scalars(select(PersonRow.person_id).limit(20))) or ["none"],
                review_items=sorted(s.scalars(select(ReviewItem.id).limit(20))) or [1],
                events=sorted(s.scalars(select(PersonEvent.id).limit(20))) or [1],
                jobs=[j for j, _ in jobs] or ["none"],
                files=sorted(files | {"Patient.ndjson", "Encounter.ndjson"}),
            )


CALLERS = (*STAFF, *CLIENTS, "anonymous", "junk", "cookie")
JUNK_TOKENS = (
    "not.a.token",
    "a." * 1000,
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJwcm92Iiwicm9sZSI6InByb3ZpbmNlX2FkbWluIn0.",
    "\x7f",
    "",
)


def _path_value(name: str, pools: Pools) -> Strategy[str]:
    if name == "rtype":
        return any_type
    if name in ("rid", "gid"):
        return weighted(st.sampled_from(pools.ids), 3, strings)
    if name == "vid":
        return st.one_of(
            st.sampled_from(["1", "2", "0", "-1", "1.5", "abc", "9223372036854775808"]), ints.map(str)
        )
    if name == "person_id":
        return st.one_of(st.sampled_from(pools.persons), strings)
    if name == "job_id":
        return weighted(st.sampled_from(pools.jobs), 3, strings)
    if name == "name":
        return st.one_of(
            st.sampled_from(pools.files),
            st.sampled_from(
                ["..", "../../etc/passwd", "submission.ndjson", ".", "..%2F..%2Fphip.db", "x" * 256]
            ),
            strings,
        )
    if name == "item_id":
        return st.one_of(st.sampled_from(pools.review_items).map(str), ints.map(str), strings)
    if name == "event_id":
        return st.one_of(st.sampled_from(pools.events).map(str), ints.map(str), strings)
    return strings


QUERY_HINTS: dict[str, Strategy[Json]] = {
    "level": st.sampled_from(LEVELS),
    "period_type": st.sampled_from(PERIODS),
    "breakdown": st.sampled_from(["", "all", *BREAKDOWNS]),
    "format": st.sampled_from(["json", "csv", "xlsx", "xml"]),
    "lang": st.sampled_from(["zh", "en", "fr"]),
    "facility": st.sampled_from([F1, F2]),
    "unit": st.sampled_from(["620000", "620102", "620502", "620102001"]),
    "org_unit": st.sampled_from(["620000", "620102", "620502"]),
    "parent": st.sampled_from(["620000", "620100"]),
    "status": st.sampled_from(["open", "match", "no-match", "stale", "all"]),
    "period": st.sampled_from(["2025", "2025-03", "2025-Q1", "2025-W10", "2025-03-01"]),
}


def _query_text(value: Json) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [t for v in value for t in _query_text(v)]
    if isinstance(value, dict):
        return [json.dumps(value, ensure_ascii=False)]
    return [str(value)]


def body_hints(pools: Pools) -> dict[str, Strategy[Json]]:
    records = st.sampled_from([f"Patient/{i}" for i in SEEDED[:4]])
    return {
        "username": st.sampled_from(STAFF),
        "password": st.just(PASSWORD),
        "client_id": st.sampled_from(sorted(CLIENTS)),
        "client_secret": st.sampled_from(sorted(CLIENTS.values())),
        "grant_type": st.just("client_credentials"),
        "scene": st.sampled_from(card.SCENES),
        "channel": st.sampled_from(card.CHANNELS),
        "decision": st.sampled_from(["match", "no-match", "maybe"]),
        "record": records,
        "source": st.one_of(records, st.sampled_from(pools.persons)),
        "target": st.one_of(records, st.sampled_from(pools.persons)),
        "person": st.sampled_from(pools.persons),
        "facility": st.sampled_from([F1, F2]),
        "ids": st.lists(st.one_of(st.integers(1, 50), ints), max_size=4),
    }


def _content_type(default: str) -> Strategy[str | None]:
    """The right Content-Type four times in five (else most bodies stop at the parser)."""
    return weighted(
        st.just(default),
        12,
        st.sampled_from(
            [
                "application/json",
                "application/fhir+json",
                "application/fhir+ndjson",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=zz",
                "application/json; charset=latin-1",
            ]
        ),
        st.none(),
        header_values,
    )


def _body(
    op: Op, rtype: str | None, rid: str | None, spec: dict[str, Any], pools: Pools
) -> Strategy[tuple[bytes | None, str | None]]:
    """The body and its Content-Type for an operation."""
    components = spec.get("components", {}).get("schemas", {})
    path, method = op.path, op.method

    def json_of(
        values: Strategy[Json], ctype: str = "application/fhir+json"
    ) -> Strategy[tuple[bytes | None, str | None]]:
        return st.tuples(
            weighted(st.tuples(values, st.booleans()).map(lambda t: encode(t[0], t[1])), 4, raw_bodies),
            _content_type(ctype),
        )

    if op.body is not None:
        return json_of(from_schema(op.body, components, hints=body_hints(pools)), "application/json")
    if path == "/fhir" and method == "POST":
        return json_of(weighted(bundles, 4, any_resource, json_values))
    if path == "/fhir/Patient/$match":
        return json_of(weighted(parameters, 3, resources(st.just("Patient")), json_values))
    if path == "/fhir/$import":
        return st.tuples(weighted(ndjson, 4, raw_bodies), _content_type("application/fhir+ndjson"))
    if path == "/fhir/{rtype}/_search":
        form = search_params(rtype or "Patient").map(lambda q: urlencode(q).encode())
        return st.tuples(weighted(form, 4, raw_bodies), _content_type("application/x-www-form-urlencoded"))
    if method in ("POST", "PUT"):
        same = resources(st.just(rtype or "Patient"), st.just(rid) if rid else st.sampled_from(SEEDED))
        return json_of(weighted(same, 6, any_resource, bundles, json_values))
    # a GET or DELETE: usually nothing, sometimes a body nobody asked for
    return weighted(st.just((None, None)), 4, json_of(json_values))


def requests_for(op: Op, spec: dict[str, Any], pools: Pools) -> Strategy[Req]:
    writes = op.method in ("POST", "PUT", "DELETE") and op.path.startswith("/fhir")
    owners = ("f1-his", "prov", "doc1", "f2-his")  # who starts bulk jobs in the run
    callers = weighted(
        st.sampled_from(WRITERS if writes else owners if "$bulk-" in op.path else CALLERS),
        1,
        st.sampled_from(CALLERS),
    )

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        values: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        for p in op.params:
            if p["in"] == "path":
                values[p["name"]] = draw(_path_value(p["name"], pools))
            elif p["in"] == "query" and (p.get("required") or draw(st.booleans())):
                strategy = from_schema(p.get("schema", {}), {})
                if p["name"] in QUERY_HINTS:
                    strategy = weighted(QUERY_HINTS[p["name"]], 2, strategy)
                query += [(p["name"], v) for v in _query_text(draw(strategy))]
        rtype = values.get("rtype") or ("Patient" if "/Patient/" in op.path else None)
        searchable = rtype if rtype is not None and rtype in PARAMS else "Patient"
        if op.path in ("/fhir/{rtype}", "/fhir/{rtype}/_search"):
            query += draw(search_params(searchable))
        elif op.path.endswith("$export"):
            query += draw(
                st.lists(
                    st.one_of(
                        st.tuples(
                            st.just("_type"),
                            st.one_of(st.lists(any_type, max_size=3).map(",".join), strings),
                        ),
                        st.tuples(st.just("_since"), dates),
                        st.tuples(
                            st.just("_outputFormat"),
                            st.one_of(
                                st.sampled_from(["application/fhir+ndjson", "ndjson", "text/csv"]), strings
                            ),
                        ),
                    ),
                    max_size=3,
                )
            )
        query += draw(st.lists(st.tuples(short_text, strings), max_size=1))  # parameters nobody reads
        path = op.path
        for k, v in values.items():
            path = path.replace("{" + k + "}", quote(v, safe=""))
        body, ctype = draw(_body(op, rtype, values.get("rid"), spec, pools))
        headers: dict[str, str] = {}
        if ctype is not None:
            headers["Content-Type"] = ctype
        extra = {
            "If-Match": st.one_of(
                st.sampled_from(['W/"1"', '"2"', "1", "*", 'W/"99999999999999999999"']), header_values
            ),
            "If-None-Exist": search_params(searchable).map(urlencode),
            "Prefer": st.sampled_from(
                ["respond-async", "return=minimal", "return=OperationOutcome", "handling=strict"]
            ),
            "Accept": st.sampled_from(["application/fhir+json", "text/html", "*/*", "application/xml"]),
            "X-Forwarded-Host": header_values,
            "X-CSRF-Token": header_values,
        }
        for name in draw(st.lists(st.sampled_from(sorted(extra)), max_size=2, unique=True)):
            headers[name] = draw(extra[name])
        # now and then a method no route has (405, as an OperationOutcome)
        method = draw(
            weighted(st.just(op.method), 24, st.sampled_from(["PATCH", "OPTIONS", "HEAD", "TRACE"]))
        )
        return Req(op, method, path, query, headers, body, draw(callers))

    return build()


# ---- sending ------------------------------------------------------------------------------------
@dataclass
class Fuzzer:
    api: Api
    client: TestClient
    raising: TestClient
    #: appended to the route in the counts (the analytics routes run twice: without, with a lake)
    tag: str = ""
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    login_failures: Counter[str] = field(default_factory=Counter)
    #: why requests were refused, per route (to see what the fuzzer reaches)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    bulk_jobs: Counter[str] = field(default_factory=Counter)
    #: every distinct 5xx seen: (route, status, exception) → the first request that caused it
    errors: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def auth(self, req: Req) -> dict[str, str]:
        if req.caller == "anonymous":
            return {}
        if req.caller == "junk":
            return {"Authorization": f"Bearer {JUNK_TOKENS[len(req.path) % len(JUNK_TOKENS)]}"}
        if req.caller == "cookie":  # a console session without its CSRF header
            return {"Cookie": f"phip_session={self.api.tokens['prov']}"}
        return self.api.h(req.caller)

    def fresh_token(self, who: str) -> str:
        """A new session for `who` (a logout ends only this one, never the fixture's)."""
        if who in CLIENTS:
            r = self.client.post("/api/auth/token", json={"client_id": who, "client_secret": CLIENTS[who]})
        else:
            r = self.client.post("/api/auth/login", json={"username": who, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def _budget(self, req: Req) -> None:
        """Failed logins stay under the lockouts: a login that might fail once too often is sent
        with the right credentials instead."""
        if req.op.path not in ("/api/auth/login", "/api/auth/token") or req.body is None:
            return
        try:
            body = json.loads(req.body)
        except (ValueError, RecursionError):  # the harness's own reading of a hostile body
            return
        if not isinstance(body, dict):
            return
        login = req.op.path.endswith("/login")
        raw = body.get("username" if login else "client_id")
        if raw is None:
            return
        name = str(raw)[:64] if login else f"client:{raw}"
        if (
            self.login_failures[name] < LOGIN_FAILURES_PER_NAME
            and sum(self.login_failures.values()) < LOGIN_FAILURES_IN_ALL
        ):
            return
        if login:
            req.body = encode({"username": "doc1", "password": PASSWORD})
        else:
            req.body = encode({"client_id": "f1-his", "client_secret": CLIENTS["f1-his"]})
        req.headers["Content-Type"] = "application/json"
        req.note = "login budget spent: sent with the right credentials"

    def send(self, req: Req) -> None:
        self._budget(req)
        headers = {**req.headers, **self.auth(req)}
        if req.op.path.endswith("/logout") and req.caller in (*CLIENTS, *STAFF):
            headers["Authorization"] = f"Bearer {self.fresh_token(req.caller)}"
            req.note = "a fresh session of the caller"
        kickoff = req.op.path.endswith(("$export", "$import"))
        if kickoff and self.bulk_jobs[req.op.route] >= MAX_BULK_JOBS:
            headers.pop("Cookie", None)
            headers.update(self.api.h("stat"))
            req.note = "bulk job budget spent: sent as the statistician"
        r = self.client.request(req.method, req.path, params=req.query, content=req.body, headers=headers)
        route = req.op.route + self.tag
        self.sent[route] += 1
        self.statuses[(route, r.status_code)] += 1
        if r.status_code == 401 and req.op.path in ("/api/auth/login", "/api/auth/token") and req.body:
            try:
                body = json.loads(req.body)
                raw = body.get("username") if req.op.path.endswith("/login") else body.get("client_id")
                self.login_failures[str(raw)[:64] if req.op.path.endswith("/login") else f"client:{raw}"] += 1
            except (ValueError, AttributeError, RecursionError):
                pass
        if kickoff and r.status_code == 202:
            self.bulk_jobs[req.op.route] += 1
        if r.status_code >= 500:
            cause, trace = self.explain(req, headers)
            self.errors.setdefault(
                (route, r.status_code, cause), f"{req.describe()}\n  response={r.text[:300]}\n{trace}"
            )
        assert r.status_code < 500, f"{r.status_code} for\n{req.describe()}\n  response={r.text[:300]}"
        assert "Traceback" not in r.text, f"a stack trace in the answer to\n{req.describe()}"
        if r.status_code >= 400 and req.path.startswith(("/fhir", "/api")) and req.method != "HEAD":
            try:
                outcome = r.json()
            except ValueError:
                outcome = None
            assert isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome", (
                f"{r.status_code} is not an OperationOutcome: {r.text[:300]!r}\nfor {req.describe()}"
            )
            issue = (outcome.get("issue") or [{}])[0]
            why = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
            self.reasons[(route, f"{r.status_code} {why[:70]}")] += 1

    def explain(self, req: Req, headers: dict[str, str]) -> tuple[str, str]:
        """The server's exception, replaying the request on a client that raises it: its type and
        where in the platform it was raised (what tells one bug from another), and the trace."""
        try:
            self.raising.request(req.method, req.path, params=req.query, content=req.body, headers=headers)
        except Exception as exc:
            frames = [
                f"{f.filename.split('/src/')[-1]}:{f.lineno}"
                for f in traceback.extract_tb(exc.__traceback__)
                if "/src/phip/" in f.filename
            ]
            handler = [f for f in frames if f.startswith("phip/web/")]
            where = frames[-1] if frames else "?"
            if handler and handler[-1] != where:
                where += f" from {handler[-1]}"
            lines = traceback.format_exception(exc)[-6:]
            return f"{type(exc).__name__} at {where}", "".join(line[:400] for line in lines)
        return "no exception", "(the replay did not raise: a 5xx answered without an exception)"


def _seed(api: Api, model: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """A few records at each facility, the identity model, persons and a queued possible match
    (so the person-index routes have something to decide on), and the lake left unbuilt."""
    from phip.identity import persons, review
    from phip.identity.store_link import link_store

    h = {**api.h("f1-his"), "Content-Type": "application/fhir+json"}
    h2 = {**api.h("f2-his"), "Content-Type": "application/fhir+json"}
    for rid, headers in (("fz-p1", h), ("fz-p2", h), ("pat-1", h2), ("fz-p3", h2)):
        res = valid_patient(rid, *PEOPLE[rid])
        r = api.client.put(f"/fhir/Patient/{rid}", content=encode(res), headers=headers)
        assert r.status_code in (200, 201), r.text
    install_model(api, model)
    with Session(get_engine(api.settings.resolved_database_url())) as s:
        link_store(s, api.settings.var_dir, retrain=False)
        pid = {r: p.person_id or "" for r, p in persons.priors(s).items()}
        review.offer(s, [("Patient/fz-p2", "Patient/pat-1", 0.8)], pid)
        s.commit()
    others: list[dict[str, Any]] = [
        {
            "resourceType": "Encounter",
            "id": "fz-e1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/fz-p1"},
            "period": {"start": "2025-03-01T09:00:00+08:00", "end": "2025-03-01T09:20:00+08:00"},
        },
        {
            "resourceType": "Observation",
            "id": "fz-o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "subject": {"reference": "Patient/fz-p1"},
            "effectiveDateTime": "2025-03-01T09:10:00+08:00",
            "valueQuantity": {"value": 120, "unit": "mm[Hg]"},
        },
        {
            "resourceType": "Group",
            "id": "fz-g1",
            "type": "person",
            "actual": True,
            "member": [
                {"entity": {"reference": "Patient/fz-p1"}},
                {"entity": {"reference": "Patient/fz-p2"}},
            ],
        },
    ]
    for res in others:
        r = api.client.put(f"/fhir/{res['resourceType']}/{res['id']}", content=encode(res), headers=h)
        assert r.status_code in (200, 201), r.text


def _build_lake(api: Api) -> None:
    """The lake, the indicators and a data-quality round: the analytics routes, fuzzed first
    without them, are fuzzed again with data to answer from."""
    from phip.analytics import results
    from phip.analytics.compute import compute
    from phip.lake.service import refresh_from_store
    from phip.quality.service import run_round

    lake = api.settings.resolved_lake_dir()
    with Session(get_engine(api.settings.resolved_database_url())) as s:
        refresh_from_store(s, lake)
        started = time.perf_counter()
        results.save(lake, compute(lake), "duckdb", time.perf_counter() - started)
        run_round(s, lake)


def _analytics(op: Op) -> bool:
    return op.path.startswith(("/api/indicators", "/api/quality"))


def _wait_for_jobs(api: Api, seconds: float = 60) -> None:
    """Bulk jobs run in threads: let them finish before their status is fuzzed (and before the
    database goes away)."""
    deadline = time.monotonic() + seconds
    engine = get_engine(api.settings.resolved_database_url())
    while time.monotonic() < deadline:
        with Session(engine) as s:
            if not s.scalars(select(BulkJob.id).where(BulkJob.status.in_(("queued", "running")))).first():
                return
        time.sleep(0.2)


def _settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        derandomize=False,
        database=None,
        print_blob=True,
    )


def _fuzz_routes(
    fuzzer: Fuzzer, ops: list[Op], spec: dict[str, Any], examples: int
) -> Iterator[tuple[str, str]]:
    """Fuzz each operation in turn; yield (route, failure) for those that failed (after shrinking)."""
    for op in ops:
        pools = Pools.load(fuzzer.api)

        @_settings(examples)
        @given(req=requests_for(op, spec, pools))
        def one(req: Req) -> None:
            fuzzer.send(req)

        try:
            one()
        except Exception as exc:  # collected: every route is fuzzed before the test fails
            text = f"{type(exc).__name__}: {exc}"
            yield op.route + fuzzer.tag, text if len(text) < 3000 else text[:3000] + "...(cut)"


@pytest.mark.slow
def test_fuzz_the_openapi(api: Api, empi_model: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Every operation of the OpenAPI, `EXAMPLES` requests each (the analytics routes twice:
    before and after the lake is built): no 5xx, and errors are OperationOutcomes. Each distinct
    5xx is reported with the request that caused it and the server's exception."""
    engine_name = "postgresql" if api.settings.database_url.startswith("postgresql") else "sqlite"
    examples = max(1, round(EXAMPLES[engine_name] * SCALE))
    spec = api.client.app.openapi()  # type: ignore[attr-defined]
    ops = sorted(operations(spec), key=_phase)
    assert len(ops) >= 40, [o.route for o in ops]  # the whole API, not a part of it
    _seed(api, empi_model)
    fuzzer = Fuzzer(
        api,
        TestClient(api.client.app, raise_server_exceptions=False),
        TestClient(api.client.app, raise_server_exceptions=True),
    )
    started = time.perf_counter()
    failures: list[tuple[str, str]] = []
    failures += _fuzz_routes(fuzzer, [o for o in ops if _phase(o) == 1], spec, examples)
    _build_lake(api)
    fuzzer.tag = " [with a lake]"
    failures += _fuzz_routes(fuzzer, [o for o in ops if _analytics(o)], spec, examples)
    fuzzer.tag = ""
    _wait_for_jobs(api)
    for phase in (2, 3):
        failures += _fuzz_routes(fuzzer, [o for o in ops if _phase(o) == phase], spec, examples)
    _wait_for_jobs(api)
    elapsed = time.perf_counter() - started
    total = sum(fuzzer.sent.values())
    print(f"\nfuzz on {engine_name}: {total} requests in {elapsed:.0f}s, {examples} examples per route")
    for route in sorted(fuzzer.sent):
        seen = sorted((s, n) for (r, s), n in fuzzer.statuses.items() if r == route)
        print(f"  {fuzzer.sent[route]:5d}  {route}  " + " ".join(f"{s}×{n}" for s, n in seen))
        if os.environ.get("PHIP_FUZZ_REASONS"):
            top = sorted(((n, why) for (r, why), n in fuzzer.reasons.items() if r == route), reverse=True)
            for n, why in top[:4]:
                print(f"           {n:4d}  {why}")
    assert {o.route for o in ops} <= set(fuzzer.sent), "an operation was never sent"
    distinct = "\n\n".join(f"{k[0]} → {k[1]} ({k[2]})\n{v}" for k, v in fuzzer.errors.items())
    assert not failures and not fuzzer.errors, (
        f"{len(fuzzer.errors)} distinct 5xx:\n{distinct}\n\nshrunk failures per route:\n"
        + "\n\n".join(f"[{r}] {f}" for r, f in failures)
    )
