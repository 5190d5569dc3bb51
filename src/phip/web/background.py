"""The server's background work: at start, and then every `background_interval_seconds`, deliver
the outbox's pending events (work a crash or a busy request left behind) and fire the workflow
timers that are due. Runs in a worker thread, so requests are never held up by it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from phip.store import outbox

log = logging.getLogger(__name__)

#: jobs run at each tick, in order: (name, job(session, settings))
JOBS: list[tuple[str, Callable[[Session, Any], Any]]] = [
    ("outbox", lambda s, settings: outbox.deliver(s, outbox.context(settings.var_dir))),
]


def tick(app: FastAPI) -> None:
    """One round of every background job (each in its own session; one failing stops no other)."""
    for name, job in JOBS:
        try:
            with Session(app.state.engine) as session:
                job(session, app.state.settings)
        except Exception as exc:  # logged without its message, which may hold personal data
            log.warning("background job %s failed: %s", name, type(exc).__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `tick` at start-up, then every interval until the server stops."""
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
