"""`phip indicators …`: the indicator catalogue computed over the lake."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from phip.cli.lake import lake_dir

console = Console(stderr=True)
out_console = Console()
indicators_app = typer.Typer(help="指标 The indicator catalogue over the lake.", no_args_is_help=True)


@indicators_app.command("compute")
def compute_cmd(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Also export every row to this file (.csv or .xlsx; small cells suppressed)."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: the PHIP_ENGINE setting)")
    ] = None,
    indicator: Annotated[
        list[str] | None, typer.Option("--indicator", help="Only these indicators (repeatable).")
    ] = None,
    lake: Annotated[
        Path | None, typer.Option(help="Lake folder (default: the PHIP_LAKE_DIR setting).")
    ] = None,
) -> None:
    """计算指标 Compute the catalogue at every level, period and breakdown (one query per indicator)
    and keep the results for the API; prints a JSON summary."""
    from phip.analytics import exports, results
    from phip.analytics.compute import compute
    from phip.engines import ENGINES
    from phip.lake.manifest import LakeError
    from phip.settings import get_settings

    chosen = engine or get_settings().engine
    if chosen not in ENGINES:
        console.print(f"[red]--engine must be {' or '.join(ENGINES)}, not {chosen}[/red]")
        raise typer.Exit(2)
    if out is not None and out.suffix.lower() not in (".csv", ".xlsx"):
        console.print("[red]--out must name a .csv or .xlsx file[/red]")
        raise typer.Exit(2)
    folder = lake_dir(lake)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        with console.status("指标 indicators") as status:

            def progress(iid: str, seconds: float) -> None:
                timings[iid] = round(seconds, 3)
                status.update(f"指标 indicators: {iid} {seconds:.2f}s")

            table = compute(folder, chosen, indicator, progress)
    except (LakeError, KeyError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    seconds = time.perf_counter() - started
    meta = results.save(folder, table, chosen, seconds)
    shared = {k: v for k, v in timings.items() if k.startswith("source ")}
    per_indicator = {k: v for k, v in timings.items() if k not in shared}
    summary = {**meta, "indicators": len(per_indicator), "per_indicator_seconds": per_indicator}
    summary["shared_source_seconds"] = shared
    if out is not None:
        rows = results.query(folder, results.Filter(breakdown=None), get_settings().locale)
        (exports.write_xlsx if out.suffix.lower() == ".xlsx" else exports.save_csv)(rows, out)
        summary["out"] = str(out)
        summary["suppressed"] = sum(1 for r in rows if r["suppressed"])
    out_console.print_json(json.dumps(summary, ensure_ascii=False))


@indicators_app.command("list")
def list_cmd() -> None:
    """指标目录 The catalogue: id, names, levels and periods of every indicator."""
    from phip.analytics.catalogue import catalogue

    table = Table("id", "名称", "name", "levels", "periods")
    for ind in catalogue().values():
        table.add_row(ind.id, ind.name["zh"], ind.name["en"], ",".join(ind.levels), ",".join(ind.periods))
    out_console.print(table)
