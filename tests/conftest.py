"""Shared fixtures: a small synthetic province, and databases on real engines (SQLite, and a
throwaway PostgreSQL cluster started for the session)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(
    os.environ.get("PHIP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: commands run by the tests read their secrets from the environment, as a deployment's do:
#: random per run, never a constant
os.environ.setdefault("PHIP_SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("PHIP_DATA_KEY", "0123456789abcdef" * 2)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data beside the checkout (present for every developer and in CI)."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"reference data folder {SHARED_DATA} is missing")
        pytest.skip("reference data folder ../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A province at scale 0.0001 (about 2,500 residents), generated once per session."""
    from phip.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("province") / "p"
    synthesize(SynthConfig(scale=0.0001, seed=7), out, workers=2)
    return out


@pytest.fixture(scope="session")
def ingest_province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smaller province (about 1,000 residents) with raised defect rates, for import tests."""
    from phip.synth import SynthConfig, synthesize

    cfg = SynthConfig(scale=0.00004, seed=9).with_overrides(
        {
            "defects": {
                "id_swap": 0.05,
                "id_typo": 0.05,
                "structural_invalid": 0.003,
                "missing_required": 0.01,
                "invalid_code": 0.01,
            }
        }
    )
    out = tmp_path_factory.mktemp("ingest-province") / "p"
    synthesize(cfg, out, workers=2)
    return out


@dataclass(frozen=True)
class LakeStore:
    """The small province ingested into a SQLite store, linked, its lake built and the
    indicators computed (DuckDB): the shared starting point of lake and analytics tests."""

    province: Path
    db_url: str
    var_dir: Path
    lake: Path
    #: the data key its identity numbers are encrypted with (set it before decrypting)
    data_key: str = "0123456789abcdef" * 2


#: the one data key of the test session: the apps tests create use it too, and every test starts
#: and ends with it, so stores built by session fixtures always decrypt
TEST_DATA_KEY = "0123456789abcdef" * 2


@pytest.fixture(scope="session", autouse=True)
def _session_data_key() -> None:
    from phip.store import protect

    protect.configure(TEST_DATA_KEY)


@pytest.fixture(autouse=True)
def _data_key() -> Iterator[None]:
    from phip.store import protect

    protect.configure(TEST_DATA_KEY)
    yield
    protect.configure(TEST_DATA_KEY)


@pytest.fixture(scope="session")
def lake_store(small_province: Path, tmp_path_factory: pytest.TempPathFactory) -> LakeStore:
    import time

    from sqlalchemy.orm import Session

    from phip.analytics import results
    from phip.analytics.compute import compute
    from phip.analytics.facts import publish_facts
    from phip.exchange.ingest import ingest
    from phip.identity.store_link import link_store
    from phip.lake.service import refresh_from_store
    from phip.orgunits import OrgUnitService
    from phip.standards.divisions import get_divisions
    from phip.store import get_engine, init_db, protect

    protect.configure(LakeStore.data_key)
    var = tmp_path_factory.mktemp("lake-store")
    url = f"sqlite:///{(var / 'phip.db').as_posix()}"
    engine = get_engine(url)
    init_db(engine)
    lake = var / "lake"
    with Session(engine) as s:
        OrgUnitService(s).load_registry(small_province / "registry", get_divisions("620000"))
        s.commit()
        ingest(s, small_province / "submissions", None, workers=2)
        link_store(s, var)
        s.commit()
        refresh_from_store(s, lake)
    publish_facts(lake)
    started = time.perf_counter()
    table = compute(lake)
    results.save(lake, table, "duckdb", time.perf_counter() - started)
    return LakeStore(small_province, url, var, lake)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (run as user postgres when we are root)."""
    from phip.store import pgtemp

    if not pgtemp.available():
        if IN_CI:
            pytest.fail("PostgreSQL is not installed (scripts/ensure-system-deps.sh installs it)")
        pytest.skip("PostgreSQL binaries not installed")
    with pgtemp.cluster("phip_test") as url:
        yield url


@pytest.fixture(scope="session")
def new_pg_database(postgres_url: str):  # type: ignore[no-untyped-def]
    """A factory of fresh, empty PostgreSQL databases on the session cluster."""
    import itertools

    import psycopg

    base = postgres_url.rsplit("/", 1)[0]
    counter = itertools.count()

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{next(counter)}"
        dsn = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"{base}/{name}"

    return make


def database_url(request: pytest.FixtureRequest, folder: Path, name: str) -> str:
    """A fresh database for a fixture parametrised by engine: a SQLite file in `folder`, or a new
    database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{folder / f'{name}.db'}"
    url: str = request.getfixturevalue("new_pg_database")(name)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite (a WAL file) and on PostgreSQL (a fresh schema per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'phip.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of a parallel run (pytest-xdist) hands its conformance counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        from tests.lake.test_sof_conformance import PASS_COUNTS

        output["sof_pass_counts"] = dict(PASS_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller of a parallel run gathers the workers' conformance counts."""
    from tests.lake.test_sof_conformance import PASS_COUNTS

    PASS_COUNTS.update(getattr(node, "workeroutput", {}).get("sof_pass_counts", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """SQL-on-FHIR conformance pass counts per engine, when the suite ran."""
    from tests.lake.test_sof_conformance import PASS_COUNTS

    for engine, count in sorted(PASS_COUNTS.items()):
        terminalreporter.write_line(f"SQL-on-FHIR v2 conformance on {engine}: {count} passed")
