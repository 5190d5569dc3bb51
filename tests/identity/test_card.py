"""Health card codes: authentic and current ones pass; forged, expired, replayed and revoked fail."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from phip.identity import card
from phip.store import init_db, make_engine


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    init_db(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_a_fresh_code_verifies_and_carries_no_personal_data(session: Session) -> None:
    c = card.issue_card(session, "person-1")
    assert card.issue_card(session, "person-1").card_id == c.card_id  # one active card per person
    token = card.issue_token(c.card_id)
    assert token.startswith("PHIP1") and token[5:].isalnum() and token[5:].isupper()  # QR alphanumeric
    assert "person-1" not in token
    v = card.verify(session, token, "F1")
    assert v.card_id == c.card_id and v.person_id == "person-1"
    assert card.issue_token(c.card_id) != token  # a nonce in every code


def test_forged_codes_are_rejected(session: Session) -> None:
    c = card.issue_card(session, "p")
    token = card.issue_token(c.card_id)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    other_card = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    for bad in (flipped, other_card, "PHIP1", "garbage", token + "AAAA"):
        with pytest.raises(card.CardError) as err:
            card.verify(session, bad, "F1")
        assert err.value.code == "forged"
    future = card.issue_token(c.card_id, now=time.time() + 600)
    with pytest.raises(card.CardError) as err:
        card.verify(session, future, "F1")
    assert err.value.code == "forged"


def test_expired_codes_are_rejected(session: Session) -> None:
    c = card.issue_card(session, "p")
    now = time.time()
    # the previous window (clock skew) is accepted: exactly one window back, whatever the second
    assert card.check_token(card.issue_token(c.card_id, now=now - card.WINDOW_SECONDS), now=now)
    with pytest.raises(card.CardError) as err:
        card.verify(session, card.issue_token(c.card_id, now=now - 180), "F1", now=now)
    assert err.value.code == "expired"


def test_a_code_used_at_one_facility_is_refused_at_another(session: Session) -> None:
    c = card.issue_card(session, "p")
    token = card.issue_token(c.card_id)
    v = card.verify(session, token, "F1")
    card.record_use(session, "F1", "registration", "counter", "ok", v)
    session.flush()
    assert (
        card.verify(session, token, "F1").card_id == c.card_id
    )  # the same facility: pharmacy after registration
    with pytest.raises(card.CardError) as err:
        card.verify(session, token, "F2")
    assert err.value.code == "replayed"


def test_revoked_and_replaced_cards_are_rejected(session: Session) -> None:
    c = card.issue_card(session, "p")
    old_token = card.issue_token(c.card_id)
    new = card.reissue_card(session, "p")
    assert new.card_id != c.card_id and new.replaces == c.card_id
    with pytest.raises(card.CardError) as err:
        card.verify(session, old_token, "F1")
    assert err.value.code == "revoked"
    card.verify(session, card.issue_token(new.card_id), "F1")
    card.revoke_card(session, new.card_id)
    with pytest.raises(card.CardError) as err:
        card.verify(session, card.issue_token(new.card_id), "F1")
    assert err.value.code == "revoked"


def test_qr_image() -> None:
    svg = card.qr_svg(card.issue_token("0123456789abcdef"))
    assert svg.lstrip().startswith("<svg") and "path" in svg
