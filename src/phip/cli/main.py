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
from rich.table import Table

from phip import __version__
from phip.cli import bench as bench_cmd
from phip.cli.accounts import accounts_app, audit_app
from phip.cli.empi import empi_app
from phip.cli.indicators import indicators_app
from phip.cli.lake import lake_app
from phip.cli.quality import quality_app
from phip.cli.sof import sof_app

app = typer.Typer(
    help="全民健康信息平台 PHIP, the Population Health Information Platform.", no_args_is_help=True
)
orgunits_app = typer.Typer(
    help="机构树与医疗机构登记 The org-unit tree and facility registry.", no_args_is_help=True
)
app.add_typer(orgunits_app, name="orgunits")
app.command("bench")(bench_cmd.bench)
app.add_typer(empi_app, name="empi")
app.add_typer(sof_app, name="sof")
app.add_typer(lake_app, name="lake")
app.add_typer(indicators_app, name="indicators")
app.add_typer(quality_app, name="quality")
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")
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


@orgunits_app.command("load")
def orgunits_load(
    registry: Annotated[
        Path | None, typer.Argument(help="A registry folder written by `phip synth`.")
    ] = None,
) -> None:
    """加载行政区划与机构 Load the divisions (and a registry's villages and facilities) into the database."""
    from phip.orgunits import OrgUnitService
    from phip.standards.divisions import get_divisions
    from phip.store import get_engine, init_db, session_scope

    engine = get_engine()
    init_db(engine)
    with session_scope(engine) as session:
        svc = OrgUnitService(session)
        if registry is None:
            counts = {"divisions": svc.load_divisions(get_divisions())}
        else:
            if not (registry / "facilities.csv").exists():
                console.print(f"[red]{registry} has no facilities.csv[/red]")
                raise typer.Exit(2)
            counts = svc.load_registry(registry, get_divisions())
    out_console.print_json(json.dumps(counts))


@orgunits_app.command("geo")
def orgunits_geo(
    prefectures: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection of the prefectures.")],
    counties: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection of the counties.")],
    out: Annotated[Path, typer.Option(help="Where to write the simplified boundaries.")],
    tolerance: Annotated[float, typer.Option(help="Douglas-Peucker tolerance in degrees.")] = 0.01,
) -> None:
    """简化边界 Simplify prefecture and county boundaries for the console's maps."""
    from phip.orgunits.geo import point_count, simplify
    from phip.settings import get_settings
    from phip.standards.divisions import get_divisions

    province = get_settings().province
    divisions = get_divisions(province)
    rename = {}  # a prefecture-level city without counties: its one county-level placeholder
    for pref in divisions.prefectures():
        kids = divisions.children(pref.code)
        if len(kids) == 1:
            rename[pref.code] = kids[0].code
    doc = simplify(
        json.loads(prefectures.read_text("utf-8")),
        json.loads(counties.read_text("utf-8")),
        province,
        tolerance,
        rename,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    known = {d.code for d in [*divisions.counties(), *divisions.prefectures()]}
    unknown = sorted(r["code"] for r in doc["regions"] if r["code"] not in known)
    out_console.print_json(
        json.dumps({"regions": len(doc["regions"]), "points": point_count(doc), "unknown_codes": unknown})
    )


@orgunits_app.command("show")
def orgunits_show(
    level: Annotated[
        str, typer.Option(help="province, prefecture, county, township or village")
    ] = "prefecture",
    under: Annotated[str | None, typer.Option(help="Only units below this code.")] = None,
) -> None:
    """按层级列出机构 List org units at a level with their facilities (connected / total)."""
    from phip.orgunits import OrgUnitService
    from phip.store import get_engine, init_db, session_scope

    engine = get_engine()
    init_db(engine)
    with session_scope(engine) as session:
        svc = OrgUnitService(session)
        try:
            units = svc.descendants(under, level) if under else svc.at_level(level)
        except (KeyError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        table = Table(title=f"{level} ({len(units)})")
        for col in ("代码 code", "名称 name", "医院 hospitals", "卫生院/中心 centres", "村卫生室 clinics"):
            table.add_column(col)
        for u in units[:200]:
            counts = svc.count_facilities(u.code)

            def cell(tier: str, counts: dict[str, dict[str, int]] = counts) -> str:
                c = counts.get(tier, {"total": 0, "connected": 0})
                return f"{c['connected']}/{c['total']}"

            table.add_row(u.code, u.name, cell("hospital"), cell("primary"), cell("village"))
        out_console.print(table)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="An NDJSON/JSON file or a folder of them.")],
    facility: Annotated[str | None, typer.Option(help="Facility code when the records do not say.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes that validate and index (default: cores).")
    ] = None,
    link: Annotated[
        bool, typer.Option(help="Link the imported Patients into the person index (when a model exists).")
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
        if link:
            from phip.identity.store_link import link_pending
            from phip.settings import get_settings

            summary["linking"] = link_pending(session, get_settings().var_dir, bar)
    out_console.print_json(json.dumps(summary, ensure_ascii=False))


db_app = typer.Typer(help="数据库 The operational database: schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """升级数据库结构 Bring the configured database to the current schema (Alembic)."""
    from phip.store import get_engine, init_db

    init_db(get_engine())
    out_console.print("ok")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="What changed.")]) -> None:
    """生成迁移脚本 Generate a migration from the difference between the models and the database."""
    from phip.store import get_engine, init_db
    from phip.store.migrate import revision

    engine = get_engine()
    init_db(engine)
    revision(engine, message)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """启动服务 Serve FHIR R4 at /fhir, the platform API at /api, OpenAPI at /openapi.json."""
    import uvicorn

    from phip.web.app import create_app

    web = create_app()  # refuses to start (settings) before anything claims to be served
    console.print(
        f"控制台 console: http://{host}:{port}/ · FHIR: http://{host}:{port}/fhir/metadata · "
        f"API: http://{host}:{port}/docs"
    )
    # no `server: uvicorn` header: what runs behind the port is nobody's business
    uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)


def main() -> None:
    """The `phip` command: settings that do not allow running are a clear message, not a trace."""
    from phip.settings import SettingsError

    try:
        app()
    except SettingsError as exc:
        console.print(f"[red]设置错误 settings: {exc}[/red]")
        raise SystemExit(2) from None
