"""The resident electronic health card over HTTP: facilities verify scanned codes; residents get
their current code as a QR image."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import select

from phip.identity import card, persons
from phip.identity.card_usage import usage as card_usage_rows
from phip.identity.models import PersonRecordRow
from phip.security.access import Access
from phip.web.deps import allow
from phip.web.outcome import ApiError

router = APIRouter(prefix="/api/card", tags=["health card"])


class VerifyIn(BaseModel):
    token: str
    scene: str
    channel: str


@router.post("/verify")
def verify(body: VerifyIn, access: Access = allow("card.verify", "card-verify")) -> dict[str, Any]:
    """A facility scans a resident's code: who it is (the person, and the Patient records of
    them this facility may see), recorded as a card-use event with scene and channel."""
    session, facility = access.session, access.area().facility or "-"
    if body.scene not in card.SCENES or body.channel not in card.CHANNELS:
        raise ApiError(400, "invalid", f"scene must be one of {card.SCENES}, channel one of {card.CHANNELS}")
    try:
        verified = card.verify(session, body.token, facility)
    except card.CardError as exc:
        card.record_use(session, facility, body.scene, body.channel, exc.code, token=body.token)
        access.log("card-verify", "card", exc.code)
        session.commit()
        raise ApiError(400 if exc.code != "revoked" else 410, exc.code, str(exc)) from exc
    person = persons.resolve(session, verified.person_id)  # a card of a merged person finds the survivor
    records = session.scalars(
        select(PersonRecordRow.record_id).where(PersonRecordRow.person_id == person)
    ).all()
    repo = access.repo()
    visible = sorted(
        r for r in records if r.startswith("Patient/") and repo.exists("Patient", r.split("/", 1)[1])
    )
    card.record_use(session, facility, body.scene, body.channel, "ok", verified)
    access.log("card-verify", f"card:{verified.card_id}", "ok", body.scene)
    session.commit()
    return {"outcome": "ok", "card": verified.card_id, "person": person, "patients": visible}


@router.get("/qr.svg")
def qr(access: Access = allow("card.show", "card-qr")) -> Response:
    """The signed-in resident's current code (changes every minute), as an SVG QR image."""
    session = access.session
    person = session.scalars(
        select(PersonRecordRow.person_id).where(
            PersonRecordRow.record_id.in_([f"Patient/{p}" for p in access.patient_ids]),
            PersonRecordRow.person_id.is_not(None),
        )
    ).first()
    if person is None:
        raise ApiError(404, "not-found", "no person index entry for this resident yet")
    c = card.issue_card(session, person)
    access.log("card-qr", f"card:{c.card_id}")
    session.commit()
    return Response(card.qr_svg(card.issue_token(c.card_id)), media_type="image/svg+xml")


@router.get("/usage")
def card_usage(
    since: datetime | None = None,
    until: datetime | None = None,
    access: Access = allow("card.usage", "card-usage"),
) -> dict[str, Any]:
    """Card scans per facility by scene, channel and outcome (a period with `since`/`until`),
    within the caller's scope: administrators and statisticians their org units, a facility
    administrator their facility."""
    area = access.area()
    path = area.path if area.kind == "subtree" else None
    rows = card_usage_rows(access.session, since, until, path, area.facility)
    access.log("card-usage", "card")
    access.session.commit()
    return {"rows": rows}
