"""`phip accounts …` and `phip audit …`: callers, and the log of what they did."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out_console = Console()

accounts_app = typer.Typer(
    help="账号 Facility clients, staff users and resident accounts.", no_args_is_help=True
)


@accounts_app.command("client")
def accounts_client(
    client_id: Annotated[str, typer.Argument(help="Client id.")],
    facility: Annotated[str, typer.Option(help="Facility code the client writes as.")],
    secret: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Client secret.")],
) -> None:
    """添加机构客户端 Create or reset a facility client (client credentials)."""
    from sqlalchemy.orm import Session

    from phip.security.accounts import add_client
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        add_client(s, client_id, secret, facility)
        s.commit()
    out_console.print("ok")


@accounts_app.command("staff")
def accounts_staff(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(
            help="clinician, facility_admin, county_admin, prefecture_admin, "
            "province_admin, statistician, public_health or auditor"
        ),
    ],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Password.")],
    org_unit: Annotated[
        str | None, typer.Option(help="Org unit code (administrators, public health).")
    ] = None,
    facility: Annotated[str | None, typer.Option(help="Facility code (clinicians, facility admins).")] = None,
) -> None:
    """添加工作人员 Create or reset a staff user."""
    from sqlalchemy.orm import Session

    from phip.security.accounts import add_staff
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        try:
            add_staff(s, username, password, role, org_unit, facility)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        s.commit()
    out_console.print("ok")


@accounts_app.command("demo")
def accounts_demo(
    registry: Annotated[Path, typer.Argument(help="The registry folder of a synthetic province.")],
) -> None:
    """演示账号 Create one demo login per role (demo mode only) and print them."""
    import csv as _csv

    from sqlalchemy.orm import Session

    from phip.security.accounts import add_client, add_staff
    from phip.settings import demo_secrets, get_settings
    from phip.store import get_engine, init_db

    settings = get_settings()
    if not settings.demo:
        console.print("[red]demo accounts exist only in demo mode (PHIP_DEMO=true)[/red]")
        raise typer.Exit(2)
    with open(registry / "facilities.csv", encoding="utf-8") as f:
        facilities = [r for r in _csv.DictReader(f) if r["connected"] == "1"]
    hospital = next(r for r in facilities if r["tier"] == "hospital")
    engine = get_engine()
    init_db(engine)
    # generated at the demo's first run, kept with its other secrets: never a published password
    password = demo_secrets(settings.var_dir)["password"]
    rows = [
        ("province", "province_admin", settings.province, None),
        ("prefecture", "prefecture_admin", hospital["prefecture_code"], None),
        ("county", "county_admin", hospital["county_code"], None),
        ("statistician", "statistician", settings.province, None),
        ("publichealth", "public_health", hospital["county_code"], None),
        ("auditor", "auditor", settings.province, None),
        ("clinician", "clinician", None, hospital["code"]),
        ("facilityadmin", "facility_admin", None, hospital["code"]),
    ]
    table = Table(title=f"演示账号 demo logins (password: {password})")
    for col in ("username", "role", "scope"):
        table.add_column(col)
    with Session(engine) as s:
        for username, role, unit, fac in rows:
            add_staff(s, username, password, role, org_unit=unit, facility=fac)
            table.add_row(username, role, unit or fac or "")
        add_client(s, "demo-his", password, hospital["code"])
        table.add_row("demo-his (client)", "facility_client", hospital["code"])
        s.commit()
    out_console.print(table)


@accounts_app.command("disable")
def accounts_disable(
    name: Annotated[str, typer.Argument(help="Login name or client id.")],
    kind: Annotated[str, typer.Option(help="staff, resident or facility (a facility client).")] = "staff",
) -> None:
    """停用账号 Disable an account and end all its sessions now (its tokens stop working at the
    next request). Creating the account again with `staff` or `client` re-enables it."""
    from sqlalchemy.orm import Session

    from phip.security.accounts import disable
    from phip.store import get_engine, init_db

    engine = get_engine()
    init_db(engine)
    with Session(engine) as s:
        try:
            ended = disable(s, kind, name)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        if ended is None:
            console.print(f"[red]no {kind} account {name!r}[/red]")
            raise typer.Exit(1)
        s.commit()
    out_console.print(f"disabled; {ended} sessions ended")
