"""Writes a synthetic province to disk: NDJSON per facility and resource type, the registry, the
ground truth and the manifest. Buffered (bounded memory), resumable from its last checkpoint."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

STATE_FILE = ".synth-state.json"
TRUTH_FILES = {
    "persons.csv": ["record", "facility", "person_id"],
    "people.csv": [
        "person_id",
        "name",
        "sex",
        "birth_date",
        "id_number",
        "phone",
        "village",
        "household",
        "relation",
        "ethnicity",
        "deceased",
        "poverty",
        "hypertension",
        "diabetes",
        "twin_of",
        "mother_id",
    ],
    "defects.csv": ["resource", "kind", "detail"],
    "hard_negatives.csv": ["person_a", "person_b", "kind"],
}


class ProvinceWriter:
    def __init__(self, out: Path, flush_bytes: int = 32 << 20, compress: bool = False):
        self.out = out
        # gzip: every flush appends one member per file (a checkpoint truncates between members);
        # larger flushes give larger members, which compress better
        self.compress = compress
        self.suffix = ".ndjson.gz" if compress else ".ndjson"
        self.flush_bytes = flush_bytes * 8 if compress else flush_bytes
        self.buffers: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        self.buffered = 0
        self.truth: dict[str, list[list[Any]]] = {name: [] for name in TRUTH_FILES}
        self.by_facility: dict[str, Counter[str]] = defaultdict(Counter)
        self.batches: Counter[tuple[str, str]] = Counter()
        self.residents = 0
        self.households = 0
        self.done = -1  # index of the last task whose output is on disk

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        (self.out / "submissions").mkdir(parents=True, exist_ok=True)
        (self.out / "truth").mkdir(parents=True, exist_ok=True)
        state_path = self.out / STATE_FILE
        if resume and state_path.exists():
            state = json.loads(state_path.read_text())
            if bool(state.get("compress", False)) != self.compress:
                raise ValueError("resume with the same compression the run started with (--gzip)")
            self._restore(state)
            return
        for name, header in TRUTH_FILES.items():
            with open(self.out / "truth" / name, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(header)

    def _restore(self, state: dict[str, Any]) -> None:
        sizes: dict[str, int] = state["sizes"]
        for root, _dirs, files in os.walk(self.out / "submissions"):
            for fn in files:
                path = Path(root) / fn
                rel = path.relative_to(self.out).as_posix()
                if rel not in sizes:
                    path.unlink()
        for rel, size in sizes.items():
            path = self.out / rel
            if path.exists():
                with open(path, "r+b") as f:
                    f.truncate(size)
        self.done = state["done"]
        self.residents = state["residents"]
        self.households = state["households"]
        self.by_facility = defaultdict(Counter, {k: Counter(v) for k, v in state["by_facility"].items()})
        self.batches = Counter({tuple(k.split("|")): v for k, v in state["batches"].items()})

    def checkpoint(self, done: int) -> None:
        """Flush everything and record that tasks up to `done` are complete."""
        self.flush()
        self.done = done
        sizes = {}
        for fac, types in self.by_facility.items():
            for rtype in types:
                rel = f"submissions/{fac}/{rtype}{self.suffix}"
                sizes[rel] = (self.out / rel).stat().st_size
        for name in TRUTH_FILES:
            sizes[f"truth/{name}"] = (self.out / "truth" / name).stat().st_size
        state = {
            "done": done,
            "compress": self.compress,
            "sizes": sizes,
            "residents": self.residents,
            "households": self.households,
            "by_facility": {k: dict(v) for k, v in self.by_facility.items()},
            "batches": {f"{k[0]}|{k[1]}": v for k, v in self.batches.items()},
        }
        tmp = self.out / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.out / STATE_FILE)

    # ---- adding ------------------------------------------------------------------------------------
    def add(self, lines: list[tuple[str, str, str, bytes]]) -> None:
        """(facility, resource type, batch month, NDJSON line)."""
        for fac, rtype, month, line in lines:
            self.buffers[(fac, rtype)].append(line)
            self.buffered += len(line)
            self.by_facility[fac][rtype] += 1
            self.batches[(fac, month)] += 1
        if self.buffered >= self.flush_bytes:
            self.flush()

    def add_truth(self, name: str, rows: list[list[Any]]) -> None:
        self.truth[name].extend(rows)

    def flush(self) -> None:
        for (fac, rtype), lines in sorted(self.buffers.items()):
            folder = self.out / "submissions" / fac
            folder.mkdir(exist_ok=True)
            data = b"".join(lines)
            with open(folder / f"{rtype}{self.suffix}", "ab") as f:
                f.write(gzip.compress(data, compresslevel=1, mtime=0) if self.compress else data)
        self.buffers.clear()
        self.buffered = 0
        for name, rows in self.truth.items():
            if rows:
                with open(self.out / "truth" / name, "a", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(rows)
                rows.clear()

    def finish(self, manifest: dict[str, Any]) -> None:
        self.flush()
        tmp = self.out / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False), encoding="utf-8")
        tmp.replace(self.out / "manifest.json")
        (self.out / STATE_FILE).unlink(missing_ok=True)
