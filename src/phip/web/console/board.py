"""The facility connection board: connected / not connected by facility type and county, and
each facility's last submission and how long ago it was."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from phip.orgunits.models import OrgUnit
from phip.quality import connection
from phip.standards.facility import BY_CODE
from phip.web.console.base import page_context, render
from phip.web.deps import SessionDep

router = APIRouter(include_in_schema=False)


@router.get("/connection")
def connection_board(request: Request, only_lagging: bool = False, session: Session = SessionDep) -> Response:
    ctx = page_context(request, session, "connection")
    home = session.get(OrgUnit, ctx.home_unit() or "")
    today = ctx.settings.as_of or datetime.now(UTC).date()
    statuses = connection.facilities(
        session, ctx.settings.resolved_lake_dir(), home.path if home else "-", as_of=today
    )
    board = connection.board(session, statuses, ctx.t.lang)
    listed = [s for s in statuses if not only_lagging or not s.connected or s.last_submission is None]
    types = {code: (t.name_zh if ctx.t.lang == "zh" else t.name_en) for code, t in BY_CODE.items()}
    ctx.access.log("console-connection", f"org-unit:{home.code if home else '-'}")
    session.commit()
    return render(
        ctx,
        "connection.html",
        board=board,
        facilities=listed[:500],
        more=max(0, len(listed) - 500),
        today=today,
        types=types,
        only_lagging=only_lagging,
    )
