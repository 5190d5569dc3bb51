"""A console over a copy of the session's small province (ingested, linked, lake built,
indicators computed) after one quality round, with one login per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity import review
from phip.identity.models import PersonRecordRow, ReviewItem
from phip.orgunits.models import Facility, OrgUnit
from phip.quality.service import run_round
from phip.security.accounts import add_staff
from phip.settings import Settings
from phip.store import get_engine
from phip.store.models import Resource
from phip.web.app import create_app
from tests.conftest import LakeStore
from tests.quality.conftest import copy_store, drop_copy

PASSWORD = "correct horse battery staple"


@dataclass
class Console:
    app: FastAPI
    settings: Settings
    db_url: str
    lake: Path
    facility: str  # a facility with records and quality findings
    county: str  # its county
    prefecture: str
    far_county: str  # a county in another prefecture
    patient: str  # a Patient record of `facility`
    other_patient: str  # a Patient record of a facility outside `county`
    review_item: int
    clients: dict[str, TestClient] = field(default_factory=dict)

    def client(self, user: str | None) -> TestClient:
        """A browser-like client logged in as `user` (None: not logged in)."""
        key = user or "-"
        if key not in self.clients:
            c = TestClient(self.app, follow_redirects=False)
            if user is not None:
                r = post_login(c, {"username": user, "password": PASSWORD, "next": "/"})
                assert r.status_code == 303, r.text
            self.clients[key] = c
        return self.clients[key]


def post_login(c: TestClient, data: dict[str, str]) -> Any:
    """Submit the login form as a browser does: open it first (it sets the anti-forgery cookie
    and hidden field), then post with the value."""
    c.get("/login")
    return c.post("/login", data={**data, "csrf": c.cookies.get("phip_login_csrf", "")})


USERS = {
    "prov": ("province_admin", "620000", None),
    "pref": ("prefecture_admin", "prefecture", None),
    "county": ("county_admin", "county", None),
    "far": ("county_admin", "far", None),
    "stat": ("statistician", "620000", None),
    "ph": ("public_health", "county", None),
    "fadmin": ("facility_admin", None, "facility"),
    "doc": ("clinician", None, "facility"),
    "auditor": ("auditor", "620000", None),
}


@pytest.fixture(scope="module")
def console(lake_store: LakeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    store = copy_store(lake_store, tmp_path_factory.mktemp("console"))
    settings = Settings(
        database_url=store.db_url,
        secret_key="test-secret-console-for-signing-tokens-only",
        demo=False,
        data_key=lake_store.data_key,
        var_dir=store.var_dir,
        lake_dir=store.lake,
    )
    engine = get_engine(store.db_url)
    with Session(engine) as s:
        run_round(s, store.lake)
        # the facility with the most records, its county, and a county of another prefecture
        fac_code = s.scalar(
            select(Resource.facility)
            .where(Resource.res_type == "Patient", Resource.facility.is_not(None))
            .group_by(Resource.facility)
            .order_by(Resource.facility)
            .limit(1)
        )
        fac = s.get(Facility, fac_code)
        assert fac is not None
        far = s.scalar(select(Facility).where(Facility.prefecture_code != fac.prefecture_code).limit(1))
        assert far is not None, "the small province has facilities in one prefecture only"
        county_row = s.get(OrgUnit, fac.county_code)
        assert county_row is not None
        county_path = county_row.path
        patient = s.scalar(
            select(Resource.res_id)
            .where(Resource.res_type == "Patient", Resource.facility == fac.code)
            .limit(1)
        )
        other_patient = s.scalar(
            select(Resource.res_id)
            .where(Resource.res_type == "Patient", Resource.facility != fac.code)
            .where(~Resource.org_path.startswith(county_path))
            .limit(1)
        )
        assert patient and other_patient
        # a pair of the facility's own records in different persons, queued for review
        rows = s.execute(
            select(PersonRecordRow.record_id, PersonRecordRow.person_id)
            .join(Resource, Resource.res_id == _rid(PersonRecordRow.record_id))
            .where(Resource.res_type == "Patient", Resource.facility == fac.code)
            .limit(50)
        ).all()
        by_person: dict[str, str] = {}
        for rid, pid in rows:
            by_person.setdefault(pid, rid)
        (a, pa), (b, pb) = list(by_person.items())[:2]
        review.offer(s, [(pa, pb, 0.7)], {pa: a, pb: b})
        item = s.scalar(
            select(ReviewItem.id).where(ReviewItem.status == "open").order_by(ReviewItem.id.desc())
        )
        assert item is not None
        codes = {"620000": "620000", "prefecture": fac.prefecture_code, "county": fac.county_code}
        codes["far"] = far.county_code
        for name, (role, unit, f) in USERS.items():
            add_staff(
                s,
                name,
                PASSWORD,
                role,
                org_unit=codes.get(unit or ""),
                facility=fac.code if f else None,
            )
        s.commit()
        con = Console(
            create_app(settings),
            settings,
            store.db_url,
            store.lake,
            fac.code,
            fac.county_code,
            fac.prefecture_code,
            far.county_code,
            patient,
            other_patient,
            item,
        )
    yield con
    for c in con.clients.values():
        c.close()
    drop_copy(store)


def _rid(record_id):  # type: ignore[no-untyped-def]
    """`Patient/<id>` → `<id>` in SQL."""
    from sqlalchemy import func

    return func.substr(record_id, len("Patient/") + 1)
