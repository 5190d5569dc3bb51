"""What the review of the spine found: records a facility does not hold cannot be written through
it. The platform's own records (workflow cases' Tasks) are refused to every caller on every
path (REST, Bundle, `$import`); a record held by no facility cannot be deleted by one; a
repeated DELETE of one's own record succeeds; a deadline timer fires once."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip import workflow
from phip.store import get_engine
from phip.store.codec import now_utc
from phip.store.models import Quarantine
from phip.store.repository import Repository
from phip.workflow import timers
from phip.workflow.models import WorkflowTimer
from tests.web.conftest import Api
from tests.web.test_bulk import _ndjson, _wait
from tests.workflow.test_workflow import SAMPLE

FHIR = {"Content-Type": "application/fhir+json"}


def test_the_platforms_tasks_are_nobodys_to_write(api: Api) -> None:
    engine = get_engine(api.settings.database_url)
    with Session(engine) as s:
        case = workflow.open_case(s, SAMPLE, "guarded", actor="staff:test")
        s.commit()
    task = api.client.get(f"/fhir/Task/{case.task_id}", headers=api.h("prov")).json()
    forged = {**task, "businessStatus": {"coding": [{"code": "completed"}]}}
    for who in ("f1-his", "doc1"):
        h = {**api.h(who), **FHIR}
        r = api.client.put(f"/fhir/Task/{case.task_id}", content=orjson.dumps(forged), headers=h)
        assert r.status_code == 409 and r.json()["resourceType"] == "OperationOutcome", (who, r.text)
        assert api.client.delete(f"/fhir/Task/{case.task_id}", headers=api.h(who)).status_code == 404
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": forged, "request": {"method": "PUT", "url": f"Task/{case.task_id}"}}],
        }
        assert api.client.post("/fhir", content=orjson.dumps(bundle), headers=h).status_code == 409
    r = api.client.post(
        "/fhir/$import",
        content=_ndjson(forged),
        headers={**api.h("f1-his"), "Content-Type": "application/fhir+ndjson"},
    )
    summary = _wait(api, "f1-his", r.headers["content-location"])["summary"]
    assert (summary["accepted"], summary["quarantined"]) == (0, 1)
    with Session(engine) as s:
        reasons = s.scalars(select(Quarantine.reasons).where(Quarantine.res_id == case.task_id)).all()
        assert reasons and "owner:platform-id" in reasons[0]
        now = workflow.get(s, SAMPLE, "guarded")
        assert now is not None and now.state == "requested" and now.version == 1  # untouched


def test_a_record_held_by_no_facility_is_not_a_facilitys_to_delete(api: Api) -> None:
    engine = get_engine(api.settings.database_url)
    with Session(engine) as s:
        Repository(s).create({"resourceType": "Organization", "id": "shared-org", "name": "卫健委"})
        s.commit()
    assert api.client.delete("/fhir/Organization/shared-org", headers=api.h("f1-his")).status_code == 404
    assert api.client.get("/fhir/Organization/shared-org", headers=api.h("prov")).status_code == 200


def test_a_repeated_delete_of_ones_own_record_succeeds(api: Api) -> None:
    h = {**api.h("f1-his"), **FHIR}
    org = {"resourceType": "Organization", "id": "mine-org", "name": "本院"}
    assert (
        api.client.put("/fhir/Organization/mine-org", content=orjson.dumps(org), headers=h).status_code == 201
    )
    assert api.client.delete("/fhir/Organization/mine-org", headers=api.h("f1-his")).status_code == 204
    assert api.client.delete("/fhir/Organization/mine-org", headers=api.h("f1-his")).status_code == 204
    assert api.client.delete("/fhir/Organization/never-was", headers=api.h("f1-his")).status_code == 404


def test_a_timer_fires_once_whoever_else_tries(api: Api) -> None:
    engine = get_engine(api.settings.database_url)
    start = now_utc() - timedelta(hours=50)
    with Session(engine) as s:
        workflow.open_case(s, SAMPLE, "once", actor="staff:test", now=start)
        s.commit()
        timer_id = s.scalar(select(WorkflowTimer.id).where(WorkflowTimer.case_key == "once"))
    with Session(engine) as first, Session(engine) as second:
        assert timers._fire(first, timer_id, now_utc()) == "fired"
        first.commit()
        assert timers._fire(second, timer_id, now_utc()) == "stale"  # a second ticker finds it taken
        second.commit()
        steps = [h["transition"] for h in workflow.history(second, SAMPLE, "once")]
    assert steps == ["open", "escalate"]
