"""A copy of the session's ingested, linked province with its lake, for the quality tests to run
rounds on and resubmit records to without changing what other tests see."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LakeStore


@dataclass
class QualityStore:
    province: Path
    db_url: str
    var_dir: Path
    lake: Path


def copy_store(lake_store: LakeStore, target: Path) -> QualityStore:
    from sqlalchemy import text

    from phip.store import get_engine

    with get_engine(lake_store.db_url).connect() as conn:  # everything into the main file
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    shutil.copy2(lake_store.var_dir / "phip.db", target / "phip.db")
    shutil.copytree(lake_store.lake, target / "lake", ignore=shutil.ignore_patterns("_tmp", "*.lock"))
    url = f"sqlite:///{(target / 'phip.db').as_posix()}"
    return QualityStore(lake_store.province, url, target, target / "lake")


@pytest.fixture(scope="module")
def quality_store(lake_store: LakeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualityStore]:
    store = copy_store(lake_store, tmp_path_factory.mktemp("quality"))
    yield store
    drop_copy(store)


def drop_copy(store: QualityStore) -> None:
    """Remove a module's copy of the session's store once the module is done with it: each copy
    is hundreds of megabytes, and the suite makes several."""
    from phip.store.db import _engines

    engine = _engines.pop(store.db_url, None)
    if engine is not None:
        engine.dispose()  # its pooled connections would keep the deleted file's space
    shutil.rmtree(store.var_dir, ignore_errors=True)
