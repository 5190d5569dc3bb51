"""Where the lake's resources come from: the store's changes in a change-sequence window (the
normal path), or a folder of NDJSON submissions (building a lake for a province that is not in a
store, e.g. for benchmarks at a scale the store would take hours to ingest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.fhir import ndjson
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

    def describe(self) -> str:
        """What this source is (a resumed build must read the same one)."""
        url = self.session.get_bind().engine.url.render_as_string(hide_password=True)
        return f"store {url} ({self.since}, {self.upto}]"

    def __iter__(self) -> Iterator[list[Change]]:
        return (batch for batch, _ in self.positioned(None))

    def positioned(self, cursor: dict[str, Any] | None) -> Iterator[tuple[list[Change], dict[str, Any]]]:
        """Batches, each with the position after it; from `cursor` (a position given before) on."""
        last = int(cursor["seq"]) if cursor else self.since
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
                .where(Resource.change_seq > last, Resource.change_seq <= self.upto)
                .order_by(Resource.change_seq)
                .limit(self.batch)
            )
            rows = self.session.execute(q).all()
            if not rows:
                return
            last = rows[-1][0]
            # every row is yielded (progress counts them); the build skips types it has no table for
            yield [Change(t, i, f, bool(d), bytes(c), s) for s, t, i, f, d, c in rows], {"seq": last}


def latest_change(session: Session) -> int:
    return int(session.scalar(select(func.max(Resource.change_seq))) or 0)


class NdjsonFolder:
    """Every resource of `types` in `<folder>/*/<Type>.ndjson[.gz]` (a synthetic province's
    submissions); the facility is the one whose folder holds the file, never the payload's
    `meta.source`."""

    def __init__(self, folder: Path, types: list[str], batch: int = 5000):
        self.folder, self.types, self.batch = folder, types, batch

    def _files(self) -> list[Path]:
        return sorted(p for t in self.types for p in ndjson.type_files(self.folder, t))

    def count(self) -> int:
        return sum(ndjson.count_lines(p) for p in self._files())

    def describe(self) -> str:
        return f"folder {self.folder.resolve()} {','.join(sorted(self.types))}"

    def __iter__(self) -> Iterator[list[Change]]:
        return (batch for batch, _ in self.positioned(None))

    def positioned(self, cursor: dict[str, Any] | None) -> Iterator[tuple[list[Change], dict[str, Any]]]:
        """Batches, each with the position after it (file, lines read in it, sequence); from
        `cursor` on. The sequence is the order of submission: files in name order, lines in file
        order."""
        files = self._files()
        first, skip, seq = (cursor["file"], cursor["line"], cursor["seq"]) if cursor else (0, 0, 0)
        out: list[Change] = []
        for index in range(first, len(files)):
            path = files[index]
            res_type = ndjson.resource_type_of(path)
            line_no = 0
            for line in ndjson.lines(path):
                line_no += 1
                if index == first and line_no <= skip:
                    continue
                # parsed later, in the build's workers: the id is read there
                seq += 1
                out.append(Change(res_type, "", path.parent.name, False, line, seq))
                if len(out) >= self.batch:
                    yield out, {"file": index, "line": line_no, "seq": seq}
                    out = []
            if out and index == len(files) - 1:
                yield out, {"file": index, "line": line_no, "seq": seq}
