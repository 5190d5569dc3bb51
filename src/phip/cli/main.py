"""`phip`: the command line of the platform (Typer + Rich)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from phip import __version__
from phip.cli import bench as bench_cmd
from phip.cli import demo as demo_cmd
from phip.cli import ingest as ingest_cmd
from phip.cli import synth as synth_cmd
from phip.cli.accounts import accounts_app
from phip.cli.audit import audit_app
from phip.cli.db import db_app
from phip.cli.empi import empi_app
from phip.cli.indicators import indicators_app
from phip.cli.lake import lake_app
from phip.cli.orgunits import orgunits_app
from phip.cli.outbox import outbox_app
from phip.cli.quality import quality_app
from phip.cli.sof import sof_app
from phip.cli.workflow import workflow_app

app = typer.Typer(
    help="全民健康信息平台 PHIP, the Population Health Information Platform.", no_args_is_help=True
)
app.add_typer(orgunits_app, name="orgunits")
app.command("bench")(bench_cmd.bench)
app.command("demo")(demo_cmd.demo)
app.command("synth")(synth_cmd.synth)
app.command("ingest")(ingest_cmd.ingest)
app.add_typer(empi_app, name="empi")
app.add_typer(sof_app, name="sof")
app.add_typer(lake_app, name="lake")
app.add_typer(indicators_app, name="indicators")
app.add_typer(quality_app, name="quality")
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(workflow_app, name="workflow")
console = Console(stderr=True)
out_console = Console()


@app.command()
def version() -> None:
    """显示版本 Print the version."""
    out_console.print(__version__)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """启动服务 Serve FHIR R4 at /fhir, the platform API at /api, OpenAPI at /openapi.json."""
    import uvicorn

    from phip.web.app import create_app
    from phip.web.serving import ClearH11Protocol

    web = create_app()  # refuses to start (settings) before anything claims to be served
    console.print(
        f"控制台 console: http://{host}:{port}/ · FHIR: http://{host}:{port}/fhir/metadata · "
        f"API: http://{host}:{port}/docs"
    )
    # no `server: uvicorn` header: what runs behind the port is nobody's business; a raw UTF-8
    # address (curl '…?name=张') is refused with an explanation, not a bare 400
    uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False, http=ClearH11Protocol)


def main() -> None:
    """The `phip` command: settings that do not allow running are a clear message, not a trace."""
    from phip.settings import SettingsError

    try:
        app()
    except SettingsError as exc:
        console.print(f"[red]设置错误 settings: {exc}[/red]")
        raise SystemExit(2) from None
