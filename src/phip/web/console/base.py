"""What every console page shares: who is logged in (the session cookie), the language, the
navigation their role allows, the data scope they may drill into, and rendering a template."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility, OrgUnit
from phip.security import audit, tokens
from phip.security.principals import ROLES, STEWARD_ROLES, Principal
from phip.settings import Settings
from phip.web.console.i18n import LANG_COOKIE, Translator, pick_locale
from phip.web.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token, verify_token
from phip.web.indicator_router import READ_ROLES as INDICATOR_ROLES
from phip.web.quality_router import AREA_ROLES

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

#: page id → (path, roles that may open it)
PAGES: dict[str, tuple[str, frozenset[str]]] = {
    "overview": ("/", INDICATOR_ROLES),
    "explorer": ("/explorer", INDICATOR_ROLES),
    "connection": ("/connection", AREA_ROLES),
    "quality": ("/quality", AREA_ROLES | {"facility_admin"}),
    "identity": ("/identity", STEWARD_ROLES),
    "records": ("/records", frozenset({"clinician"})),
}


class LoginRequired(Exception):
    """No valid console session: the handler redirects to the login page."""

    def __init__(self, next_url: str):
        self.next_url = next_url


class Forbidden(Exception):
    """The page or data is outside the caller's role or scope: the handler renders a 403 page."""

    def __init__(self, ctx: Ctx, detail: str = ""):
        self.ctx, self.detail = ctx, detail


@dataclass
class Ctx:
    request: Request
    session: Session
    settings: Settings
    t: Translator
    who: Principal | None = None
    token: str = ""

    @property
    def csrf(self) -> str:
        return csrf_token(self.token, self.settings.secret_key) if self.token else ""

    def nav(self) -> list[tuple[str, str]]:
        if self.who is None:
            return []
        return [(page, path) for page, (path, roles) in PAGES.items() if self.who.role in roles]

    def role_name(self) -> str:
        if self.who is None:
            return ""
        pair = ROLES.get(self.who.role, (self.who.role, self.who.role))
        return pair[0] if self.t.lang == "zh" else pair[1]

    def home_unit(self) -> str | None:
        """The org unit whose subtree the caller sees (None for facility roles)."""
        who = self.who
        if who is None or who.role in ("facility_admin", "clinician", "facility_client"):
            return None
        if who.role in ("province_admin", "statistician", "auditor"):
            return self.settings.province
        return (who.org_path or "-").strip("/").rsplit("/", 1)[-1]

    def unit_in_scope(self, code: str) -> OrgUnit | None:
        """The org unit if the caller may see it (it lies in their subtree)."""
        home = self.home_unit()
        unit = self.session.get(OrgUnit, code)
        if unit is None or home is None:
            return None
        home_row = self.session.get(OrgUnit, home)
        if home_row is None or not unit.path.startswith(home_row.path):
            return None
        return unit

    def facility_in_scope(self, code: str) -> Facility | None:
        fac = self.session.get(Facility, code)
        if fac is None or self.who is None:
            return None
        if self.who.role in ("facility_admin", "clinician"):
            return fac if fac.code == self.who.facility else None
        home = self.home_unit()
        home_row = self.session.get(OrgUnit, home) if home else None
        return fac if home_row is not None and fac.path.startswith(home_row.path) else None

    def check_csrf(self) -> None:
        """A console POST must carry the page's anti-forgery value (HTMX sends it as a header)."""
        sent = self.request.headers.get(CSRF_HEADER, "")
        if not self.csrf or not hmac.compare_digest(sent, self.csrf):
            raise self.deny("console-csrf", self.request.url.path, "missing or wrong anti-forgery token")

    def deny(self, action: str, target: str, detail: str = "") -> Forbidden:
        who = self.who
        if who is not None:
            audit.record(self.session, who.actor, who.role, action, target[:200], "denied")
            self.session.commit()
        return Forbidden(self, detail)


def context(request: Request, session: Session) -> Ctx:
    settings: Settings = request.app.state.settings
    locale = pick_locale(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), settings.locale)
    ctx = Ctx(request, session, settings, Translator(locale))
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        try:
            ctx.who, ctx.token = verify_token(request, token), token
        except tokens.TokenError:
            ctx.who = None
    return ctx


def page_context(request: Request, session: Session, page: str) -> Ctx:
    """The context of a page the caller's role must allow; otherwise login or 403 (audited)."""
    ctx = context(request, session)
    if ctx.who is None or ctx.who.kind != "staff":
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if ctx.who.role not in PAGES[page][1]:
        raise ctx.deny(f"console-{page}", "console", ctx.t("forbidden_text"))
    return ctx


def render(ctx: Ctx, template: str, status: int = 200, **values: Any) -> Any:
    return templates.TemplateResponse(
        ctx.request,
        template,
        {"ctx": ctx, "t": ctx.t, "who": ctx.who, **values},
        status_code=status,
    )
