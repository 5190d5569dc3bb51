"""The lake's public entry points: refresh from the store, or build from a folder of NDJSON
submissions (dimensions from the operational database in both cases)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from sqlalchemy.orm import Session

from phip.lake.build import ChangeSource, Progress, RefreshReport, refresh
from phip.lake.dims import SCHEMAS, dimension
from phip.lake.manifest import read_manifest
from phip.lake.source import NdjsonFolder, StoreChanges, latest_change
from phip.lake.tables import fact_tables


def resource_types() -> list[str]:
    return sorted({t.resource_type for t in fact_tables().values()})


def refresh_from_store(
    session: Session, lake: Path, progress: Progress | None = None, full: bool = False
) -> RefreshReport:
    """Bring the lake up to date with the store: changes since the last refresh, or everything
    with `full` (or when the lake is new or a table's definition changed)."""
    upto = latest_change(session)
    types = resource_types()
    current = read_manifest(lake)
    if current is not None and upto < current.change_seq:
        full = True  # the store is not the one the lake was built from (restored or replaced)

    def changes_since(seq: int) -> tuple[ChangeSource, int]:
        return StoreChanges(session, types, seq, upto), upto

    dims = {name: dimension(session, name) for name in SCHEMAS}
    return refresh(lake, changes_since, dims, progress, full)


def build_from_folder(
    session: Session,
    folder: Path,
    lake: Path,
    progress: Progress | None = None,
    dimensions: dict[str, pa.Table] | None = None,
) -> RefreshReport:
    """Build the lake whole from `folder/*/<Type>.ndjson` (no store involved); `dimensions`
    replace tables otherwise read from the database (a benchmark gives the true persons)."""
    types = resource_types()

    def changes_since(_seq: int) -> tuple[ChangeSource, int]:
        return NdjsonFolder(folder, types), 0

    given = dimensions or {}
    dims = {name: given[name] if name in given else dimension(session, name) for name in SCHEMAS}
    return refresh(lake, changes_since, dims, progress, full=True)
