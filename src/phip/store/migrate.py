"""Schema migrations (Alembic): `upgrade()` brings a database to the current schema.

The migration scripts live in `store/migrations/versions/`; a new one is generated with
`phip db revision -m "what changed"` after a model change (a test fails while the models and
the migrations disagree).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(str(resources.files("phip.store") / "migrations"))))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    cfg = config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def pending_changes(engine: Engine) -> list[object]:
    """Differences between the models and a migrated database (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from phip.store.db import Base, import_models

    import_models()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"render_as_batch": True})
        return list(compare_metadata(ctx, Base.metadata))
