"""`phip bench NAME`: run one benchmark and print one JSON object of measured figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def bench(
    name: Annotated[str, typer.Argument(help="idcard, synth, ingest, empi, analytics or quality")],
    scale: Annotated[
        float, typer.Option(help="synth, ingest, empi: scale of the province to generate.")
    ] = 0.0005,
    workers: Annotated[int, typer.Option(help="synth: worker processes.")] = 2,
    postgres: Annotated[bool, typer.Option(help="ingest: also measure a throwaway PostgreSQL.")] = True,
    province: Annotated[
        Path | None,
        typer.Option(
            help="empi, analytics, quality: an already generated province folder instead of --scale."
        ),
    ] = None,
    plain: Annotated[bool, typer.Option(help="empi: also run plain Splink for the comparison.")] = True,
    spark: Annotated[bool, typer.Option(help="analytics: also compute the catalogue on Spark.")] = True,
    work: Annotated[
        Path | None,
        typer.Option(
            help="analytics, quality: keep the built lake in this folder; a later run given the "
            "same folder and province uses it again instead of building it."
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="analytics, quality: DuckDB runs of the catalogue or the rules (median).")
    ] = 3,
) -> None:
    """性能测试 Run a benchmark and print its figures as one JSON object."""
    from phip.bench import BENCHMARKS

    if name not in BENCHMARKS:
        Console(stderr=True).print(f"[red]unknown benchmark {name!r}; one of: {', '.join(BENCHMARKS)}[/red]")
        raise typer.Exit(2)
    if name == "empi":
        result = BENCHMARKS[name](scale=scale, province=province, plain=plain)
    elif name == "analytics":
        result = BENCHMARKS[name](scale=scale, province=province, spark=spark, repeats=repeats, work=work)
    elif name == "quality":
        result = BENCHMARKS[name](scale=scale, province=province, repeats=repeats, work=work)
    elif name == "ingest":
        result = BENCHMARKS[name](scale=scale, workers=workers, postgres=postgres)
    elif name == "synth":
        result = BENCHMARKS[name](scale=scale, workers=workers)
    else:
        result = BENCHMARKS[name]()
    Console().print_json(json.dumps(result))
