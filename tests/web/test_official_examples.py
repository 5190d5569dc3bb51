"""Every official FHIR R4 example is stored and read back equal, or rejected with an
OperationOutcome naming a real problem; every batch and transaction example is processed."""

import json
from pathlib import Path

import pytest

from tests.web.conftest import Api

KNOWN_CODES = ("structure:", "profile:", "reference:", "id-conflict")


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_official_examples(api: Api, shared_data: Path) -> None:
    files = [
        f for f in sorted((shared_data / "fhir-r4-examples").glob("*.json")) if not f.name.startswith("_")
    ]
    plain = []
    bundles = []
    for f in files:
        body = json.loads(f.read_text(encoding="utf-8"))
        (bundles if body.get("type") in ("batch", "transaction") else plain).append((f.name, body))
    stored = rejected = 0
    for _round in range(2):  # a second pass lets references between examples resolve
        stored = rejected = 0
        for name, body in plain:
            r = api.client.put(
                f"/fhir/{body['resourceType']}/{body['id']}", json=body, headers=api.h("f1-his")
            )
            if r.status_code in (200, 201):
                stored += 1
                back = api.client.get(
                    f"/fhir/{body['resourceType']}/{body['id']}", headers=api.h("f1-his")
                ).json()
                assert {k: v for k, v in back.items() if k != "meta"} == {
                    k: v for k, v in body.items() if k != "meta"
                }, name
                assert back["meta"]["versionId"]
            else:
                rejected += 1
                assert r.status_code == 422, (name, r.status_code, r.text[:300])
                outcome = r.json()
                assert outcome["resourceType"] == "OperationOutcome"
                for issue in outcome["issue"]:
                    code = issue["details"]["coding"][0]["code"]
                    assert code.startswith(KNOWN_CODES), (name, code)
                    assert issue["details"]["text"] and issue["expression"], name
    assert stored + rejected == len(plain) and stored >= 80
    for name, body in bundles:
        r = api.client.post("/fhir", json=body, headers=api.h("f1-his"))
        if r.status_code == 200:
            assert r.json()["type"] == f"{body['type']}-response", name
            assert len(r.json()["entry"]) == len(body["entry"]), name
        else:
            assert r.status_code in (400, 404, 409, 412, 422), (name, r.status_code)
            issue = r.json()["issue"][0]
            assert issue.get("diagnostics") or issue.get("details"), name
