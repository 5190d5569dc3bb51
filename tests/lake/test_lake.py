"""The lake built from a real store: contents, partitions, pseudonymisation, incremental refresh
equal to a full rebuild, atomic publication, locking and idempotence."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.analytics.facts import PREFIX, publish_facts
from phip.lake import build as lake_build
from phip.lake.manifest import LakeError, locked, read_manifest
from phip.lake.reader import open_duckdb
from phip.lake.service import refresh_from_store
from phip.lake.tables import fact_tables
from phip.store import get_engine
from phip.store.models import Resource
from phip.store.repository import Repository
from tests.conftest import LakeStore
from tests.interrupt import Crash, CrashAfter


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _copy(store: LakeStore, dest: Path) -> tuple[str, Path]:
    """A private copy of the shared store and lake (tests that change them work on it)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(store.var_dir / "phip.db", dest / "phip.db")
    shutil.copytree(store.lake, dest / "lake")
    return f"sqlite:///{(dest / 'phip.db').as_posix()}", dest / "lake"


def _count(lake: Path, table: str) -> int:
    con, _ = open_duckdb(lake)
    return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])  # type: ignore[index]


def _snapshot(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted (so two lakes compare by content)."""
    con, manifest = open_duckdb(lake)
    out = {}
    for name in manifest.tables:
        rows = con.execute(f'SELECT * FROM "{name}"').fetchall()
        out[name] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
    return out


def test_every_resource_of_a_one_row_view_is_a_row(lake_store: LakeStore) -> None:
    engine = get_engine(lake_store.db_url)
    with Session(engine) as s:
        for name in ("patient", "encounter", "condition", "observation", "immunization", "organization"):
            rtype = fact_tables()[name].resource_type
            stored = s.scalar(
                select(func.count()).where(Resource.res_type == rtype, Resource.deleted.is_(False))
            )
            assert stored and _count(lake_store.lake, name) == stored, name
        items = sum(
            len(orjson.loads(c).get("item", []))
            for c in s.scalars(select(Resource.content).where(Resource.res_type == "Claim"))
        )
    assert _count(lake_store.lake, "claim_item") == items


def test_files_hold_one_county_and_month_each(lake_store: LakeStore) -> None:
    manifest = read_manifest(lake_store.lake)
    assert manifest is not None
    facility_county = {
        r["code"]: r["county_code"] for r in _csv(lake_store.province / "registry" / "facilities.csv")
    }
    con = duckdb.connect()
    checked = 0
    for f in manifest.tables["encounter"].files:
        path = (lake_store.lake / f["path"]).as_posix()
        rows = con.execute(
            "SELECT DISTINCT county, month, substr(start, 1, 7), source_facility "
            f"FROM read_parquet('{path}', hive_partitioning = false)"
        ).fetchall()
        for county, month, start_month, facility in rows:
            assert (county, month) == (f["county"], f["month"])
            assert month == start_month
            assert county == facility_county[facility]
            checked += 1
    assert checked > 20


def test_the_lake_holds_no_identity_numbers_names_or_phones(lake_store: LakeStore) -> None:
    people = list(_csv(lake_store.province / "truth" / "people.csv"))
    ids = {p["id_number"] for p in people if p["id_number"]}
    phones = {p["phone"] for p in people if p["phone"]}
    names = {p["name"] for p in people if len(p["name"]) >= 2}
    con, manifest = open_duckdb(lake_store.lake)
    strings = 0
    for name, t in manifest.tables.items():
        for col, typ in t.columns:
            if typ != "VARCHAR":
                continue
            for (value,) in con.execute(
                f'SELECT DISTINCT "{col}" FROM "{name}" WHERE "{col}" IS NOT NULL'
            ).fetchall():
                strings += 1
                assert value not in names, (name, col)
                runs = re.findall(r"[0-9Xx]{11,}", value)
                assert not any(run[i : i + 18] in ids for run in runs for i in range(len(run))), (name, col)
                assert not any(run[i : i + 11] in phones for run in runs for i in range(len(run))), (
                    name,
                    col,
                )
    assert strings > 10_000


def test_refused_patients_are_linked_to_their_person(lake_store: LakeStore) -> None:
    """A Patient refused for a typo in its identity number is linked (by the one valid number a
    typo away that the lake's Patients carry) to the right person, and to no other."""
    truth = {r["record"]: r["person_id"] for r in _csv(lake_store.province / "truth" / "persons.csv")}
    typos = {
        r["resource"]
        for r in _csv(lake_store.province / "truth" / "defects.csv")
        if r["kind"] in ("id_typo", "id_swap")
    }
    con, _ = open_duckdb(lake_store.lake)
    refused = {
        rid: status
        for rid, status in con.sql(
            "SELECT _rid, id_status FROM quarantine_record WHERE res_type = 'Patient'"
        ).fetchall()
    }
    linked = dict(con.sql("SELECT _rid, person_id FROM refused_person").fetchall())
    lake_persons: dict[str, set[str]] = {}
    for rid, person in con.sql(
        "SELECT p._rid, pp.person_id FROM patient p JOIN patient_person pp USING (patient_key)"
    ).fetchall():
        lake_persons.setdefault(truth[rid], set()).add(person)
    checked = [rid for rid in typos if rid in refused]
    assert len(checked) >= 10 and all(refused[rid].startswith("invalid-") for rid in checked)
    found = [rid for rid in checked if rid in linked]
    assert len(found) >= 0.9 * len(checked), (len(found), len(checked))
    assert all(linked[rid] in lake_persons[truth[rid]] for rid in found)


def test_person_table_counts_residents_not_records(lake_store: LakeStore) -> None:
    persons = list(_csv(lake_store.province / "truth" / "persons.csv"))
    con, _ = open_duckdb(lake_store.lake)
    records = _count(lake_store.lake, "patient")
    linked = int(con.execute("SELECT count(DISTINCT person_id) FROM patient_person").fetchone()[0])  # type: ignore[index]
    true_people = len({p["person_id"] for p in persons})
    assert linked < records
    assert abs(linked - true_people) <= 0.02 * true_people  # the person index is that accurate here
    assert _count(lake_store.lake, "person") == linked


def _mutate(url: str) -> dict[str, int]:
    """Change 1% of encounters (a new month for some), delete a few, add new ones."""
    engine = get_engine(url)
    with Session(engine) as s:
        repo = Repository(s)
        rows = s.execute(
            select(Resource.res_id, Resource.content, Resource.facility, Resource.org_path)
            .where(Resource.res_type == "Encounter", Resource.deleted.is_(False))
            .order_by(Resource.res_id)
        ).all()
        step = max(1, len(rows) // 100)
        changed = deleted = created = 0
        for n, (rid, content, facility, org_path) in enumerate(rows[::step]):
            res = orjson.loads(content)
            res.pop("meta", None)
            if n % 5 == 0:
                repo.delete("Encounter", rid)
                deleted += 1
                continue
            if n % 5 == 1:
                res["period"] = {"start": "2025-02-14T09:00:00+08:00", "end": "2025-02-14T10:00:00+08:00"}
            else:
                res["status"] = "cancelled"
            repo.update("Encounter", rid, res, facility=facility, org_path=org_path)
            changed += 1
            if n % 5 == 2:
                res = dict(res, id=f"new-{rid}", status="finished")
                repo.create(res, facility=facility, org_path=org_path)
                created += 1
        s.commit()
    return {"changed": changed, "deleted": deleted, "created": created}


def test_incremental_refresh_equals_a_full_rebuild(lake_store: LakeStore, tmp_path: Path) -> None:
    url, lake = _copy(lake_store, tmp_path / "a")
    before = _count(lake, "encounter")
    total_partitions = sum(len(t.files) for t in read_manifest(lake).tables.values())  # type: ignore[union-attr]
    counts = _mutate(url)
    engine = get_engine(url)
    with Session(engine) as s:
        report = refresh_from_store(s, lake)
        assert report.full == []
        assert report.changed["encounter"] == counts["changed"] + counts["deleted"] + counts["created"]
        assert 0 < report.partitions_written < total_partitions / 4
        full = refresh_from_store(s, tmp_path / "full-lake", full=True)
    assert set(full.full) == set(fact_tables())
    assert _count(lake, "encounter") == before - counts["deleted"] + counts["created"]
    incremental, rebuilt = _snapshot(lake), _snapshot(tmp_path / "full-lake")
    assert incremental.keys() == rebuilt.keys()
    for name in incremental:
        assert incremental[name] == rebuilt[name], name


def test_a_second_refresh_without_changes_writes_nothing(lake_store: LakeStore, tmp_path: Path) -> None:
    url, lake = _copy(lake_store, tmp_path / "b")
    before = _snapshot(lake)
    with Session(get_engine(url)) as s:
        report = refresh_from_store(s, lake)
    assert report.partitions_written == 0
    assert sum(report.changed.values()) == 0
    # the tables analytics derived from the previous version are dropped until it derives them
    # again (as `phip lake refresh` does next)
    derived = {name for name in before if name.startswith(PREFIX)}
    assert derived and _snapshot(lake) == {k: v for k, v in before.items() if k not in derived}
    publish_facts(lake)
    assert _snapshot(lake) == before


def test_another_domain_derives_tables_from_the_current_version(
    lake_store: LakeStore, tmp_path: Path
) -> None:
    _url, lake = _copy(lake_store, tmp_path / "d")
    version = read_manifest(lake).version  # type: ignore[union-attr]

    def count_facilities(con: duckdb.DuckDBPyConnection, run: str, manifest: Any) -> None:
        (n,) = con.execute('SELECT count(*) FROM "facility"').fetchone()  # type: ignore[misc]
        data = pa.table({"n": [n]})
        files = lake_build.write_dimension(lake, run, "facility_count", data)
        files.definition = "count-v1"
        manifest.tables["facility_count"] = files

    assert lake_build.derive(lake, count_facilities) == version + 1
    assert _count(lake, "facility_count") == 1
    assert read_manifest(lake).tables["facility_count"].definition == "count-v1"  # type: ignore[union-attr]

    def drop_facilities(con: duckdb.DuckDBPyConnection, run: str, manifest: Any) -> None:
        del manifest.tables["facility"]

    with pytest.raises(LakeError, match="removed"):
        lake_build.derive(lake, drop_facilities)
    assert read_manifest(lake).version == version + 1  # type: ignore[union-attr]


def test_readers_keep_their_version_and_a_failed_refresh_publishes_nothing(
    lake_store: LakeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, lake = _copy(lake_store, tmp_path / "c")
    reader, old = open_duckdb(lake)
    n_before = int(reader.execute("SELECT count(*) FROM encounter").fetchone()[0])  # type: ignore[index]
    _mutate(url)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(lake_build, "write_dimension", broken)
    with Session(get_engine(url)) as s, pytest.raises(RuntimeError):
        refresh_from_store(s, lake)
    assert read_manifest(lake).version == old.version  # type: ignore[union-attr]
    assert _count(lake, "encounter") == n_before
    monkeypatch.undo()
    with Session(get_engine(url)) as s:
        refresh_from_store(s, lake)
    assert read_manifest(lake).version == old.version + 1  # type: ignore[union-attr]
    assert _count(lake, "encounter") != n_before
    # the reader opened before the refresh still sees its own version, whole
    assert int(reader.execute("SELECT count(*) FROM encounter").fetchone()[0]) == n_before  # type: ignore[index]
    listed = {f["path"] for t in read_manifest(lake).tables.values() for f in t.files}  # type: ignore[union-attr]
    history = [json.loads(p.read_text()) for p in (lake / "_manifests").glob("v*.json")]
    kept = {f["path"] for m in history for t in m["tables"].values() for f in t["files"]}
    on_disk = {p.relative_to(lake).as_posix() for p in (lake / "tables").rglob("*.parquet")}
    assert listed <= on_disk and on_disk <= kept  # the failed run's files were cleaned up


def test_one_refresh_at_a_time(lake_store: LakeStore, tmp_path: Path) -> None:
    url, lake = _copy(lake_store, tmp_path / "d")
    with locked(lake), Session(get_engine(url)) as s, pytest.raises(LakeError, match="another refresh"):
        refresh_from_store(s, lake)


def test_a_lake_over_another_store_is_rebuilt(lake_store: LakeStore, tmp_path: Path) -> None:
    """A store restored or replaced (its change sequence behind the lake's) is not taken for
    'no changes': the lake is rebuilt from it."""
    from phip.store import init_db

    _url, lake = _copy(lake_store, tmp_path / "e")
    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    init_db(get_engine(url))
    with Session(get_engine(url)) as s:
        report = refresh_from_store(s, lake)
    assert set(report.full) == set(fact_tables())
    assert _count(lake, "encounter") == 0


def test_a_lake_built_from_gzip_submissions_equals_one_from_plain(
    ingest_province: Path, tmp_path: Path
) -> None:
    from phip.bench.analytics import registry_session, truth_batches, truth_persons
    from phip.lake.service import build_from_folder, resource_types

    plain, zipped = ingest_province / "submissions", tmp_path / "gz"
    for p in plain.rglob("*.ndjson"):
        dest = zipped / p.relative_to(plain).parent / (p.name + ".gz")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(gzip.compress(p.read_bytes()))
    session = registry_session(ingest_province, tmp_path)
    given = {
        "record_person": truth_persons(ingest_province),
        "submission_batch": truth_batches(ingest_province),
    }
    seen: list[tuple[int, int]] = []
    a = build_from_folder(session, plain, tmp_path / "plain-lake", dimensions=given)
    b = build_from_folder(
        session, zipped, tmp_path / "gz-lake", lambda n, total: seen.append((n, total)), dimensions=given
    )
    session.close()
    assert a.rows == b.rows and a.rows["encounter"] > 0 and a.rows["patient"] > 0
    # progress counts every line of the compressed files the lake reads
    lines = sum(p.read_bytes().count(b"\n") for p in plain.rglob("*.ndjson") if p.stem in resource_types())
    assert seen[-1] == (lines, lines)
    assert _snapshot(tmp_path / "plain-lake") == _snapshot(tmp_path / "gz-lake")


def test_an_interrupted_build_resumes_where_it_saved(ingest_province: Path, tmp_path: Path) -> None:
    from phip.bench.analytics import registry_session, truth_batches, truth_persons
    from phip.lake import resume
    from phip.lake.dims import SCHEMAS, dimension
    from phip.lake.service import resource_types
    from phip.lake.source import NdjsonFolder

    session = registry_session(ingest_province, tmp_path)
    given = {
        "record_person": truth_persons(ingest_province),
        "submission_batch": truth_batches(ingest_province),
    }
    dims = {name: given[name] if name in given else dimension(session, name) for name in SCHEMAS}
    session.close()
    folder, types = ingest_province / "submissions", resource_types()

    def changes(_seq: int) -> tuple[NdjsonFolder, int]:
        return NdjsonFolder(folder, types, batch=4000), 0

    whole = lake_build.refresh(tmp_path / "whole", changes, dims, full=True)

    lake = tmp_path / "resumed"
    with pytest.raises(Crash):
        lake_build.refresh(lake, changes, dims, CrashAfter(5), full=True, checkpoint_seconds=0)
    assert read_manifest(lake) is None  # nothing published
    state = json.loads((lake / resume.FOLDER / resume.STATE).read_text())
    total = sum(whole.changed.values())
    assert 0 < state["seen"] < state["total"] and state["saves"] == 4
    assert any(state["segments"].values())
    # another source (here: another change it reaches) does not continue this build
    assert resume.load(lake, "another build") is None and not (lake / resume.FOLDER).exists()
    with pytest.raises(Crash):
        lake_build.refresh(lake, changes, dims, CrashAfter(5), full=True, checkpoint_seconds=0)
    saved = json.loads((lake / resume.FOLDER / resume.STATE).read_text())["seen"]
    seen: list[int] = []
    again = lake_build.refresh(
        lake, changes, dims, lambda done, _t: seen.append(done), full=True, checkpoint_seconds=0
    )
    assert again.resumed and not whole.resumed
    assert seen[0] > saved and seen[-1] == state["total"]  # read on from the saved position
    assert again.changed == whole.changed and sum(again.changed.values()) == total > 0
    assert again.rows == whole.rows
    assert _snapshot(lake) == _snapshot(tmp_path / "whole")
    assert not (lake / resume.FOLDER).exists()
