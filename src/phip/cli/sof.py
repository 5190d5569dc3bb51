"""`phip sof`: SQL-on-FHIR v2 views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)
out_console = Console()
sof_app = typer.Typer(help="视图 SQL-on-FHIR v2 views on DuckDB or Spark.", no_args_is_help=True)


@sof_app.command("run")
def run_cmd(
    view: Annotated[Path, typer.Option("--view", help="a ViewDefinition (JSON)")],
    input: Annotated[Path, typer.Option("--input", help="resources, one JSON per line (NDJSON)")],
    output: Annotated[Path, typer.Option("--output", help="CSV written: one column per view column")],
    engine: Annotated[str, typer.Option(help="duckdb or spark")] = "duckdb",
) -> None:
    """运行视图 Run a ViewDefinition over NDJSON resources and write its rows as CSV."""
    from phip.engines import ENGINES
    from phip.lake.compile import ViewError
    from phip.lake.fhirpath import FHIRPathError
    from phip.lake.sof import read_ndjson, run_view, write_csv

    if engine not in ENGINES:
        console.print(f"[red]--engine must be {' or '.join(ENGINES)}, not {engine}[/red]")
        raise typer.Exit(2)
    try:
        definition = json.loads(view.read_text(encoding="utf-8"))
        names, rows = run_view(definition, read_ndjson(input), engine)
    except (OSError, json.JSONDecodeError, ViewError, FHIRPathError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    write_csv(names, rows, output)
    out_console.print_json(json.dumps({"rows": len(rows), "columns": names, "output": str(output)}))
