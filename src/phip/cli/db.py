"""`phip db …`: the operational database's schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

out_console = Console()
db_app = typer.Typer(help="数据库 The operational database: schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """升级数据库结构 Bring the configured database to the current schema (Alembic)."""
    from phip.store import get_engine, init_db

    init_db(get_engine())
    out_console.print("ok")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="What changed.")]) -> None:
    """生成迁移脚本 Generate a migration from the difference between the models and the database."""
    from phip.store import get_engine, init_db
    from phip.store.migrate import revision

    engine = get_engine()
    init_db(engine)
    revision(engine, message)
