"""Alembic environment: the platform's metadata, the URL handed in by `phip.store.migrate`.

The schema's history spans every package that keeps tables, so this script, which Alembic runs
and no module imports, is where their models are registered: each `models.py` below declares
its tables on the store's `Base`. A package that adds tables adds its models module here (the
migration test fails while the models and the migrations disagree).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import phip.identity.models
import phip.orgunits.models
import phip.quality.models
import phip.security.models
import phip.store.models
import phip.workflow.models  # noqa: F401
from phip.store.db import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through phip.store.migrate.upgrade()")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
