"""`phip orgunits …`: the org-unit tree and the facility registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out_console = Console()
orgunits_app = typer.Typer(
    help="机构树与医疗机构登记 The org-unit tree and facility registry.", no_args_is_help=True
)


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
