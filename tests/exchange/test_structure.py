"""The fast structural validator agrees with fhir.resources R4B (the oracle)."""

import copy
import random
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from phip.exchange.structure import is_resource_type, is_valid, resource_types, validate_resource


def oracle_ok(res: dict) -> bool:  # type: ignore[type-arg]
    try:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        return True
    except (ValidationError, ValueError, TypeError, KeyError):
        return False


def _corpus(shared: Path, province: Path) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for f in sorted((shared / "fhir-r4-examples").glob("*.json")):
        out.append(orjson.loads(f.read_bytes()))
    for f in sorted((shared / "synthea").rglob("*.ndjson")):
        if f.name == "log.ndjson":
            continue
        with open(f, "rb") as fh:
            out.extend(orjson.loads(line) for i, line in enumerate(fh) if i < 40)
    for f in sorted((province / "submissions").rglob("*.ndjson"))[:200]:
        with open(f, "rb") as fh:
            out.extend(orjson.loads(line) for i, line in enumerate(fh) if i < 10)
    return out


def test_agrees_with_oracle_on_real_data(shared_data: Path, small_province: Path) -> None:
    corpus = _corpus(shared_data, small_province)
    assert len(corpus) > 1500
    disagreements = [r.get("id") for r in corpus if (not validate_resource(r)) != oracle_ok(r)]
    assert disagreements == []
    # the fast yes/no path gives the same verdict as the full walk
    assert [r.get("id") for r in corpus if is_valid(r) != (not validate_resource(r))] == []


def _mutations(res: dict, rng: random.Random) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    keys = [k for k in res if k not in ("resourceType", "id", "meta")]
    m = copy.deepcopy(res)
    m["notAnElement"] = 1
    out.append(("unknown element", m))
    if "status" in res:
        m = copy.deepcopy(res)
        del m["status"]
        out.append(("required status removed", m))
        m = copy.deepcopy(res)
        m["status"] = ["final"]
        out.append(("array for a single element", m))
    for k in keys:
        v = res[k]
        if isinstance(v, list) and v and isinstance(v[0], dict):
            m = copy.deepcopy(res)
            m[k] = v[0]
            out.append((f"object for an array ({k})", m))
            break
    for k in keys:
        if isinstance(res[k], str) and k.endswith(("Date", "DateTime", "date", "Time")):
            m = copy.deepcopy(res)
            m[k] = "2025-02-30"
            out.append((f"impossible date ({k})", m))
    if "id" in res:
        m = copy.deepcopy(res)
        m["id"] = "bad id!"
        out.append(("bad id", m))
    m = copy.deepcopy(res)
    m["resourceType"] = "Nope"
    out.append(("unknown type", m))
    if "valueQuantity" in res:
        m = copy.deepcopy(res)
        m["valueString"] = "x"
        out.append(("two choice values", m))
    rng.shuffle(out)
    return out


def test_agrees_with_oracle_on_mutations(shared_data: Path, small_province: Path) -> None:
    rng = random.Random(5)
    corpus = _corpus(shared_data, small_province)
    checked = 0
    for res in rng.sample(corpus, 400):
        for what, mutated in _mutations(res, rng):
            ours = not validate_resource(mutated)
            assert ours == oracle_ok(mutated), (what, res.get("resourceType"), res.get("id"))
            assert is_valid(mutated) == ours, (what, res.get("resourceType"), res.get("id"))
            checked += 1
    assert checked > 1500


@pytest.mark.parametrize(
    ("res", "code"),
    [
        ({"resourceType": "Patient", "birthDate": "1990-13-01"}, "value"),
        ({"resourceType": "Patient", "active": "true"}, "value"),  # FHIR JSON booleans are booleans
        ({"resourceType": "Patient", "gender": ["male"]}, "cardinality"),
        ({"resourceType": "Patient", "name": {"text": "x"}}, "cardinality"),
        ({"resourceType": "Patient", "foo": 1}, "unknown-element"),
        ({"resourceType": "Observation", "code": {"text": "x"}}, "required"),
        (
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "valueString": "a",
                "valueBoolean": True,
            },
            "choice",
        ),
        (
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "period": {"start": "2025-01-01T10:00:00"},
            },
            "value",
        ),  # a time needs a time zone
        ({"resourceType": "Unknown"}, "unknown-type"),
        ([], "structure"),
    ],
)
def test_issue_codes(res: object, code: str) -> None:
    issues = validate_resource(res)
    assert issues and issues[0][0] == code
    assert not is_valid(res)


def test_resource_type_lookup() -> None:
    types = resource_types()
    assert {"Patient", "Encounter", "Bundle", "ExplanationOfBenefit"} <= types
    assert all(is_resource_type(t) for t in types)
    assert not is_resource_type("Coding") and not is_resource_type("Resource") and not is_resource_type("x")
