"""A fresh store (SQLite, or a schema on the session's PostgreSQL) for each test of the store."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from phip.store import init_db, make_engine


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()
