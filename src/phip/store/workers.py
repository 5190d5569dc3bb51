"""Worker processes for CPU-bound batch work (import, lake build) that start clean.

Workers come from a fork server (a fresh, single-threaded process), never by forking the caller:
a server process has threads (requests, background jobs) and forking it copies their locks and
half-used crypto contexts into the child, which can then hang or crash. The data key in force in
the caller is handed to every worker, so they encrypt and pseudonymise with the same key (work
that handles no personal data in the store, such as generating a synthetic province, asks for
none).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.pool import Pool
from typing import Any

from phip.store import protect


def _start(data_key: str | None, init: Callable[..., None] | None, args: tuple[Any, ...]) -> None:
    if data_key is not None:
        protect.configure(data_key)
    if init is not None:
        init(*args)


def pool(
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    data_key: bool = True,
) -> Pool:
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    key = protect.current_key() if data_key else None
    return ctx.Pool(workers, initializer=_start, initargs=(key, initializer, initargs))
