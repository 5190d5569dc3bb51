"""The lake's manifest: which Parquet files make up each table right now.

A refresh writes new files next to the old ones and then replaces `manifest.json` in one
`os.replace`: a reader that opened the manifest keeps a consistent set of files, and never sees a
half-written refresh. Earlier manifests are kept under `_manifests/` and files no manifest of the
last `KEEP` versions names are deleted (readers of an older version have long finished).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEEP = 3  # manifest versions whose files are kept


class LakeError(RuntimeError):
    """The lake is missing, locked or inconsistent."""


@dataclass
class TableFiles:
    """One table: its columns (name, SQL type), its files (relative to the lake) with the
    partition (county, month) and row count of each, and the hash of its definition."""

    columns: list[list[str]]
    files: list[dict[str, Any]] = field(default_factory=list)
    definition: str = ""
    partitioned: bool = True

    @property
    def rows(self) -> int:
        return sum(int(f["rows"]) for f in self.files)


@dataclass
class Manifest:
    version: int = 0
    change_seq: int = 0
    built_at: str = ""
    tables: dict[str, TableFiles] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "change_seq": self.change_seq,
            "built_at": self.built_at,
            "stats": self.stats,
            "tables": {
                name: {
                    "columns": t.columns,
                    "definition": t.definition,
                    "partitioned": t.partitioned,
                    "rows": t.rows,
                    "files": t.files,
                }
                for name, t in sorted(self.tables.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        tables = {
            name: TableFiles(
                t["columns"], list(t["files"]), t.get("definition", ""), t.get("partitioned", True)
            )
            for name, t in data.get("tables", {}).items()
        }
        return cls(
            int(data["version"]),
            int(data["change_seq"]),
            data.get("built_at", ""),
            tables,
            data.get("stats", {}),
        )


def manifest_path(lake: Path) -> Path:
    return lake / "manifest.json"


def read_manifest(lake: Path) -> Manifest | None:
    """The current manifest, or None when no lake was built there."""
    path = manifest_path(lake)
    if not path.exists():
        return None
    return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))


def require_manifest(lake: Path) -> Manifest:
    found = read_manifest(lake)
    if found is None:
        raise LakeError(f"no lake at {lake}: run `phip lake refresh` first")
    return found


def publish(lake: Path, manifest: Manifest) -> None:
    """Make `manifest` current in one atomic rename, keep a copy, and delete unreferenced files."""
    history = lake / "_manifests"
    history.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest.to_json(), ensure_ascii=False, indent=1)
    (history / f"v{manifest.version:08d}.json").write_text(text, encoding="utf-8")
    tmp = lake / f".manifest.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, manifest_path(lake))
    _vacuum(lake, history)


def _vacuum(lake: Path, history: Path) -> None:
    versions = sorted(history.glob("v*.json"))
    for old in versions[:-KEEP]:
        old.unlink()
    keep: set[str] = set()
    for path in versions[-KEEP:]:
        data = json.loads(path.read_text(encoding="utf-8"))
        for t in data["tables"].values():
            keep.update(f["path"] for f in t["files"])
    tables = lake / "tables"
    if not tables.is_dir():
        return
    for f in tables.rglob("*.parquet"):
        if f.relative_to(lake).as_posix() not in keep:
            f.unlink()
    for folder in sorted((p for p in tables.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()


@contextmanager
def locked(lake: Path) -> Iterator[None]:
    """One refresh at a time (a second one fails fast rather than queueing)."""
    lake.mkdir(parents=True, exist_ok=True)
    with open(lake / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LakeError(f"another refresh of {lake} is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
