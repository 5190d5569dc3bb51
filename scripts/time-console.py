#!/usr/bin/env python3
"""Page load times of the console in headless Chromium: the overview until its map is drawn and
the explorer until its table and chart are, median of N loads, for one login.

    .venv/bin/python scripts/time-console.py --base http://127.0.0.1:8000 --user province

Prints one JSON object (seconds). Needs a running `phip serve` and Debian Chromium."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from playwright.sync_api import sync_playwright

SETTLED = "Number(document.body.dataset.settled || 0)"


def change_breakdown(page: Any, columns: int, **option: Any) -> None:
    """Pick a breakdown and wait until HTMX has swapped in the table with `columns` columns."""
    before = page.evaluate(SETTLED)
    page.select_option("#ex-breakdown", **option)
    page.wait_for_function(
        f"{SETTLED} > {before} && document.querySelectorAll('#explorer-table th').length === {columns}",
        timeout=120_000,
    )


ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8000")
    ap.add_argument("--user", default="province")
    ap.add_argument("--password", default="phip-demo")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    out: dict[str, object] = {"user": a.user, "repeats": a.repeats}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(a.base + "/login")
        page.fill("input[name=username]", a.user)
        page.fill("input[name=password]", a.password)
        page.click("#login-button")
        page.wait_for_load_state("networkidle")
        runs: dict[str, list[float]] = {"overview": [], "explorer": [], "explorer_change": [], "map_data": []}
        for _ in range(a.repeats):
            t = time.perf_counter()
            page.goto(a.base + "/")
            page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=120_000)
            runs["overview"].append(time.perf_counter() - t)
            runs["map_data"].append(
                page.evaluate(
                    "performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/console/data/map')).map(e => e.duration)[0] / 1000"
                )
            )
            t = time.perf_counter()
            page.goto(a.base + "/explorer")
            page.wait_for_selector("#explorer-chart[data-drawn='1']", timeout=120_000)
            runs["explorer"].append(time.perf_counter() - t)
            t = time.perf_counter()
            change_breakdown(page, 5, value="sex")
            runs["explorer_change"].append(time.perf_counter() - t)
            change_breakdown(page, 4, index=0)
        browser.close()
    for name, values in runs.items():
        out[name] = {"median": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}
    print(json.dumps(out))  # noqa: T201


if __name__ == "__main__":
    main()
