"""`phip synth`: generate a synthetic province (a tool, `phip.synth`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
out_console = Console()


def synth(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    scale: Annotated[
        float, typer.Option(help="Fraction of the province (1.0 = 25.0 million residents).")
    ] = 0.001,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same province.")] = 42,
    config: Annotated[
        Path | None, typer.Option(help="JSON file overriding synth settings and defect rates.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: all cores).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in OUT.")] = False,
    force: Annotated[bool, typer.Option(help="Replace OUT if it is not empty.")] = False,
    gzip: Annotated[
        bool, typer.Option("--gzip", help="Write the submissions gzip-compressed (<Type>.ndjson.gz).")
    ] = False,
) -> None:
    """生成合成省份 Generate a synthetic province as FHIR R4 NDJSON, one folder per facility, with truth."""
    from phip.synth import SynthConfig, synthesize

    try:
        cfg = SynthConfig(scale=scale, seed=seed).with_overrides({})
        if config is not None:
            cfg = SynthConfig.from_file(config, scale=scale, seed=seed)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        console.print(f"[red]配置错误 invalid synth config: {exc}[/red]")
        raise typer.Exit(2) from exc
    n_workers = workers or min(2, os.cpu_count() or 1)
    columns = (
        TextColumn("[bold]合成 synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("居民 residents · {task.fields[resources]:,} 资源 resources"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("synth", total=None, resources=0)
        written = [0]

        def on_plan(residents: int, _tasks: int) -> None:
            bar.update(task, total=residents)

        def on_progress(residents: int, resources: int) -> None:
            written[0] += resources
            bar.update(task, advance=residents, resources=written[0])

        try:
            manifest = synthesize(cfg, out, n_workers, resume, force, on_progress, on_plan, compress=gzip)
        except (FileExistsError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    seconds = manifest.pop("_seconds")
    summary = {
        "out": str(out),
        "residents": manifest["residents"],
        "households": manifest["households"],
        "facilities": manifest["facilities"],
        "resources": manifest["resources"]["total"],
        "by_type": manifest["resources"]["by_type"],
        "seconds": seconds,
    }
    out_console.print_json(json.dumps(summary, ensure_ascii=False))
