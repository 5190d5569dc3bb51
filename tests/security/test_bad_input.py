"""Findings 8 and 9: bad input is a clear 4xx OperationOutcome, never a 500, and requests that
would cost the server too much are refused up front. Each case is one the attacker found."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.web.conftest import Api, install_model

FHIR = {"Content-Type": "application/fhir+json"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _outcome(r, *statuses: int) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "Traceback" not in r.text and 'File "' not in r.text


@pytest.mark.parametrize("header", [b"null", b"[1,2]", b"7", b'"x"', b"{}", b'{"alg":"none"}'])
def test_token_headers_that_are_not_objects(api: Api, header: bytes) -> None:
    for body in (b"null", b"[]", b'{"kind":1,"sub":[],"role":null,"exp":"soon","jti":5}'):
        token = f"{_b64(header)}.{_b64(body)}.{_b64(b'sig')}"
        r = api.client.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"})
        _outcome(r, 401)
    r = api.client.get("/fhir/Patient", headers={"Authorization": "Bearer " + "a." * 5000})
    _outcome(r, 401)


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": NaN, "password": "x"}',
        b'{"username": "prov", "password": Infinity}',
        b'{"username": "prov", "password": -Infinity}',
        b'{"username": ["prov"], "password": {"a": 1}}',
        b"[]",
        b'"prov"',
        b'{"username": "' + b"x" * 5000 + b'", "password": "x"}',
    ],
)
def test_login_bodies(api: Api, body: bytes) -> None:
    r = api.client.post("/api/auth/login", content=body, headers={"Content-Type": "application/json"})
    _outcome(r, 400, 401)
    assert "NaN" not in r.text and "x" * 100 not in r.text  # the value is not echoed


@pytest.mark.parametrize(
    "query",
    [
        "birthdate=9999-12-31",
        "birthdate=0001-01-01",
        "birthdate=ge9999-12-31",
        "birthdate=lt0001-01-01",
        "birthdate=9999",
        "birthdate=0001-01",
        "_lastUpdated=gt9999-12-31T23:59:59Z",
        "_count=99999999999999999999999",
    ],
)
def test_calendar_edges_search_fine(api: Api, query: str) -> None:
    r = api.client.get(f"/fhir/Patient?{query}", headers=api.h("prov"))
    assert r.status_code == 200, r.text
    assert r.json()["resourceType"] == "Bundle"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        _b64(b'[{"a":1},{"b":2}]'),
        _b64(b'["x", 5]'),
        _b64(b"[null, null]"),
        _b64(b'["not-a-date", "id"]'),
        _b64(b'[1e400, "id"]'),
        _b64(b"{}"),
        _b64(b'["a", "' + b"b" * 500 + b'"]'),
    ],
)
def test_crafted_cursors(api: Api, cursor: str) -> None:
    for sort in ("_id", "_lastUpdated", "-birthdate"):
        r = api.client.get(f"/fhir/Patient?_sort={sort}&_cursor={cursor}", headers=api.h("prov"))
        if r.status_code == 200:  # a well-formed position: ["some key", "some id"]
            assert sort != "_lastUpdated" and r.json()["resourceType"] == "Bundle"
        else:
            _outcome(r, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Patient/x/_history/99999999999999999999",
        "/fhir/Patient/x/_history/9223372036854775808",
        "/fhir/Patient/x/_history/-1",
        "/fhir/Patient/x/_history/abc",
        "/fhir/Patient/_history?_count=-1",
        "/fhir/Patient/_history?_count=100000",
        "/fhir/Patient/_history?_count=99999999999999999999",
        "/fhir/Patient/" + "x" * 65,
        "/fhir/Patient/a%20b",
        "/fhir/NoSuchType/1",
        "/fhir/Patient/x/nonsense/route/here",
    ],
)
def test_out_of_range_numbers_and_ids(api: Api, path: str) -> None:
    _outcome(api.client.get(path, headers=api.h("prov")), 400, 404)


@pytest.mark.parametrize(
    "query", ["name=a%00b", "_id=%00", "_sort=_id&_cursor=WyJhIiwiXHUwMDAwIl0", "identifier=%00|%00"]
)
def test_nul_bytes_in_searches(api: Api, query: str) -> None:
    """PostgreSQL cannot hold a NUL byte: it is a 400 there, an empty result on SQLite."""
    r = api.client.get(f"/fhir/Patient?{query}", headers=api.h("prov"))
    if r.status_code == 200:
        assert r.json()["resourceType"] == "Bundle" and not r.json().get("entry")
    else:
        _outcome(r, 400)


def test_deep_json_and_duplicate_keys(api: Api) -> None:
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 500 + b"]" * 500 + b"}"
    _outcome(api.client.post("/fhir/Patient", content=deep, headers={**api.h("f1-his"), **FHIR}), 400)
    deeper = b"[" * 5000 + b"]" * 5000
    _outcome(api.client.post("/fhir", content=deeper, headers={**api.h("f1-his"), **FHIR}), 400)
    twice = b'{"resourceType":"Patient","id":"a","gender":"male","gender":"female"}'
    r = api.client.put("/fhir/Patient/a", content=twice, headers={**api.h("f1-his"), **FHIR})
    _outcome(r, 400)
    assert "duplicate" in r.text
    nan = b'{"resourceType":"Patient","id":"a","multipleBirthInteger":NaN}'
    _outcome(api.client.put("/fhir/Patient/a", content=nan, headers={**api.h("f1-his"), **FHIR}), 400)


@pytest.mark.parametrize("tag", ['W/"abc"', '"1.5"', "W/", "", '"99999999999999999999999"', "*"])
def test_if_match_that_is_not_a_version(api: Api, tag: str) -> None:
    res = {
        "resourceType": "Patient",
        "id": "m1",
        "name": [{"text": "周武"}],
        "gender": "male",
        "birthDate": "1970-01-01",
    }
    h = {**api.h("f1-his"), **FHIR}
    assert api.client.put("/fhir/Patient/m1", content=orjson.dumps(res), headers=h).status_code in (200, 201)
    _outcome(
        api.client.put("/fhir/Patient/m1", content=orjson.dumps(res), headers={**h, "If-Match": tag}), 400
    )


@pytest.mark.parametrize(
    "entries",
    [["a string"], [1], [None], [[]], "not-a-list", {"resource": {}}],
)
def test_bundle_entries_that_are_not_objects(api: Api, entries: object) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    r = api.client.post("/fhir", content=orjson.dumps(bundle), headers={**api.h("f1-his"), **FHIR})
    _outcome(r, 400)


def test_oversized_bundles_and_bodies(api: Api) -> None:
    limit = api.settings.max_bundle_entries
    entry = {"request": {"method": "GET", "url": "Patient?_count=1"}}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry] * (limit + 1)}
    r = api.client.post("/fhir", content=orjson.dumps(bundle), headers={**api.h("f1-his"), **FHIR})
    _outcome(r, 413)
    api.settings.max_body_bytes = 10_000
    big = b'{"resourceType":"Patient","id":"big","text":{"div":"' + b"x" * 20_000 + b'"}}'
    r = api.client.put("/fhir/Patient/big", content=big, headers={**api.h("f1-his"), **FHIR})
    _outcome(r, 413)
    api.settings.max_import_bytes = 10_000
    r = api.client.post(
        "/fhir/$import", content=big, headers={**api.h("f1-his"), "Content-Type": "application/fhir+ndjson"}
    )
    _outcome(r, 413)


def test_sorting_by_a_date_is_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from phip.store import search

    h = {**api.h("f1-his"), **FHIR}
    for i in range(4):
        res = {
            "resourceType": "Patient",
            "id": f"s{i}",
            "name": [{"text": "吴"}],
            "gender": "male",
            "birthDate": f"197{i}-01-01",
        }
        assert api.client.put(f"/fhir/Patient/s{i}", content=orjson.dumps(res), headers=h).status_code == 201
    r = api.client.get("/fhir/Patient?_sort=-birthdate", headers=api.h("prov"))
    assert r.status_code == 200 and [e["resource"]["id"] for e in r.json()["entry"]] == [
        "s3",
        "s2",
        "s1",
        "s0",
    ]
    monkeypatch.setattr(search, "MAX_DATE_SORT", 3)
    r = api.client.get("/fhir/Patient?_sort=-birthdate", headers=api.h("prov"))
    _outcome(r, 400)
    r = api.client.get("/fhir/Patient?_sort=-birthdate&birthdate=ge1972", headers=api.h("prov"))
    assert r.status_code == 200  # a narrower search may sort


@pytest.mark.parametrize(
    "params",
    [
        {"resourceType": "Parameters", "parameter": "not-a-list"},
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": "Patient"}]},
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "resource", "resource": {"resourceType": "Patient", "name": [{"text": "张三"}]}},
                {"name": "count", "valueInteger": "ten"},
            ],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "resource", "resource": {"resourceType": "Patient", "name": "张三", "gender": 5}},
            ],
        },
        [1, 2, 3],
    ],
)
def test_match_with_parameters_of_the_wrong_type(api: Api, params: object) -> None:
    r = api.client.post(
        "/fhir/Patient/$match", content=orjson.dumps(params), headers={**api.h("prov"), **FHIR}
    )
    _outcome(r, 400, 409, 422)


MALFORMED_PATIENTS = [  # what the fuzz run found reaching the comparison (CI, with a model)
    {"name": [["true"], {"given": 5}], "gender": "male"},
    {"name": [], "gender": {"a": 1}, "birthDate": "1990-01-05"},
    {"name": [{"text": "张三"}], "gender": "male", "birthDate": [None], "address": []},
    {"name": [{"text": "张三"}], "address": [None]},
    {"name": [{"text": "张三"}], "address": [{"extension": [None]}]},
    {"name": [{"text": "张三"}], "identifier": [{"system": 7, "value": ["6201"]}]},
    {"name": [{"text": "张三"}], "telecom": "13900000000"},
    {"name": [{"text": "张三"}], "birthDate": "not a date"},
    {"name": [{"text": "张三"}], "meta": {"source": 5}, "managingOrganization": []},
]


@pytest.mark.parametrize("patient", MALFORMED_PATIENTS)
def test_match_with_a_malformed_patient_and_a_model(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
    patient: dict,  # type: ignore[type-arg]
) -> None:
    """With a trained model the Patient reaches the comparison: it must be checked as a write is."""
    install_model(api, empi_model)
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {"resourceType": "Patient", **patient}}],
    }
    r = api.client.post(
        "/fhir/Patient/$match", content=orjson.dumps(params), headers={**api.h("f1-his"), **FHIR}
    )
    _outcome(r, 400)
    good = {
        "resourceType": "Patient",
        "name": [{"text": "张三"}],
        "gender": "male",
        "birthDate": "1990-01-05",
    }
    params["parameter"][0]["resource"] = good
    r = api.client.post(
        "/fhir/Patient/$match", content=orjson.dumps(params), headers={**api.h("f1-his"), **FHIR}
    )
    assert r.status_code == 200 and r.json()["resourceType"] == "Bundle", r.text[:300]


def test_unknown_routes_are_operation_outcomes(api: Api) -> None:
    _outcome(api.client.get("/api/nothing-here", headers=api.h("prov")), 404)
    _outcome(api.client.patch("/fhir/metadata", headers=api.h("prov")), 405)


def test_bodies_outside_fhir_are_capped_and_strict(api: Api) -> None:
    """Logins, the platform API and console forms: a body past `max_api_body_bytes` is refused
    before it is read in full, and JSON there is as strict as on /fhir (a login with two
    `username` keys was accepted before)."""
    big = b'{"username": "' + b"a" * (api.settings.max_api_body_bytes + 10) + b'", "password": "x"}'
    r = api.client.post("/api/auth/login", content=big, headers={"Content-Type": "application/json"})
    _outcome(r, 413)
    twice = b'{"username": "nobody", "username": "prov", "password": "correct horse battery staple"}'
    r = api.client.post("/api/auth/login", content=twice, headers={"Content-Type": "application/json"})
    _outcome(r, 400)
    assert "duplicate" in r.text
    r = api.client.post("/login", content=b"username=" + b"a" * (api.settings.max_api_body_bytes + 1))
    _outcome(r, 413)
    ok = api.client.post(
        "/api/auth/login", json={"username": "prov", "password": "correct horse battery staple"}
    )
    assert ok.status_code == 200  # a good body still goes through, unchanged


@pytest.mark.parametrize("headers", [{}, {"Content-Type": ""}, {"Content-Type": "application/json"}])
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/token"])
def test_deep_json_outside_fhir_with_or_without_a_content_type(
    api: Api, path: str, headers: dict[str, str]
) -> None:
    """A deeply nested body is a 4xx whatever its Content-Type says (Python's recursive decoder
    must never see it), and a good login still goes through when it says it is JSON."""
    for deep in (b"[" * 2000 + b"]" * 2000, b'{"a":' * 900 + b"1" + b"}" * 900):
        r = api.client.post(path, content=deep, headers=headers)
        _outcome(r, 400, 422)
    r = api.client.post(path, content=b"not json at all", headers=headers)
    assert 400 <= r.status_code < 500
    good = b'{"username": "prov", "password": "correct horse battery staple"}'
    if path.endswith("login") and headers.get("Content-Type"):
        assert api.client.post(path, content=good, headers=headers).status_code == 200


def test_an_unexpected_error_is_a_bare_outcome_with_headers_and_a_log_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from fastapi.testclient import TestClient

    from phip.web import indicators_router

    secret = "620102199001050144"

    def broken() -> None:
        raise RuntimeError(f"cannot parse {secret}")

    monkeypatch.setattr(indicators_router, "catalogue", broken)
    client = TestClient(api.client.app, raise_server_exceptions=False)
    with caplog.at_level(logging.INFO):
        r = client.get("/api/indicators/catalogue", headers=api.h("prov"))
        _outcome(r, 500)
        assert secret not in r.text
        assert (
            r.headers["x-content-type-options"] == "nosniff"
            and "frame-ancestors" in r.headers["content-security-policy"]
        )
        try:  # what the ASGI server does with an exception that escaped the app
            broken()
        except RuntimeError as exc:
            logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text and "Traceback" not in caplog.text
