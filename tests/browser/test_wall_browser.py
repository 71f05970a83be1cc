"""The wall in headless Chromium (system browser, SwiftShader WebGL) against a real API process on Redis.

Screenshots are kept under artifacts/screenshots/ (CI uploads that folder).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import redis
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token

REDIS_URL = "redis://127.0.0.1:6379/0"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
NW = "990101001001"


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = ApiProcess(demo_db_url, redis_url=REDIS_URL)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def browser(chromium):
    """The browser for one test; every page it opened is closed afterwards, even when the test failed
    (a live page left open keeps animating and eats the CPU of the next tests)."""
    yield chromium
    for ctx in chromium.contexts:
        ctx.close()


class Watched:
    """A page with every request and console error recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        # Bounds, not speed checks: a software-WebGL page on a loaded 2-core CI machine has taken over 30 s.
        page.set_default_timeout(60_000)
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def foreign(self, base: str) -> list[str]:
        ours = (base + "/", base.replace("http", "ws", 1) + "/", "data:", "blob:")
        return [u for u in self.requests if not u.startswith(ours)]


def open_wall(browser, base: str, width=1920, height=1080, user="commander") -> Watched:
    page = browser.new_page(viewport={"width": width, "height": height})
    w = Watched(page)
    page.goto(base + "/wall")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    return w


def wait_tiles_loaded(page: Page, timeout_s: float = 60) -> None:
    page.wait_for_function("""() => {
        const d = window.sharpeyes?.map?.deck;
        return d && d.isInitialized && d.layerManager.getLayers().filter(l => l.id.startsWith('base-'))
            .every(l => l.isLoaded);
    }""", timeout=timeout_s * 1000)
    # Loaded is not yet drawn: two animation frames later it is.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def map_pixels(png: bytes) -> float:
    """Share of pixels in the map area that differ from the dark background."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    crop = img.crop((int(w * 0.15), int(h * 0.2), int(w * 0.85), int(h * 0.9))).resize((200, 120))
    rgb = np.asarray(crop, dtype=np.int32)
    return float((rgb.sum(axis=2) > 90).mean())


def api_kpi(base: str, user: str) -> dict:
    headers = {"Authorization": f"Bearer {token(base, user)}"}
    return httpx.get(base + "/api/v1/kpi/summary", headers=headers).json()


def test_wall_renders_kpis_and_stays_on_origin(server, browser):
    base = server.base
    w = open_wall(browser, base)
    page = w.page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("[data-testid=legend]").startswith("图例")
    wait_tiles_loaded(page)
    png = page.screenshot(path=str(SHOTS / "wall-1920x1080.png"))
    assert map_pixels(png) > 0.05, "the map looks blank"
    kpi = api_kpi(base, "commander")
    for key in ("cameras", "online_rate", "networked_rate", "hd_ratio", "key_areas", "key_area_reach_rate",
                "open_incidents", "units_available"):
        raw = page.get_attribute(f"[data-kpi={key}]", "data-raw")
        assert raw == ("" if kpi[key] is None else str(kpi[key])) or float(raw) == kpi[key], key
    assert page.inner_text("[data-kpi=cameras]") == f"{kpi['cameras']:,}"
    assert page.inner_text("[data-kpi=online_rate]") == f"{kpi['online_rate'] * 100:.1f}%"
    assert "OpenStreetMap" in page.inner_text("[data-testid=attribution]")
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")  # never scrolls
    assert w.foreign(base) == []
    assert any("/tiles/roads/" in u for u in w.requests) and any(u.startswith("ws://") for u in w.requests)
    assert w.errors == []
    page.close()


def test_english_switch(server, browser):
    w = open_wall(browser, server.base)
    page = w.page
    assert page.inner_text(".kpi-cameras .kpi-label") == "摄像机"
    page.click("[data-testid=lang]")
    assert page.inner_text(".kpi-cameras .kpi-label") == "Cameras"
    assert page.inner_text("[data-testid=legend]").startswith("Legend")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()  # the choice is remembered
    page.wait_for_selector("[data-testid=conn][data-state=live]")
    assert page.inner_text(".kpi-online_rate .kpi-label") == "Online rate"
    page.click("[data-testid=lang]")
    assert page.inner_text(".kpi-online_rate .kpi-label") == "完好率"
    assert w.errors == []
    page.close()


def test_live_position_and_incident(server, browser):
    base = server.base
    w = open_wall(browser, base)
    page = w.page
    wait_tiles_loaded(page)  # steady state: what a wall looks like most of the day
    bus = redis.Redis.from_url(REDIS_URL)
    sent = time.time()
    bus.publish(server.bus_prefix + "positions", orjson.dumps(
        {"target_id": 9001, "division": NW, "lon": 24.9405, "lat": 60.1702, "course_deg": 90,
         "kind": "patrol_car", "t": sent}))
    page.wait_for_function("""() => {
        const l = window.sharpeyes.map.deck.layerManager.getLayers().find(l => l.id === 'targets');
        return l && l.props.data.some(t => t.id === 9001);
    }""", timeout=45_000)  # generous: software WebGL on a shared machine draws slowly
    # Measured in the page (same clock): publish → hub tick → websocket → target layer data.
    elapsed = page.evaluate("window.sharpeyes.store.positionsDrawnAt") / 1000 - sent
    assert 0 < elapsed < 1.0, f"position took {elapsed:.2f}s to reach the target layer"
    bus.publish(server.bus_prefix + "incidents", orjson.dumps(
        {"op": "created", "division": NW, "lon": 24.9412, "lat": 60.1712,
         "incident": {"id": 77, "type": "fight", "type_zh": "打架斗殴", "type_en": "Fight", "priority": 1,
                      "status": "new", "lon": 24.9412,
                      "lat": 60.1712, "address": "Mannerheimintie 1", "description": "demo",
                      "created_at": "2026-01-01T10:00:00Z"}}))
    page.wait_for_selector("[data-testid=incident-panel][data-incident='77']", timeout=45_000)
    assert "打架斗殴" in page.inner_text("[data-testid=incident-panel]")  # the type's name, not its key
    # The map flies there (1.5 s animation; slower frames on a loaded machine).
    page.wait_for_function("""() => {
        const v = window.sharpeyes.map.deck.viewManager.getViewports()[0];
        return Math.abs(v.longitude - 24.9412) < 0.002 && Math.abs(v.latitude - 60.1712) < 0.002;
    }""", timeout=45_000)
    page.screenshot(path=str(SHOTS / "wall-incident-1920x1080.png"))
    assert w.errors == [] and w.foreign(base) == []
    page.close()


def test_wall_at_4k(server, browser):
    w = open_wall(browser, server.base, 3840, 2160)
    page = w.page
    wait_tiles_loaded(page)
    png = page.screenshot(path=str(SHOTS / "wall-3840x2160.png"))
    assert map_pixels(png) > 0.05
    # Scaled, not reflowed: the KPI strip is twice as tall as at 1080p, and nothing scrolls.
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "32px"
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    assert w.errors == []
    page.close()


def test_reconnects_after_server_restart(server, browser):
    w = open_wall(browser, server.base)
    page = w.page
    page.evaluate("window.__marker = 42")  # survives only if the page is not reloaded
    server.stop()
    page.wait_for_selector("[data-testid=conn][data-state=reconnecting]", timeout=45_000)
    server.start()
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    assert page.evaluate("window.__marker") == 42
    assert page.inner_text("[data-kpi=cameras]") == "221"
    # A plain drop of the websocket (a network blip) recovers too.
    page.evaluate("window.sharpeyes.feed.drop()")
    page.wait_for_selector("[data-testid=conn][data-state=reconnecting]", timeout=45_000)
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    # Only the refused connection attempts while the server was down may show up as console errors.
    assert all("WebSocket" in e or "Failed to load resource" in e or "ERR_CONNECTION_REFUSED" in e
               for e in w.errors), w.errors
    page.close()


# /admin and /audit are desk pages without a map: tests/test_admin_browser.py covers them.
# /dispatch and /m have their own layouts (covered by tests/test_dispatch_browser.py): map + live feed here.
@pytest.mark.parametrize("path,panels", [("dispatch", None), ("planning", 4), ("m", None)])
def test_other_pages_log_in_and_show_map_with_panels(server, browser, path, panels):
    page = browser.new_page(viewport={"width": 1280, "height": 800} if path != "m" else
                            {"width": 390, "height": 844})
    w = Watched(page)
    page.goto(f"{server.base}/{path}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    assert page.locator("[data-testid=map] canvas").count() == 1
    if panels is not None:
        assert page.locator(".side .panel").count() == panels
    assert w.foreign(server.base) == [] and w.errors == []
    page.close()


def test_wall_memory_stays_flat_under_a_live_feed(server, browser):
    """Operators leave the wall on for hours: 300 targets moving at 10 Hz and an incident every 4 s must not
    grow the page's JS heap or DOM once it is warm (measured after a forced GC, over CDP), and the video
    streams of the incidents before must be closed.

    What may grow: each target's 5-minute trail, one point per 2 s (≤ 151 points), ~0.3 MiB in all here.
    Before the trail was thinned it kept every fix: +4.6 MiB in 30 s, without bound at higher rates."""
    w = open_wall(browser, server.base)
    page = w.page
    wait_tiles_loaded(page)
    cdp = page.context.new_cdp_session(page)
    # Video streams: an MJPEG response never ends while it plays, so a tile taken off the wall must end its
    # request. A stream that still receives data is open. (Before, replaced tiles kept streaming until
    # their <img> was collected: the 6 connections a browser allows per host filled up and the next
    # incidents' tiles stayed black: 8 stream requests made for 32 tiles in this test.)
    stream_ids: set[str] = set()
    last_data: dict[str, float] = {}

    def on_request(e):
        if "/video/play/" in e["request"]["url"]:
            stream_ids.add(e["requestId"])

    def on_data(e):
        if e["requestId"] in stream_ids:
            last_data[e["requestId"]] = time.monotonic()

    cdp.on("Network.requestWillBeSent", on_request)
    cdp.on("Network.dataReceived", on_data)
    cdp.send("Network.enable")
    bus = redis.Redis.from_url(REDIS_URL)
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(24.925, 24.955, 300), rng.uniform(60.160, 60.178, 300)])
    tick = sent = 0  # position batches, incidents

    def feed(seconds: float, incidents: bool = True) -> None:
        nonlocal tick, sent
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tick += 1
            xy[:] += rng.normal(0, 2e-5, xy.shape)
            batch = [{"target_id": 20_000 + i, "division": NW, "lon": float(x), "lat": float(y), "course_deg": 90,
                      "kind": "patrol_car", "t": time.time()} for i, (x, y) in enumerate(xy)]
            bus.publish(server.bus_prefix + "positions[]", orjson.dumps(batch))  # one batch, as ingest sends
            if incidents and tick % 40 == 0:  # in view: no new tiles to fetch
                sent += 1
                bus.publish(server.bus_prefix + "incidents", orjson.dumps(
                    {"op": "created", "division": NW, "lon": 24.9412, "lat": 60.1712,
                     "incident": {"id": 5000 + tick, "type": "fight", "type_zh": "打架斗殴", "type_en": "Fight",
                                  "priority": 2, "status": "new", "lon": 24.9412, "lat": 60.1712,
                                  "created_at": "2026-01-01T10:00:00Z"}}))
            time.sleep(0.1)

    def measure() -> tuple[float, int, int]:
        # One collection leaves some garbage DOM behind (a sample then shows +141 nodes that the next
        # one no longer has); three leave a curve that only moves with what the page keeps.
        for _ in range(3):
            cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
        dom = cdp.send("Memory.getDOMCounters")
        return heap, dom["nodes"], dom["jsEventListeners"]

    def kept() -> tuple[float, int, int]:
        """What the page keeps: the least of four samples 1 s apart while positions go on. No incident
        arrives while it samples: one that does has its old panel and tiles still counted for a while
        (+141 nodes in every sample under CI load). Growth per incident still shows: the 24 s between
        the two readings bring several."""
        feed(2, incidents=False)  # the last incident's panel and tiles settled
        samples = []
        for _ in range(4):
            samples.append(measure())
            feed(1, incidents=False)
        heaps, nodes, listeners = zip(*samples, strict=True)
        return min(heaps), min(nodes), min(listeners)

    feed(4.5)  # the first incident: the map flies to it; its tiles load once
    page.wait_for_selector("[data-testid=incident-panel]", timeout=45_000)
    page.wait_for_selector("[data-testid=video-tile]", timeout=45_000)  # its cameras on the video wall
    time.sleep(2)
    wait_tiles_loaded(page)
    feed(6)  # warm: every target seen, buffers sized
    heap0, nodes0, listeners0 = kept()
    feed(24)
    heap1, nodes1, listeners1 = kept()
    drawn = page.evaluate("window.sharpeyes.store.positionsDrawnAt") / 1000
    print(f"heap {heap0:.1f} → {heap1:.1f} MiB, DOM nodes {nodes0} → {nodes1}, listeners {listeners0} → {listeners1}")
    assert time.time() - drawn < 2.0, "the feed stopped reaching the map"
    assert heap1 - heap0 < 1.5, f"JS heap grew {heap1 - heap0:.1f} MiB in 24 s of feed"
    assert nodes1 <= nodes0 + 100 and listeners1 <= listeners0 + 20, (nodes0, nodes1, listeners0, listeners1)
    page.wait_for_timeout(4000)  # no new incident: the streams replaced last have been quiet since
    tiles = page.locator("[data-testid=video-tile]").count()
    flowing = sum(time.monotonic() - t < 2.0 for t in last_data.values())  # the demo MJPEG sends 5 frames/s
    print(f"video: {len(stream_ids)} stream requests, {flowing} flowing for {tiles} tiles")
    assert len(stream_ids) >= 4 * sent, "the incidents' tiles did not all request their streams"
    assert flowing == tiles == 4, "tiles taken off the wall kept streaming, or the wall's tiles do not play"
    assert w.errors == []
    page.close()
