"""Identity review in the console: possible duplicate residents side by side (masked where the
role requires), same-person / not-a-match decisions, a person's record with merge and undo
(unmerge). Every action goes through the person-index API handlers, so scope, masking and the
audit log are the API's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.orgunits.models import Facility
from phip.security.access import Access
from phip.web import empi_router
from phip.web.console.base import Ctx, Forbidden, page_context, render
from phip.web.deps import SessionDep
from phip.web.outcome import ApiError

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "sex", "birth_date", "id_number", "phone", "address", "source")


def _api(ctx: Ctx, exc: ApiError) -> Forbidden:
    return Forbidden(ctx, exc.text)


def _steward(request: Request, session: Session) -> Ctx:
    """The identity page's context, for a caller the policy lets steward the person index (the
    API handlers called below demand the same action when they are routes)."""
    ctx = page_context(request, session, "identity")
    ctx.access.require(empi_router.STEWARD, "console-identity", "console")
    return ctx


def _change(request: Request, session: Session, person: str, call: Callable[[Access], Any]) -> Response:
    """A steward's change through the API handler, then HTMX goes to the person's page."""
    ctx = _steward(request, session)
    ctx.check_csrf()
    try:
        call(ctx.access)
    except ApiError as exc:
        raise _api(ctx, exc) from exc
    return Response(status_code=204, headers={"HX-Redirect": f"/identity/person/{person}"})


def _person_records(ctx: Ctx, person: str | None) -> list[dict[str, Any]]:
    """Every record of a person the caller may see (masked as their role requires)."""
    if not person:
        return []
    try:
        return list(empi_router.person(person, ctx.access)["records"])
    except ApiError:
        return []


def _differs(records: list[dict[str, Any]]) -> list[set[str]]:
    """For each record, the fields whose value differs from the person's first record's."""
    if not records:
        return []
    first = records[0]
    return [{f for f in FIELDS if (r.get(f) or "") != (first.get(f) or "")} for r in records]


def review_groups(ctx: Ctx, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queue's pairs grouped by the two persons they would join, each group with every
    record of both persons (the values that differ within a person marked) and its scored pairs."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        left, right = (
            item["left"]["person"] or item["left"]["record"],
            item["right"]["person"] or item["right"]["record"],
        )
        key = (left, right) if left <= right else (right, left)
        if key not in groups:
            people = []
            for pid, own in ((left, item["left"]), (right, item["right"])):
                records = _person_records(ctx, pid) if own["person"] else [own]
                people.append({"person": pid, "records": records, "differs": _differs(records)})
            groups[key] = {"people": people, "items": []}
        groups[key]["items"].append(item)
    shown = [r for g in groups.values() for p in g["people"] for r in p["records"]]
    shown += [item[side] for g in groups.values() for item in g["items"] for side in ("left", "right")]
    codes = {r["source"] for r in shown if r.get("source")}
    rows = ctx.session.execute(select(Facility.code, Facility.name).where(Facility.code.in_(codes))).all()
    names = dict(rows)
    for r in shown:
        r["source_name"] = names.get(r.get("source") or "", r.get("source") or "")
    return list(groups.values())


@router.get("/identity")
def review_page(request: Request, offset: int = 0, session: Session = SessionDep) -> Response:
    ctx = _steward(request, session)
    data = empi_router.review_queue("open", 20, max(0, offset), ctx.access)
    groups = review_groups(ctx, data["items"])
    return render(ctx, "identity.html", data=data, groups=groups, fields=FIELDS, offset=offset)


@router.post("/identity/review/{item_id}")
def review_decide(
    request: Request,
    item_id: int,
    decision: str = Form(...),
    reason: str = Form(""),
    session: Session = SessionDep,
) -> Response:
    """HTMX: decide one pair; answers with the row's new state."""
    ctx = _steward(request, session)
    ctx.check_csrf()
    try:
        event = empi_router.decide(
            item_id, empi_router.DecideIn(decision=decision, reason=reason), ctx.access
        )
    except ApiError as exc:
        return render(
            ctx, "identity_decided.html", status=exc.status, item_id=item_id, event=None, error=str(exc)
        )
    return render(ctx, "identity_decided.html", item_id=item_id, event=event, error="")


@router.get("/identity/person/{person_id}")
def person_page(request: Request, person_id: str, session: Session = SessionDep) -> Response:
    ctx = _steward(request, session)
    try:
        data = empi_router.person(person_id, ctx.access)
    except ApiError as exc:
        if exc.status == 404:
            return render(ctx, "error.html", status=404, title=ctx.t("not_found"), detail=person_id)
        raise _api(ctx, exc) from exc
    codes = {r["source"] for r in data["records"] if r.get("source")}
    names = dict(session.execute(select(Facility.code, Facility.name).where(Facility.code.in_(codes))).all())
    for r in data["records"]:
        r["source_name"] = names.get(r.get("source") or "", r.get("source") or "")
    return render(ctx, "identity_person.html", p=data, fields=FIELDS)


@router.post("/identity/merge")
def merge(
    request: Request,
    source: str = Form(...),
    target: str = Form(...),
    reason: str = Form(""),
    session: Session = SessionDep,
) -> Response:
    body = empi_router.MergeIn(source=source, target=target, reason=reason)
    return _change(request, session, target, lambda access: empi_router.merge(body, access))


@router.post("/identity/decisions/{event_id}/revert")
def revert(
    request: Request,
    event_id: int,
    person: str = Form(...),
    reason: str = Form(""),
    session: Session = SessionDep,
) -> Response:
    body = empi_router.RevertIn(reason=reason)
    return _change(request, session, person, lambda access: empi_router.revert(event_id, body, access))
