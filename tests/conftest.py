"""Shared fixtures: a small synthetic province, and databases on real engines (SQLite, and a
throwaway PostgreSQL cluster started for the session)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("PHIP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (run as user postgres when we are root)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        if IN_CI:
            pytest.fail("PostgreSQL is not installed (scripts/ensure-system-deps.sh installs it)")
        pytest.skip("PostgreSQL binaries not installed")
    bindir = Path(bins[-1])
    base = Path(tempfile.mkdtemp(prefix="phip-pg-"))
    os.chmod(base, 0o755)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    log = base / "server.log"
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "phip",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg

        for _ in range(50):
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=phip dbname=postgres", autocommit=True
                ) as c:
                    c.execute("CREATE DATABASE phip_test")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        yield f"postgresql+psycopg://phip@127.0.0.1:{port}/phip_test"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


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
