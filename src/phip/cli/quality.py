"""`phip quality …`: data-quality rules over the lake, scores and verification reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from phip.cli.lake import lake_dir

console = Console(stderr=True)
out_console = Console()
quality_app = typer.Typer(
    help="数据质量 Data-quality rules, facility scores and verification reports.", no_args_is_help=True
)

LakeOpt = Annotated[Path | None, typer.Option(help="Lake folder (default: the PHIP_LAKE_DIR setting).")]
EngineOpt = Annotated[str | None, typer.Option(help="duckdb or spark (default: the PHIP_ENGINE setting)")]
WithoutIndexOpt = Annotated[
    bool,
    typer.Option(
        "--without-person-index",
        help="Run even when the person index has not linked most of the lake's Patients (the rules "
        "that follow a resident across records then miss what the unlinked records hold).",
    ),
]


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        console.print(f"[yellow]warning: {w}[/yellow]")


def _engine(engine: str | None) -> str:
    from phip.engines import ENGINES
    from phip.settings import get_settings

    chosen = engine or get_settings().engine
    if chosen not in ENGINES:
        console.print(f"[red]--engine must be {' or '.join(ENGINES)}, not {chosen}[/red]")
        raise typer.Exit(2)
    return chosen


@quality_app.command("run")
def run_cmd(
    engine: EngineOpt = None,
    lake: LakeOpt = None,
    full: Annotated[bool, typer.Option(help="Re-check everything, not only what changed.")] = False,
    without_person_index: WithoutIndexOpt = False,
) -> None:
    """质控 Run the rules over the lake: record the round, move each finding along (new, still
    open, verified), score every facility. After a first round only what changed in the lake is
    re-checked (`--full`: everything). Refuses a lake whose Patients the person index has mostly
    not linked (run `phip empi link-store`, then `phip lake refresh`). Prints a JSON summary."""
    from sqlalchemy.orm import Session

    from phip.lake.manifest import LakeError
    from phip.quality.service import run_round
    from phip.store import get_engine, init_db

    chosen = _engine(engine)
    db = get_engine()
    init_db(db)
    try:
        with console.status("质控 quality rules") as status, Session(db) as session:

            def progress(rule: str, seconds: float) -> None:
                status.update(f"质控 quality rules: {rule} {seconds:.2f}s")

            report = run_round(
                session,
                lake_dir(lake),
                chosen,
                progress,
                full=full,
                without_person_index=without_person_index,
            )
    except LakeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _warn(report.warnings)
    out_console.print_json(json.dumps(report.to_json(), ensure_ascii=False))


@quality_app.command("report")
def report_cmd(
    facility: Annotated[str, typer.Option(help="The facility's code.")],
    format: Annotated[
        str, typer.Option(help="json (FHIR Bundle of OperationOutcomes), csv or xlsx")
    ] = "json",
    out: Annotated[
        Path | None, typer.Option(help="Write to this file (default: standard output; xlsx needs a file).")
    ] = None,
    all_statuses: Annotated[bool, typer.Option("--all", help="Include verified findings.")] = False,
) -> None:
    """核查报告 A facility's verification report: every failing record, the rule, the element,
    the value (masked where personal), the status and how to fix it."""
    from sqlalchemy.orm import Session

    from phip.quality.report import bundle, facility_findings, to_csv, write_report
    from phip.settings import get_settings
    from phip.store import get_engine, init_db

    if format not in ("json", "csv", "xlsx"):
        console.print("[red]--format must be json, csv or xlsx[/red]")
        raise typer.Exit(2)
    if format == "xlsx" and out is None:
        console.print("[red]--format xlsx needs --out FILE.xlsx[/red]")
        raise typer.Exit(2)
    db = get_engine()
    init_db(db)
    locale = get_settings().locale
    with Session(db) as session:
        statuses = None if all_statuses else ("open", "acknowledged", "corrected")
        findings = facility_findings(session, facility, statuses)
    if out is not None:
        write_report(findings, facility, format, out, locale)
        console.print(f"{len(findings)} findings → {out}")
    elif format == "csv":
        sys.stdout.buffer.write(to_csv(findings, locale))
    else:
        out_console.print_json(json.dumps(bundle(facility, findings, locale), ensure_ascii=False))


@quality_app.command("scores")
def scores_cmd(
    level: Annotated[str, typer.Option(help="facility, township, county, prefecture or province")] = "county",
    limit: Annotated[int, typer.Option(help="Rows to show (worst first).")] = 20,
    lake: LakeOpt = None,
) -> None:
    """质量评分 League table of the last round: score and dimension sub-scores per unit (worst first)."""
    from sqlalchemy.orm import Session

    from phip.quality.scorecard import LEVELS, scorecard
    from phip.store import get_engine, init_db

    if level not in LEVELS:
        console.print(f"[red]--level must be one of {', '.join(LEVELS)}[/red]")
        raise typer.Exit(2)
    db = get_engine()
    init_db(db)
    with Session(db) as session:
        rows = scorecard(session, lake_dir(lake), level)
    short = {"conformance": "conf", "completeness": "comp", "accuracy": "acc", "consistency": "cons"}
    short |= {"uniqueness": "uniq", "timeliness": "time"}
    dims = list(rows[0]["dimensions"]) if rows else []
    table = Table("unit", "name", "score", "records", "findings", *(short.get(d, d) for d in dims))
    for r in rows[:limit]:
        table.add_row(
            r["unit"],
            r["name"] or "",
            f"{r['score']:.1f}",
            str(r["records"]),
            str(r["findings"]),
            *(f"{r['dimensions'].get(d, 0):.1f}" for d in dims),
        )
    console.print(table)


@quality_app.command("metrics")
def metrics_cmd(
    facility: Annotated[str | None, typer.Option(help="Only this facility.")] = None,
    flagged: Annotated[bool, typer.Option(help="Only flagged metrics.")] = False,
    lake: LakeOpt = None,
) -> None:
    """机构数据质量指标 Facility metrics after WHO DQR and DHIS2 from the last round (JSON lines)."""
    from phip.quality.dqr import read

    for row in read(lake_dir(lake), [facility] if facility else None, flagged):
        out_console.print(json.dumps(row, ensure_ascii=False), soft_wrap=True)


@quality_app.command("evaluate")
def evaluate_cmd(
    truth: Annotated[Path, typer.Option(help="The synthetic province's truth folder (DIR/truth).")],
    engine: EngineOpt = None,
    lake: LakeOpt = None,
    without_person_index: WithoutIndexOpt = False,
) -> None:
    """评估 Recall and precision of the rules against the defects a synthetic province injected
    (truth/defects.csv), per kind and overall. The last JSON object printed has
    `overall.recall` and `overall.precision`."""
    from phip.lake.manifest import LakeError
    from phip.quality.evaluate import evaluate, read_truth, refused_records
    from phip.quality.run import run_rules

    if not (truth / "defects.csv").exists():
        console.print(f"[red]{truth / 'defects.csv'} not found[/red]")
        raise typer.Exit(2)
    folder = lake_dir(lake)
    try:
        result = run_rules(folder, _engine(engine), without_person_index=without_person_index)
    except LakeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _warn(result.warnings)
    report = evaluate(result.findings, read_truth(truth), refused=refused_records(folder))
    table = Table("kind", "injected", "detected", "recall", "flagged", "precision", "rules")
    for kind, v in report["kinds"].items():
        table.add_row(
            kind,
            str(v["injected"]),
            str(v["detected"]),
            str(v["recall"]),
            str(v["flagged"]),
            str(v["precision"]),
            ", ".join(v["rules"]),
        )
    console.print(table)
    out_console.print_json(json.dumps(report, ensure_ascii=False))
