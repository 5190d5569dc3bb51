"""A quality round needs the person index for the rules that follow a resident across records:
over a lake whose Patients are not linked (built before `phip empi link-store`) it refuses and
says why, run anyway on request it warns, and with a few records unlinked it warns."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from phip.identity.models import PersonRecordRow
from phip.lake.service import refresh_from_store
from phip.quality.catalogue import catalogue
from phip.quality.models import QualityRound
from phip.quality.run import MAX_UNLINKED_SHARE, PersonIndexMissing, needs_person_index, run_rules
from phip.quality.service import run_round
from phip.store import get_engine
from tests.conftest import LakeStore
from tests.quality.conftest import QualityStore, copy_store, drop_copy


def _unlink(store: QualityStore, share: float) -> int:
    """Drop the person index's links of `share` of the Patient records and refresh the lake, as
    if the index had not caught up with them; returns how many were dropped."""
    with Session(get_engine(store.db_url)) as s:
        ids = sorted(s.scalars(select(PersonRecordRow.record_id)))
        drop = ids[: round(len(ids) * share)]
        for i in range(0, len(drop), 500):
            s.execute(delete(PersonRecordRow).where(PersonRecordRow.record_id.in_(drop[i : i + 500])))
        s.commit()
        refresh_from_store(s, store.lake)
    return len(drop)


@pytest.fixture(scope="module")
def unlinked_store(lake_store: LakeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualityStore]:
    store = copy_store(lake_store, tmp_path_factory.mktemp("unlinked"))
    _unlink(store, 1.0)
    yield store
    drop_copy(store)


def test_the_rules_that_need_the_person_index_are_known() -> None:
    needing = {r.id for r in catalogue().rules if needs_person_index(r)}
    assert {"CONS-NAME-XFAC", "CONS-BIRTH-XFAC", "CONS-PHONE-XFAC", "UNIQ-DUP-PATIENT"} <= needing
    assert {"CONS-AFTER-DEATH", "CONS-POVERTY-COVERAGE", "CONS-CHRONIC-FOLLOWUP"} <= needing
    assert not {"CONF-ID-CHECK", "ACC-AGE", "CONS-ID-BIRTH", "TIME-LATE-BATCH"} & needing


def test_a_round_without_the_person_index_is_refused(unlinked_store: QualityStore) -> None:
    with Session(get_engine(unlinked_store.db_url)) as s:
        with pytest.raises(PersonIndexMissing) as refused:
            run_round(s, unlinked_store.lake)
        assert s.scalar(select(func.count()).select_from(QualityRound)) == 0  # nothing recorded
    message = str(refused.value)
    assert "phip empi link-store" in message and "CONS-NAME-XFAC" in message
    assert refused.value.coverage.linked == 0 and refused.value.coverage.patients > 100
    # rules that do not need it still run
    alone = run_rules(unlinked_store.lake, rules=["CONF-ID-CHECK", "ACC-AGE"])
    assert alone.person_index is None and alone.warnings == [] and alone.findings.num_rows > 0
    # run anyway on request: it says what it missed
    with Session(get_engine(unlinked_store.db_url)) as s:
        report = run_round(s, unlinked_store.lake, without_person_index=True)
    assert report.warnings and "0 of the lake's" in report.warnings[0]
    assert report.to_json()["warnings"] == report.warnings


def test_the_cli_refuses_and_says_what_to_run(unlinked_store: QualityStore) -> None:
    from typer.testing import CliRunner

    from phip.cli.main import app
    from phip.settings import get_settings

    env = {"PHIP_DATABASE_URL": unlinked_store.db_url, "PHIP_LAKE_DIR": str(unlinked_store.lake)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        truth = str(unlinked_store.province / "truth")
        for args in (["quality", "run"], ["quality", "evaluate", "--truth", truth]):
            out = runner.invoke(app, args)
            assert out.exit_code == 2, out.output
            assert "phip empi link-store" in " ".join(out.output.split())
        anyway = runner.invoke(app, ["quality", "run", "--full", "--without-person-index"])
        assert anyway.exit_code == 0, anyway.output
        assert json.loads(anyway.stdout)["warnings"]
        assert "warning" in anyway.stderr
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def test_a_few_unlinked_records_are_a_warning(lake_store: LakeStore, tmp_path: Path) -> None:
    store = copy_store(lake_store, tmp_path)
    dropped = _unlink(store, MAX_UNLINKED_SHARE / 5)
    run = run_rules(store.lake, rules=["CONS-PHONE-XFAC"])
    assert run.person_index is not None and run.person_index.unlinked == dropped > 0
    assert len(run.warnings) == 1 and f"({dropped} unlinked)" in run.warnings[0]
    linked = run_rules(lake_store.lake, rules=["CONS-PHONE-XFAC"])
    assert linked.person_index is not None and linked.person_index.unlinked == 0 and linked.warnings == []
