"""Finding 10: security headers, the login form's anti-forgery value, Secure cookies behind a
TLS proxy, no server banner, and links that never come from the caller's Host header."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, Api


def _headers_ok(headers: httpx.Headers) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "server" not in headers


def test_every_kind_of_response_carries_the_headers(api: Api) -> None:
    for path, who in (
        ("/fhir/metadata", "anonymous"),
        ("/fhir/Patient", "prov"),
        ("/fhir/Patient", "anonymous"),
        ("/login", "anonymous"),
        ("/no/such/page", "anonymous"),
    ):
        _headers_ok(api.client.get(path, headers=api.h(who)).headers)
    assert "strict-transport-security" not in api.client.get("/fhir/metadata").headers


def test_login_form_needs_its_anti_forgery_value(api: Api) -> None:
    c = TestClient(api.client.app, follow_redirects=False)
    page = c.get("/login")
    assert 'name="csrf"' in page.text and c.cookies.get("phip_login_csrf")
    # a cross-site post has the browser's cookie but not the page's value
    r = c.post("/login", data={"username": "prov", "password": PASSWORD, "next": "/", "csrf": "guess"})
    assert r.status_code == 403 and "phip_session" not in r.cookies
    fresh = TestClient(api.client.app, follow_redirects=False)  # no cookie at all
    r = fresh.post("/login", data={"username": "prov", "password": PASSWORD, "next": "/"})
    assert r.status_code == 403
    c.get("/login")
    r = c.post(
        "/login",
        data={"username": "prov", "password": PASSWORD, "next": "/", "csrf": c.cookies["phip_login_csrf"]},
    )
    assert r.status_code == 303 and "phip_session" in r.cookies
    assert "secure" not in r.headers["set-cookie"].lower()  # plain HTTP on 127.0.0.1: not Secure


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(api: Api) -> None:
    api.settings.tls_proxy = True  # the proxy speaks TLS to the browser, plain HTTP to us
    try:
        c = TestClient(api.client.app, follow_redirects=False)
        page = c.get("/login")
        assert "strict-transport-security" in page.headers
        assert "secure" in page.headers["set-cookie"].lower()
        value = page.headers["set-cookie"].split("phip_login_csrf=", 1)[1].split(";", 1)[0]
        form = {"username": "prov", "password": PASSWORD, "next": "/", "csrf": value}
        # the browser sends the Secure cookie back over TLS; the proxy passes it on
        r = c.post("/login", data=form, headers={"Cookie": f"phip_login_csrf={value}"})
        assert r.status_code == 303
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie" and "phip_session=" in v]
        assert cookies and "secure" in cookies[0].lower()
    finally:
        api.settings.tls_proxy = False


def test_links_ignore_the_host_header(api: Api) -> None:
    h = {**api.h("f1-his"), "Content-Type": "application/fhir+json"}
    res = {
        "resourceType": "Patient",
        "id": "h1",
        "name": [{"text": "郑"}],
        "gender": "male",
        "birthDate": "1980-01-01",
    }
    assert api.client.put("/fhir/Patient/h1", content=orjson.dumps(res), headers=h).status_code == 201
    r = api.client.get("/fhir/Patient?_count=1", headers={**api.h("f1-his"), "Host": "evil.example"})
    assert r.status_code == 200 and "evil.example" not in r.text
    api.settings.public_base_url = "https://phip.example.org"
    try:
        r = api.client.get("/fhir/Patient", headers={**api.h("f1-his"), "Host": "evil.example"})
        assert r.json()["entry"][0]["fullUrl"] == "https://phip.example.org/fhir/Patient/h1"
        k = api.client.get("/fhir/$export", headers={**api.h("f1-his"), "Host": "evil.example"})
        assert k.headers["content-location"].startswith("https://phip.example.org/fhir/$bulk-status/")
    finally:
        api.settings.public_base_url = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_real_server_sends_no_banner(tmp_path: Path) -> None:
    """`phip serve` under uvicorn, over real HTTP on 127.0.0.1."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHIP_")}
    env.update(
        PHIP_VAR_DIR=str(tmp_path / "var"),
        PHIP_SECRET_KEY="k" * 40,
        PHIP_DATA_KEY="ab" * 16,
    )
    argv = ["phip", "serve", "--port", str(port)]
    code = f"from phip.cli.main import main; import sys; sys.argv = {argv!r}; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/fhir/metadata", headers={"Host": "evil.example"}, timeout=2
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        assert r.status_code == 200
        _headers_ok(r.headers)
        bad = httpx.get(
            f"http://127.0.0.1:{port}/fhir/Patient", headers={"Authorization": "Bearer x"}, timeout=5
        )
        assert bad.status_code == 401 and "server" not in bad.headers
    finally:
        proc.terminate()
        proc.wait(timeout=20)
