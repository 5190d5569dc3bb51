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
from phip.security import tokens
from phip.security.access import Access
from phip.security.principals import Principal
from phip.settings import Settings
from phip.web.console.i18n import LANG_COOKIE, Translator, pick_locale
from phip.web.deps import CSRF_HEADER, SESSION_COOKIE, csrf_token, verify_token

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

#: page id → its path; opening page `p` is the access-policy action `console.p`
PAGES: dict[str, str] = {
    "overview": "/",
    "explorer": "/explorer",
    "connection": "/connection",
    "reporting": "/reporting",
    "quality": "/quality",
    "identity": "/identity",
    "records": "/records",
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
    access_: Access | None = None

    @property
    def access(self) -> Access:
        """The logged-in caller's access (pages that need one are behind `page_context`)."""
        assert self.access_ is not None
        return self.access_

    @property
    def csrf(self) -> str:
        return csrf_token(self.token, self.settings.secret_key) if self.token else ""

    def nav(self) -> list[tuple[str, str]]:
        if self.access_ is None:
            return []
        return [(page, path) for page, path in PAGES.items() if self.access_.allows(f"console.{page}")]

    def role_name(self) -> str:
        return self.access_.role_label(self.t.lang) if self.access_ is not None else ""

    def facility_view(self) -> str | None:
        """The facility a caller whose area is one facility sees (None for area roles)."""
        if self.access_ is None:
            return None
        area = self.access_.area()
        return area.facility if area.kind == "facility" else None

    def home_unit(self) -> str | None:
        """The org unit whose subtree the caller sees (None for facility roles)."""
        if self.access_ is None:
            return None
        area = self.access_.area()
        return area.unit if area.kind in ("province", "subtree") else None

    def unit_in_scope(self, code: str) -> OrgUnit | None:
        """The org unit if the caller may see it (it lies in their subtree)."""
        if self.access_ is None or not self.access_.sees_unit(code):
            return None
        return self.session.get(OrgUnit, code)

    def facility_in_scope(self, code: str) -> Facility | None:
        if self.access_ is None or not self.access_.sees_facility(code):
            return None
        return self.session.get(Facility, code)

    def check_csrf(self) -> None:
        """A console POST must carry the page's anti-forgery value (HTMX sends it as a header)."""
        sent = self.request.headers.get(CSRF_HEADER, "")
        if not self.csrf or not hmac.compare_digest(sent, self.csrf):
            raise self.deny("console-csrf", self.request.url.path, "missing or wrong anti-forgery token")

    def deny(self, action: str, target: str, detail: str = "") -> Forbidden:
        if self.access_ is not None:
            self.access_.log(action, target, "denied")
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
            ctx.access_ = Access(ctx.who, session, settings.province)
        except tokens.TokenError:
            ctx.who = None
    return ctx


def page_context(request: Request, session: Session, page: str) -> Ctx:
    """The context of a page the caller's role must allow; otherwise login or 403 (audited)."""
    ctx = context(request, session)
    if ctx.who is None or ctx.who.kind != "staff":
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if not ctx.access.allows(f"console.{page}"):
        raise ctx.deny(f"console-{page}", "console", ctx.t("forbidden_text"))
    return ctx


def render(ctx: Ctx, template: str, status: int = 200, **values: Any) -> Any:
    return templates.TemplateResponse(
        ctx.request,
        template,
        {"ctx": ctx, "t": ctx.t, "who": ctx.who, **values},
        status_code=status,
    )
