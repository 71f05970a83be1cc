"""A GB/T 28181 camera's own video on the wall, in headless Chromium: a simulated camera registers over
SIP, its channel is a camera at the spot, and when an incident opens there the wall plays the channel
(INVITE, real H.264 in PS over RTP, remuxed to MPEG-TS by the platform, played by mpegts.js). The picture
moves: the video clock advances and the frames differ."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, open_wall
from tests.frontend_build import ensure_built
from tests.gb28181_peer import Channel
from tests.gb_live import PeerLoop, gb_platform, registered
from tests.live_servers import token
from tests.waiting import wait_for

SPOT = (24.9395, 60.1712)  # another quiet corner than the API test's
CHANNEL = "34020000001320000201"


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with gb_platform(demo_db_url) as proc:
        yield proc


@pytest.fixture(scope="module")
def camera(server):
    """The simulated camera, running in its own event loop thread for the whole module."""
    peer = PeerLoop()
    ep, dev, cam = peer.run(registered(server, CHANNEL, Channel(CHANNEL, "GB 路口球机", SPOT[0], SPOT[1], ptz_type=1),
                                       media="ps", media_size=(320, 180)))
    try:
        yield dev, cam
    finally:
        peer.close(ep)


def test_a_gb28181_channel_plays_on_the_wall_when_an_incident_opens_there(server, camera):
    dev, cam = camera
    base = server.base
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        w = open_wall(browser, base)
        page = w.page
        disp = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
        inc = httpx.post(base + "/api/v1/incidents", headers=disp, json={
            "type": "theft", "priority": 1, "lon": SPOT[0], "lat": SPOT[1], "description": "视频核查"})
        assert inc.status_code == 201, inc.text
        page.wait_for_selector("[data-testid=wall-video].open", timeout=60_000)
        tile = f'[data-testid=video-tile][data-camera="{cam}"]'
        page.wait_for_selector(tile, timeout=45_000)
        assert page.inner_text(f"{tile} .vw-fmt") == "TS"
        page.wait_for_function("""sel => { const v = document.querySelector(sel + ' video');
            return v && v.readyState >= 2 && v.videoWidth === 320 && v.currentTime > 1; }""",
                               arg=tile, timeout=45_000)
        # the picture itself changes (the source burns in a running clock: a few digits, so every 7th byte of
        # the frame is compared, and the next frames are waited for, on a loaded machine a decoded frame can
        # lag the clock of the element)
        snap = """sel => { const v = document.querySelector(sel + ' video'); const c = document.createElement('canvas');
            c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0);
            return [v.currentTime, Array.from(g.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 7 === 0))]; }"""
        t0, a = page.evaluate(snap, tile)

        def changed():
            t1, b = page.evaluate(snap, tile)
            return t1 > t0 and sum(x != y for x, y in zip(a, b, strict=True)) > len(a) // 1000

        wait_for(changed, interval=0.3, timeout=15, what="the frames changed as the video played on")
        page.screenshot(path=str(SHOTS / "wall-gb28181-1920x1080.png"))
        assert len([m for m in dev.received if m.method == "INVITE"]) == 1
        assert w.errors == []
        page.close()
        browser.close()
    # the wall closed: the last viewer left, the device is told to stop
    wait_for(lambda: dev.streaming == 0 and len(dev.byes) == 1, interval=0.2, timeout=20,
             what="BYE after the wall closed")
