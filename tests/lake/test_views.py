"""The platform's views run over a synthetic province: one row per resource, keys filled, and
nothing personal in the patient view."""

from pathlib import Path

import orjson
import pytest

from phip.lake.annotate import annotate
from phip.lake.sof import run_view
from phip.lake.views import views


def _resources(province: Path, rtype: str) -> list[dict]:  # type: ignore[type-arg]
    """The province's resources of a type, with the facts the lake adds while it builds."""
    out = []
    for f in sorted((province / "submissions").rglob(f"{rtype}.ndjson")):
        out += [orjson.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
    for seq, res in enumerate(out, 1):
        annotate(res, seq)
    return out


NAMES = [
    "patient",
    "encounter",
    "condition",
    "observation",
    "medication_request",
    "medication_dispense",
    "immunization",
    "coverage",
    "claim_item",
    "organization",
    "appointment",
    "referral",
    "flag",
    "care_team",
    "episode_of_care",
    "location",
    "practitioner_role",
    "benefit",
]
KEYS = {"claim_item": "claim_key", "episode_of_care": "episode_key"}


def _expected_rows(name: str, resources: list[dict]) -> int:  # type: ignore[type-arg]
    if name == "claim_item":
        return sum(len(r.get("item", [])) for r in resources)
    if name == "referral":
        direction = "https://phip.health/fhir/CodeSystem/referral-direction"
        return sum(
            any(c.get("system") == direction for c in r.get("code", {}).get("coding", [])) for r in resources
        )
    return len(resources)


def test_the_views_are_there() -> None:
    assert set(views()) == set(NAMES)
    assert all(v["resourceType"] == "ViewDefinition" and v["status"] == "active" for v in views().values())


@pytest.mark.parametrize("name", NAMES)
def test_view_over_a_province(name: str, small_province: Path) -> None:
    view = views()[name]
    resources = _resources(small_province, view["resource"])
    names, rows = run_view(view, resources, "duckdb")
    assert len(rows) == _expected_rows(name, resources) > 0
    table = [dict(zip(names, r, strict=True)) for r in rows]
    key = KEYS.get(name, f"{name}_key")
    assert {r[key] for r in table} <= {f"{view['resource']}/{res['id']}" for res in resources}
    assert len({r[key] for r in table}) == (len(rows) if name != "claim_item" else len(resources))
    if "patient_key" in names and name != "patient":
        assert all(str(r["patient_key"]).startswith("Patient/") for r in table)
    filled = {n for n in names if any(r[n] is not None for r in table)}
    assert filled >= set(names) - {
        "deceased",
        "deceased_at",
        "end",
        "encounter_key",
        "value",
        "unit",
        "onset",
        "systolic",
        "diastolic",
        "id_birth_date",  # present only where an identity number is
        "id_sex",
        "id_token",
        "phone_status",  # present only where a phone is
        "phone_token",
    }
    if name == "patient":
        assert {"id_birth_date", "id_token", "name_token", "phone_token"} <= filled


def test_patient_view_holds_nothing_personal(small_province: Path) -> None:
    patients = _resources(small_province, "Patient")
    names, rows = run_view(views()["patient"], patients, "duckdb")
    values = {str(v) for r in rows for v in r if v is not None}
    assert len({r[names.index("name_token")] for r in rows}) > len(rows) // 5  # pseudonyms, not blanks
    for p in patients[:500]:
        personal = [n.get("text") for n in p.get("name", [])]
        personal += [i.get("value") for i in p.get("identifier", [])]
        personal += [t.get("value") for t in p.get("telecom", [])]
        assert not values & {x for x in personal if x}
