"""Benchmarks behind `phip bench NAME`: each returns one dict of measured figures."""

from __future__ import annotations

import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any


def idcard(n: int = 200_000, repeats: int = 5) -> dict[str, Any]:
    """Validations per second on one core over a mix of valid and corrupted numbers; id-validator
    (the test oracle) is timed on a sample in the same run for the ratio."""
    from phip.standards import idcard as ids
    from phip.standards.divisions import default_checker, get_divisions

    divisions = get_divisions()
    checker = default_checker()
    counties = [d.code for d in divisions.counties() if d.in_gbt2260]
    rng = random.Random(7)
    numbers = []
    for i in range(n):
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(33000))
        s = ids.make(rng.choice(counties), born, rng.randrange(500), rng.random() < 0.5)
        if i % 5 == 0:  # one in five corrupted: a changed digit
            j = rng.randrange(17)
            s = s[:j] + str((int(s[j]) + 1) % 10) + s[j + 1 :]
        numbers.append(s)
    check = checker.check
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        valid = sum(1 for s in numbers if check(s) is None)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    out: dict[str, Any] = {
        "benchmark": "idcard",
        "numbers": n,
        "valid": valid,
        "repeats": repeats,
        "median_seconds": round(med, 4),
        "validations_per_second": round(n / med),
    }
    try:
        from id_validator import validator

        sample = numbers[:2000]
        t0 = time.perf_counter()
        for s in sample:
            validator.is_valid(s)
        oracle = len(sample) / (time.perf_counter() - t0)
        out["oracle_id_validator_per_second"] = round(oracle)
        out["speedup_vs_oracle"] = round(out["validations_per_second"] / oracle, 1)
    except ImportError:  # the oracle is a dev dependency
        pass
    return out


def synth(scale: float = 0.0005, workers: int = 2, seed: int = 42) -> dict[str, Any]:
    """Resources per minute and peak memory of `phip synth` at `scale`."""
    from phip.synth import SynthConfig, synthesize

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "province"
        t0 = time.perf_counter()
        manifest = synthesize(SynthConfig(scale=scale, seed=seed), out, workers=workers)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    total = manifest["resources"]["total"]
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "benchmark": "synth",
        "scale": scale,
        "workers": workers,
        "residents": manifest["residents"],
        "resources": total,
        "seconds": round(seconds, 2),
        "resources_per_minute": round(total / seconds * 60),
        "bytes_written": size,
        "peak_rss_mb_main": round(self_kb / 1024, 1),
        "peak_rss_mb_worker": round(child_kb / 1024, 1),
    }


def ingest(scale: float = 0.0001, workers: int = 2, postgres: bool = True) -> dict[str, Any]:
    from phip.bench.ingest import run

    return run(scale=scale, postgres=postgres)


def empi(scale: float = 0.0005, province: Path | None = None, plain: bool = True) -> dict[str, Any]:
    from phip.bench.empi import run

    return run(scale=scale, province=province, plain=plain)


def analytics(
    scale: float = 0.01,
    province: Path | None = None,
    spark: bool = True,
    repeats: int = 3,
    work: Path | None = None,
) -> dict[str, Any]:
    from phip.bench.analytics import run

    figures = run(scale=scale, province=province, spark=spark, repeats=repeats, work=work)
    return {"benchmark": "analytics", **figures}


def quality(
    scale: float = 0.01, province: Path | None = None, repeats: int = 3, work: Path | None = None
) -> dict[str, Any]:
    from phip.bench.quality import run

    return {"benchmark": "quality", **run(scale=scale, province=province, repeats=repeats, work=work)}


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "idcard": idcard,
    "synth": synth,
    "ingest": ingest,
    "empi": empi,
    "analytics": analytics,
    "quality": quality,
}
