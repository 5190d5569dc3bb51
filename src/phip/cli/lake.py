"""`phip lake …`: the analytical lake (SQL-on-FHIR views as Parquet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
out_console = Console()
lake_app = typer.Typer(help="数据湖 The analytical lake: platform views as Parquet.", no_args_is_help=True)


def lake_dir(lake: Path | None) -> Path:
    """The lake folder given, or the configured one."""
    from phip.settings import get_settings

    return lake if lake is not None else get_settings().resolved_lake_dir()


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@lake_app.command("refresh")
def refresh_cmd(
    full: Annotated[bool, typer.Option(help="Rebuild every table from the whole store.")] = False,
    lake: Annotated[
        Path | None, typer.Option(help="Lake folder (default: the PHIP_LAKE_DIR setting).")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="Build from a folder of NDJSON submissions instead of the store (always whole)."),
    ] = None,
) -> None:
    """刷新数据湖 Bring the lake up to date with the store's changes since the last refresh
    (atomic: readers see the old lake until the new one is complete), then publish the
    indicator catalogue's analytics tables from it. Prints a JSON report."""
    from sqlalchemy.orm import Session

    from phip.analytics.facts import publish_facts
    from phip.lake.manifest import LakeError
    from phip.lake.service import build_from_folder, refresh_from_store
    from phip.store import get_engine, init_db

    folder = lake_dir(lake)
    engine = get_engine()
    init_db(engine)
    with _bar() as bar, Session(engine) as session:
        task = bar.add_task("数据湖 lake", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            if source is not None:
                report = build_from_folder(session, source, folder, progress)
            else:
                report = refresh_from_store(session, folder, progress, full)
            bar.update(task, description="分析表 analytics tables")
            analytics_seconds = publish_facts(folder)
        except LakeError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    out = report.to_json() | {"analytics_seconds": round(analytics_seconds, 3)}
    out_console.print_json(json.dumps(out, ensure_ascii=False))


@lake_app.command("status")
def status_cmd(
    lake: Annotated[
        Path | None, typer.Option(help="Lake folder (default: the PHIP_LAKE_DIR setting).")
    ] = None,
) -> None:
    """数据湖状态 The lake's version, the store change it reflects and every table's rows and files."""
    from phip.lake.manifest import read_manifest

    folder = lake_dir(lake)
    manifest = read_manifest(folder)
    if manifest is None:
        console.print(f"[red]no lake at {folder}: run `phip lake refresh`[/red]")
        raise typer.Exit(2)
    out_console.print_json(
        json.dumps(
            {
                "version": manifest.version,
                "change_seq": manifest.change_seq,
                "built_at": manifest.built_at,
                "tables": {
                    n: {"rows": t.rows, "files": len(t.files)} for n, t in sorted(manifest.tables.items())
                },
            },
            ensure_ascii=False,
        )
    )
