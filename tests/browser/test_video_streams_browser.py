"""Real cameras' streams on the video wall, in headless Chromium: HLS (hls.js), HTTP-FLV (mpegts.js) and
WebRTC (WHEP, signalled through the platform) of a media server on another origin, served by the platform:
the page loads nothing from the media server's origin (none is configured in the page's policy), and
its address never reaches the browser. The wall opens them for a new incident."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, open_wall
from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token
from tests.media_server import running_media_server

SPOT = (24.9420, 60.1700)  # a quiet corner of the demo city


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    with running_media_server(tmp_path_factory.mktemp("media")) as ms:
        yield ms


@pytest.fixture(scope="module")
def server(demo_db_url, media):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = ApiProcess(demo_db_url)
    proc.env.pop("SHARPEYES_MEDIA_ORIGINS", None)  # the platform serves the streams: no origin to allow
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_hls_flv_and_webrtc_play_on_the_wall(server, media):
    base = server.base
    adm = {"Authorization": f"Bearer {token(base, 'admin')}"}
    cams = {}
    for i, (fmt, url) in enumerate([("hls", "/live/cam1/index.m3u8"), ("flv", "/live/cam2.flv"),
                                    ("webrtc", "/live/cam3/whep")]):
        r = httpx.post(base + "/api/v1/cameras", headers=adm, json={
            "name": f"media-{fmt}", "lon": SPOT[0] + (i - 1) * 1e-4, "lat": SPOT[1], "kind": "ptz", "range_m": 80,
            "cls": 1, "stream_url": media.origin + url})
        assert r.status_code == 201, r.text
        cams[fmt] = r.json()["id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        w = open_wall(browser, base)
        page = w.page
        disp = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
        inc = httpx.post(base + "/api/v1/incidents", headers=disp, json={
            "type": "theft", "priority": 2, "lon": SPOT[0], "lat": SPOT[1], "description": "视频核查"})
        assert inc.status_code == 201, inc.text
        page.wait_for_selector("[data-testid=wall-video].open", timeout=60_000)
        shown = page.eval_on_selector_all("[data-testid=video-tile]", "els => els.map(e => Number(e.dataset.camera))")
        assert set(cams.values()) <= set(shown)  # ours, maybe beside a demo camera that sees the spot too
        # Every tile's video really plays: decoded frames of the source's size, and its clock advances.
        playing = """ids => ids.every(id => { const v = document.querySelector(`[data-testid=video-tile][data-camera="${id}"] video`);
            return v && v.readyState >= 2 && v.videoWidth === 320 && v.currentTime > 1.5; })"""
        page.wait_for_function(playing, arg=list(cams.values()), timeout=45_000)
        t0 = page.evaluate("ids => ids.map(id => document.querySelector(`[data-testid=video-tile][data-camera=\"${id}\"] video`).currentTime)",
                           list(cams.values()))
        page.wait_for_function("""([ids, t0]) => ids.every((id, i) =>
            document.querySelector(`[data-testid=video-tile][data-camera="${id}"] video`).currentTime > t0[i] + 1)""",
                               arg=[list(cams.values()), t0], timeout=45_000)  # a second of each played on
        t1 = page.evaluate("ids => ids.map(id => document.querySelector(`[data-testid=video-tile][data-camera=\"${id}\"] video`).currentTime)",
                           list(cams.values()))
        assert all(b > a for a, b in zip(t0, t1, strict=True)), (t0, t1)
        fmts = page.eval_on_selector_all("[data-testid=video-tile]",
                                         "els => Object.fromEntries(els.map(e => [e.dataset.camera, e.querySelector('.vw-fmt').textContent]))")
        assert {fmts[str(cid)] for cid in cams.values()} == {"FLV", "HLS", "WEBRTC"}
        page.screenshot(path=str(SHOTS / "wall-media-streams-1920x1080.png"))
        assert media.offers == 1  # the WHEP offer went through the platform to the media server once
        # Nothing blocked by the page's policy, nothing loaded from anywhere but the platform (the WebRTC
        # media itself flows from the media server, outside HTTP).
        assert w.errors == []
        assert w.foreign(base) == []
        assert media.origin.removeprefix("http://") not in page.content()
        browser.close()
