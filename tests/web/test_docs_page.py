"""The interactive API documentation at `/docs` works on an intranet: the page names only this
server's files, they are served, it runs under the platform's Content-Security-Policy, and in a
real browser (Chromium) with every request outside 127.0.0.1 refused, Swagger UI lists the
operations. Also: `phip serve`'s answer to a raw UTF-8 request line explains itself."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from phip.security.accounts import add_staff
from phip.settings import Settings
from phip.store import get_engine
from phip.web import docs
from phip.web.app import create_app
from phip.web.serving import ClearH11Protocol
from tests.conftest import IN_CI, TEST_DATA_KEY

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "docs"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    var = tmp_path_factory.mktemp("docs")
    settings = Settings(
        database_url=f"sqlite:///{(var / 'phip.db').as_posix()}",
        secret_key="test-secret-docs-for-signing-tokens-only",
        demo=False,
        data_key=TEST_DATA_KEY,
        var_dir=var,
    )
    app = create_app(settings)
    with Session(get_engine(settings.resolved_database_url())) as s:
        add_staff(s, "stat", PASSWORD, "statistician", org_unit="620000")
        s.commit()
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_swagger_ui_files_are_installed() -> None:
    """`make install` copies them (Makefile, `$(ASSETS)`); without them the page is blank."""
    assert docs.installed(), f"Swagger UI is missing from {docs.SWAGGER_DIR}: run `make install`"


def test_docs_page_names_only_this_servers_files(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _assets(r.text)
    assert refs, r.text
    for ref in refs:
        parts = urlsplit(ref)
        assert ref == "data:," or (not parts.scheme and not parts.netloc and ref.startswith("/")), ref
    assert "cdn" not in r.text.lower()
    assert "<script>" not in r.text  # no inline script: the CSP would refuse it
    # the same strict policy as every other page (no exemption for the docs)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "default-src 'self'" in csp
    assert 'data-openapi-url="/openapi.json"' in r.text


def test_the_files_the_page_names_are_served(client: TestClient) -> None:
    page = client.get("/docs").text
    kinds = {".js": "javascript", ".css": "text/css", ".json": "application/json"}
    served = 0
    for ref in _assets(page):
        if ref.startswith("data:"):
            continue
        r = client.get(ref)
        assert r.status_code == 200, ref
        kind = kinds[Path(urlsplit(ref).path).suffix]
        assert kind in r.headers["content-type"], (ref, r.headers["content-type"])
        served += 1
    # Swagger UI's script and style sheet, the script that starts it, the OpenAPI document
    assert served == 4
    assert "SwaggerUIBundle" in client.get(docs.INIT_URL).text
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/fhir/metadata" in spec.json()["paths"]


def test_no_cdn_pages_remain(client: TestClient) -> None:
    """FastAPI's own pages (CDN assets) are off: no `/redoc`, no `/docs/oauth2-redirect`."""
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path


def test_docs_behind_a_path_prefix(app: FastAPI) -> None:
    """Behind a proxy that serves the platform under a prefix, the page names prefixed files."""
    with TestClient(app, root_path="/phip") as c:
        html = c.get("/docs").text
    refs = [r for r in _assets(html) if not r.startswith("data:")]
    assert refs and all(r.startswith("/phip/") for r in refs), refs
    assert 'data-openapi-url="/phip/openapi.json"' in html


def test_missing_files_are_a_clear_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(docs, "SWAGGER_DIR", tmp_path)
    r = client.get("/docs")
    assert r.status_code == 503 and "make install" in r.text


# ---- over real HTTP, with the protocol `phip serve` runs ----


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=ClearH11Protocol)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _raw(base: str, request: bytes) -> bytes:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_raw_utf8_address_is_explained(server: str) -> None:
    """`curl '…/fhir/Patient?name=张'` sends the bytes of 张 unencoded: HTTP refuses them, and the
    answer says so and how to send the request, in both languages."""
    answer = _raw(server, "GET /fhir/Patient?name=张 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"x-content-type-options: nosniff" in head.lower()
    text = body.decode("utf-8")
    assert "--data-urlencode" in text and "%E5%BC%A0" in text and "非 ASCII" in text
    # an encoded address is fine (401: no token), and other malformed requests keep uvicorn's answer
    ok = _raw(server, b"GET /fhir/Patient?name=%E5%BC%A0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 401 ")
    bad = _raw(server, b"GET /fhir/Patient HTTP/1.1\r\nHost x\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ") and b"Invalid HTTP request received." in bad


# ---- in a real browser, with no network beyond 127.0.0.1 ----


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        if IN_CI:
            pytest.fail("Chromium is missing: scripts/ensure-system-deps.sh installs it")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.slow
def test_swagger_ui_renders_offline(browser: Any, server: str) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    refused: list[str] = []
    problems: list[str] = []

    def only_here(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:  # the intranet: nothing else answers
            refused.append(url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.on("request", lambda req: requests.append(req.url))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(server + "/docs")
        page.wait_for_function("() => document.body.dataset.docsReady === '1'", timeout=30000)
        page.wait_for_selector(".opblock", timeout=30000)
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path)")
        assert "/fhir/metadata" in paths and "/api/auth/login" in paths, paths
        assert page.locator(".opblock").count() >= 30
        assert "PHIP" in page.inner_text(".info .title")
        # an operation opens and shows its description
        page.locator(".opblock-summary-path[data-path='/fhir/metadata']").first.click()
        page.wait_for_selector(".opblock.is-open")
        page.screenshot(path=str(ARTIFACTS / "swagger-ui.png"), full_page=False)
        assert refused == [] and problems == []
        outside = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")]
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in outside), outside
        assert any(u.endswith("/openapi.json") for u in requests)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_try_it_out_reads_as_the_console_login(browser: Any, server: str) -> None:
    """Logged in to the console, "Try it out" on `/docs` reads the API as that login (the API
    accepts the console's session cookie for reads); not logged in, the API says 401."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    path = "/api/indicators/catalogue"

    def try_it() -> str:
        page.goto(server + "/docs")
        page.wait_for_function("() => document.body.dataset.docsReady === '1'", timeout=30000)
        op = page.locator(f".opblock:has(.opblock-summary-path[data-path='{path}'])").first
        op.locator(".opblock-summary").click()
        op.locator("button.try-out__btn").click()
        op.locator("button.execute").click()
        status = op.locator(".live-responses-table .response .response-col_status").first
        status.wait_for(timeout=30000)
        return status.inner_text().split()[0]  # "401" (and "Undocumented": not in the OpenAPI)

    try:
        assert try_it() == "401"
        page.goto(server + "/login")
        page.fill("input[name=username]", "stat")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-button")
        page.wait_for_load_state("networkidle")
        assert try_it() == "200"
        page.screenshot(path=str(ARTIFACTS / "swagger-ui-try-it-out.png"), full_page=False)
    finally:
        context.close()
