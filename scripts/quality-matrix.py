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
the table to WORKDIR/matrix.json. With `--explain`, every defect still missed and every false
finding is put down to its cause (`causes` in the table): refused at the door and not checked
for its other defects; for the rules comparing a resident's records, the person index's cluster
differing from the true person (`linkage`), no other record of the resident to compare with
(`alone`), two values with equal support and nothing else to tell them apart (`tie`), or the
wrong value given by more records than the right one (`outvoted`).
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


#: defect kinds found by comparing a resident's records, and the lake column compared
COMPARED = {
    "homophone": "name_token",
    "dropped_char": "name_token",
    "pinyin_name": "name_token",
    "phone_changed": "phone_token",
    "birth_day_month_swap": "birth_date",
}


def explain(folder: Path) -> dict[str, int]:
    """Counts of `miss|false:kind:cause` for one evaluated province (see the module's docstring)."""
    import csv
    from collections import Counter, defaultdict

    from phip.lake.reader import open_duckdb
    from phip.quality.catalogue import catalogue
    from phip.quality.evaluate import read_truth, refused_records
    from phip.quality.run import run_rules

    lake, truth_dir = folder / "lake", folder / "synth" / "truth"
    truth, refused = read_truth(truth_dir), refused_records(lake)
    with open(truth_dir / "persons.csv", newline="", encoding="utf-8") as f:
        true_person = {r["record"]: r["person_id"] for r in csv.DictReader(f)}
    declared = {r.id: set(r.detects) for r in catalogue().rules}
    flagged: dict[str, set[str]] = defaultdict(set)
    run = run_rules(lake)
    for rule, res in zip(
        run.findings.column("rule_id").to_pylist(), run.findings.column("resource").to_pylist(), strict=True
    ):
        flagged[res] |= declared.get(rule, set())
    con, _ = open_duckdb(lake)
    linked = dict(con.sql("SELECT patient_key, person_id FROM patient_person").fetchall())
    linked |= dict(con.sql("SELECT _rid, person_id FROM refused_person").fetchall())
    cols = "name_token, phone_token, birth_date"
    facts = {
        r[0]: r[1:] for r in con.sql(f"SELECT _rid, {cols}, source_facility, seq FROM patient").fetchall()
    }
    con.close()
    members: dict[str, list[str]] = defaultdict(list)
    for rec, person in linked.items():
        if rec in facts:
            members[person].append(rec)

    def vote(rec: str, column: str) -> str:
        person = linked.get(rec)
        if person is None:
            return "refused" if rec in refused else "unlinked"
        group = members[person]
        if any(true_person.get(r) != true_person.get(rec) for r in group) or any(
            linked.get(r) != person
            for r, p in true_person.items()
            if p == true_person.get(rec) and r in facts
        ):
            return "linkage"
        i = ("name_token", "phone_token", "birth_date").index(column)
        seen, votes = set(), Counter()
        for r in sorted(group, key=lambda r: facts[r][4]):
            if facts[r][3] not in seen and facts[r][i] is not None:
                seen.add(facts[r][3])
                votes[facts[r][i]] += 1
        if len(votes) < 2:
            return "alone"
        (_, first), (_, second) = votes.most_common(2)
        return "tie" if first == second else "outvoted"

    causes: Counter[str] = Counter()
    for rec, kinds in truth.items():
        for kind in kinds - flagged.get(rec, set()):
            if kind in COMPARED:
                cause = vote(rec, COMPARED[kind])
            else:
                cause = "refused" if rec in refused else "other"
            causes[f"miss:{kind}:{cause}"] += 1
    for rec, kinds in flagged.items():
        if kinds and not truth.get(rec, set()) & kinds:
            kind = min(kinds & set(COMPARED) or kinds)
            cause = vote(rec, COMPARED[kind]) if kind in COMPARED else "other"
            causes[f"false:{kind}:{cause}"] += 1
    return dict(sorted(causes.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="working folder for the provinces")
    ap.add_argument("--seeds", default="11,23,101,2024,31337")
    ap.add_argument("--scales", default="0.0001,0.0002,0.0005")
    ap.add_argument("--from", dest="start", choices=STAGES, default="synth", help="first stage to redo")
    ap.add_argument(
        "--explain", action="store_true", help="put every miss and false finding down to its cause"
    )
    args = ap.parse_args()
    rows = []
    for scale in [float(x) for x in args.scales.split(",")]:
        for seed in [int(x) for x in args.seeds.split(",")]:
            row = run_province(args.root, seed, scale, args.start)
            if args.explain:
                row["causes"] = explain(args.root / f"s{seed}-x{scale}")
            rows.append(row)
            _say(
                f"seed {seed:>6} scale {scale:<7} injected {row['injected']:>6} "
                f"recall {row['recall']:.4f} (checkable {row['recall_checkable']:.4f}) "
                f"precision {row['precision']:.4f}  {json.dumps(row['seconds'])}"
            )
            for kind, v in row["below_0.99"].items():
                _say(f"    {kind}: {json.dumps(v)}")
            for cause, n in row.get("causes", {}).items():
                _say(f"    {cause}: {n}")
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
