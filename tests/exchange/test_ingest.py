"""Bulk import: every record accepted or quarantined with reasons, idempotent, resumable."""

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from phip.exchange.ingest import Importer, ingest
from phip.fhir.references import references
from phip.orgunits import OrgUnitService
from phip.standards.divisions import get_divisions
from phip.store import init_db, make_engine
from phip.store.models import Quarantine, Resource, ResourceHistory, Submission, SubmissionBatch
from phip.store.repository import Repository
from tests.conftest import database_url

PHIP = Path(sys.executable).parent / "phip"


def _defects(province: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with open(province / "truth" / "defects.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["kind"], set()).add(r["resource"])
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, ingest_province: Path):  # type: ignore[no-untyped-def]
    url = database_url(request, tmp_path_factory.mktemp("ingest"), "ingest")
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        OrgUnitService(s).load_registry(ingest_province / "registry", get_divisions("620000"))
        s.commit()
        summary = ingest(s, ingest_province / "submissions")
    yield engine, summary
    engine.dispose()


def test_every_record_is_accepted_or_quarantined(imported, ingest_province: Path) -> None:  # type: ignore[no-untyped-def]
    engine, summary = imported
    manifest = json.loads((ingest_province / "manifest.json").read_text())
    assert summary.submitted == manifest["resources"]["total"]
    assert summary.accepted + summary.quarantined == summary.submitted
    assert summary.created == summary.accepted
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Resource)) == summary.accepted
        assert s.scalar(select(func.count()).select_from(Quarantine)) == summary.quarantined
        sub = s.get(Submission, summary.submission_id)
        assert sub is not None and sub.status == "completed" and sub.submitted == summary.submitted
        assert sub.period_start is not None and sub.lag_days_median is not None
        batches = list(s.scalars(select(SubmissionBatch).where(SubmissionBatch.submission_id == sub.id)))
        assert sum(b.records for b in batches) == summary.submitted
        assert all(b.first_sent for b in batches)
        # the facility and its org-unit path are attached for scoping
        row = s.scalars(select(Resource).where(Resource.res_type == "Encounter")).first()
        assert row is not None and row.facility and row.org_path and row.org_path.startswith("620000/")


def test_injected_defects_are_quarantined_with_the_right_reason(imported, ingest_province: Path) -> None:  # type: ignore[no-untyped-def]
    engine, _ = imported
    defects = _defects(ingest_province)
    with Session(engine) as s:
        reasons: dict[str, set[str]] = {}
        for rtype, rid, rs in s.execute(select(Quarantine.res_type, Quarantine.res_id, Quarantine.reasons)):
            reasons[f"{rtype}/{rid}"] = {r["code"] for r in orjson.loads(rs)}
    expected = {
        "structural_invalid": "structure:value",
        "id_typo": "profile:resident-id",
        "id_swap": "profile:resident-id",
        "missing_required": "profile:required",
    }
    for kind, code in expected.items():
        assert defects.get(kind), kind
        for ref in defects[kind]:
            assert ref in reasons, (kind, ref)
            assert code in reasons[ref], (kind, ref, reasons[ref])
    invalid_conditions = [r for r in defects.get("invalid_code", ()) if r.startswith("Condition/")]
    assert invalid_conditions
    for ref in invalid_conditions:
        assert "profile:invalid-code" in reasons[ref]
    # clean records are not quarantined for their own content
    flagged = set().union(*defects.values())
    own = [ref for ref, codes in reasons.items() if ref not in flagged and codes != {"reference:unresolved"}]
    assert own == []


def test_resubmission_changes_nothing(imported, ingest_province: Path) -> None:  # type: ignore[no-untyped-def]
    engine, first = imported
    with Session(engine) as s:
        history = s.scalar(select(func.count()).select_from(ResourceHistory))
        quarantined = s.scalar(select(func.count()).select_from(Quarantine))
        again = ingest(s, ingest_province / "submissions")
        assert again.submitted == first.submitted
        assert (again.created, again.updated, again.unchanged) == (0, 0, first.accepted)
        assert again.quarantined == first.quarantined
        assert s.scalar(select(func.count()).select_from(ResourceHistory)) == history
        assert s.scalar(select(func.count()).select_from(Quarantine)) == quarantined


@pytest.fixture(scope="module")
def imported_gzip(tmp_path_factory: pytest.TempPathFactory, ingest_province: Path):  # type: ignore[no-untyped-def]
    """The same submissions gzip-compressed (`<Type>.ndjson.gz`), imported into SQLite."""
    folder = tmp_path_factory.mktemp("gz")
    plain = ingest_province / "submissions"
    for p in plain.rglob("*.ndjson"):
        dest = folder / p.relative_to(plain).parent / (p.name + ".gz")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(gzip.compress(p.read_bytes()))
    engine = make_engine(f"sqlite:///{folder / 'gz.db'}")
    init_db(engine)
    with Session(engine) as s:
        OrgUnitService(s).load_registry(ingest_province / "registry", get_divisions("620000"))
        s.commit()
        summary = ingest(s, folder)
        stored = s.scalar(select(func.count()).select_from(Resource))
    engine.dispose()
    return summary, stored


def test_gzip_submissions_import_like_plain(imported, imported_gzip) -> None:  # type: ignore[no-untyped-def]
    engine, plain = imported
    zipped, stored = imported_gzip
    assert zipped.files == plain.files > 0
    assert (zipped.submitted, zipped.accepted, zipped.quarantined) == (
        plain.submitted,
        plain.accepted,
        plain.quarantined,
    )
    assert zipped.reasons == plain.reasons
    with Session(engine) as s:
        assert stored == s.scalar(select(func.count()).select_from(Resource))


def test_changed_record_updates(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    init_db(engine)
    rec = {"resourceType": "Organization", "id": "o1", "name": "甲医院"}
    f = tmp_path / "Organization.ndjson"
    f.write_bytes(orjson.dumps(rec) + b"\n")
    with Session(engine) as s:
        assert ingest(s, f).created == 1
        f.write_bytes(orjson.dumps({**rec, "name": "乙医院"}) + b"\n" + b"{not json\n")
        second = ingest(s, f)
        assert (second.updated, second.quarantined, second.submitted) == (1, 1, 2)
        assert Repository(s).read("Organization", "o1")["name"] == "乙医院"
        assert "json:parse-error" in second.reasons


def test_bundles_and_files_without_ids(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    init_db(engine)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Organization",
                    "identifier": [{"system": "s", "value": "1"}],
                    "name": "A",
                }
            },
            {
                "resource": {
                    "resourceType": "Organization",
                    "identifier": [{"system": "s", "value": "2"}],
                    "name": "B",
                }
            },
        ],
    }
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.json").write_bytes(orjson.dumps(bundle))
    (tmp_path / "in" / "log.ndjson").write_bytes(b'{"eventId": "kickoff"}\n')  # not FHIR: skipped
    with Session(engine) as s:
        first = ingest(s, tmp_path / "in")
        assert (first.submitted, first.created) == (2, 2)
        again = ingest(s, tmp_path / "in")
        assert again.unchanged == 2  # ids derived from the business identifier are stable


def test_synthea_sets_import(shared_data: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    init_db(engine)
    with Session(engine) as s:
        bulk = ingest(s, shared_data / "synthea" / "bulk-10-patients")
        assert bulk.submitted > 7000 and bulk.quarantined == 0
        complete = ingest(s, shared_data / "synthea" / "complete-9-patients")
        assert complete.accepted + complete.quarantined == complete.submitted
        # the only rejects reference resources that are absent from the data set itself
        assert set(complete.reasons) <= {"reference:unresolved"} and complete.quarantined <= 2
        for rs in s.scalars(
            select(Quarantine.reasons).where(Quarantine.submission_id == complete.submission_id)
        ):
            assert all("neither in this submission nor in the store" in r["detail"] for r in orjson.loads(rs))


def _store_state(url: str) -> tuple[set[tuple[str, str, str]], int, int]:
    engine = create_engine(url)
    with Session(engine) as s:
        rows = {
            tuple(r) for r in s.execute(select(Resource.res_type, Resource.res_id, Resource.content_hash))
        }
        history = s.scalar(select(func.count()).select_from(ResourceHistory)) or 0
        quarantined = s.scalar(select(func.count()).select_from(Quarantine)) or 0
    engine.dispose()
    return rows, history, quarantined


@pytest.mark.slow
def test_sigkill_mid_import_then_resume_equals_uninterrupted(tmp_path: Path, ingest_province: Path) -> None:
    src = ingest_province / "submissions"
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    killed = f"sqlite:///{tmp_path / 'killed.db'}"
    env = {**os.environ, "PHIP_DATABASE_URL": whole}
    subprocess.run([PHIP, "ingest", str(src)], env=env, check=True, capture_output=True)
    env["PHIP_DATABASE_URL"] = killed
    proc = subprocess.Popen(
        [PHIP, "ingest", str(src)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    engine = create_engine(killed)
    deadline = time.time() + 120
    progressed = False
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with Session(engine) as s:
                n = s.scalar(select(func.max(Submission.submitted))) or 0
        except Exception:  # the tables may not exist yet
            continue
        if n >= 4000:
            progressed = True
            break
    assert progressed and proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Session(engine) as s:
        assert s.scalar(select(Submission.status)) == "running"
    engine.dispose()
    done = subprocess.run([PHIP, "ingest", str(src)], env=env, check=True, capture_output=True, text=True)
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["resumed"] is True
    assert summary["accepted"] + summary["quarantined"] == summary["submitted"]
    assert _store_state(killed) == _store_state(whole)


def test_references_are_found_in_compact_json_only_where_they_are_members() -> None:
    res = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/p1"},
        "contained": [{"resourceType": "Device", "owner": {"reference": "Organization/o1"}}],
        "note": [{"text": '"reference":"Patient/not-a-member"'}],
        "extension": [{"url": "x", "valueReference": {"reference": 'odd"id\\x'}}],
    }
    assert references(orjson.dumps(res)) == ["Patient/p1", "Organization/o1", 'odd"id\\x']


def test_prescan_reads_type_and_id_without_parsing_and_falls_back(tmp_path: Path) -> None:
    f = tmp_path / "Patient.ndjson"
    f.write_bytes(
        b'{"resourceType":"Patient","id":"fast-1","gender":"male"}\n'
        b'{ "resourceType": "Patient", "id": "spaced-2" }\n'
        b'{"id":"late-3","resourceType":"Patient"}\n'
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    init_db(engine)
    with Session(engine) as s:
        imp = Importer(s)
        imp._prescan([f])
    assert imp.prescan_ids == {"Patient/fast-1", "Patient/spaced-2", "Patient/late-3"}
