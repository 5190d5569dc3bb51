"""The access policy as data: the generated page is true, the faces never name a role or write
the audit log, every route names an action, and a matrix generated from the policy — every route
of the OpenAPI and the console × every role (and anonymous), inside and outside its area — gets
exactly what the policy says, with every denial in the audit log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.security import access
from phip.security.accounts import add_staff
from phip.security.models import AuditEntry
from tests.web.conftest import F1, F2, PASSWORD, Api

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "phip" / "web"
#: routes anyone may call: logins, the CapabilityStatement, the OpenAPI
PUBLIC = {"/api/auth/token", "/api/auth/login", "/api/auth/logout", "/fhir/metadata"}


def test_the_generated_page_is_current() -> None:
    assert (ROOT / "docs" / "access.md").read_text(encoding="utf-8") == access.reference()


def test_the_policy_is_checked_when_loaded(tmp_path: Path) -> None:
    pol = access.load()
    assert set(pol.roles_of("facility")) == {"facility_client"}
    assert set(pol.roles_of("resident")) == {"resident"}
    for action in pol.actions.values():
        assert action.roles <= set(pol.roles)
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions:\n  x.y:\n    zh: 甲\n    en: X\n    scope: records\n    roles: [wizard]\n")
    with pytest.raises(access.PolicyError, match="unknown roles"):
        access.register(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("actions:\n  records.read:\n    zh: 甲\n    en: X\n    scope: records\n    roles: []\n")
    with pytest.raises(access.PolicyError, match="declared twice"):
        access.register(dup)
    with pytest.raises(access.PolicyError, match="no action"):
        access.policy().action("nothing.here")


def test_a_service_registers_its_actions(tmp_path: Path) -> None:
    extra = tmp_path / "svc.yaml"
    extra.write_text(
        "actions:\n  test_service.do:\n    zh: 做\n    en: Do it\n"
        "    scope: area\n    roles: [county_admin]\n"
    )
    try:
        assert access.register(extra) == ["test_service.do"]
        assert access.policy().action("test_service.do").roles == {"county_admin"}
    finally:
        access.policy().actions.pop("test_service.do", None)


ROLE_NAMES = sorted(access.policy().roles)
ROLE_LITERAL = re.compile("[\"'](" + "|".join(map(re.escape, ROLE_NAMES)) + ")[\"']")
FORBIDDEN = [
    (re.compile(r"\baudit\.record\("), "writes the audit log"),
    (
        re.compile(r"from phip\.security\.audit import|from phip\.security import [^\n]*\baudit\b"),
        "imports the audit log",
    ),
    (re.compile(r"\.role\s*(==|!=|\bin\b|\bnot in\b)"), "decides on a role"),
    (ROLE_LITERAL, "names a role"),
]


def test_no_face_names_a_role_or_writes_the_audit_log() -> None:
    found = []
    for path in sorted(WEB.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in FORBIDDEN:
            for m in pattern.finditer(text):
                line = text[: m.start()].count("\n") + 1
                found.append(f"{path.relative_to(ROOT)}:{line} {what}: {m.group(0)}")
    assert found == []


def _operations(api: Api) -> list[tuple[str, str, str | None]]:
    spec = api.client.app.openapi()  # type: ignore[attr-defined]
    return [
        (method.upper(), path, op.get("x-phip-action"))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_route_names_an_action_of_the_policy(api: Api) -> None:
    pol = access.policy()
    for method, path, action in _operations(api):
        if path in PUBLIC:
            assert action is None, (method, path)
        else:
            assert action in pol.actions, (method, path, action)


# -- the matrix generated from the policy -----------------------------------------------------

#: the callers of the fixture, plus one public health officer, so every role is there
CALLERS = {
    "f1-his": "facility_client",
    "doc1": "clinician",
    "f1-admin": "facility_admin",
    "lz-county": "county_admin",
    "prov": "province_admin",
    "stat": "statistician",
    "ph": "public_health",
    "auditor": "auditor",
    "resident1": "resident",
}
#: a facility inside each caller's area and one outside it (None: no facility is in its area)
INSIDE = {"f1-his": F1, "doc1": F1, "f1-admin": F1, "lz-county": F1, "ph": F1, "prov": F1, "stat": F1}
OUTSIDE = {"f1-his": F2, "doc1": F2, "f1-admin": F2, "lz-county": F2, "ph": F2}
PATH_VALUES = {"rtype": "Patient", "rid": "none-such", "vid": "1", "gid": "none", "person_id": "none"}
PATH_VALUES |= {"job_id": "none", "name": "Patient.ndjson", "item_id": "1", "event_id": "1"}
BODIES: dict[str, Any] = {
    "/fhir": {"resourceType": "Bundle", "type": "batch", "entry": []},
    "/fhir/Patient/$match": {"resourceType": "Parameters", "parameter": []},
    "/api/card/verify": {"token": "x", "scene": "outpatient", "channel": "app"},
    "/api/empi/link": {"record": "Patient/none", "person": "none"},
    "/api/empi/unlink": {"record": "Patient/none"},
    "/api/empi/merge": {"source": "none", "target": "none2"},
    "/api/empi/review/{item_id}": {"decision": "match"},
    "/api/empi/decisions/{event_id}/revert": {},
}
#: routes whose `facility` names the facility looked at: checked inside and outside the area
FACILITY_PARAM = {"/api/quality/report", "/api/quality/metrics", "/api/quality/summary"}


def _denials(api: Api, actor: str) -> int:
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        q = select(func.count()).where(AuditEntry.actor.like(f"%:{actor}"), AuditEntry.outcome == "denied")
        return int(s.scalar(q) or 0)


def _call(api: Api, who: str, method: str, path: str, facility: str | None = None) -> int:
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
    params = {"facility": facility} if facility and path in FACILITY_PARAM else None
    body = BODIES.get(path)
    if path == "/api/quality/acknowledge":
        body = {"facility": facility or F1, "ids": [1]}
    headers = {**api.h(who), "Content-Type": "application/fhir+json"}
    if path == "/fhir/$import":
        r = api.client.request(method, url, headers=headers, content=b"{}\n")
    elif method in ("POST", "PUT") and path.startswith("/fhir/") and path != "/fhir/Patient/$match":
        res = {"resourceType": "Patient", "id": "none-such"}
        r = api.client.request(method, url, headers=headers, json=res, params=params)
    else:
        r = api.client.request(method, url, headers=headers, json=body, params=params)
    return r.status_code


def _with_public_health(api: Api) -> None:
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        add_staff(s, "ph", PASSWORD, "public_health", org_unit="620102")
        s.commit()
    r = api.client.post("/api/auth/login", json={"username": "ph", "password": PASSWORD})
    assert r.status_code == 200
    api.tokens["ph"] = r.json()["access_token"]


@pytest.mark.slow  # about 900 requests per database; runs in CI
def test_every_route_answers_every_role_as_the_policy_says(api: Api) -> None:
    _with_public_health(api)
    pol = access.policy()
    checked = 0
    for method, path, action in _operations(api):
        if action is None:
            continue
        allowed = pol.action(action).roles
        assert _call(api, "anonymous", method, path) == 401, (method, path)
        for who, role in CALLERS.items():
            before = _denials(api, who)
            status = _call(api, who, method, path, INSIDE.get(who))
            if role in allowed:
                assert status not in (401, 403) and status < 500, (who, method, path, status)
                # an id outside the scope answers 404 like a missing one, audited as refused
                assert _denials(api, who) == before or status == 404, (who, method, path)
            else:
                assert status == 403, (who, method, path, status)
                assert _denials(api, who) == before + 1, ("denial not audited", who, method, path)
            checked += 1
            if role in allowed and path in FACILITY_PARAM and who in OUTSIDE:
                before = _denials(api, who)
                status = _call(api, who, method, path, OUTSIDE[who])
                assert status == 403, ("outside the area", who, method, path, status)
                assert _denials(api, who) == before + 1, ("denial not audited", who, method, path)
    assert checked > 30 * len(CALLERS)


CONSOLE_PAGES = ["/", "/explorer", "/connection", "/reporting", "/quality", "/identity", "/records"]


@pytest.mark.slow
def test_every_console_page_answers_every_role_as_the_policy_says(api: Api) -> None:
    from phip.web.console.base import PAGES

    _with_public_health(api)
    assert sorted(PAGES.values()) == sorted(CONSOLE_PAGES)
    for page, path in PAGES.items():
        allowed = access.policy().action(f"console.{page}").roles
        for who, role in CALLERS.items():
            if role in ("facility_client", "resident"):
                continue  # no console login (tested in tests/console)
            api.client.cookies.set("phip_session", api.tokens[who])
            try:
                before = _denials(api, who)
                r = api.client.get(path, follow_redirects=False)
            finally:
                api.client.cookies.clear()
            if role in allowed:
                assert r.status_code == 200, (who, path, r.status_code)
            elif path == "/" and r.status_code == 303:
                # the overview sends a role without it to its first page
                assert r.headers["location"] in PAGES.values()
            else:
                assert r.status_code == 403, (who, path, r.status_code)
                assert _denials(api, who) == before + 1, (who, path)
