"""Resuming an interrupted full build of the lake. While every table is being built from the
whole source (a new lake, `--full`, a build from a folder), the rows built so far are written
every few minutes as segment files under `<lake>/_build/`, with the source's position after the
last batch they hold. A build started again over the same source, up to the same change and with
the same table definitions, reads on from that position; the segments join the final write."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FOLDER = "_build"
STATE = "state.json"


@dataclass
class BuildState:
    key: str  # the source, the change it reaches and the table definitions
    cursor: dict[str, Any] | None = None  # the source's position after the last saved batch
    seen: int = 0  # resources read up to the cursor (progress)
    total: int = 0  # resources in the source (progress)
    changed: dict[str, int] = field(default_factory=dict)  # resources per table so far
    segments: dict[str, list[str]] = field(default_factory=dict)  # table → files (relative to the lake)
    saves: int = 0


def build_key(source: str, upto: int, definitions: dict[str, str]) -> str:
    text = json.dumps([source, upto, sorted(definitions.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load(lake: Path, key: str) -> BuildState | None:
    """The saved state of an interrupted build of `key`; None (and any other build's segments
    removed) when there is none."""
    path = lake / FOLDER / STATE
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("key") == key:
                return BuildState(**data)
        except (ValueError, TypeError):
            pass
    clear(lake)
    return None


def segment(lake: Path, table: str, n: int) -> Path:
    path = lake / FOLDER / table / f"seg_{n:05d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save(lake: Path, state: BuildState) -> None:
    folder = lake / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (STATE + ".tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    tmp.replace(folder / STATE)


def clear(lake: Path) -> None:
    shutil.rmtree(lake / FOLDER, ignore_errors=True)
