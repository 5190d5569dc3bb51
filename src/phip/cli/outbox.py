"""`phip outbox …`: the store's outbox (work that follows a commit): status, delivery, retries."""

from __future__ import annotations

import json

import typer
from rich.console import Console

out_console = Console()
outbox_app = typer.Typer(
    help="事件发件箱 The outbox: work that follows a commit (e.g. linking a Patient).", no_args_is_help=True
)


def _session():  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    return Session(engine)


@outbox_app.command("status")
def outbox_status() -> None:
    """发件箱状态 Each subscriber's position, pending events, failures and parked events."""
    from phip.store import outbox

    with _session() as s:
        out_console.print_json(json.dumps(outbox.status(s), ensure_ascii=False))


@outbox_app.command("deliver")
def outbox_deliver() -> None:
    """投递事件 Deliver every pending event to its subscribers (what the server does at start and
    every few seconds); exit 1 when a subscriber failed."""
    from phip.settings import get_settings
    from phip.store import outbox

    with _session() as s:
        result = outbox.deliver(s, outbox.context(get_settings().var_dir))
    out_console.print_json(json.dumps(result.as_dict()))
    if result.failed:
        raise typer.Exit(1)


@outbox_app.command("retry")
def outbox_retry() -> None:
    """重试搁置事件 Deliver the parked events again, one at a time."""
    from phip.settings import get_settings
    from phip.store import outbox

    with _session() as s:
        done = outbox.retry_parked(s, outbox.context(get_settings().var_dir))
    out_console.print_json(json.dumps({"delivered": done}))
