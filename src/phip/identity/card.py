"""The resident electronic health card (电子健康卡): one card per person, and a dynamic QR code.

A code is `PHIP1` + base32 of card id (8 bytes) ‖ time window (4) ‖ nonce (4) ‖ MAC (10). It
carries no personal data: the card id is random. The MAC is HMAC-SM3 under a key that rotates
daily (derived from the data key), over everything before it. A code is valid in its 60-second
window and the next one (clock skew); older is `expired`, a wrong MAC `forged`, a card that is
not active `revoked`, and a code already taken at another facility `replayed` (a photographed
code used elsewhere). Verification does no database work beyond the card row and the replay
check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity.models import CardUsage, HealthCard
from phip.store.protect import hmac_sm3, keys

PREFIX = "PHIP1"
WINDOW_SECONDS = 60
MAC_BYTES = 10
SCENES = ("registration", "payment", "pharmacy", "record-query")
CHANNELS = ("counter", "kiosk", "doctor-workstation", "app")


class CardError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=8)
def _day_key(master: bytes, day: int) -> bytes:
    return hmac_sm3(master, b"phip-card|" + str(day).encode())


@lru_cache(maxsize=4)
def _master(data_key: bytes) -> bytes:
    return hmac_sm3(data_key, b"phip-card")


def _mac(window: int, body: bytes) -> bytes:
    master = _master(keys()[0])
    return hmac_sm3(_day_key(master, window * WINDOW_SECONDS // 86400), body)[:MAC_BYTES]


def window_of(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // WINDOW_SECONDS)


def issue_token(card_id: str, now: float | None = None) -> str:
    """The code a resident's app shows now (it changes every window)."""
    body = bytes.fromhex(card_id) + struct.pack(">I", window_of(now)) + os.urandom(4)
    return PREFIX + base64.b32encode(body + _mac(window_of(now), body)).decode().rstrip("=")


@dataclass(frozen=True)
class Verified:
    card_id: str
    person_id: str
    window: int
    digest: str


def check_token(token: str, now: float | None = None) -> tuple[str, int, str]:
    """(card id, window, digest) of an authentic, current code; CardError otherwise."""
    if not token.startswith(PREFIX):
        raise CardError("forged", "not a PHIP health card code")
    raw = token[len(PREFIX) :]
    try:
        data = base64.b32decode(raw + "=" * (-len(raw) % 8))
    except ValueError as exc:
        raise CardError("forged", "not a PHIP health card code") from exc
    if len(data) != 16 + MAC_BYTES:
        raise CardError("forged", "not a PHIP health card code")
    body, mac = data[:16], data[16:]
    window = struct.unpack(">I", body[8:12])[0]
    if not hmac.compare_digest(_mac(window, body), mac):
        raise CardError("forged", "the code's signature does not verify")
    current = window_of(now)
    if window < current - 1:
        raise CardError("expired", "the code has expired: ask for a fresh one")
    if window > current + 1:
        raise CardError("forged", "the code is dated in the future")
    return body[:8].hex(), window, hashlib.sha256(data).hexdigest()


def verify(session: Session, token: str, facility: str, now: float | None = None) -> Verified:
    """Check a scanned code for `facility`: authentic, current, card active, not replayed."""
    card_id, window, digest = check_token(token, now)
    # two indexed look-ups straight to the driver: verification is on every registration desk
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    row = conn.exec_driver_sql(
        f"SELECT person_id, status FROM health_card WHERE card_id = {mark}", (card_id,)
    ).first()
    if row is None or row[1] != "active":
        raise CardError("revoked", "the card is not active")
    elsewhere = conn.exec_driver_sql(
        f"SELECT 1 FROM card_usage WHERE token_digest = {mark} AND facility <> {mark}"
        " AND outcome = 'ok' LIMIT 1",
        (digest, facility),
    ).first()
    if elsewhere is not None:
        raise CardError("replayed", "this code was already used at another facility")
    return Verified(card_id, row[0], window, digest)


def record_use(
    session: Session,
    facility: str,
    scene: str,
    channel: str,
    outcome: str,
    verified: Verified | None = None,
    token: str = "",
) -> None:
    digest = verified.digest if verified else hashlib.sha256(token.encode()).hexdigest()
    session.add(
        CardUsage(
            card_id=verified.card_id if verified else None,
            person_id=verified.person_id if verified else None,
            facility=facility,
            scene=scene,
            channel=channel,
            at=datetime.now(UTC),
            outcome=outcome,
            token_digest=digest,
        )
    )
    session.flush()  # the replay check reads the table directly


# ---- card lifecycle -------------------------------------------------------------------------------
def active_card(session: Session, person_id: str) -> HealthCard | None:
    return session.scalars(
        select(HealthCard).where(HealthCard.person_id == person_id, HealthCard.status == "active")
    ).first()


def issue_card(session: Session, person_id: str) -> HealthCard:
    """The person's card; a new one when they have none (one active card per person)."""
    card = active_card(session, person_id)
    if card is not None:
        return card
    card = HealthCard(
        card_id=secrets.token_hex(8), person_id=person_id, status="active", issued_at=datetime.now(UTC)
    )
    session.add(card)
    session.flush()
    return card


def revoke_card(session: Session, card_id: str) -> None:
    card = session.get(HealthCard, card_id)
    if card is None:
        raise CardError("not-found", "no such card")
    card.status, card.ended_at = "revoked", datetime.now(UTC)
    session.flush()  # verification reads the table directly


def reissue_card(session: Session, person_id: str) -> HealthCard:
    """A new card replacing the active one (a lost phone): codes of the old card stop working."""
    old = active_card(session, person_id)
    if old is not None:
        old.status, old.ended_at = "replaced", datetime.now(UTC)
        session.flush()
    card = issue_card(session, person_id)
    card.replaces = old.card_id if old else None
    return card


def qr_svg(token: str) -> str:
    """The code as an SVG QR image (rendered on demand, nothing stored)."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buf, kind="svg", scale=4, xmldecl=False)
    return buf.getvalue().decode()
