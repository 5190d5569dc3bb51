"""Finding 6: no personal value in the audit log's text, no submitted body kept after its
import, export files deleted after the retention period. And finding 8's lock: a large
`$import` into SQLite while others read, over real HTTP, gives no 5xx."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.orgunits import OrgUnitService
from phip.security.accounts import add_client, add_staff
from phip.security.models import AuditEntry
from phip.settings import Settings
from phip.standards import idcard
from phip.standards.divisions import get_divisions
from phip.store import get_engine, init_db
from phip.web.app import create_app
from tests.web.conftest import F1, PASSWORD, Api
from tests.web.test_bulk import _ndjson, _wait

RESIDENT_ID = "https://phip.health/fhir/sid/resident-id"
NUM = idcard.make("620102", date(1966, 7, 8), 4, True)


def _targets(api: Api) -> list[str]:
    with Session(api.client.app.state.engine) as s:  # type: ignore[attr-defined]
        return [t for t in s.scalars(select(AuditEntry.target))]


def test_search_values_do_not_reach_the_audit_log(api: Api) -> None:
    h = api.h("prov")
    queries = [
        f"identifier={RESIDENT_ID}|{NUM}",
        "name=张伟&birthdate=1966-07-08",
        "phone=13912345678",
        "address=兰州市城关区酒泉路12号",
        "name:exact=欧阳&_count=5",
    ]
    for q in queries:
        assert api.client.get(f"/fhir/Patient?{q}", headers=h).status_code == 200
    # a chain or a modifier makes a plain parameter personal: judged by every link of the name
    for q in (
        f"patient:identifier={RESIDENT_ID}|{NUM}",
        f"subject.identifier={NUM}",
        f"patient.identifier={NUM}",
        f"subject:Patient.identifier={NUM}",
        "subject.name=张伟",
        "subject:Patient.Family=张伟",
    ):
        assert api.client.get(f"/fhir/Encounter?{q}", headers=h).status_code in (200, 400)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"Patient?identifier={NUM}"}}],
    }
    assert (
        api.client.post(
            "/fhir",
            content=orjson.dumps(bundle),
            headers={**api.h("f1-his"), "Content-Type": "application/fhir+json"},
        ).status_code
        == 200
    )
    text = "\n".join(_targets(api))
    for secret in (NUM, NUM[6:14], "张伟", "1966-07-08", "13912345678", "酒泉路", "欧阳"):
        assert secret not in text, secret
    assert "Patient?identifier=h%3A" in text and "_count=5" in text  # still says what was asked
    assert "Encounter?patient%3Aidentifier=h%3A" in text
    # the same value gives the same hash, so an auditor can relate two searches
    again = api.client.get(f"/fhir/Patient?identifier={RESIDENT_ID}|{NUM}", headers=h)
    assert again.status_code == 200
    targets = _targets(api)
    assert targets.count(targets[-1]) >= 2


def test_import_bodies_are_not_kept(api: Api) -> None:
    rec = {
        "resourceType": "Patient",
        "id": "keep-1",
        "name": [{"text": "冯"}],
        "gender": "male",
        "birthDate": "1950-01-01",
        "identifier": [{"system": RESIDENT_ID, "value": NUM}],
    }
    r = api.client.post(
        "/fhir/$import",
        content=_ndjson(rec),
        headers={**api.h("f1-his"), "Content-Type": "application/fhir+ndjson"},
    )
    assert r.status_code == 202
    assert _wait(api, "f1-his", r.headers["content-location"])["summary"]["accepted"] == 1
    leftovers = [p for p in (api.settings.var_dir / "bulk").rglob("*") if p.is_file()]
    assert leftovers == []
    for p in api.settings.var_dir.rglob("*"):
        if p.is_file() and p.suffix in (".ndjson", ".json"):
            assert NUM.encode() not in p.read_bytes(), p


def test_export_files_expire(api: Api) -> None:
    api.settings.bulk_retention_hours = 0
    k = api.client.get("/fhir/$export", headers=api.h("f1-his"))
    assert k.status_code == 202
    first = k.headers["content-location"]
    _wait(api, "f1-his", first)
    job_dir = api.settings.var_dir / "bulk" / first.rsplit("/", 1)[1]
    assert job_dir.is_dir()
    time.sleep(0.05)
    assert api.client.get("/fhir/$export", headers=api.h("f1-his")).status_code == 202  # purges the first
    r = api.client.get(first.replace("http://testserver", ""), headers=api.h("f1-his"))
    assert r.status_code == 410 and r.json()["resourceType"] == "OperationOutcome"
    assert not job_dir.exists()


def test_expired_and_interrupted_bulk_files_go_without_a_new_kick_off(api: Api) -> None:
    """Retention does not wait for the next export: the server deletes expired files at start-up
    and at every background tick; jobs a stopped server left running are failed and their files
    (an `$import` body is raw personal data) deleted; folders no job names go too."""
    import os
    from datetime import UTC, datetime, timedelta

    from fastapi.testclient import TestClient

    from phip.exchange import bulk
    from phip.store.models import BulkJob

    k = api.client.get("/fhir/$export", headers=api.h("f1-his"))
    assert k.status_code == 202
    done = k.headers["content-location"]
    _wait(api, "f1-his", done)
    done_dir = api.settings.var_dir / "bulk" / done.rsplit("/", 1)[1]
    engine = get_engine(api.settings.database_url)
    with Session(engine) as s:
        job = s.get(BulkJob, done_dir.name)
        assert job is not None
        job.finished_at = datetime.now(UTC) - timedelta(hours=api.settings.bulk_retention_hours + 1)
        stale = bulk.new_job(s, "import", "facility:f1-his", "$import", api.settings.var_dir / "bulk" / "x")
        stale_dir = api.settings.var_dir / "bulk" / stale.id
        stale.folder, stale.status, stale_id = str(stale_dir), "running", stale.id
        s.commit()
    stale_dir.mkdir(parents=True)
    (stale_dir / "body.ndjson").write_text('{"resourceType": "Patient"}\n')
    orphan = api.settings.var_dir / "bulk" / "left-behind"
    orphan.mkdir()
    old = time.time() - 7200
    os.utime(orphan, (old, old))

    with TestClient(create_app(api.settings)):  # a restart: nobody kicks off anything
        pass
    assert not done_dir.exists() and not stale_dir.exists() and not orphan.exists()
    r = api.client.get(done.replace("http://testserver", ""), headers=api.h("f1-his"))
    assert r.status_code == 410
    with Session(engine) as s:
        job = s.get(BulkJob, stale_id)
        assert job is not None and job.status == "failed" and "interrupted" in job.result


@pytest.mark.slow
def test_reads_during_a_large_sqlite_import_do_not_fail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    settings = Settings(
        database_url=url, secret_key="s" * 40, data_key="0123456789abcdef" * 2, var_dir=tmp_path / "var"
    )
    engine = get_engine(url)
    init_db(engine)
    with Session(engine) as s:
        svc = OrgUnitService(s)
        svc.load_divisions(get_divisions("620000"))
        svc.load_facilities(
            [
                {
                    "code": F1,
                    "name": "中心",
                    "type_code": "B100",
                    "tier": "primary",
                    "org_unit_code": "620102001",
                    "connected": True,
                }
            ]
        )
        add_client(s, "his", "secret", F1)
        add_staff(s, "prov", PASSWORD, "province_admin", org_unit="620000")
        s.commit()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            his = c.post("/api/auth/token", json={"client_id": "his", "client_secret": "secret"}).json()[
                "access_token"
            ]
            prov = c.post("/api/auth/login", json={"username": "prov", "password": PASSWORD}).json()[
                "access_token"
            ]
            body = b"".join(
                orjson.dumps(
                    {
                        "resourceType": "Patient",
                        "id": f"p{i}",
                        "name": [{"text": f"患者{i}"}],
                        "gender": "female",
                        "birthDate": "1980-01-01",
                    }
                )
                + b"\n"
                for i in range(12_000)
            )
            k = c.post(
                "/fhir/$import",
                content=body,
                headers={"Authorization": f"Bearer {his}", "Content-Type": "application/fhir+ndjson"},
            )
            assert k.status_code == 202
            status_url = k.headers["content-location"].replace(base, "")
            statuses: list[int] = []

            def reader() -> None:
                with httpx.Client(base_url=base, timeout=60) as rc:
                    for _ in range(40):
                        statuses.append(
                            rc.get(
                                "/fhir/Patient?_count=5", headers={"Authorization": f"Bearer {prov}"}
                            ).status_code
                        )

            readers = [threading.Thread(target=reader) for _ in range(3)]
            for t in readers:
                t.start()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                st = c.get(status_url, headers={"Authorization": f"Bearer {his}"})
                if st.status_code != 202:
                    break
                time.sleep(0.5)
            for t in readers:
                t.join(timeout=300)
            assert st.status_code == 200, st.text
            assert st.json()["summary"]["accepted"] == 12_000
            assert statuses and all(code == 200 for code in statuses), sorted(set(statuses))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()
