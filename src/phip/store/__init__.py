"""The operational database: engine and session handling (SQLite WAL by default, PostgreSQL in
production). The versioned FHIR resource repository lands here with the exchange capability."""

from phip.store.db import Base, get_engine, init_db, make_engine, session_scope, upsert

__all__ = ["Base", "get_engine", "init_db", "make_engine", "session_scope", "upsert"]
