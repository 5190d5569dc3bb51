"""What `phip synth` writes: valid FHIR R4, resolvable references, a true manifest, ground truth."""

import csv
import gzip
import hashlib
import json
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest

from phip.standards import idcard
from phip.standards.divisions import default_checker
from phip.standards.icd10 import get_icd10
from phip.synth import SynthConfig, synthesize
from phip.synth.demography import prefecture_shares
from tests.interrupt import Crash, CrashAfter

STRUCTURAL = "structural_invalid"


def _resources(out: Path):  # type: ignore[no-untyped-def]
    for f in sorted((out / "submissions").rglob("*.ndjson")):
        with open(f, "rb") as fh:
            for line in fh:
                yield f, orjson.loads(line)


def _truth(out: Path, name: str) -> list[dict[str, str]]:
    with open(out / "truth" / name, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(out).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_and_manifest_counts_equal_line_counts(small_province: Path) -> None:
    manifest = json.loads((small_province / "manifest.json").read_text(encoding="utf-8"))
    files = sorted((small_province / "submissions").glob("*/*.ndjson"))
    assert files
    seen: dict[str, dict[str, int]] = {}
    for f in files:
        with open(f, "rb") as fh:
            seen.setdefault(f.parent.name, {})[f.stem] = sum(1 for _ in fh)
    assert seen == manifest["by_facility"]
    total = sum(sum(v.values()) for v in seen.values())
    assert manifest["resources"]["total"] == total
    assert sum(manifest["resources"]["by_type"].values()) == total
    assert sum(sum(v.values()) for v in manifest["by_county"].values()) == total
    assert manifest["residents"] == len(_truth(small_province, "people.csv"))
    assert (small_province / "registry" / "facilities.csv").exists()


def test_content_covers_the_five_databases(small_province: Path) -> None:
    types = set(json.loads((small_province / "manifest.json").read_text())["resources"]["by_type"])
    expected = {
        # population
        "Patient",
        "RelatedPerson",
        # health records
        "Condition",
        "Observation",
        "Immunization",
        "CareTeam",
        "EpisodeOfCare",
        # EMR
        "Encounter",
        "MedicationRequest",
        "MedicationDispense",
        "Procedure",
        "Claim",
        "ExplanationOfBenefit",
        # health-poverty alleviation
        "Coverage",
        "Flag",
        # health resources
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        # activity
        "ServiceRequest",
        "Schedule",
        "Slot",
        "Appointment",
    }
    assert expected <= types


def test_every_resource_type_validates_with_fhir_resources_r4b(small_province: Path) -> None:
    """A sample of every type (every record of small files); only the records truth lists as
    structurally invalid may fail, and those must fail."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    structural = {r["resource"] for r in _truth(small_province, "defects.csv") if r["kind"] == STRUCTURAL}
    per_type: Counter[str] = Counter()
    failures = []
    for f in sorted((small_province / "submissions").rglob("*.ndjson")):
        with open(f, "rb") as fh:
            for i, line in enumerate(fh):
                if i >= 60:
                    break
                res = orjson.loads(line)
                key = f"{res['resourceType']}/{res['id']}"
                try:
                    get_fhir_model_class(res["resourceType"]).model_validate(res)
                    ok = True
                except ValidationError:
                    ok = False
                if ok == (key in structural):
                    failures.append(key)
                per_type[res["resourceType"]] += 1
    assert not failures, failures[:5]
    assert len(per_type) >= 20
    # the structurally invalid records themselves are rejected by the oracle
    checked = 0
    for _f, res in _resources(small_province):
        key = f"{res['resourceType']}/{res['id']}"
        if key in structural:
            with pytest.raises(ValidationError):
                get_fhir_model_class(res["resourceType"]).model_validate(res)
            checked += 1
    assert checked == len(structural)


def test_references_resolve_inside_the_submission_set(small_province: Path) -> None:
    ids, refs = set(), []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "reference" and isinstance(v, str):
                    refs.append(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for _f, res in _resources(small_province):
        ids.add(f"{res['resourceType']}/{res['id']}")
        walk(res)
    assert refs
    unresolved = [r for r in refs if r not in ids]
    assert unresolved == []


def test_resources_sit_in_their_facility_and_type_file(small_province: Path) -> None:
    for f, res in _resources(small_province):
        assert res["resourceType"] == f.stem
        src = res["meta"]["source"]
        assert src.startswith(f"urn:phip:submission:{f.parent.name}:")
        assert res["meta"]["lastUpdated"].endswith("+08:00")


def test_truth_maps_every_patient_record_to_a_person(small_province: Path) -> None:
    records = {r["record"]: r for r in _truth(small_province, "persons.csv")}
    people = {r["person_id"]: r for r in _truth(small_province, "people.csv")}
    patients = [(f, res) for f, res in _resources(small_province) if res["resourceType"] == "Patient"]
    assert len(records) == len(patients)
    for f, res in patients:
        rec = records[f"Patient/{res['id']}"]
        assert rec["facility"] == f.parent.name
        assert rec["person_id"] in people
    # several facilities hold records of the same person: the linkage problem exists
    per_person = Counter(r["person_id"] for r in records.values())
    assert max(per_person.values()) >= 2


def test_people_are_plausible(small_province: Path) -> None:
    people = _truth(small_province, "people.csv")
    checker = default_checker()
    assert len({p["id_number"] for p in people}) == len(people)
    ref = date(2025, 1, 1)
    ages = []
    for p in people:
        assert checker.check(p["id_number"], today="20991231") is None
        assert idcard.sex_code(p["id_number"]) == p["sex"]
        assert idcard.birth_date(p["id_number"]).isoformat() == p["birth_date"]
        b = date.fromisoformat(p["birth_date"])
        ages.append(ref.year - b.year - ((ref.month, ref.day) < (b.month, b.day)))
    n = len(people)
    assert abs(sum(a < 15 for a in ages if a >= 0) / n - 0.194) < 0.03
    assert abs(sum(a >= 60 for a in ages) / n - 0.1703) < 0.03
    assert abs(sum(p["sex"] == "1" for p in people) / n - 0.5076) < 0.03
    by_pref: Counter[str] = Counter(p["village"][:4] + "00" for p in people)
    for pref, share in prefecture_shares("620000").items():
        assert abs(by_pref[pref] / n - share) < 0.01
    households = Counter(p["household"] for p in people)
    assert 2.3 < n / len(households) < 3.3


def test_injected_defects_are_real(small_province: Path) -> None:
    """Every defect listed in truth exists and is of the kind it claims."""
    defects = _truth(small_province, "defects.csv")
    kinds = Counter(d["kind"] for d in defects)
    for kind in (
        "homophone",
        "id_typo",
        "duplicate_patient",
        "id_missing",
        "phone_changed",
        "invalid_code",
        "impossible_value",
        "missing_required",
        "duplicate_record",
        "late_submission",
    ):
        assert kinds[kind] > 0, kind
    by_ref = {f"{res['resourceType']}/{res['id']}": res for _f, res in _resources(small_province)}
    checker = default_checker()
    icd = get_icd10()
    records = {r["record"]: r["person_id"] for r in _truth(small_province, "persons.csv")}
    people = {r["person_id"]: r for r in _truth(small_province, "people.csv")}
    for d in defects:
        if d["resource"].startswith("Submission/"):
            continue
        res = by_ref[d["resource"]]
        if d["kind"] == "id_typo":
            nums = [i["value"] for i in res["identifier"] if i["system"].endswith("resident-id")]
            assert nums and checker.check(nums[0], today="20991231") is not None
        elif d["kind"] == "id_missing":
            assert not any(i["system"].endswith("resident-id") for i in res["identifier"])
        elif d["kind"] == "id_legacy15":
            nums = [i["value"] for i in res["identifier"] if i["system"].endswith("resident-id")]
            true_id = people[records[d["resource"]]]["id_number"]
            assert len(nums[0]) == 15 and idcard.to18(nums[0]) == true_id
        elif d["kind"] == "homophone" and "name" in res:  # a later defect may have dropped the name
            true_name = people[records[d["resource"]]]["name"]
            assert res["name"][0]["text"] != true_name and len(res["name"][0]["text"]) == len(true_name)
        elif d["kind"] == "duplicate_patient":
            first = d["detail"].rsplit(" ", 1)[1]
            assert records[d["resource"]] == records[first]  # same person, same facility, two records
            assert by_ref[first]["meta"]["source"].split(":")[3] == res["meta"]["source"].split(":")[3]
        elif d["kind"] == "invalid_code" and res["resourceType"] == "Condition":
            assert not icd.is_valid(res["code"]["coding"][0]["code"])
        elif d["kind"] == "sex_inconsistent_dx":
            assert icd.sex_restriction(res["code"]["coding"][0]["code"]) is not None
        elif d["kind"] == "encounter_after_death":
            person = people[records[res["subject"]["reference"]]]
            assert res["period"]["start"][:10] > person["deceased"]


def test_hard_negatives_are_distinct_people(small_province: Path) -> None:
    people = {r["person_id"]: r for r in _truth(small_province, "people.csv")}
    pairs = _truth(small_province, "hard_negatives.csv")
    assert any(p["kind"] == "twin" for p in pairs) or any(
        p["kind"] == "same_name_same_birth_year" for p in pairs
    )
    for p in pairs:
        a, b = people[p["person_a"]], people[p["person_b"]]
        assert a["id_number"] != b["id_number"]
        if p["kind"] == "twin":
            assert a["birth_date"] == b["birth_date"] and a["household"] == b["household"]
        else:
            assert a["name"] == b["name"] and a["birth_date"][:4] == b["birth_date"][:4]


def test_same_seed_same_province_other_seed_different(tmp_path: Path) -> None:
    cfg = SynthConfig(scale=0.00003, seed=11)
    synthesize(cfg, tmp_path / "a", workers=2)
    synthesize(cfg, tmp_path / "b", workers=1)
    synthesize(SynthConfig(scale=0.00003, seed=12), tmp_path / "c", workers=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_resume_after_a_crash_gives_the_same_output(tmp_path: Path) -> None:
    cfg = SynthConfig(scale=0.00003, seed=5, chunk_size=40)
    synthesize(cfg, tmp_path / "whole", workers=1)

    with pytest.raises(Crash):
        synthesize(cfg, tmp_path / "resumed", workers=1, progress=CrashAfter(6), checkpoint_seconds=0)
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    # a half-written file beyond the checkpoint is cut back on resume
    some = next((tmp_path / "resumed" / "submissions").rglob("*.ndjson"))
    with open(some, "ab") as f:
        f.write(b'{"half": ')
    synthesize(cfg, tmp_path / "resumed", workers=1, resume=True)
    assert _digest(tmp_path / "whole") == _digest(tmp_path / "resumed")


def _submissions(out: Path) -> dict[str, bytes]:
    """Every submission file's uncompressed content, by its plain name."""
    files = {}
    for p in sorted((out / "submissions").rglob("*.ndjson*")):
        rel = p.relative_to(out).as_posix()
        data = p.read_bytes()
        files[rel.removesuffix(".gz")] = gzip.decompress(data) if rel.endswith(".gz") else data
    return files


def test_gzip_submissions_hold_the_same_lines_and_resume(tmp_path: Path) -> None:
    cfg = SynthConfig(scale=0.00003, seed=5, chunk_size=40)
    synthesize(cfg, tmp_path / "plain", workers=1)
    synthesize(cfg, tmp_path / "gz", workers=1, compress=True)
    names = [p.name for p in (tmp_path / "gz" / "submissions").rglob("*") if p.is_file()]
    assert names and all(n.endswith(".ndjson.gz") for n in names)
    plain = _submissions(tmp_path / "plain")
    assert _submissions(tmp_path / "gz") == plain
    for name in ("persons.csv", "submissions.csv", "defects.csv"):
        assert _truth(tmp_path / "gz", name) == _truth(tmp_path / "plain", name)

    resumed = tmp_path / "resumed"
    with pytest.raises(Crash):
        synthesize(cfg, resumed, workers=1, progress=CrashAfter(6), checkpoint_seconds=0, compress=True)
    # a half-written member beyond the checkpoint is cut back on resume
    some = next((resumed / "submissions").rglob("*.ndjson.gz"))
    with open(some, "ab") as f:
        f.write(gzip.compress(b'{"half": ')[:12])
    with pytest.raises(ValueError, match="same compression"):
        synthesize(cfg, resumed, workers=1, resume=True)
    synthesize(cfg, resumed, workers=1, resume=True, compress=True)
    assert _submissions(resumed) == plain


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        synthesize(SynthConfig(scale=0.00001), tmp_path / "x")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_config_overrides_are_checked(tmp_path: Path) -> None:
    cfg = SynthConfig().with_overrides({"defects": {"id_typo": 0.5}, "period_start": "2024-01-01"})
    assert cfg.defects.id_typo == 0.5 and cfg.period_start == date(2024, 1, 1)
    with pytest.raises(ValueError, match="unknown synth setting"):
        SynthConfig().with_overrides({"nope": 1})
    with pytest.raises(ValueError, match="unknown defect"):
        SynthConfig().with_overrides({"defects": {"nope": 1}})
    with pytest.raises(ValueError, match="scale"):
        SynthConfig().with_overrides({"scale": 2})


def test_the_demo_settings_give_moved_residents_without_identity_numbers(tmp_path: Path) -> None:
    """`phip demo`'s settings (src/phip/synth/data/demo.json): a record made after a resident moved
    within the county carries another village of that county, no identity number and a new phone,
    and the truth still says whose it is."""
    from phip.cli.demo import DEMO_CONFIG

    cfg = SynthConfig.from_file(DEMO_CONFIG, scale=0.00003, seed=8)
    assert cfg.defects.moved_unidentified > 0 == SynthConfig().defects.moved_unidentified
    synthesize(cfg, tmp_path / "p", workers=1)
    out = tmp_path / "p"
    moved = {
        d["resource"]: d["detail"] for d in _truth(out, "defects.csv") if d["kind"] == "moved_unidentified"
    }
    assert len(moved) >= 10
    records = {r["record"]: r["person_id"] for r in _truth(out, "persons.csv")}
    people = {r["person_id"]: r for r in _truth(out, "people.csv")}
    patients = {
        f"Patient/{res['id']}": res for _f, res in _resources(out) if res["resourceType"] == "Patient"
    }
    for ref, village in moved.items():
        res, person = patients[ref], people[records[ref]]
        assert not any(i["system"].endswith("resident-id") for i in res["identifier"])
        division = res["address"][0]["extension"][0]["valueCode"]
        assert division == village != person["village"] and village[:6] == person["village"][:6]
        assert res.get("telecom", [{}])[0].get("value") != person["phone"]
