"""Work that follows a commit survives a crash: a Patient committed through the API whose process
dies before linking it is linked when the server starts again (the event waits in the outbox)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.identity.models import PersonRecordRow
from phip.standards import idcard
from phip.store import get_engine, outbox
from phip.web import deps
from phip.web.app import create_app
from tests.web.conftest import Api, install_model
from tests.web.test_empi_api import NUM, _setup
from tests.web.test_fhir_api import patient, put


def _linked(api: Api) -> dict[str, str | None]:
    with Session(get_engine(api.settings.database_url)) as s:
        return dict(s.execute(select(PersonRecordRow.record_id, PersonRecordRow.person_id)).all())


def test_a_crash_between_commit_and_linking_is_made_good_at_restart(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _setup(api, empi_model)

    def crash(*_args: object, **_kwargs: object) -> None:
        """The process dies right after the commit: nothing is delivered. (Raising SystemExit
        in the request's teardown instead can leave the test client's portal waiting forever.)"""

    with monkeypatch.context() as m:
        m.setattr(deps.outbox, "deliver", crash)
        assert put(api, "f2-his", patient("crash-zl", "张丽", NUM)).status_code == 201
    assert "Patient/crash-zl" not in _linked(api)  # committed, not linked
    with Session(get_engine(api.settings.database_url)) as s:
        assert s.get_bind().dialect.name in ("sqlite", "postgresql")
        assert outbox.status(s)["subscribers"]["identity.link"]["pending"] == 1
    r = api.client.get("/fhir/Patient/crash-zl", headers=api.h("f2-his"))
    assert r.status_code == 200  # the write itself stands

    with TestClient(create_app(api.settings)):  # the server starts again: its first tick delivers
        pass
    linked = _linked(api)
    assert linked["Patient/crash-zl"] == linked["Patient/f1-zl"] == linked["Patient/f2-zl"]
    with Session(get_engine(api.settings.database_url)) as s:
        assert outbox.status(s)["subscribers"]["identity.link"]["pending"] == 0


def test_a_failing_link_leaves_the_event_for_the_next_delivery(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phip.identity import events

    _setup(api, empi_model)
    other = idcard.make("620502", date(1985, 3, 3), 5, True)
    with monkeypatch.context() as m:
        m.setattr(events, "index_patient", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
        assert put(api, "f2-his", patient("later", "李四", other)).status_code == 201
    assert "Patient/later" not in _linked(api)
    with Session(get_engine(api.settings.database_url)) as s:
        state = outbox.status(s)["subscribers"]["identity.link"]
        assert state["pending"] == 1 and state["attempts"] == 1 and "RuntimeError" in state["last_error"]
        outbox.deliver(s, outbox.context(api.settings.var_dir))
    assert _linked(api).get("Patient/later")


def test_writes_without_a_model_wait_for_the_batch_linkage(
    api: Api,
    empi_model: tuple[dict, dict],  # type: ignore[type-arg]
) -> None:
    """Before any model there is nothing to link with; `phip empi link-store` links them all and
    moves the subscriber past them, so they are not linked twice."""
    from phip.identity.store_link import link_store

    assert put(api, "f1-his", patient("early", "张丽", NUM)).status_code == 201
    assert _linked(api) == {}
    install_model(api, empi_model)
    with Session(get_engine(api.settings.database_url)) as s:
        link_store(s, api.settings.var_dir, retrain=False)
        state = outbox.status(s)["subscribers"]["identity.link"]
    assert state["pending"] == 0 and "Patient/early" in _linked(api)


def test_the_fhir_router_imports_no_domain_it_does_not_serve() -> None:
    import ast
    from pathlib import Path

    import phip.web.fhir_router as fr

    tree = ast.parse(Path(fr.__file__).read_text(encoding="utf-8"))
    names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [n for n in names if n.startswith("phip.identity")], names
