"""`phip bench quality`: run the rule catalogue over the lake of a synthetic province (median of
several runs, and one whole round with statuses and scores), then re-run it incrementally after
1% of the records change, beside a full re-run of the same lake in the same run.

The lake is built from the NDJSON submissions with persons and batches from the truth, as in
`phip bench analytics`; records refused at the door are then not in it, so the rules on refused
records (a small table) have nothing to do: every other rule does its full work.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from phip.bench.analytics import Changes, bench_folder, fixed_changes, truth_lake


def _fact_rows(lake: Path) -> int:
    from phip.lake.manifest import require_manifest
    from phip.lake.tables import fact_tables

    manifest = require_manifest(lake)
    return sum(manifest.tables[name].rows for name in fact_tables() if name in manifest.tables)


def run(
    scale: float = 0.01,
    province: Path | None = None,
    seed: int = 5,
    repeats: int = 3,
    work: Path | None = None,
) -> dict[str, Any]:
    from phip.lake.build import refresh
    from phip.lake.manifest import require_manifest
    from phip.lake.service import resource_types
    from phip.quality.run import run_rules
    from phip.quality.service import run_round

    out: dict[str, Any] = {}
    with bench_folder(work, "phip-bench-quality-") as folder:
        built = truth_lake(folder, province, scale, seed, 2, out)
        session, lake = built.session, built.lake
        out["lake_build_seconds"] = round(built.build_seconds, 1)
        out["lake_reused"] = bool(out.get("lake_reused"))
        rows = _fact_rows(lake)
        out["lake_rows"] = rows

        runs = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            result = run_rules(lake)
            runs.append(time.perf_counter() - t0)
        median = statistics.median(runs)
        slowest = sorted(result.seconds.items(), key=lambda kv: -kv[1])[:5]
        out["rules_full"] = {
            "median_seconds": round(median, 2),
            "runs": [round(s, 2) for s in runs],
            "records_per_second": round(rows / median),
            "findings": result.findings.num_rows,
            "slowest_rules": {k: round(v, 2) for k, v in slowest},
        }
        t0 = time.perf_counter()
        first = run_round(session, lake, full=True)
        out["round_full"] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "findings": first.findings,
            "facilities_scored": first.facilities,
            "parts": {k: round(v, 2) for k, v in first.seconds.items()},
        }

        # 1% of the records change in the last submission month, the lake is refreshed, and
        # the round re-checks what changed; a full run over the same lake beside it
        seq = require_manifest(lake).change_seq + 1
        changes = Changes(built.province, resource_types(), 0.01, seq, built.last_month())
        refresh(lake, fixed_changes(changes, seq), built.dimensions())
        t0 = time.perf_counter()
        inc = run_round(session, lake)
        inc_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = run_rules(lake)
        full_seconds = time.perf_counter() - t0
        out["round_incremental"] = {
            "changed_records": changes.count(),
            "seconds": round(inc_seconds, 2),
            "rules_seconds": round(inc.seconds["rules"], 2),
            "partitions_rechecked": inc.partitions_rechecked,
            "findings": inc.findings,
            "new": inc.new,
            "verified": inc.verified,
            "full_rules_seconds_same_lake": round(full_seconds, 2),
            "full_findings_same_lake": full.findings.num_rows,
            "full_over_incremental_rules": round(full_seconds / max(inc.seconds["rules"], 1e-9), 1),
        }
        session.close()
    return out
