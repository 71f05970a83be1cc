"""The field officer's phone page (/m) in headless Chromium on a 390×844 touch viewport with mocked
geolocation: the officer sees his assignment, accepts it, his shared position moves his unit on the
dispatcher's map, and on arrival the incident goes on scene."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_dispatch_browser import open_console
from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched
from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token
from tests.map_waits import wait_map_at_view, wait_map_loaded
from tests.waiting import wait_for

SCENE = (24.9440, 60.1700)
START = (24.9400, 60.1680)


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The officer's unit is tracked by his phone: the target his page reports as (user-<username>).
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        tid = conn.execute(
            "INSERT INTO target (protocol, external_id, kind, last_fix_at, last_location) VALUES "
            "('api', 'user-officer', 'officer', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (datetime.now(UTC), *START)).fetchone()[0]
        conn.execute("INSERT INTO unit (callsign, kind, status, target_id, user_id, division_code) "
                     "SELECT '步巡1', 'foot_patrol', 'available', %s, id, '990100' FROM app_user "
                     "WHERE username = 'officer'", (tid,))
    proc = ApiProcess(demo_db_url)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_officer_accepts_moves_and_arrives(server):
    base = server.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    inc = httpx.post(base + "/api/v1/incidents", headers=hdr, json={
        "type": "missing_person", "priority": 1, "lon": SCENE[0], "lat": SCENE[1], "description": "走失儿童"}).json()
    unit = next(u for u in httpx.get(base + "/api/v1/units", headers=hdr).json() if u["callsign"] == "步巡1")
    d = httpx.post(f"{base}/api/v1/incidents/{inc['id']}/dispatch", headers=hdr, json={"unit_ids": [unit["id"]]})
    assert d.status_code == 201, d.text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, geolocation={"longitude": START[0], "latitude": START[1]},
                                  permissions=["geolocation"], locale="zh-CN")
        page = ctx.new_page()
        w = Watched(page)
        page.goto(base + "/m")
        page.fill("input[name=username]", "officer")
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        card = page.wait_for_selector("[data-testid=m-assignment]", timeout=60_000)
        assert card.get_attribute("data-status") == "assigned"
        assert "走失儿童" in card.inner_text()
        # The map frames the scene and the officer in the part the sheet leaves visible (Web Mercator, 512 px tiles).
        page.wait_for_function(f"""() => (() => {{
            const v = window.sharpeyes.map.view, W = 512 * 2 ** v.zoom;
            const my = (lat) => (1 - Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)) / Math.PI) / 2;
            const top = document.querySelector('[data-testid=m-sheet]').getBoundingClientRect().top;
            return [[{SCENE[0]}, {SCENE[1]}], [{START[0]}, {START[1]}]].every(([lon, lat]) => {{
              const x = (lon - v.longitude) / 360 * W + innerWidth / 2, y = (my(lat) - my(v.latitude)) * W + innerHeight / 2;
              return x > 0 && x < innerWidth && y > 60 && y < top; }}); }})()""", timeout=45_000)
        wait_map_at_view(page)  # the fitted transition has ended
        wait_map_loaded(page)
        page.screenshot(path=str(SHOTS / "m-assignment-390x844.png"))
        # Buttons are big enough to hit outdoors with a thumb, and the text is large.
        box = page.locator("[data-testid=m-accepted]").bounding_box()
        assert box["height"] >= 44
        assert float(page.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-testid=m-status]')).fontSize)")) >= 16
        # The dispatcher's console watches the live map. Its own browser process: two software-WebGL pages
        # sharing one GPU process stall each other on a 2-core machine.
        desk = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        console = open_console(desk, base, width=1024, height=700)
        page.tap("[data-testid=m-accepted]")
        page.wait_for_selector("[data-testid=m-assignment][data-status=en_route]", timeout=45_000)
        assert httpx.get(f"{base}/api/v1/incidents/{inc['id']}", headers=hdr).json()["properties"]["status"] == "dispatched"

        # Walking towards the scene: the shared position moves the unit on the dispatcher's map.
        ctx.set_geolocation({"longitude": 24.9420, "latitude": 60.1690})
        console.page.wait_for_function(
            f"() => (() => {{ const t = window.sharpeyes.store.targets.get({unit['target_id']});"
            " return t && Math.abs(t.lon - 24.942) < 1e-4 && Math.abs(t.lat - 60.169) < 1e-4; })()", timeout=60_000)

        # At the scene, right after the last fix: arrival is detected from the position, the incident goes on scene.
        ctx.set_geolocation({"longitude": SCENE[0], "latitude": SCENE[1]})
        wait_for(lambda: httpx.get(f"{base}/api/v1/incidents/{inc['id']}", headers=hdr).json()["properties"]["status"]
                 == "on_scene", timeout=30, interval=0.5, what="the incident on scene")
        page.wait_for_selector("[data-testid=m-assignment][data-status=on_scene]", timeout=45_000)
        console.page.wait_for_function(
            f"() => (() => {{ const t = window.sharpeyes.store.targets.get({unit['target_id']});"
            f" return t && Math.abs(t.lon - {SCENE[0]}) < 1e-4 && Math.abs(t.lat - {SCENE[1]}) < 1e-4; }})()", timeout=45_000)
        page.screenshot(path=str(SHOTS / "m-on-scene-390x844.png"))
        # A shared fix redraws the sharing line, not the card: a button is not replaced under the officer's
        # finger (a tap on a replaced one is lost; CI saw "element was detached" for 30 s).
        page.eval_on_selector("[data-testid=m-cleared]", "el => { el.dataset.kept = '1'; }")
        fix = page.inner_text("[data-testid=m-fix]")
        ctx.set_geolocation({"longitude": SCENE[0] + 1e-5, "latitude": SCENE[1]})
        page.wait_for_function("f => document.querySelector('[data-testid=m-fix]').textContent !== f", arg=fix,
                               timeout=45_000)
        assert page.get_attribute("[data-testid=m-cleared]", "data-kept") == "1"
        # The dispatcher cancels while this phone has not heard yet: the feed is stopped and the page's 10 s
        # safety-net refresh keeps getting the assignment as it was, until the officer taps (on a loaded
        # machine the refresh could otherwise come first). The "cleared" is refused; the page says why, in zh-CN.
        page.evaluate("window.sharpeyes.feed.stop()")
        with page.expect_response(lambda r: r.url.endswith("/api/v1/me/assignment"), timeout=45_000) as before:
            pass
        stale = {"body": before.value.body(), "on": True}
        page.on("request", lambda r: r.method == "POST" and r.url.endswith("/status") and stale.update(on=False))

        def not_heard_yet(route):
            if stale["on"] and route.request.method == "GET":
                route.fulfill(status=200, body=stale["body"], content_type="application/json")
            else:
                route.continue_()
        page.route("**/api/v1/me/assignment", not_heard_yet)
        did = d.json()["dispatches"][0]["dispatch_id"]
        assert httpx.post(f"{base}/api/v1/dispatches/{did}/status", headers=hdr,
                          json={"status": "cancelled"}).status_code == 200
        page.tap("[data-testid=m-cleared]")
        said = page.wait_for_selector("[data-testid=m-error]", timeout=45_000).inner_text()
        assert said.startswith("操作失败 · 操作冲突，数据已变化：") and "cancelled" in said, said
        page.wait_for_selector("[data-testid=m-none]", timeout=45_000)  # the card goes, the reason stays
        assert page.is_visible("[data-testid=m-error]")
        # The one console error is the browser's own log line for that refused request (409).
        assert [e for e in w.errors if "status of 409" not in e] == [] and len(w.errors) == 1
        assert w.foreign(base) == []
        assert console.errors == []
        desk.close()
        browser.close()
