"""Where the lake's resources come from: the store's changes in a change-sequence window (the
normal path), or a folder of NDJSON submissions (building a lake for a province that is not in a
store, e.g. for benchmarks at a scale the store would take hours to ingest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.exchange import ndjson
from phip.store.models import Resource


@dataclass(frozen=True)
class Change:
    res_type: str
    res_id: str
    facility: str | None
    deleted: bool
    content: bytes
    seq: int = 0  # its change sequence (0 when the source has none)


class StoreChanges:
    """Current versions of resources of `types` whose change sequence is in (since, upto], in
    change order. Other types come along and are skipped by the build: with the type in the WHERE
    clause SQLite walks the type index and sorts instead of following the change-sequence index."""

    def __init__(self, session: Session, types: list[str], since: int, upto: int, batch: int = 5000):
        self.session, self.types, self.since, self.upto, self.batch = session, types, since, upto, batch

    def count(self) -> int:
        q = select(func.count()).where(Resource.change_seq > self.since, Resource.change_seq <= self.upto)
        return int(self.session.scalar(q) or 0)

    def __iter__(self) -> Iterator[list[Change]]:
        cursor = self.since
        cols = (
            Resource.change_seq,
            Resource.res_type,
            Resource.res_id,
            Resource.facility,
            Resource.deleted,
            Resource.content,
        )
        while True:
            q = (
                select(*cols)
                .where(Resource.change_seq > cursor, Resource.change_seq <= self.upto)
                .order_by(Resource.change_seq)
                .limit(self.batch)
            )
            rows = self.session.execute(q).all()
            if not rows:
                return
            cursor = rows[-1][0]
            # every row is yielded (progress counts them); the build skips types it has no table for
            yield [Change(t, i, f, bool(d), bytes(c), s) for s, t, i, f, d, c in rows]


def latest_change(session: Session) -> int:
    return int(session.scalar(select(func.max(Resource.change_seq))) or 0)


_SOURCE_PREFIX = "urn:phip:submission:"


def facility_of(res: dict[str, object]) -> str | None:
    meta = res.get("meta")
    source = meta.get("source") if isinstance(meta, dict) else None
    if isinstance(source, str) and source.startswith(_SOURCE_PREFIX):
        return source[len(_SOURCE_PREFIX) :].rsplit(":", 1)[0]
    return None


class NdjsonFolder:
    """Every resource of `types` in `<folder>/*/<Type>.ndjson[.gz]` (a synthetic province's
    submissions); the facility is the one named in `meta.source` (read by the build)."""

    def __init__(self, folder: Path, types: list[str], batch: int = 5000):
        self.folder, self.types, self.batch = folder, types, batch

    def _files(self) -> list[Path]:
        return sorted(p for t in self.types for p in ndjson.type_files(self.folder, t))

    def count(self) -> int:
        return sum(ndjson.count_lines(p) for p in self._files())

    def __iter__(self) -> Iterator[list[Change]]:
        out: list[Change] = []
        seq = 0  # the order of submission: files in name order, lines in file order
        for path in self._files():
            res_type = ndjson.resource_type_of(path)
            for line in ndjson.lines(path):
                # parsed later, in the build's workers: the id and facility are read there
                seq += 1
                out.append(Change(res_type, "", None, False, line, seq))
                if len(out) >= self.batch:
                    yield out
                    out = []
        if out:
            yield out
