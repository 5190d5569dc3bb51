"""The workflow layer through the platform: an illegal transition over HTTP is a 409
OperationOutcome naming the allowed ones; a server that starts fires the deadlines that fell
due while it was down; bulk jobs run as cases of the `bulk-job` machine."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from phip import workflow
from phip.store import get_engine
from phip.store.codec import now_utc
from phip.web.app import create_app
from tests.web.conftest import Api
from tests.web.test_bulk import _wait
from tests.workflow.test_workflow import SAMPLE


def test_an_illegal_transition_is_a_409_naming_the_allowed_ones(api: Api) -> None:
    app = create_app(api.settings)

    def take(name: str, request: Request) -> dict[str, str]:  # a service's command route, in small
        with Session(request.app.state.engine) as s:
            case = workflow.transition(s, SAMPLE, "http-1", name, actor="staff:test")
            s.commit()
            return {"state": case.state}

    app.add_api_route("/api/test-workflow/{name}", take, methods=["POST"])
    with Session(get_engine(api.settings.database_url)) as s:
        workflow.open_case(s, SAMPLE, "http-1", actor="staff:test")
        s.commit()
    client = TestClient(app)
    r = client.post("/api/test-workflow/complete")
    assert r.status_code == 409 and r.json()["resourceType"] == "OperationOutcome"
    issues = r.json()["issue"]
    assert issues[0]["severity"] == "error" and "not allowed from 'requested'" in issues[0]["diagnostics"]
    assert [i["details"]["text"] for i in issues[1:]] == ["accept", "reject", "escalate"]
    assert client.post("/api/test-workflow/accept").json() == {"state": "accepted"}
    assert client.post("/api/test-workflow/nothing-like-it").status_code == 409


def test_deadlines_that_fell_due_while_down_fire_when_the_server_starts(api: Api) -> None:
    with Session(get_engine(api.settings.database_url)) as s:
        workflow.open_case(s, SAMPLE, "while-down", actor="staff:test", now=now_utc() - timedelta(hours=49))
        s.commit()
    with TestClient(create_app(api.settings)):  # start-up runs the first background tick
        pass
    with Session(get_engine(api.settings.database_url)) as s:
        case = workflow.get(s, SAMPLE, "while-down")
        assert case is not None and case.state == "escalated"


def test_bulk_jobs_are_cases_of_their_machine(api: Api) -> None:
    k = api.client.get("/fhir/$export", headers=api.h("f1-his"))
    assert k.status_code == 202
    url = k.headers["content-location"]
    _wait(api, "f1-his", url)
    job_id = url.rsplit("/", 1)[1]
    with Session(get_engine(api.settings.database_url)) as s:
        case = workflow.get(s, "bulk-job", job_id)
        assert case is not None and case.state == "completed" and case.allowed == ("expire",)
        steps = [(h["transition"], h["to"]) for h in workflow.history(s, "bulk-job", job_id)]
    assert steps == [("open", "queued"), ("start", "running"), ("complete", "completed")]
    task = api.client.get(f"/fhir/Task/{case.task_id}", headers=api.h("prov"))
    assert task.status_code == 200 and task.json()["status"] == "completed"
    assert api.client.get(f"/fhir/Task/{case.task_id}", headers=api.h("f2-his")).status_code == 404
