"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from sqlalchemy import inspect

from phip.store import init_db, make_engine
from phip.store.migrate import pending_changes


def test_migrations_match_models_and_are_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    init_db(engine)  # running it again changes nothing
    assert pending_changes(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert {
        "resource",
        "resource_history",
        "search_token",
        "quarantine",
        "submission",
        "org_unit",
        "facility",
        "alembic_version",
    } <= tables
    engine.dispose()
