"""The server's background work. At start: bulk jobs a stopped process left behind are failed and
their files deleted. At start and then every `background_interval_seconds`: the outbox's
pending events are delivered (work a crash or a busy request left behind), workflow timers that
are due fire, and bulk files past their retention are deleted. Runs in a worker thread, so
requests are never held up by it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from phip import workflow
from phip.exchange import bulk
from phip.store import outbox

log = logging.getLogger(__name__)

Job = Callable[[Session, Any], Any]


def _purge_bulk(session: Session, settings: Any) -> int:
    return bulk.purge(session.get_bind(), timedelta(hours=settings.bulk_retention_hours))  # type: ignore[arg-type]


def _recover_bulk(session: Session, settings: Any) -> int:
    return bulk.recover_interrupted(session.get_bind(), Path(settings.var_dir) / "bulk")  # type: ignore[arg-type]


#: jobs run once when the server starts, before the first tick
AT_START: list[tuple[str, Job]] = [("bulk-recovery", _recover_bulk)]
#: jobs run at each tick, in order: (name, job(session, settings))
JOBS: list[tuple[str, Job]] = [
    # bounded per tick, so a backlog neither holds the start-up nor starves the other jobs
    ("outbox", lambda s, settings: outbox.deliver(s, outbox.context(settings.var_dir), max_batches=20)),
    ("workflow-timers", lambda s, settings: workflow.fire_due(s)),
    ("bulk-retention", _purge_bulk),
]


def tick(app: FastAPI, jobs: list[tuple[str, Job]] | None = None) -> None:
    """One round of every background job (each in its own session; one failing stops no other)."""
    for name, job in JOBS if jobs is None else jobs:
        try:
            with Session(app.state.engine) as session:
                job(session, app.state.settings)
        except Exception as exc:  # logged without its message, which may hold personal data
            log.warning("background job %s failed: %s", name, type(exc).__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `tick` at start-up, then every interval until the server stops."""
    await asyncio.to_thread(tick, app, AT_START)
    await asyncio.to_thread(tick, app)

    async def loop() -> None:
        while True:
            await asyncio.sleep(app.state.settings.background_interval_seconds)
            await asyncio.to_thread(tick, app)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
