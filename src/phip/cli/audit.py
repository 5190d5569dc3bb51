"""`phip audit …`: the audit log (verify, checkpoint)."""

from __future__ import annotations

import json

import typer
from rich.console import Console

console = Console(stderr=True)
out_console = Console()
audit_app = typer.Typer(help="审计 The audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计日志 Verify the audit log's keyed chain, its head and its checkpoints; exit 1 if an
    entry was altered, inserted or removed, the tail was cut, the log was wiped or a checkpoint
    was forged."""
    from sqlalchemy.orm import Session

    from phip.security.audit import verify
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        result = verify(s)
    out_console.print_json(json.dumps(result.as_dict()))
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """审计检查点 Verify the audit log, then append a MACed checkpoint of its newest entry to the
    checkpoint file (PHIP_AUDIT_CHECKPOINT_DIR); exit 1, writing nothing, if it does not verify."""
    from sqlalchemy.orm import Session

    from phip.security.audit import checkpoint, checkpoint_dir
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        result, cp = checkpoint(s)
    out: dict[str, object] = {**result.as_dict(), "checkpoint": cp}
    if cp is not None:
        out["file"] = str(checkpoint_dir() / "checkpoints.ndjson")
    out_console.print_json(json.dumps(out))
    if not result.ok:
        raise typer.Exit(1)
