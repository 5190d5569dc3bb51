"""`phip empi …`: batch linkage of person records and its evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from phip.identity.person import PersonRecord

empi_app = typer.Typer(help="主索引 The master person index (EMPI).", no_args_is_help=True)
console = Console(stderr=True)
out_console = Console()


def _records(path: Path) -> list[PersonRecord]:
    from phip.identity.features import patients_in, read_csv

    if path.is_dir():
        folder = path / "submissions" if (path / "submissions").is_dir() else path
        return list(patients_in(folder))
    return read_csv(path)


def _check_engine(engine: str | None) -> None:
    from phip.engines import ENGINES

    if engine is not None and engine not in ENGINES:
        console.print(f"[red]--engine must be {' or '.join(ENGINES)}, not {engine}[/red]")
        raise typer.Exit(2)


@empi_app.command("link")
def link_cmd(
    input: Annotated[
        Path, typer.Option("--input", help="CSV: record_id,name,sex,birth_date,id_number,phone,address")
    ],
    output: Annotated[Path, typer.Option("--output", help="CSV written: record_id,cluster_id")],
    model: Annotated[
        Path | None, typer.Option(help="a trained model (JSON); trained on the input when absent")
    ] = None,
    save_model: Annotated[Path | None, typer.Option(help="write the model used to this JSON file")] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: the PHIP_ENGINE setting)")
    ] = None,
) -> None:
    """人员关联 Link person records: one output row per input record with its person cluster."""
    from phip.identity import splink_model
    from phip.identity.linkage import link, write_clusters

    _check_engine(engine)
    try:
        records = _records(input)
    except (OSError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    trained, tf = splink_model.load(model) if model else (None, None)
    try:
        with console.status(f"linking {len(records):,} records"):
            result = link(records, trained, tf, engine)
    except splink_model.TrainingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    write_clusters(result, records, output)
    if save_model:
        splink_model.save(result.model, save_model, result.term_frequencies, len(records))
    summary = {
        "records": len(records),
        "clusters": len(set(result.clusters.values())),
        "pairs_scored": result.pairs_scored,
        "possible_matches": len(result.possible),
        "output": str(output),
    }
    out_console.print_json(json.dumps(summary))


@empi_app.command("evaluate")
def evaluate_cmd(
    path: Annotated[Path, typer.Argument(help="a synthetic province folder, or a contract CSV")],
    truth: Annotated[
        Path | None, typer.Option(help="CSV record_id,person_id (default: the province's truth)")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: the PHIP_ENGINE setting)")
    ] = None,
) -> None:
    """评估 Pairwise precision, recall and F1 of the linkage against known truth, and blocking recall."""
    from phip.identity.linkage import blocking_recall, link, pairwise_scores, read_truth, truth_from_ids
    from phip.identity.splink_model import TrainingError
    from phip.settings import get_settings

    _check_engine(engine)
    records = _records(path)
    if truth is not None:
        known = read_truth(truth)
    elif path.is_dir() and (path / "truth" / "persons.csv").is_file():
        known = read_truth(path / "truth" / "persons.csv")
    else:
        found = truth_from_ids(records)
        if found is None:
            console.print("[red]no truth: give --truth (record_id,person_id)[/red]")
            raise typer.Exit(2)
        known = found
    try:
        with console.status(f"linking {len(records):,} records"):
            result = link(records, engine=engine)
    except TrainingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    scores: dict[str, Any] = dict(pairwise_scores(result.clusters, known))
    scores["blocking"] = blocking_recall(records, known)
    scores["pairs_scored"] = result.pairs_scored
    scores["possible_matches"] = len(result.possible)
    scores["engine"] = engine or get_settings().engine
    out_console.print_json(json.dumps(scores))


@empi_app.command("link-store")
def link_store_cmd(
    retrain: Annotated[bool, typer.Option(help="train a new model (else use the saved one)")] = True,
) -> None:
    """关联库内人员 Link every Patient in the store to a person, fill the person index for real-time
    matching and `Patient/$match`, and save the model under the var directory."""
    from sqlalchemy.orm import Session

    from phip.identity.splink_model import TrainingError
    from phip.identity.store_link import link_store
    from phip.settings import get_settings
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    try:
        with Session(engine) as s, console.status("linking the store's Patients"):
            summary = link_store(s, get_settings().var_dir, retrain)
    except TrainingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    out_console.print_json(json.dumps(summary))


@empi_app.command("link-pending")
def link_pending_cmd() -> None:
    """实时关联新数据 Link, one by one with the saved model, every Patient stored, changed or deleted
    since the last linking (what `phip ingest` does after an import); resumable."""
    from rich.progress import Progress
    from sqlalchemy.orm import Session

    from phip.identity.events import link_pending
    from phip.settings import get_settings
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s, Progress(console=console) as bar:
        summary = link_pending(s, get_settings().var_dir, bar)
    if summary["model"] is None:
        console.print("[yellow]no identity model yet: run `phip empi link-store` first[/yellow]")
    out_console.print_json(json.dumps(summary))
