"""Card-use figures from the usage events (`card_usage`): scans per facility by scene, channel and
outcome over a period, for the card-use indicators (card use per facility; with the visits of the
lake, the share of visits identified by card)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phip.identity.models import CardUsage
from phip.orgunits.models import Facility


def usage(
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    org_path: str | None = None,
    facility: str | None = None,
) -> list[dict[str, Any]]:
    """One row per facility × scene × channel × outcome with its count of scans (and distinct
    cards), limited to facilities under `org_path` or to one `facility`."""
    q = select(
        CardUsage.facility,
        CardUsage.scene,
        CardUsage.channel,
        CardUsage.outcome,
        func.count(),
        func.count(func.distinct(CardUsage.card_id)),
    ).group_by(CardUsage.facility, CardUsage.scene, CardUsage.channel, CardUsage.outcome)
    if since is not None:
        q = q.where(CardUsage.at >= since)
    if until is not None:
        q = q.where(CardUsage.at < until)
    if facility is not None:
        q = q.where(CardUsage.facility == facility)
    if org_path is not None:
        q = q.where(
            CardUsage.facility.in_(
                select(Facility.code).where(Facility.path.startswith(org_path, autoescape=True))
            )
        )
    return [
        {"facility": f, "scene": s, "channel": c, "outcome": o, "scans": int(n), "cards": int(k)}
        for f, s, c, o, n, k in session.execute(q.order_by(CardUsage.facility, CardUsage.scene))
    ]
