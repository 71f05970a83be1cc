"""One language at a time, and one state per incident (issue 20), in headless Chromium against a real API
process on the demo city: the new-incident form and the default call-up reason follow a switch to English,
the audit date pickers take the UI's language, the dispatch list follows a unit arriving on scene without a
reload, /m does not claim to share a position it cannot get, and division labels are legible."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_wall_browser import CHROMIUM_ARGS
from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token

CJK = re.compile(r"[\u3400-\u9fff]")
SPOT = (24.944064, 60.172631)


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    # A patrol car near the spot, free to be dispatched.
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        tid = conn.execute(
            "INSERT INTO target (protocol, external_id, kind, last_fix_at, last_location) VALUES "
            "('api', 'lang-car-1', 'vehicle', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (datetime.now(UTC), SPOT[0] - 0.003, SPOT[1])).fetchone()[0]
        conn.execute("INSERT INTO unit (callsign, kind, status, target_id, division_code) "
                     "VALUES ('语言1', 'patrol_car', 'available', %s, '990100')", (tid,))
    proc = ApiProcess(demo_db_url)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(ctx_or_browser, base: str, path: str, user: str):
    page = ctx_or_browser.new_page()
    page.goto(base + path)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    return page


def auth(base: str, user: str) -> dict:
    return {"Authorization": f"Bearer {token(base, user)}"}


def new_incident(base: str, hdr: dict) -> int:
    r = httpx.post(base + "/api/v1/incidents", headers=hdr, timeout=30,
                   json={"type": "theft", "priority": 2, "lon": SPOT[0], "lat": SPOT[1]})
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


@pytest.fixture(scope="module")
def console(server, browser):
    """The dispatcher's console at 1920×1080, signed in, live (shared by the dispatch tests)."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = sign_in(ctx, server.base, "/dispatch", "dispatcher")
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    yield page
    ctx.close()


def test_list_follows_a_unit_on_scene(server, console):
    """A unit arriving puts the incident on scene (server rule, no incident frame): the list says so too."""
    base, page = server.base, console
    hdr = auth(base, "dispatcher")
    inc = new_incident(base, hdr)
    units = httpx.get(base + "/api/v1/units", headers=hdr, timeout=30).json()
    unit = next(u for u in units if u["callsign"] == "语言1")
    d = httpx.post(f"{base}/api/v1/incidents/{inc}/dispatch", headers=hdr, json={"unit_ids": [unit["id"]]}, timeout=30)
    assert d.status_code == 201, d.text
    page.wait_for_selector(f"[data-incident='{inc}'][data-status=dispatched]", timeout=45_000)
    did = d.json()["dispatches"][0]["dispatch_id"]
    r = httpx.post(f"{base}/api/v1/dispatches/{did}/status", headers=hdr, json={"status": "on_scene"}, timeout=30)
    assert r.status_code == 200, r.text
    page.wait_for_selector(f"[data-incident='{inc}'][data-status=on_scene]", timeout=45_000)
    assert "已到场" in page.locator(f"[data-incident='{inc}']").inner_text()


def test_dispatch_form_and_reason_in_english(server, console):
    base, page = server.base, console
    inc = new_incident(base, auth(base, "dispatcher"))
    page.evaluate(f"window.dispatchConsole.select({inc})")
    page.wait_for_function(f"() => document.querySelector('[data-testid=callup-reason]')?.value === '警情处置 #{inc}'",
                           timeout=45_000)
    assert CJK.search(page.locator(".dx-form").inner_text())
    page.click("[data-testid=lang]")
    try:
        page.wait_for_function(f"() => document.querySelector('[data-testid=callup-reason]').value === 'Incident response #{inc}'",
                               timeout=45_000)
        form = page.locator(".dx-form").inner_text()
        assert not CJK.search(form), form
        for label in ("Type", "Priority", "Place search", "Longitude", "Latitude", "Address", "Description", "Reporter"):
            assert label in form
        # The panel headings and the type options (from the server's table) are English too.
        heads = " ".join(page.locator(".dx-panel h2").all_inner_texts())
        assert not CJK.search(heads), heads
        opts = " ".join(page.locator("[data-testid=inc-type] option").all_inner_texts())
        assert opts and not CJK.search(opts), opts
        # A reason the dispatcher typed is theirs: a switch back does not overwrite it.
        page.fill("[data-testid=callup-reason]", "my own reason")
    finally:
        page.click("[data-testid=lang]")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'", timeout=45_000)
    assert page.input_value("[data-testid=callup-reason]") == "my own reason"
    assert "类型" in page.locator(".dx-form").inner_text()


def test_division_labels_legible(console):
    """Sub-district labels at least 14 px (SDF glyphs draw ~12 px letters) at 1920 px; districts bigger."""
    sizes = console.evaluate("""() => {
      const l = window.sharpeyes.map.deck.props.layers.find((x) => x.id === 'division-labels');
      return [4, 5, 6].map((level) => l.props.getSize({ level })); }""")
    assert sizes[0] >= 18 and min(sizes) >= 14, sizes


def test_audit_date_pickers_take_the_ui_language(server, browser):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US")
    try:
        page = sign_in(ctx, server.base, "/audit", "auditor")
        page.wait_for_selector("[data-testid=audit-filters] input[name=since]", timeout=45_000)
        assert page.get_attribute("input[name=since]", "lang") == "zh-CN"
        assert page.get_attribute("input[name=until]", "lang") == "zh-CN"
        page.click("[data-testid=lang]")
        page.wait_for_selector("[data-testid=audit-filters] input[name=since][lang=en]", timeout=45_000)
    finally:
        ctx.close()


def test_place_search_shows_only_the_latest_query(server, console):
    """An older query answering after a newer one is dropped: the list never shows the previous query's places."""
    page = console
    held = []

    def hold_first(route):
        if "q=zzfirst" in route.request.url:
            held.append(route)  # answered later, after the second query's answer is on screen
        else:
            route.continue_()

    page.route("**/api/v1/incidents/places?**", hold_first)
    try:
        with page.expect_request(lambda r: "q=zzfirst" in r.url, timeout=45_000):
            page.fill("[data-testid=place-q]", "zzfirst")
        page.fill("[data-testid=place-q]", "zzsecond")
        page.wait_for_selector("[data-testid=place-results] li", timeout=45_000)  # "no such place" for the second
        with page.expect_response(lambda r: "q=zzfirst" in r.url, timeout=45_000):
            held[0].fulfill(status=200, content_type="application/json",
                            body='[{"name": "STALE", "name_en": null, "lon": 24.94, "lat": 60.17}]')
        # Let the page's continuation of that answer run (two animation frames), then look.
        page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))")
        assert "STALE" not in page.inner_text("[data-testid=place-results]")
    finally:
        page.unroute("**/api/v1/incidents/places?**")
        page.fill("[data-testid=place-q]", "")
