#!/usr/bin/env python3
"""Recall and precision of the quality rules over a matrix of synthetic provinces (seeds ×
scales), each run through the whole pipeline with the `phip` commands, one province at a time:

    synth → orgunits load → ingest → empi link-store → lake refresh → quality run → quality evaluate

    .venv/bin/python scripts/quality-matrix.py --root WORKDIR --seeds 11,23,101,2024,31337 \
        --scales 0.0001,0.0002,0.0005

Each province lives in WORKDIR/s<seed>-x<scale>/ with its own database, lake and var folder.
The store after ingest is kept (`ingested.db`) with a digest of the submissions it was made
from: a later run generates the province again and ingests it again only when its submissions
changed; `--from link` only relinks, rebuilds the lake and evaluates (what a change to the person
index or the rules needs), `--from rules` only re-evaluates the rules over the lake as it is,
`--from truth` generates the province again for its truth and, its submissions unchanged,
re-evaluates the rules (a change to the truth the generator writes).
Prints a table, and writes every province's report to WORKDIR/<province>/evaluate.json and
the table to WORKDIR/matrix.json.
Nothing personal is printed: counts and ratios only."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STAGES = ("synth", "truth", "ingest", "link", "rules")


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PHIP_DATABASE_URL=f"sqlite:///{(folder / 'phip.db').as_posix()}",
        PHIP_LAKE_DIR=str(folder / "lake"),
        PHIP_VAR_DIR=str(folder / "var"),
        PHIP_DEMO="true",
    )
    for key in ("PHIP_SECRET_KEY", "PHIP_DATA_KEY"):  # the demo generates its own per province
        env.pop(key, None)
    return env


def _phip(folder: Path, *args: str) -> str:
    exe = Path(sys.executable).with_name("phip")
    done = subprocess.run([str(exe), *args], env=_env(folder), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise SystemExit(f"phip {' '.join(args[:2])} failed in {folder.name}: " + " | ".join(tail))
    return done.stdout


def _last_json(text: str) -> dict[str, Any]:
    """The last top-level JSON object a command printed."""
    end = text.rstrip().rfind("}")
    depth = 0
    for i in range(end, -1, -1):
        if text[i] == "}":
            depth += 1
        elif text[i] == "{":
            depth -= 1
            if depth == 0:
                return json.loads(text[i : end + 1])
    raise ValueError("no JSON object in the output")


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        target = dst.with_name(dst.name + suffix)
        if target.exists():
            target.unlink()
        source = src.with_name(src.name + suffix)
        if source.exists():
            shutil.copy2(source, target)


def _digest(folder: Path) -> str:
    """A digest of every file under `folder` (names and contents)."""
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(folder)).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def run_province(root: Path, seed: int, scale: float, start: str) -> dict[str, Any]:
    folder = root / f"s{seed}-x{scale}"
    folder.mkdir(parents=True, exist_ok=True)
    synth = folder / "synth"
    timings: dict[str, float] = {}
    begin = STAGES.index(start)
    if begin <= STAGES.index("truth") or not (synth / "truth" / "defects.csv").exists():
        t = time.perf_counter()
        _phip(folder, "synth", "--scale", str(scale), "--seed", str(seed), "--out", str(synth), "--force")
        timings["synth"] = time.perf_counter() - t
        stamp = folder / "ingested.digest"
        same = stamp.exists() and stamp.read_text() == _digest(synth / "submissions")
        if not same:
            begin = STAGES.index("ingest")
        elif begin == STAGES.index("truth") and (folder / "lake" / "manifest.json").exists():
            begin = STAGES.index("rules")
        else:
            begin = STAGES.index("link")
    if begin <= STAGES.index("ingest") or not (folder / "ingested.db").exists():
        t = time.perf_counter()
        for name in ("phip.db", "phip.db-wal", "phip.db-shm"):
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / "lake", ignore_errors=True)
        shutil.rmtree(folder / "var", ignore_errors=True)
        _phip(folder, "orgunits", "load", str(synth / "registry"))
        _phip(folder, "ingest", str(synth / "submissions"))
        _copy_db(folder / "phip.db", folder / "ingested.db")
        shutil.copytree(folder / "var", folder / "ingested-var", dirs_exist_ok=True)
        (folder / "ingested.digest").write_text(_digest(synth / "submissions"))
        timings["ingest"] = time.perf_counter() - t
        begin = min(begin, STAGES.index("link"))
    if begin <= STAGES.index("link"):
        t = time.perf_counter()
        _copy_db(folder / "ingested.db", folder / "phip.db")
        shutil.rmtree(folder / "var", ignore_errors=True)
        shutil.copytree(folder / "ingested-var", folder / "var")
        shutil.rmtree(folder / "lake", ignore_errors=True)
        _phip(folder, "empi", "link-store")
        _phip(folder, "lake", "refresh")
        _phip(folder, "quality", "run")
        timings["link"] = time.perf_counter() - t
    t = time.perf_counter()
    report = _last_json(_phip(folder, "quality", "evaluate", "--truth", str(synth / "truth")))
    timings["evaluate"] = time.perf_counter() - t
    (folder / "evaluate.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    low = {
        k: {"recall": v["recall"], "precision": v["precision"], "injected": v["injected"]}
        for k, v in report["kinds"].items()
        if v["injected"] and ((v["recall"] or 0) < 0.99 or (v["precision"] or 0) < 0.99)
    }
    o = report["overall"]
    return {
        "seed": seed,
        "scale": scale,
        "injected": o["injected"],
        "recall": o["recall"],
        "recall_checkable": o["recall_checkable"],
        "flagged": o["flagged"],
        "precision": o["precision"],
        "below_0.99": low,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="working folder for the provinces")
    ap.add_argument("--seeds", default="11,23,101,2024,31337")
    ap.add_argument("--scales", default="0.0001,0.0002,0.0005")
    ap.add_argument("--from", dest="start", choices=STAGES, default="synth", help="first stage to redo")
    args = ap.parse_args()
    rows = []
    for scale in [float(x) for x in args.scales.split(",")]:
        for seed in [int(x) for x in args.seeds.split(",")]:
            row = run_province(args.root, seed, scale, args.start)
            rows.append(row)
            _say(
                f"seed {seed:>6} scale {scale:<7} injected {row['injected']:>6} "
                f"recall {row['recall']:.4f} (checkable {row['recall_checkable']:.4f}) "
                f"precision {row['precision']:.4f}  {json.dumps(row['seconds'])}"
            )
            for kind, v in row["below_0.99"].items():
                _say(f"    {kind}: {json.dumps(v)}")
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / "matrix.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    _say()
    _say("| seed | scale | injected | recall | recall (checkable) | precision |")
    _say("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        _say(
            f"| {r['seed']} | {r['scale']} | {r['injected']} | {r['recall']:.4f} | "
            f"{r['recall_checkable']:.4f} | {r['precision']:.4f} |"
        )
    worst_r = min(r["recall"] for r in rows)
    worst_p = min(r["precision"] for r in rows)
    _say(f"\nlowest recall {worst_r:.4f}, lowest precision {worst_p:.4f} over {len(rows)} provinces")


if __name__ == "__main__":
    main()
