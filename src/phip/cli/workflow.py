"""`phip workflow …`: the lifecycles the platform runs (machines) and their deadline timers."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

out_console = Console()
workflow_app = typer.Typer(help="工作流 Lifecycles: state machines and their timers.", no_args_is_help=True)


@workflow_app.command("machines")
def workflow_machines() -> None:
    """列出流程 Every lifecycle: its states and the transitions each allows."""
    from phip import workflow

    for m in workflow.machines().values():
        table = Table(title=f"{m.zh} {m.en} ({m.name})")
        for col in ("状态 state", "名称 name", "可转换 transitions", "时限 deadlines"):
            table.add_column(col)
        for s in m.states.values():
            deadlines = ", ".join(f"{d.after} → {d.transition or d.escalate}" for d in m.deadlines_of(s.name))
            table.add_row(s.name, f"{s.zh} {s.en}", ", ".join(m.allowed(s.name)) or "—", deadlines or "—")
        out_console.print(table)


@workflow_app.command("tick")
def workflow_tick() -> None:
    """触发到期时限 Fire the deadline timers that are due (what the server does every few seconds)."""
    from sqlalchemy.orm import Session

    from phip import workflow
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        out_console.print_json(json.dumps(workflow.fire_due(s)))
