"""Runs a synthetic province: plans the chunks, generates them (in parallel when asked), writes
the output, checkpoints for resume and writes the manifest."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from phip import __version__
from phip.orgunits import geo
from phip.standards.agegroups import age_group, age_on
from phip.store.workers import pool as workers_pool
from phip.synth.activity import ChunkResult, generate_chunk
from phip.synth.config import SynthConfig
from phip.synth.context import ProvinceContext
from phip.synth.demography import township_populations
from phip.synth.fhir_common import Json
from phip.synth.fhir_registry import locations, organization, schedules, staff
from phip.synth.writer import STATE_FILE, ProvinceWriter

Task = tuple[int, str, int, int]  # (index, township or "registry", part, residents)
Progress = Callable[[int, int], None]  # (residents done, resources written)

_CTX: ProvinceContext | None = None


def plan_tasks(ctx: ProvinceContext) -> list[Task]:
    total = round(_census_total(ctx) * ctx.cfg.scale)
    pops = township_populations(ctx.divisions, total, boost=_facility_boost(ctx))
    tasks: list[Task] = [(0, "registry", 0, 0)]
    for township in sorted(pops):
        n = pops[township]
        if n <= 0:
            continue
        parts = max(1, math.ceil(n / ctx.cfg.chunk_size))
        for part in range(parts):
            share = n // parts + (1 if part < n % parts else 0)
            tasks.append((len(tasks), township, part, share))
    return tasks


def _facility_boost(ctx: ProvinceContext) -> dict[str, float]:
    """In a small province, people live mostly where its few facilities are."""
    boost: dict[str, float] = {}
    for f in ctx.plan.facilities:
        if len(f.org_unit_code) >= 9:
            boost[f.org_unit_code[:9]] = 50.0
        else:
            for t in ctx.divisions.children(f.county_code):
                boost[t.code] = max(boost.get(t.code, 1.0), 10.0)
    return boost


def _census_total(ctx: ProvinceContext) -> int:
    from phip.standards.statistics import census

    return census(ctx.cfg.province).total


def _init_worker(cfg: SynthConfig) -> None:
    global _CTX
    _CTX = ProvinceContext.build(cfg)


def _lines(resources: list[tuple[str, Json]]) -> list[tuple[str, str, str, bytes]]:
    out = []
    for fac, res in resources:
        month = res["meta"]["source"][-7:]
        out.append((fac, res["resourceType"], month, orjson.dumps(res) + b"\n"))
    return out


def _registry(ctx: ProvinceContext) -> ChunkResult:
    result = ChunkResult("registry", 0)
    for f in ctx.plan.facilities:
        if not (f.connected and f.connected_since):
            continue
        when = max(f.connected_since, ctx.cfg.period_start)
        silent = ctx.timing.silent_from(f.code)
        if when > ctx.cfg.period_end or (silent is not None and when >= silent):
            continue
        at, _late = ctx.timing.submitted_at(f.code, when.year, when.month)
        meta = {
            "lastUpdated": at.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "source": f"urn:phip:submission:{f.code}:{when:%Y-%m}",
        }
        for res in [organization(f, ctx.divisions), *locations(f), *staff(f), *schedules(f)]:
            res["meta"] = dict(meta)
            result.resources.append((f.code, res))
    return result


def _run(
    task: Task,
) -> tuple[int, list[tuple[str, str, str, bytes]], dict[str, list[list[Any]]], tuple[int, int], int]:
    assert _CTX is not None
    index, township, part, n = task
    result = _registry(_CTX) if township == "registry" else generate_chunk(_CTX, township, part, n)
    truth = {
        "persons.csv": [list(r) for r in result.records],
        "people.csv": result.people,
        "defects.csv": [list(r) for r in result.defects],
        "hard_negatives.csv": [list(r) for r in result.hard_negatives],
    }
    households = len({row[7] for row in result.people})
    # the residents written: the census's and those born in the period (the progress counts the
    # census's, which the plan knew)
    return index, _lines(result.resources), truth, (n, len(result.people)), households


def _results(cfg: SynthConfig, tasks: list[Task], workers: int) -> Iterator[Any]:
    if workers <= 1:
        _init_worker(cfg)
        for t in tasks:
            yield _run(t)
        return
    # from a fork server, never a fork of the caller: a caller with threads (a server, a test
    # runner's worker) would hand its half-held locks to the children, which then crash or hang
    with workers_pool(workers, _init_worker, (cfg,), data_key=False) as pool:
        yield from pool.imap(_run, tasks, chunksize=1)


def write_registry(ctx: ProvinceContext, out: Path) -> None:
    folder = out / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "org_units.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "name", "level", "parent_code", "kind", "in_gbt2260"])
        for d in ctx.divisions:
            w.writerow([d.code, d.name, d.level, d.parent or "", d.kind, int(d.in_gbt2260)])
        for v in ctx.plan.villages:
            w.writerow([v.code, v.name, "village", v.township, v.kind, 1])
    with open(folder / "facilities.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        cols = [
            "code",
            "name",
            "type_code",
            "tier",
            "grade_code",
            "org_unit_code",
            "county_code",
            "prefecture_code",
            "beds",
            "staff",
            "connected",
            "connected_since",
            "referral_enabled",
            "longitude",
            "latitude",
        ]
        w.writerow(cols)
        for p in ctx.plan.facilities:
            # a synthetic place inside the facility's county (the package has county boundaries;
            # a real registry gives the facility's own coordinates)
            county = geo.region(ctx.cfg.province, p.county_code)
            place = geo.point_in(county["geometry"], p.code) if county else None
            w.writerow(
                [
                    p.code,
                    p.name,
                    p.type_code,
                    p.tier,
                    p.grade_code or "",
                    p.org_unit_code,
                    p.county_code,
                    p.prefecture_code,
                    p.beds,
                    p.staff,
                    int(p.connected),
                    p.connected_since.isoformat() if p.connected_since else "",
                    int(p.referral_enabled),
                    *(place or ("", "")),
                ]
            )


def synthesize(
    cfg: SynthConfig,
    out: Path,
    workers: int = 1,
    resume: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    checkpoint_seconds: float = 20.0,
    compress: bool = False,
) -> dict[str, Any]:
    """Generate the province into `out` and return the manifest; `compress` writes the
    submissions gzip-compressed (`<Type>.ndjson.gz`)."""
    started = time.perf_counter()
    if out.exists() and any(out.iterdir()) and not resume:
        if not force:
            raise FileExistsError(f"{out} is not empty (use --force to replace it or --resume to continue)")
        shutil.rmtree(out)
    can_resume = resume and (out / STATE_FILE).exists()
    if resume and not can_resume and out.exists() and any(out.iterdir()):
        if (out / "manifest.json").exists():  # finished: nothing to do
            manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            manifest["_seconds"] = 0.0
            return manifest
        raise FileExistsError(f"{out} has no checkpoint to resume from (use --force to start again)")
    out.mkdir(parents=True, exist_ok=True)
    ctx = ProvinceContext.build(cfg)
    tasks = plan_tasks(ctx)
    if on_plan:
        on_plan(sum(t[3] for t in tasks), len(tasks))
    write_registry(ctx, out)
    writer = ProvinceWriter(out, compress=compress)
    writer.start(resume=can_resume)
    todo = [t for t in tasks if t[0] > writer.done]
    if progress and writer.done >= 0:
        progress(
            sum(t[3] for t in tasks if t[0] <= writer.done),
            sum(sum(c.values()) for c in writer.by_facility.values()),
        )
    last_ckpt = time.monotonic()
    for index, lines, truth, (n, people), households in _results(cfg, todo, workers):
        writer.add(lines)
        for name, rows in truth.items():
            writer.add_truth(name, rows)
        writer.residents += people
        writer.households += households
        if time.monotonic() - last_ckpt >= checkpoint_seconds or index == tasks[-1][0]:
            writer.checkpoint(index)
            last_ckpt = time.monotonic()
        if progress:
            progress(n, len(lines))
    manifest = build_manifest(ctx, writer)
    _write_batches(ctx, writer, out)
    writer.finish(manifest)
    write_population(out, cfg.period_end)
    manifest["_seconds"] = round(time.perf_counter() - started, 3)
    return manifest


def write_population(out: Path, end: date) -> None:
    """registry/population.csv: residents alive on the last day of the period by township, sex and
    age group (the year-end resident population a statistics bureau gives the platform as
    denominators; the year is the end's)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    with open(out / "truth" / "people.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["deceased"] and row["deceased"] < end.isoformat():
                continue
            birth = date.fromisoformat(row["birth_date"])
            if birth > end:
                continue
            sex = "male" if row["sex"] == "1" else "female"
            counts[(row["village"][:9], sex, age_group(age_on(birth, end)))] += 1
    with open(out / "registry" / "population.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["org_unit_code", "year", "sex", "age_group", "residents"])
        for (unit, sex, group), n in sorted(counts.items()):
            w.writerow([unit, end.year, sex, group, n])


def _write_batches(ctx: ProvinceContext, writer: ProvinceWriter, out: Path) -> None:
    """truth/submissions.csv (every facility-month batch) and batch-level defects."""
    rows, defects = [], []
    for (fac, month), n in sorted(writer.batches.items()):
        y, m = int(month[:4]), int(month[5:])
        at, late = ctx.timing.submitted_at(fac, y, m)
        outlier = ctx.timing.outlier(fac, y, m)
        rows.append([fac, month, at.isoformat(), int(late), int(outlier), n])
        if late:
            defects.append([f"Submission/{fac}/{month}", "late_submission", at.date().isoformat()])
        if outlier:
            defects.append(
                [f"Submission/{fac}/{month}", "outlier_monthly_count", "visits keyed in four times"]
            )
    with open(out / "truth" / "submissions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["facility", "month", "submitted_at", "late", "outlier", "records"])
        w.writerows(rows)
    with open(out / "truth" / "defects.csv", "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(defects)
    _write_expected(ctx, writer, out)


def _write_expected(ctx: ProvinceContext, writer: ProvinceWriter, out: Path) -> None:
    """truth/expected_batches.csv: every facility-month a connected facility owed the platform
    (from its connection month to the end of the period) and whether its batch came
    (`received` 0 for a facility that went silent)."""
    start, end = ctx.cfg.period_start, ctx.cfg.period_end
    last = end.year * 12 + end.month - 1
    with open(out / "truth" / "expected_batches.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["facility", "month", "received"])
        for fac in ctx.plan.facilities:
            if not (fac.connected and fac.connected_since and fac.connected_since <= end):
                continue
            first = max(fac.connected_since, start)
            for index in range(first.year * 12 + first.month - 1, last + 1):
                month = f"{index // 12:04d}-{index % 12 + 1:02d}"
                w.writerow([fac.code, month, int((fac.code, month) in writer.batches)])


def build_manifest(ctx: ProvinceContext, writer: ProvinceWriter) -> dict[str, Any]:
    by_type: Counter[str] = Counter()
    by_county: dict[str, Counter[str]] = {}
    county_of = {f.code: f.county_code for f in ctx.plan.facilities}
    for fac, types in writer.by_facility.items():
        by_type.update(types)
        by_county.setdefault(county_of[fac], Counter()).update(types)
    tiers: dict[str, dict[str, int]] = {}
    for f in ctx.plan.facilities:
        t = tiers.setdefault(f.tier, {"total": 0, "connected": 0, "submitting": 0})
        t["total"] += 1
        t["connected"] += int(f.connected)
        t["submitting"] += int(f.code in writer.by_facility)
    return {
        "generator": "phip synth",
        "version": __version__,
        "seed": ctx.cfg.seed,
        "scale": ctx.cfg.scale,
        "province": ctx.cfg.province,
        "period": {"start": ctx.cfg.period_start.isoformat(), "end": ctx.cfg.period_end.isoformat()},
        "residents": writer.residents,
        "households": writer.households,
        "facilities": tiers,
        "resources": {"total": sum(by_type.values()), "by_type": dict(sorted(by_type.items()))},
        "by_facility": {k: dict(sorted(v.items())) for k, v in sorted(writer.by_facility.items())},
        "by_county": {k: dict(sorted(v.items())) for k, v in sorted(by_county.items())},
        "config": ctx.cfg.to_json(),
    }
