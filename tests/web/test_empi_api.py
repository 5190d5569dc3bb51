"""POST /fhir/Patient/$match: candidates scored by the trained model, within the caller's scope."""

from datetime import date

from sqlalchemy.orm import Session

from phip.identity.store_link import link_store
from phip.standards import idcard
from phip.store import get_engine
from tests.web.conftest import Api, install_model
from tests.web.test_fhir_api import patient, put

NUM = idcard.make("620102", date(1990, 1, 5), 7, False)
OTHER = idcard.make("620102", date(1972, 6, 1), 40, True)


def _params(res: dict, **extra: object) -> dict:  # type: ignore[type-arg]
    params = [{"name": "resource", "resource": res}]
    params += [
        {"name": k, "valueBoolean" if isinstance(v, bool) else "valueInteger": v} for k, v in extra.items()
    ]
    return {"resourceType": "Parameters", "parameter": params}


def _setup(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    # the same resident at two facilities in different prefectures, and somebody else
    assert put(api, "f1-his", patient("f1-zl", "张丽", NUM)).status_code == 201
    assert put(api, "f2-his", patient("f2-zl", "张丽", NUM)).status_code == 201
    assert put(api, "f1-his", patient("f1-other", "王建国", OTHER)).status_code == 201
    install_model(api, empi_model)  # a store this small cannot train one
    with Session(get_engine(api.settings.database_url)) as s:
        summary = link_store(s, api.settings.var_dir, retrain=False)
    assert summary["patients"] == 3 and summary["persons"] == 2


def _match(api: Api, who: str, body: dict):  # type: ignore[no-untyped-def,type-arg]
    return api.client.post("/fhir/Patient/$match", json=body, headers=api.h(who))


def test_match_within_scope(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    _setup(api, empi_model)
    query = patient("q", "张 丽", NUM)
    prov = _match(api, "prov", _params(query))
    assert prov.status_code == 200, prov.text
    found = {e["fullUrl"]: e["search"] for e in prov.json()["entry"]}
    assert set(found) == {"Patient/f1-zl", "Patient/f2-zl"}
    assert all(s["extension"][0]["valueCode"] == "certain" and s["score"] > 0.99 for s in found.values())
    assert [e["fullUrl"] for e in _match(api, "f1-his", _params(query)).json()["entry"]] == ["Patient/f1-zl"]
    assert [e["fullUrl"] for e in _match(api, "ts-county", _params(query)).json()["entry"]] == [
        "Patient/f2-zl"
    ]
    assert _match(api, "resident1", _params(query)).json()["total"] == 0  # sees only their own records
    assert _match(api, "prov", _params(query, count=1)).json()["total"] == 1
    # a typo in the identity number still matches; a different person does not
    typo = NUM[:10] + ("1" if NUM[10] != "1" else "2") + NUM[11:]
    assert _match(api, "prov", _params(patient("q2", "张丽", typo))).json()["total"] == 2
    assert (
        _match(api, "prov", _params(patient("q3", "李四", OTHER[:6] + "19990101" + OTHER[14:]))).json()[
            "total"
        ]
        == 0
    )


def test_match_errors_and_access(api: Api) -> None:
    q = _params(patient("q", "张丽", NUM))
    assert _match(api, "prov", q).status_code == 409  # no model yet
    assert _match(api, "anonymous", q).status_code == 401
    assert _match(api, "prov", {"resourceType": "Parameters", "parameter": []}).status_code == 400
    r = api.client.post("/fhir/Patient/$match", content=b"{nope", headers=api.h("prov"))
    assert r.status_code == 400


def test_written_patients_join_their_person_at_once(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    from sqlalchemy import select

    from phip.identity.models import PersonRecordRow

    _setup(api, empi_model)
    assert put(api, "f1-his", patient("f1-zl-again", "张丽", NUM)).status_code == 201
    r = api.client.post(
        "/fhir/Patient",
        json=patient("x", "赵一", idcard.make("620502", date(1999, 1, 1), 3, False)),
        headers=api.h("f2-his"),
    )
    assert r.status_code == 201
    with Session(get_engine(api.settings.database_url)) as s:
        person = dict(s.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all())
    assert person["Patient/f1-zl-again"] == person["Patient/f1-zl"] == person["Patient/f2-zl"]
    new = person[f"Patient/{r.json()['id']}"]
    assert new not in (person["Patient/f1-zl"], person["Patient/f1-other"])


def test_patients_in_a_bundle_join_their_person(api: Api, empi_model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    from sqlalchemy import select

    from phip.identity.models import PersonRecordRow

    _setup(api, empi_model)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient("b-zl", "张丽", NUM), "request": {"method": "PUT", "url": "Patient/b-zl"}},
        ],
    }
    r = api.client.post("/fhir", json=bundle, headers=api.h("f2-his"))
    assert r.status_code == 200, r.text
    with Session(get_engine(api.settings.database_url)) as s:
        person = dict(s.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all())
    assert person["Patient/b-zl"] == person["Patient/f1-zl"]
