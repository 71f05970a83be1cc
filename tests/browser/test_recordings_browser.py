"""An incident's evidence recordings in the dispatch console, in headless Chromium: a simulated GB/T 28181
camera holding hourly recordings up to now registers over SIP at the incident's spot; the dispatcher
selects the incident, gathers the evidence (on demand: nothing is asked of the device before), sees the
camera answered with its recorded spans, clicks a span and the recording plays (GB/T 28181 s=Playback, PS
over RTP remuxed to MPEG-TS, mpegts.js); 2× is a new playback at Scale 2; the selection downloads as a
file; every access is audited with the incident's number; the section reads in English after the switch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched
from tests.frontend_build import ensure_built
from tests.gb28181_peer import DEVICE_TZ, Channel
from tests.gb_live import PeerLoop, camera_id, gb_platform, registered
from tests.live_servers import token
from tests.waiting import wait_for

SPOT = (24.9430, 60.1693)  # a corner of the demo city the other GB/T 28181 tests leave alone
CHANNEL = "34020000001320000301"
SILENT = "34020000001320000302"  # registered beside it, but never answers RecordInfo
# The player's current frame on a canvas (same origin: not tainted), as a short fingerprint.
FRAME = """() => { const v = document.querySelector('[data-testid=rec-video]'); const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0; return h; }"""
PLAYING = """() => { const v = document.querySelector('[data-testid=rec-video]');
  return v && !v.hidden && v.readyState >= 2 && v.videoWidth === 320 && v.currentTime > 1; }"""


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with gb_platform(demo_db_url) as proc:
        yield proc


@pytest.fixture(scope="module")
def camera(server):
    """The simulated camera (hourly recordings over the last 6 hours, up to now) and a silent one beside it,
    in their own event loop."""
    peer = PeerLoop()
    now = datetime.now(DEVICE_TZ).replace(tzinfo=None, microsecond=0)
    files = [(now - timedelta(hours=k), now - timedelta(hours=k - 1)) for k in range(6, 0, -1)]
    ep, dev, cam = peer.run(registered(server, CHANNEL, Channel(CHANNEL, "GB 证据球机", SPOT[0], SPOT[1], ptz_type=1),
                                       media="ps", media_size=(320, 180), records=files))
    peer.run(registered(server, SILENT, Channel(SILENT, "GB 沉默球机", SPOT[0] + 0.0001, SPOT[1], ptz_type=1), ep=ep,
                        records=files, record_skip_pages={0}))
    try:
        yield dev, cam
    finally:
        peer.close(ep)


def test_evidence_gathered_on_demand_played_sped_up_downloaded_and_in_english(server, camera):
    dev, cam = camera
    base = server.base
    disp = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    inc = httpx.post(base + "/api/v1/incidents", headers=disp, json={
        "type": "theft", "priority": 2, "lon": SPOT[0], "lat": SPOT[1], "description": "证据调阅"})
    assert inc.status_code == 201, inc.text
    iid = inc.json()["id"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
        w = Watched(page)
        page.goto(base + "/dispatch")
        page.fill("input[name=username]", "dispatcher")
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
        page.click(f"[data-testid=incident-list] [data-incident='{iid}']")
        page.wait_for_selector("[data-testid=evidence-load]")
        assert page.inner_text("[data-testid=evidence-load]") == "调取证据录像"
        page.wait_for_selector("[data-testid=camera-list] li")  # the selection's loads have come back
        assert dev.record_queries == [], "selecting an incident asked the device (evidence is gathered on demand)"

        page.click("[data-testid=evidence-load]")
        row = f"[data-testid=evidence-list] [data-camera='{cam}']"
        page.wait_for_selector(f"{row}[data-state=answered] .rec-bar", timeout=60_000)
        assert len(dev.record_queries) == 1
        assert "已应答" in page.inner_text(row) and "GB 证据球机" in page.inner_text(row)
        # the silent device: no answer, and the reason
        mute = page.locator(f"[data-testid=evidence-list] [data-camera='{camera_id(server.db, SILENT)}']")
        assert mute.get_attribute("data-state") == "no_answer"
        assert "设备未应答" in mute.inner_text() and "no answer" in mute.inner_text(), mute.inner_text()
        # the demo's cameras at the spot are not GB/T 28181 channels: said so, not an error
        others = page.locator("[data-testid=evidence-list] [data-state=not_recording_device]")
        if others.count():
            assert "非国标" in others.first.inner_text()
        # the bar spans the evidence window from its start (15 min before the incident) to about now
        bar = page.locator(f"{row} .rec-bar").first
        track = page.locator(f"{row} .rec-track").bounding_box()
        box = bar.bounding_box()
        assert box["x"] - track["x"] < 3 and box["width"] > 0.8 * track["width"], (box, track)

        # a click on the bar plays the recording from that moment in the player above the list
        bar.click()
        page.wait_for_function(PLAYING, timeout=45_000)
        # the picture moves (the source draws a running clock): the clock advances and the frame changes
        t0, a = page.evaluate("document.querySelector('[data-testid=rec-video]').currentTime"), page.evaluate(FRAME)
        page.wait_for_function(f"() => document.querySelector('[data-testid=rec-video]').currentTime > {t0} + 1"
                               f" && ({FRAME})() !== {a}", timeout=45_000)
        invites = [m for m in dev.received if m.method == "INVITE"]
        assert len(invites) == 1 and b"s=Playback" in invites[0].body
        assert "回放" in page.inner_text("[data-testid=rec-playing]")
        assert page.locator("[data-testid=recordings] .rec-tick").count() >= 2  # the axis has its ticks
        page.locator("[data-testid=rec-video]").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "dispatch-evidence-1920x1080.png"))

        # 2×: a new playback of the rest of the span, at Scale 2
        page.click("[data-testid=rec-speed][data-speed='2']")
        wait_for(lambda: any("Scale: 2.0" in i for i in dev.infos), interval=0.2, timeout=20, what="INFO Scale: 2.0")
        page.wait_for_function("() => document.querySelector('[data-testid=rec-playing]')?.textContent.includes('2×')")
        page.wait_for_function(PLAYING, timeout=45_000)
        assert len([m for m in dev.received if m.method == "INVITE"]) == 2

        # the selected range (what was clicked, to the span's end) downloads as a file
        with page.expect_download(timeout=60_000) as dl:
            page.click("[data-testid=rec-download]")
        assert dl.value.suggested_filename.endswith(".ts"), dl.value.suggested_filename
        dl.value.cancel()
        assert any(b"s=Download" in m.body for m in dev.received if m.method == "INVITE")

        # in English: the section and the player, and the video keeps playing through the switch
        page.click("[data-testid=lang]")
        section = page.locator(".dx-panel", has=page.locator("[data-testid=evidence]"))
        text = section.inner_text()
        for en in ("Evidence recordings", "Ask again", "Answered", "Recordings", "Last 24 h",
                   "Download the selection", "Playing from"):
            assert en in text, (en, text)
        for zh in ("证据录像", "已应答", "近 24 小时", "下载所选时段", "回放"):
            assert zh not in text, (zh, text)
        if others.count():
            assert "Not a GB/T 28181 channel" in others.first.inner_text()
        assert "No answer" in mute.inner_text()
        t2 = page.evaluate("document.querySelector('[data-testid=rec-video]').currentTime")
        page.wait_for_function(f"() => document.querySelector('[data-testid=rec-video]').currentTime > {t2}")
        page.screenshot(path=str(SHOTS / "dispatch-evidence-en.png"))

        # the player's own ranges ask the device: the last hour, then a custom range on the user's clock
        page.click("[data-testid=rec-preset][data-preset='1h']")
        page.wait_for_selector("[data-testid=recordings][data-state=playing] .rec-track .rec-bar", timeout=60_000)
        assert len(dev.record_queries) == 2
        local = page.evaluate("""() => { const p = (n) => String(n).padStart(2, '0');
            const f = (d) => `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
            return [f(new Date(Date.now() - 3 * 3600e3)), f(new Date(Date.now() - 3600e3))]; }""")
        page.fill("[data-testid=rec-from]", local[0])
        page.fill("[data-testid=rec-to]", local[1])
        page.click("[data-testid=rec-apply]")
        wait_for(lambda: len(dev.record_queries) == 3, interval=0.2, timeout=20, what="the custom range asked")
        page.wait_for_selector("[data-testid=recordings][data-state=playing] .rec-track .rec-bar", timeout=60_000)
        ticks = page.eval_on_selector_all("[data-testid=recordings] .rec-tick", "els => els.map(e => e.textContent)")
        assert len(ticks) >= 2 and all(":" in k or "/" in k for k in ticks), ticks  # HH:MM, a date at midnight
        assert "2 h 0 min recorded" in page.inner_text("[data-testid=recordings]")
        assert w.foreign(base) == []
        assert w.errors == []
        page.close()
        browser.close()

    # every access audited with the incident's number as the reason
    auditor = {"Authorization": f"Bearer {token(base, 'auditor')}"}
    for action in ("evidence_list", "video_playback", "video_download"):
        items = httpx.get(base + "/api/v1/audit", params={"action": action}, headers=auditor).json()["items"]
        assert items and items[0]["actor_name"] == "dispatcher", (action, items)
    playback = httpx.get(base + "/api/v1/audit", params={"action": "video_playback"}, headers=auditor).json()["items"]
    assert {i["reason"] for i in playback} == {f"警情 #{iid} 证据调阅"}, playback
    # the player left: the device's playback sessions end
    wait_for(lambda: dev.streaming == 0, interval=0.2, timeout=30, what="the playbacks stopped at the device")


def test_a_channels_recordings_play_from_the_devices_page(server, camera):
    """Yesterday's recording without an incident: /devices → the device → its channel's 录像 → a span plays."""
    dev, _cam = camera
    base = server.base
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        w = Watched(page)
        page.goto(base + "/devices")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        row = f"[data-testid=device-row][data-gb-id='{CHANNEL}']"
        page.wait_for_selector(row, timeout=60_000)
        page.click(row)
        page.click(f"[data-testid=channel-row][data-gb-id='{CHANNEL}'] [data-testid=channel-recordings]",
                   timeout=45_000)
        page.wait_for_selector("[data-testid=recordings] .rec-bar", timeout=60_000)
        page.locator("[data-testid=recordings] .rec-bar").first.click()
        page.wait_for_function(PLAYING, timeout=45_000)
        invites = [m for m in dev.received if m.method == "INVITE" and b"s=Playback" in m.body]
        assert invites, "the span was played back from the device"
        with psycopg.connect(server.db) as conn:
            reason = conn.execute("SELECT reason FROM audit_event WHERE action = 'video_playback' "
                                  "ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert reason == "设备页录像调阅"
        assert w.errors == []
        browser.close()
