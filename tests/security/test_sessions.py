"""Finding 4: tokens can be revoked (logout, a disabled, removed or changed account, a
deactivated client), logins are throttled and locked, and an unknown name costs one password
hash like a known one."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from phip.security import tokens
from phip.security.accounts import add_staff
from phip.security.models import ApiClient, StaffUser
from tests.web.conftest import F1, PASSWORD, Api


def _engine(api: Api):  # type: ignore[no-untyped-def]
    return api.client.app.state.engine  # type: ignore[attr-defined]


def _login(api: Api, user: str, password: str = PASSWORD) -> tuple[int, str]:
    r = api.client.post("/api/auth/login", json={"username": user, "password": password})
    return r.status_code, r.json().get("access_token", "") if r.status_code == 200 else ""


def _ok(api: Api, token: str) -> int:
    return api.client.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"}).status_code


def test_logout_ends_the_token(api: Api) -> None:
    status, token = _login(api, "doc1")
    assert status == 200 and _ok(api, token) == 200
    other = _login(api, "doc1")[1]  # a second session of the same account
    r = api.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert _ok(api, token) == 401
    assert _ok(api, other) == 200  # only that session ended
    assert api.client.post("/api/auth/logout").status_code == 401  # denied without a token


def test_disabled_removed_or_changed_accounts_lose_their_tokens(api: Api) -> None:
    tok = {u: _login(api, u)[1] for u in ("lz-county", "ts-county", "stat")}
    with Session(_engine(api)) as s:
        user = s.get(StaffUser, "lz-county")
        assert user is not None
        user.active = False
        ts = s.get(StaffUser, "ts-county")
        s.delete(ts)
        add_staff(s, "stat", PASSWORD, "province_admin", org_unit="620000")  # a role change
        s.commit()
    assert [_ok(api, tok[u]) for u in ("lz-county", "ts-county", "stat")] == [401, 401, 401]
    status, fresh = _login(api, "stat")
    assert status == 200 and _ok(api, fresh) == 200  # a new login carries the new role
    assert _login(api, "lz-county")[0] == 401


def test_a_moved_or_reset_account_loses_its_tokens(api: Api) -> None:
    """A county administrator moved to another county, a password reset, a client given a new
    secret: the old tokens stop at once (the moved one no longer reads the old county)."""
    before = {u: _login(api, u)[1] for u in ("lz-county", "doc1")}
    assert _ok(api, before["lz-county"]) == 200
    with Session(_engine(api)) as s:
        user = s.get(StaffUser, "lz-county")
        assert user is not None
        user.org_unit = "620502"  # moved by a direct change, not through add_staff
        add_staff(s, "doc1", "a brand new password for doc1", "clinician", facility=F1)  # a reset
        from phip.security.accounts import add_client

        add_client(s, "f1-his", "a new secret", F1)
        s.commit()
    assert [_ok(api, before["lz-county"]), _ok(api, before["doc1"])] == [401, 401]
    assert _ok(api, api.tokens["f1-his"]) == 401
    assert _login(api, "lz-county")[0] == 200


def test_a_deactivated_client_loses_its_token(api: Api) -> None:
    assert _ok(api, api.tokens["f2-his"]) == 200
    with Session(_engine(api)) as s:
        client = s.get(ApiClient, "f2-his")
        assert client is not None
        client.active = False
        s.commit()
    assert _ok(api, api.tokens["f2-his"]) == 401
    r = api.client.post("/api/auth/token", json={"client_id": "f2-his", "client_secret": "secret-2"})
    assert r.status_code == 401


def test_the_operator_disables_an_account_and_its_tokens_stop_at_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from phip.cli.main import app
    from phip.security.models import AuditEntry
    from phip.settings import get_settings

    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setenv("PHIP_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("PHIP_DATA_KEY", settings.data_key)
    get_settings.cache_clear()
    token = _login(api, "doc1")[1]
    assert _ok(api, token) == 200 and _ok(api, api.tokens["f2-his"]) == 200
    runner = CliRunner()
    try:
        done = runner.invoke(app, ["accounts", "disable", "doc1"])
        assert done.exit_code == 0, done.output
        # the fixture's own login of doc1 and this one
        assert "2 sessions ended" in done.stdout
        client = runner.invoke(app, ["accounts", "disable", "f2-his", "--kind", "facility"])
        assert client.exit_code == 0, client.output
        missing = runner.invoke(app, ["accounts", "disable", "nobody"])
        wrong_kind = runner.invoke(app, ["accounts", "disable", "doc1", "--kind", "robot"])
    finally:
        get_settings.cache_clear()
    assert (missing.exit_code, wrong_kind.exit_code) == (1, 2)
    assert _ok(api, token) == 401 and _ok(api, api.tokens["f2-his"]) == 401
    assert _login(api, "doc1")[0] == 401
    with Session(_engine(api)) as s:
        entries = s.query(AuditEntry).filter(AuditEntry.action == "account-disable").all()
        assert sorted(e.target for e in entries) == ["facility:f2-his", "staff:doc1"]


def test_a_validly_signed_token_without_a_session_is_refused(api: Api) -> None:
    forged = tokens.issue(
        {"kind": "staff", "sub": "prov", "role": "province_admin", "jti": "made-up"}, api.settings.secret_key
    )
    assert _ok(api, forged) == 401


@pytest.mark.parametrize("name", ["prov", "nobody-at-all"])
def test_failed_logins_lock_the_name(api: Api, name: str) -> None:
    for _ in range(5):
        assert _login(api, name, "wrong")[0] == 401
    r = api.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["resourceType"] == "OperationOutcome"
    assert _login(api, "doc1")[0] == 200  # other names are not locked


def test_many_failures_from_one_address_lock_it_and_a_client_secret_is_throttled(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spray of names from one address locks the address (even for a correct login from it);
    behind a trusted proxy the address is the forwarded one, so other clients are not locked
    with it; a facility client's secret is throttled like a password."""
    from phip.security import throttle

    monkeypatch.setattr(api.client.app.state.settings, "trusted_proxies", ["testclient"])  # type: ignore[attr-defined]

    def login(user: str, password: str, via: str) -> int:
        body = {"username": user, "password": password}
        r = api.client.post("/api/auth/login", json=body, headers={"X-Forwarded-For": f"6.6.6.6, {via}"})
        return r.status_code

    for i in range(throttle.ADDRESS_LIMIT):
        assert login(f"sprayed-{i}", "wrong", "10.0.0.1") == 401
    assert login("prov", PASSWORD, "10.0.0.1") == 429  # the address is locked, names apart
    assert login("prov", PASSWORD, "10.0.0.2") == 200  # another client behind the same proxy
    monkeypatch.setattr(api.client.app.state.settings, "trusted_proxies", [])  # type: ignore[attr-defined]
    assert login("prov", PASSWORD, "10.0.0.1") == 200  # untrusted: the header is not believed

    for _ in range(throttle.USER_LIMIT):
        r = api.client.post("/api/auth/token", json={"client_id": "f2-his", "client_secret": "guess"})
        assert r.status_code == 401
    r = api.client.post("/api/auth/token", json={"client_id": "f2-his", "client_secret": "secret-2"})
    assert r.status_code == 429 and r.json()["resourceType"] == "OperationOutcome"


def test_a_success_clears_earlier_failures(api: Api) -> None:
    for _ in range(4):
        assert _login(api, "auditor", "wrong")[0] == 401
    assert _login(api, "auditor")[0] == 200
    for _ in range(4):
        assert _login(api, "auditor", "wrong")[0] == 401
    assert _login(api, "auditor")[0] == 200


def test_unknown_names_cost_one_hash_like_known_ones(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from phip.security import logins

    calls: list[str] = []
    real = logins.verify_secret

    def counting(stored: str, secret: str) -> bool:
        calls.append(stored[:9])
        return real(stored, secret)

    monkeypatch.setattr(logins, "verify_secret", counting)
    for name in ("prov", "resident1", "no-such-user"):
        calls.clear()
        assert _login(api, name, "wrong")[0] == 401
        assert len(calls) == 1 and calls[0].startswith("$argon2id"), name
    calls.clear()
    r = api.client.post("/api/auth/token", json={"client_id": "no-such-client", "client_secret": "x"})
    assert r.status_code == 401 and len(calls) == 1


def test_stale_throttle_keys_are_forgotten(api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select, update

    from phip.security.models import LoginThrottle

    for i in range(6):
        assert _login(api, f"sprayed-{i}", "x")[0] == 401
    with Session(_engine(api)) as s:
        assert s.scalar(select(func.count()).select_from(LoginThrottle)) >= 6
        s.execute(update(LoginThrottle).values(window_start=datetime.now(UTC) - timedelta(hours=1)))
        s.commit()
    assert _login(api, "one-more", "x")[0] == 401
    with Session(_engine(api)) as s:
        keys = set(s.scalars(select(LoginThrottle.key)))
    assert not any(k.startswith("name:sprayed-") for k in keys) and "name:one-more" in keys
