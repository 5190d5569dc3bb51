"""Alembic environment: the platform's metadata, the URL handed in by `phip.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from phip.store.db import Base, import_models

import_models()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through phip.store.migrate.upgrade()")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
