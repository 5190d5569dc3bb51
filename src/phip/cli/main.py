"""`phip`: the command line of the platform (Typer + Rich)."""

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

from phip import __version__
from phip.cli import bench as bench_cmd
from phip.cli import demo as demo_cmd
from phip.cli.accounts import accounts_app
from phip.cli.audit import audit_app
from phip.cli.db import db_app
from phip.cli.empi import empi_app
from phip.cli.indicators import indicators_app
from phip.cli.lake import lake_app
from phip.cli.orgunits import orgunits_app
from phip.cli.outbox import outbox_app
from phip.cli.quality import quality_app
from phip.cli.sof import sof_app
from phip.cli.workflow import workflow_app

app = typer.Typer(
    help="全民健康信息平台 PHIP, the Population Health Information Platform.", no_args_is_help=True
)
app.add_typer(orgunits_app, name="orgunits")
app.command("bench")(bench_cmd.bench)
app.command("demo")(demo_cmd.demo)
app.add_typer(empi_app, name="empi")
app.add_typer(sof_app, name="sof")
app.add_typer(lake_app, name="lake")
app.add_typer(indicators_app, name="indicators")
app.add_typer(quality_app, name="quality")
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(workflow_app, name="workflow")
console = Console(stderr=True)
out_console = Console()


@app.command()
def version() -> None:
    """显示版本 Print the version."""
    out_console.print(__version__)


@app.command()
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


@app.command()
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """启动服务 Serve FHIR R4 at /fhir, the platform API at /api, OpenAPI at /openapi.json."""
    import uvicorn

    from phip.web.app import create_app
    from phip.web.serving import ClearH11Protocol

    web = create_app()  # refuses to start (settings) before anything claims to be served
    console.print(
        f"控制台 console: http://{host}:{port}/ · FHIR: http://{host}:{port}/fhir/metadata · "
        f"API: http://{host}:{port}/docs"
    )
    # no `server: uvicorn` header: what runs behind the port is nobody's business; a raw UTF-8
    # address (curl '…?name=张') is refused with an explanation, not a bare 400
    uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False, http=ClearH11Protocol)


def main() -> None:
    """The `phip` command: settings that do not allow running are a clear message, not a trace."""
    from phip.settings import SettingsError

    try:
        app()
    except SettingsError as exc:
        console.print(f"[red]设置错误 settings: {exc}[/red]")
        raise SystemExit(2) from None
