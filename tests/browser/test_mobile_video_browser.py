"""Live video on the field officer's phone (/m), in headless Chromium on a 390×844 touch viewport: a
simulated GB/T 28181 camera (real H.264 over SIP/RTP) is at a corner; the page lists the cameras that see
the officer's position (or, once he has an assignment, the incident's spot), a tap plays one full width
(MPEG-TS remuxed by the platform, played by mpegts.js), and closing it stops the stream: the device gets
its BYE. In zh-CN, then in English with an assignment."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_gb_video_browser import SPOT, camera  # noqa: F401 (the simulated camera fixture)
from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched
from tests.frontend_build import ensure_built
from tests.gb_live import gb_platform
from tests.live_servers import token
from tests.waiting import wait_for

NEAR = (SPOT[0] + 0.0001, SPOT[1] + 0.00005)  # ~8 m from the camera's spot
FAR = (24.9300, 60.1650)  # ~1 km away: the scene's cameras are not the officer's


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The officer's unit, tracked by his phone (target user-<username>), for the assignment in English.
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        tid = conn.execute(
            "INSERT INTO target (protocol, external_id, kind, last_fix_at, last_location) VALUES "
            "('api', 'user-officer', 'officer', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (datetime.now(UTC), *FAR)).fetchone()[0]
        conn.execute("INSERT INTO unit (callsign, kind, status, target_id, user_id, division_code) "
                     "SELECT '步巡9', 'foot_patrol', 'available', %s, id, '990100' FROM app_user "
                     "WHERE username = 'officer'", (tid,))
    with gb_platform(demo_db_url) as proc:
        yield proc


def _phone(browser, base: str, at: tuple[float, float], lang: str) -> Watched:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2, geolocation={"longitude": at[0], "latitude": at[1]},
                              permissions=["geolocation"], locale=lang)
    ctx.add_init_script(f"localStorage.setItem('se.lang', '{lang}')")
    page = ctx.new_page()
    w = Watched(page)
    page.goto(base + "/m")
    page.fill("input[name=username]", "officer")
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    return w


def _plays(page, cam: int, shot: str) -> None:
    """Tap the camera in the list: its video plays, full width, and the picture's clock advances."""
    page.tap(f'[data-testid=m-cam][data-camera="{cam}"]')
    page.wait_for_selector(f'[data-testid=m-video][data-camera="{cam}"]', timeout=45_000)
    page.wait_for_function("""() => { const v = document.querySelector('[data-testid=m-video] video');
        return v && v.readyState >= 2 && v.videoWidth === 320 && v.currentTime > 1; }""", timeout=45_000)
    t0 = page.evaluate("document.querySelector('[data-testid=m-video] video').currentTime")
    page.wait_for_function("t0 => document.querySelector('[data-testid=m-video] video').currentTime > t0 + 0.5",
                           arg=t0, timeout=45_000)
    assert page.inner_text("[data-testid=m-video-fmt]") == "TS"
    box = page.locator("[data-testid=m-video] video").bounding_box()
    assert box["width"] >= 389 and box["y"] >= 0, box
    close = page.locator("[data-testid=m-video-close]").bounding_box()
    assert close["height"] >= 44 and close["width"] >= 44  # a thumb's target
    page.screenshot(path=str(SHOTS / shot))


def _callups(base: str) -> list[dict]:
    auditor = {"Authorization": f"Bearer {token(base, 'auditor')}"}
    return httpx.get(base + "/api/v1/audit", params={"action": "video_callup", "actor": "officer"},
                     headers=auditor).json()["items"]


def test_the_officer_plays_the_camera_seeing_him_then_the_scenes_in_english(server, camera):  # noqa: F811
    dev, cam = camera
    base = server.base
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        # zh-CN, no assignment: the cameras that see where the officer stands.
        w = _phone(browser, base, NEAR, "zh-CN")
        page = w.page
        page.wait_for_selector(f'[data-testid=m-cam][data-camera="{cam}"]', timeout=60_000)
        assert page.inner_text("[data-testid=m-cams-title]") == "看得到我这里的摄像机"
        _plays(page, cam, "m-video-390x844.png")
        assert page.get_attribute("[data-testid=m-video-close]", "title") == "关闭视频"
        assert len([m for m in dev.received if m.method == "INVITE"]) == 1
        page.tap("[data-testid=m-video-close]")
        assert page.query_selector("[data-testid=m-video]") is None
        # the player stopped: the platform's last viewer left, the device is told to stop
        wait_for(lambda: dev.streaming == 0 and len(dev.byes) == 1, interval=0.2, timeout=10,
                 what="BYE after the phone closed the video")
        audited = _callups(base)
        assert [(e["reason"], e["detail"]["incident_id"]) for e in audited] == [("现场核查（本人位置）", None)]
        assert w.errors == [] and w.foreign(base) == []
        page.context.close()

        # English, with an assignment at the camera's corner while the officer is ~1 km away: the scene's cameras.
        disp = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
        inc = httpx.post(base + "/api/v1/incidents", headers=disp, json={
            "type": "theft", "priority": 2, "lon": SPOT[0], "lat": SPOT[1], "description": "bike theft"}).json()
        unit = next(u for u in httpx.get(base + "/api/v1/units", headers=disp).json() if u["callsign"] == "步巡9")
        d = httpx.post(f"{base}/api/v1/incidents/{inc['id']}/dispatch", headers=disp, json={"unit_ids": [unit["id"]]})
        assert d.status_code == 201, d.text
        w = _phone(browser, base, FAR, "en")
        page = w.page
        page.wait_for_selector("[data-testid=m-assignment]", timeout=60_000)
        page.wait_for_selector(f'[data-testid=m-cam][data-camera="{cam}"]', timeout=60_000)
        assert page.inner_text("[data-testid=m-cams-title]") == f"Cameras seeing the scene · #{inc['id']}"
        _plays(page, cam, "m-video-en-390x844.png")
        assert page.get_attribute("[data-testid=m-video-close]", "title") == "Close the video"
        page.tap("[data-testid=m-video-close]")
        wait_for(lambda: dev.streaming == 0 and len(dev.byes) == 2, interval=0.2, timeout=10,
                 what="BYE after the phone closed the scene's video")
        audited = _callups(base)
        assert (audited[0]["reason"], audited[0]["detail"]["incident_id"]) == (f"On-scene check #{inc['id']}", inc["id"])
        assert w.errors == [] and w.foreign(base) == []
        browser.close()
