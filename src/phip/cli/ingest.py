"""`phip ingest`: import NDJSON files, folders and Bundles into the store (`phip.exchange`)."""

from __future__ import annotations

import json
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


def ingest(
    path: Annotated[Path, typer.Argument(help="An NDJSON/JSON file or a folder of them.")],
    facility: Annotated[str | None, typer.Option(help="Facility code when the records do not say.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes that validate and index (default: cores).")
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            help="Deliver the import's outbox events: link its Patients into the person index "
            "(when a model exists). Without it they wait for `phip outbox deliver` or the server."
        ),
    ] = True,
) -> None:
    """导入数据 Import NDJSON files or folders (and Bundles): validate, store or quarantine, resumable;
    then link the Patients it brought into the person index in real time (when a model exists).
    The last output is a JSON summary: submitted, accepted, quarantined, created, updated, unchanged
    (and `linking`)."""
    from phip.exchange.ingest import ingest as run_ingest
    from phip.exchange.sources import count_records
    from phip.store import get_engine, init_db

    if not path.exists():
        console.print(f"[red]{path} does not exist[/red]")
        raise typer.Exit(2)
    engine = get_engine()
    init_db(engine)
    from sqlalchemy.orm import Session

    total = count_records(path)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar, Session(engine) as session:
        task = bar.add_task("导入 ingest", total=total)
        summary = run_ingest(
            session, path, facility, progress=lambda n: bar.update(task, advance=n), workers=workers
        ).as_dict()
        if link:  # the work that follows the import's commits: the outbox's subscribers
            from phip.identity.events import link_pending
            from phip.settings import get_settings
            from phip.store import outbox

            var_dir = get_settings().var_dir
            summary["linking"] = link_pending(session, var_dir, bar)
            summary["events"] = outbox.deliver(session, outbox.context(var_dir)).as_dict()
    out_console.print_json(json.dumps(summary, ensure_ascii=False))
