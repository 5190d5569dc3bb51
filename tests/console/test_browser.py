"""The console in a real browser (Debian Chromium driven by Python Playwright): logins as province
and county administrators, the map's regions, drill-down by clicking the map, an export
download, a review decision that persists, the language switch; no request leaves 127.0.0.1.
Screenshots go to `test-artifacts/console/`."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from sqlalchemy.orm import Session

from phip.identity.models import ReviewItem
from phip.orgunits import geo
from phip.store import get_engine
from tests.conftest import IN_CI
from tests.console.conftest import PASSWORD, Console

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
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
def server(console: Console) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(console.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the console server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


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


class Page:
    """A browser tab that records every request it makes."""

    def __init__(self, browser: Any, base: str, locale: str = "zh-CN"):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.base = base
        self.requests: list[str] = []
        self.page.on("request", lambda req: self.requests.append(req.url))

    def login(self, user: str) -> None:
        self.page.goto(self.base + "/login")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("#login-button")
        self.page.wait_for_load_state("networkidle")

    def wait_map(self) -> None:
        self.page.wait_for_function("() => document.body.dataset.mapReady === '1'", timeout=20000)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def outside(self) -> list[str]:
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
        ]

    def close(self) -> None:
        self.context.close()


def _inside(region: dict[str, Any]) -> tuple[float, float]:
    """A point inside the region's largest polygon: the middle of the widest span on the line
    through the middle of its bounding box."""
    polys = region["geometry"]["coordinates"]
    ring = max((p[0] for p in polys), key=len)
    ys = [y for _, y in ring]
    y = (min(ys) + max(ys)) / 2 + 1e-6
    xs = sorted(
        x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        for (x1, y1), (x2, y2) in pairwise(ring)
        if (y1 <= y) != (y2 <= y)
    )
    spans = [(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2)]
    a, b = max(spans, key=lambda s: s[1] - s[0])
    return (a + b) / 2, y


def _click_region(tab: Page, code: str) -> None:
    """Click a prefecture of the province map inside its boundary, and wait for the page it opens."""
    region = next(f for f in geo.regions("620000", "620000")["features"] if f["properties"]["code"] == code)
    lng, lat = _inside(region)
    xy = tab.page.evaluate(
        "([lng, lat]) => echarts.getInstanceByDom(document.getElementById('map'))"
        ".convertToPixel({seriesIndex: 0}, [lng, lat])",
        [lng, lat],
    )
    box = tab.page.locator("#map").bounding_box()
    with tab.page.expect_navigation():
        tab.page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def test_province_map_drill_down_and_language(browser: Any, server: str, console: Console) -> None:
    tab = Page(browser, server)
    try:
        tab.login("prov")
        tab.wait_map()
        assert tab.page.get_attribute("#map", "data-regions") == "14"
        values = int(tab.page.get_attribute("#map", "data-values") or 0)
        assert values > 0 and tab.page.locator("#map-table tbody tr").count() == values
        tab.shot("province-overview")
        # click the prefecture on the map: the page drills into its counties
        _click_region(tab, console.prefecture)
        assert f"unit={console.prefecture}" in tab.page.url
        tab.wait_map()
        counties = len(geo.regions("620000", console.prefecture)["features"])
        assert tab.page.get_attribute("#map", "data-regions") == str(counties)
        tab.shot("province-drill-prefecture")
        # English
        tab.page.click("#lang-switch")
        tab.page.wait_for_load_state("networkidle")
        tab.wait_map()
        assert "Overview" in tab.page.inner_text("header nav")
        assert f"unit={console.prefecture}" in tab.page.url  # the same view, in English
        tab.shot("province-drill-prefecture-en")
        tab.page.click("#lang-switch")
        tab.page.wait_for_load_state("networkidle")
        assert "概览" in tab.page.inner_text("header nav")
        assert tab.outside() == []
    finally:
        tab.close()


def test_county_sees_only_its_county_and_exports(browser: Any, server: str, console: Console) -> None:
    tab = Page(browser, server)
    try:
        tab.login("county")
        tab.wait_map()
        assert tab.page.get_attribute("#map", "data-regions") == "1"
        assert tab.page.get_attribute("#map", "data-unit") == console.county
        tab.shot("county-overview")
        tab.page.goto(server + "/explorer?indicator=outpatient_visits&level=facility&period_type=year")
        tab.page.wait_for_selector("#explorer-chart[data-drawn='1']")
        units = tab.page.eval_on_selector_all(
            "#explorer-table tr[data-unit]", "rs => rs.map(r => r.dataset.unit)"
        )
        assert units and all(u.startswith(console.county) for u in units)
        # change the breakdown: HTMX redraws the table
        settled = "Number(document.body.dataset.settled || 0)"
        before = tab.page.evaluate(settled)
        tab.page.select_option("#ex-breakdown", "sex")
        tab.page.wait_for_function(
            f"() => {settled} > {before} && document.querySelectorAll('#explorer-table th').length === 6"
        )
        tab.shot("county-explorer")
        with tab.page.expect_download() as dl:
            tab.page.click("#export-csv")
        path = dl.value.path()
        text = Path(path).read_text(encoding="utf-8-sig")
        # for people: headers and categories in words (the API without `labels` keeps codes)
        assert text.startswith("指标编码,指标,层级,区划/机构编码,区划/机构,周期类型")
        lines = text.splitlines()[1:]
        assert all(line.split(",")[3].startswith(console.county) for line in lines)
        assert {line.split(",")[8] for line in lines} <= {"男", "女", "未知", "其他", ""}
        (ARTIFACTS / "county-export.csv").write_text(text, encoding="utf-8")
        assert tab.outside() == []
    finally:
        tab.close()


def test_review_decision_persists(browser: Any, server: str, console: Console) -> None:
    tab = Page(browser, server)
    try:
        tab.login("county")
        tab.page.goto(server + "/identity")
        item = tab.page.locator(f"#item-{console.review_item}")
        assert item.count() == 1
        tab.shot("county-identity")
        item.locator("button.decide-match").click()
        tab.page.wait_for_selector(f"#item-{console.review_item} .decided")
        with Session(get_engine(console.db_url)) as s:
            row = s.get(ReviewItem, console.review_item)
            assert row is not None and row.status == "match" and row.decided_by == "staff:county"
        tab.page.reload()
        assert tab.page.locator(f"#item-{console.review_item}").count() == 0
        assert tab.outside() == []
    finally:
        tab.close()


def test_pages_load_from_this_machine_only(browser: Any, server: str) -> None:
    tab = Page(browser, server)
    try:
        tab.login("prov")
        tab.wait_map()
        for path in ("/explorer", "/connection", "/quality", "/quality?level=facility", "/identity"):
            tab.page.goto(server + path)
            tab.page.wait_for_load_state("networkidle")
            tab.shot("province" + path.replace("/", "-").replace("?", "-").replace("=", "-"))
        assert len(tab.requests) > 10
        assert tab.outside() == []
    finally:
        tab.close()


def test_reporting_page_in_both_languages(browser: Any, server: str, console: Console) -> None:
    """The reporting page draws its map of the prefectures in classes, its twelve-month chart and
    its tables, in Chinese and in English; a click on a prefecture drills into it."""
    tab = Page(browser, server)
    try:
        tab.login("prov")
        tab.page.goto(server + "/reporting?period_type=year&period=2025")
        tab.wait_map()
        assert tab.page.get_attribute("#map", "data-regions") == "14"
        assert int(tab.page.get_attribute("#map", "data-values") or 0) > 0
        tab.page.wait_for_function("() => document.getElementById('reporting-trend').dataset.drawn === '1'")
        legend = tab.page.evaluate(
            "() => echarts.getInstanceByDom(document.getElementById('map')).getOption().visualMap[0].pieces"
            ".map(p => p.label)"
        )
        assert legend == ["< 80%", "80–90%", "90–95%", "≥ 95%"]
        assert tab.page.locator("#reporting-units tbody tr").count() >= 2
        assert "数据上报率" in tab.page.inner_text("#reporting-summary")
        tab.shot("province-reporting")
        _click_region(tab, console.prefecture)
        assert "/reporting?" in tab.page.url and f"unit={console.prefecture}" in tab.page.url
        assert "period=2025" in tab.page.url
        tab.wait_map()
        tab.page.click("#lang-switch")
        tab.page.wait_for_load_state("networkidle")
        tab.wait_map()
        assert "Reporting rate" in tab.page.inner_text("#reporting-summary")
        assert "Reporting" in tab.page.inner_text("header nav")
        tab.shot("province-reporting-prefecture-en")
        tab.page.click("#lang-switch")
        tab.page.wait_for_load_state("networkidle")
        assert tab.outside() == []
    finally:
        tab.close()


def test_facility_home_and_quality_pages_in_both_languages(browser: Any, server: str) -> None:
    """A facility administrator's home (its name, indicators and trend), its grouped report and
    the DQR metrics, in both languages, from this machine only."""
    tab = Page(browser, server)
    try:
        tab.login("fadmin")
        tab.page.wait_for_function("() => Number(document.getElementById('trend').dataset.points) > 0")
        assert tab.page.locator("#facility-indicators tbody tr").count() > 5
        tab.shot("facility-home")
        for lang, words in (("en", "indicators (the last period that has ended)"), ("zh-CN", "本机构指标")):
            tab.page.goto(server + f"/?lang={lang}")
            tab.page.wait_for_load_state("networkidle")
            assert words in tab.page.inner_text("main")
        tab.page.goto(server + "/quality/metrics")
        tab.page.wait_for_load_state("networkidle")
        assert tab.page.locator("#dqr-metrics tbody tr").count() == 12
        tab.shot("facility-dqr")
        tab.page.goto(server + "/quality/metrics?lang=en")
        tab.page.wait_for_load_state("networkidle")
        assert "Reporting completeness" in tab.page.inner_text("#dqr-metrics")
        tab.page.goto(server + "/?lang=zh-CN")
        tab.page.wait_for_load_state("networkidle")
        assert tab.outside() == []
    finally:
        tab.close()


def test_facility_points_on_the_map(browser: Any, server: str) -> None:
    """Ticking "show facilities" draws the area's located facilities on the map."""
    tab = Page(browser, server)
    try:
        tab.login("prov")
        tab.wait_map()
        assert tab.page.get_attribute("#map", "data-facilities") == "0"
        tab.page.check("#map-facilities")
        tab.page.wait_for_function("() => Number(document.getElementById('map').dataset.facilities) > 0")
        points = tab.page.evaluate(
            "() => echarts.getInstanceByDom(document.getElementById('map')).getOption()"
            ".series[0].markPoint.data.length"
        )
        assert points == int(tab.page.get_attribute("#map", "data-facilities") or 0)
        tab.shot("province-facilities")
        assert tab.outside() == []
    finally:
        tab.close()


def _drawn(tab: Page, element: str) -> None:
    tab.page.wait_for_function(f"() => document.getElementById('{element}').dataset.drawn === '1'")


def test_pivot_with_relative_periods_and_the_scorecard_heat_map_in_both_languages(
    browser: Any, server: str
) -> None:
    """The pivot table and its chart over the last months ended (4, then 8 picked in its form),
    and the scorecard's heat map (each cell in its band's colour, the legend's five colours), in
    Chinese and in English."""
    tab = Page(browser, server)
    try:
        tab.login("prov")
        tab.page.goto(server + "/explorer/pivot?indicator=outpatient_visits&period_type=month&count=4")
        _drawn(tab, "pivot-chart")
        periods = "#pivot-table thead th[data-column]:not(.total)"
        assert tab.page.locator(periods).count() == 4
        assert tab.page.locator("#pivot-table tbody tr[data-row]").count() >= 3
        series = tab.page.evaluate(
            "() => echarts.getInstanceByDom(document.getElementById('pivot-chart')).getOption().series"
            ".map(s => s.data.length)"
        )
        assert series and all(n >= 3 for n in series)
        assert "透视表" in tab.page.inner_text("main")
        tab.page.select_option("#pivot-form select[name=count]", "8")
        tab.page.click("#pivot-form button[type=submit]")
        tab.page.wait_for_load_state("networkidle")
        _drawn(tab, "pivot-chart")
        assert "count=8" in tab.page.url
        assert tab.page.locator(periods).count() == 8
        tab.shot("province-pivot")
        tab.page.click("#lang-switch")
        tab.page.wait_for_load_state("networkidle")
        _drawn(tab, "pivot-chart")
        assert "Pivot table" in tab.page.inner_text("main")
        assert "Last periods ended" in tab.page.inner_text("#pivot-form")
        tab.shot("province-pivot-en")
        tab.page.goto(server + "/quality?level=prefecture")
        tab.page.wait_for_load_state("networkidle")
        assert "Score colours" in tab.page.inner_text("main")
        legend = tab.page.evaluate(
            "() => [...document.querySelectorAll('.heat-legend .heat')]"
            ".map(e => getComputedStyle(e).backgroundColor)"
        )
        assert len(set(legend)) == 5 and "rgba(0, 0, 0, 0)" not in legend
        cells = tab.page.evaluate(
            "() => [...document.querySelectorAll('#scorecard td.heat:not(.h-none)')]"
            ".map(e => getComputedStyle(e).backgroundColor)"
        )
        assert len(cells) >= 14 and set(cells) <= set(legend)
        tab.page.goto(server + "/quality?level=prefecture&lang=zh-CN")
        tab.page.wait_for_load_state("networkidle")
        assert "得分色阶" in tab.page.inner_text("main")
        tab.shot("province-scorecard")
        assert tab.outside() == []
    finally:
        tab.close()


def test_a_facilitys_findings_grouped_by_rule_in_both_languages(
    browser: Any, server: str, console: Console
) -> None:
    """A facility administrator's report opens on its worst rule with that rule's records; the
    severity filter keeps only that severity's rules; the same in English."""
    tab = Page(browser, server)
    try:
        tab.login("fadmin")
        report = f"/quality/unit/{console.facility}?level=facility"
        tab.page.goto(server + report)
        tab.page.wait_for_load_state("networkidle")
        assert tab.page.locator("#finding-groups tbody tr[data-rule]").count() >= 1
        assert tab.page.locator("#finding-groups tbody tr.active").count() == 1
        assert tab.page.locator("#findings tbody tr").count() >= 1
        tab.shot("facility-findings")
        tab.page.select_option("#finding-filters select[name=severity]", "warning")
        tab.page.click("#finding-filters button[type=submit]")
        tab.page.wait_for_load_state("networkidle")
        assert "severity=warning" in tab.page.url
        severities = tab.page.locator("#finding-groups tbody tr[data-rule] td:nth-child(3)").all_inner_texts()
        assert severities and set(severities) == {"警告"}
        tab.page.goto(server + report + "&lang=en")
        tab.page.wait_for_load_state("networkidle")
        head = tab.page.inner_text("#finding-groups thead")
        assert "Rule" in head and "Severity" in head
        severities = tab.page.locator("#finding-groups tbody tr[data-rule] td:nth-child(3)").all_inner_texts()
        assert set(severities) <= {"Error", "Warning", "Information"}
        tab.shot("facility-findings-en")
        tab.page.goto(server + "/?lang=zh-CN")
        assert tab.outside() == []
    finally:
        tab.close()
