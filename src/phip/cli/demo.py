"""`phip demo`: the whole demo pipeline in one process (what `make demo` runs before serving):
synthesise a small province, load its registry, ingest, link, build the lake, run the quality
round, compute the indicators and create the demo logins, with the time each step took.

One process instead of eight saves each command's start-up (importing the platform), which is a
fifth of the demo's time on a two-core machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

#: The demo province's settings beyond scale and seed: residents who moved within their county and
#: registered again without an identity number, so that the identity review queue has work in it.
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "synth" / "data" / "demo.json"


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder of the synthetic province.")] = Path("var/demo"),
    scale: Annotated[
        float, typer.Option(help="Fraction of the province (1.0 = 25.0 million residents).")
    ] = 0.00006,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same province.")] = 42,
) -> None:
    """演示数据 Prepare the demo: synthesise a small province and run every step of the pipeline on it
    (demo mode only), then print the logins and the time each step took."""
    from phip.cli.accounts import accounts_demo
    from phip.cli.empi import link_store_cmd
    from phip.cli.indicators import compute_cmd
    from phip.cli.ingest import ingest
    from phip.cli.lake import refresh_cmd
    from phip.cli.orgunits import orgunits_load
    from phip.cli.quality import run_cmd
    from phip.cli.synth import synth
    from phip.settings import get_settings

    if not get_settings().demo:
        console.print("[red]phip demo 只在演示模式下运行 runs in demo mode only (PHIP_DEMO=true)[/red]")
        raise typer.Exit(2)
    steps: list[tuple[str, Callable[[], None]]] = [
        (
            "合成省份 synthesise",
            lambda: synth(
                out=out,
                scale=scale,
                seed=seed,
                config=DEMO_CONFIG,
                workers=0,
                resume=False,
                force=True,
                gzip=False,
            ),
        ),
        ("加载机构 registry", lambda: orgunits_load(out / "registry")),
        ("导入 ingest", lambda: ingest(out / "submissions", facility=None, workers=None, link=True)),
        ("人员关联 link", lambda: link_store_cmd(retrain=True)),
        ("数据湖 lake", lambda: refresh_cmd(full=False, lake=None, source=None)),
        ("质控 quality", lambda: run_cmd(engine=None, lake=None, full=False, without_person_index=False)),
        ("指标 indicators", lambda: compute_cmd(out=None, engine=None, indicator=None, lake=None)),
        ("演示账号 logins", lambda: accounts_demo(out / "registry")),
    ]
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    for label, step in steps:
        console.rule(label)
        t0 = time.perf_counter()
        step()
        timings.append((label, time.perf_counter() - t0))
    table = Table(title="演示准备用时 demo preparation (seconds)")
    table.add_column("步骤 step")
    table.add_column("秒 s", justify="right")
    for label, seconds in timings:
        table.add_row(label, f"{seconds:.1f}")
    table.add_row("合计 total", f"{time.perf_counter() - started:.1f}")
    console.print(table)
