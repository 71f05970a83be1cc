"""The field officer's phone page (/m) in headless Chromium on a 390×844 touch viewport with mocked
geolocation: the officer sees his assignment, accepts it, his shared position moves his unit on the
dispatcher's map, and on arrival the incident goes on scene."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token
from tests.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched

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
    proc.start(timeout_s=60)
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
        posts: list = []
        page.on("response", lambda r: posts.append((r.status, r.request.post_data)) if "/api/v1/positions" in r.url else None)
        page.goto(base + "/m")
        page.fill("input[name=username]", "officer")
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        card = page.wait_for_selector("[data-testid=m-assignment]", timeout=30_000)
        assert card.get_attribute("data-status") == "assigned"
        page.screenshot(path=str(SHOTS / "m-assignment-390x844.png"))
        # Buttons are big enough to hit outdoors with a thumb.
        box = page.locator("[data-testid=m-accepted]").bounding_box()
        assert box["height"] >= 44
        page.tap("[data-testid=m-accepted]")
        page.wait_for_selector("[data-testid=m-assignment][data-status=en_route]", timeout=10_000)

        # Walking towards the scene: the shared position moves the unit on the dispatcher's map.
        ctx.set_geolocation({"longitude": 24.9420, "latitude": 60.1690})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            u = next(x for x in httpx.get(base + "/api/v1/units", headers=hdr).json() if x["callsign"] == "步巡1")
            if abs(u["lon"] - 24.9420) < 1e-4:
                break
            time.sleep(0.5)
        assert abs(u["lon"] - 24.9420) < 1e-4 and abs(u["lat"] - 60.1690) < 1e-4

        # At the scene: arrival detected from the position, the incident goes on scene.
        ctx.set_geolocation({"longitude": SCENE[0], "latitude": SCENE[1]})
        print("GEO", page.evaluate("new Promise(r => navigator.geolocation.getCurrentPosition("
                                   "p => r([p.coords.longitude, p.timestamp]), e => r(String(e.message))))"))
        print("SHARE", page.is_checked("[data-testid=m-share]"), page.inner_text("[data-testid=m-fix]"))
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/api/v1/incidents/{inc['id']}", headers=hdr).json()["properties"]["status"]
            if status == "on_scene":
                break
            time.sleep(0.5)
        if status != "on_scene":
            with psycopg.connect(server.env["DATABASE_URL"]) as conn:
                print(conn.execute("SELECT fix_time, ST_AsText(location) FROM position p JOIN target t ON "
                                   "t.id = p.target_id WHERE t.external_id = 'user-officer' ORDER BY 1").fetchall())
                print(conn.execute("SELECT id, status, eta_s FROM dispatch").fetchall())
            print(posts, w.errors)
        assert status == "on_scene"
        page.wait_for_selector("[data-testid=m-assignment][data-status=on_scene]", timeout=15_000)
        page.screenshot(path=str(SHOTS / "m-on-scene-390x844.png"))
        assert w.errors == [] and w.foreign(base) == []
        browser.close()
