"""An in-process API with two facilities in different prefectures and one account per role."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from phip.orgunits import OrgUnitService
from phip.security.accounts import add_client, add_resident, add_staff
from phip.settings import Settings
from phip.standards.divisions import get_divisions
from phip.store import get_engine, init_db
from phip.web.app import create_app
from tests.conftest import database_url

F1, F2 = "620102001-C100-01", "620502001-C100-01"  # Lanzhou Chengguan, Tianshui Qinzhou
PASSWORD = "correct horse battery staple"


@dataclass
class Api:
    client: TestClient
    settings: Settings
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who != "anonymous" else {}


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = database_url(request, tmp_path, "api")
    settings = Settings(
        database_url=url,
        secret_key="test-secret-1-for-signing-tokens-only",
        demo=False,
        data_key="0123456789abcdef" * 2,
        var_dir=tmp_path / "var",
    )
    engine = get_engine(url)
    init_db(engine)
    with Session(engine) as s:
        svc = OrgUnitService(s)
        svc.load_divisions(get_divisions("620000"))
        svc.load_facilities(
            [
                {
                    "code": F1,
                    "name": "酒泉路社区卫生服务中心",
                    "type_code": "B100",
                    "tier": "primary",
                    "org_unit_code": "620102001",
                    "connected": True,
                },
                {
                    "code": F2,
                    "name": "天水某卫生院",
                    "type_code": "C100",
                    "tier": "primary",
                    "org_unit_code": "620502001",
                    "connected": True,
                },
            ]
        )
        add_client(s, "f1-his", "secret-1", F1)
        add_client(s, "f2-his", "secret-2", F2)
        add_staff(s, "prov", PASSWORD, "province_admin", org_unit="620000")
        add_staff(s, "lz-county", PASSWORD, "county_admin", org_unit="620102")
        add_staff(s, "ts-county", PASSWORD, "county_admin", org_unit="620502")
        add_staff(s, "doc1", PASSWORD, "clinician", facility=F1)
        add_staff(s, "f1-admin", PASSWORD, "facility_admin", facility=F1)
        add_staff(s, "stat", PASSWORD, "statistician", org_unit="620000")
        add_staff(s, "auditor", PASSWORD, "auditor", org_unit="620000")
        add_resident(s, "resident1", PASSWORD, ["pat-1"])
        s.commit()
    client = TestClient(create_app(settings))
    tokens = {}
    for cid, secret in (("f1-his", "secret-1"), ("f2-his", "secret-2")):
        r = client.post("/api/auth/token", json={"client_id": cid, "client_secret": secret})
        assert r.status_code == 200, r.text
        tokens[cid] = r.json()["access_token"]
    for user in ("prov", "lz-county", "ts-county", "doc1", "f1-admin", "stat", "auditor", "resident1"):
        r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[user] = r.json()["access_token"]
    yield Api(client, settings, tokens)
    engine.dispose()


@pytest.fixture(scope="session")
def empi_model(small_province: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """A model trained once on the small province (the API tests' stores are too small to train)."""
    from phip.identity.features import patients_in
    from phip.identity.linkage import link

    trained = link(list(patients_in(small_province / "submissions")))
    return trained.model, trained.term_frequencies


def install_model(api: Api, model: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
    from phip.identity import splink_model
    from phip.identity.store_link import model_path

    splink_model.save(model[0], model_path(api.settings.var_dir), model[1])
