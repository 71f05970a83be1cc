"""A mobile device's camera replayed in headless Chromium: a simulated GB/T 28181 body camera (type 138,
hourly recordings up to now) registers over SIP and reports its positions; on /devices its channel's 录像
shows the device's track with the fixes it recorded, a click on a fix plays the recording from that
moment (s=Playback from the device), and the track reads in English after the switch."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_recordings_browser import PLAYING
from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched
from tests.frontend_build import ensure_built
from tests.gb28181_peer import DEVICE_TZ, Channel, PeerEndpoint, SimDevice
from tests.live_servers import ApiProcess, free_port
from tests.waiting import wait_for

DEVICE = "99010100001380000901"  # type 138: filed as kind 'mobile' on its first REGISTER (demo mode)
CHANNEL = "99010100001320000901"
PASSWORD = "gb-test-password"  # the platform-wide GB/T 28181 password of the tests (tests/conftest.py)
FIXES = 8


def _one(db: str, sql: str, *params):
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchone()


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = ApiProcess(demo_db_url)
    proc.sip_port = free_port()
    proc.env.update(SHARPEYES_GB_PORT=str(proc.sip_port), SHARPEYES_GB_MEDIA_HOST="127.0.0.1",
                    SHARPEYES_RECORDING_SWEEP_S="0")  # the scheduled sweep would ask the device too
    proc.start()
    proc.db = demo_db_url
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def body_cam(server):
    """The body camera (hourly recordings over the last 6 hours, up to now) and its fixes of the last
    20 minutes, in their own event loop."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    now = datetime.now(DEVICE_TZ).replace(tzinfo=None, microsecond=0)
    files = [(now - timedelta(hours=k), now - timedelta(hours=k - 1)) for k in range(6, 0, -1)]
    first = now - timedelta(minutes=20)
    fixes = [(DEVICE, first + timedelta(seconds=20 * i), 24.9400 + i * 0.0003, 60.1700 + i * 0.0001, 12.0, 70.0)
             for i in range(FIXES)]

    async def start():
        ep = await PeerEndpoint.open(("127.0.0.1", server.sip_port))
        dev = SimDevice(ep, DEVICE, PASSWORD, media="ps", media_size=(320, 180), records=files,
                        channels=[Channel(CHANNEL, "执法记录仪 901", 24.9300, 60.1650, ptz_type=3, civil_code="990101")])
        assert (await dev.register()).status == 200
        return ep, dev

    ep, dev = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    wait_for(lambda: _one(server.db, "SELECT 1 FROM camera c JOIN gb_device d ON d.gb_id = c.parent_device "
                                     "WHERE c.gb_id = %s AND d.kind = 'mobile'", CHANNEL) is not None,
             interval=0.2, timeout=20, what="the mobile device's channel on the map")
    assert asyncio.run_coroutine_threadsafe(dev.send_positions(fixes, "list", "MESSAGE"), loop).result(10).status == 200
    wait_for(lambda: _one(server.db, "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                                     "WHERE t.protocol = 'gb28181' AND t.external_id = %s", DEVICE)[0] == FIXES,
             interval=0.2, timeout=20, what="the fixes stored")
    try:
        yield dev, fixes
    finally:
        async def stop():
            ep.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def test_a_body_cameras_track_plays_its_recording_from_a_fix(server, body_cam):
    dev, _fixes = body_cam
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        w = Watched(page)
        page.goto(server.base + "/devices")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        row = f"[data-testid=device-row][data-gb-id='{DEVICE}']"
        page.wait_for_selector(row, timeout=60_000)
        page.click(row)
        page.click(f"[data-testid=channel-row][data-gb-id='{CHANNEL}'] [data-testid=channel-recordings]",
                   timeout=45_000)
        track = page.locator("[data-testid=mobile-track]")
        page.wait_for_selector("[data-testid=mobile-track][data-state=ready] [data-testid=mtrack-fix]", timeout=60_000)
        assert track.locator("[data-testid=mtrack-fix]").count() == FIXES
        assert track.locator(".mtrack-fix.rec").count() == FIXES  # every fix lies in a recorded hour
        assert "移动轨迹" in track.inner_text() and f"{FIXES} 个定位点" in track.inner_text()
        # The recordings player below got the device's spans with the track (one RecordInfo, not two).
        page.wait_for_selector("[data-testid=recordings] .rec-bar", timeout=45_000)
        assert len(dev.record_queries) == 1
        # A fix plays the recording from its moment.
        fix = track.locator("[data-testid=mtrack-fix]").nth(3)
        at = float(fix.get_attribute("data-t"))
        fix.click()
        page.wait_for_function(PLAYING, timeout=45_000)
        invites = [m for m in dev.received if m.method == "INVITE" and b"s=Playback" in m.body]
        assert invites, "the recording was played back from the device"
        start = int(invites[-1].body.split(b"t=")[1].split()[0])
        assert abs(start - at) < 2, (start, at)  # SDP t= is the fix's moment
        page.wait_for_function("() => document.querySelector('[data-testid=mobile-track]').dataset.playingFix !== undefined",
                               timeout=45_000)
        page.screenshot(path=str(SHOTS / "mobile_track.png"))
        with psycopg.connect(server.db) as conn:
            assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'mobile_track'").fetchone()[0] >= 1
        # In English.
        page.click("[data-testid=lang]")
        page.wait_for_function("() => document.querySelector('[data-testid=mobile-track]').innerText.includes('Track')",
                               timeout=45_000)
        assert f"{FIXES} fixes" in track.inner_text()
        assert w.errors == []
        browser.close()
