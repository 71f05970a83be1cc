"""The dispatch console in headless Chromium against a real API process and the demo city, with simulated
patrol cars reporting over OsmAnd: create an incident on the map, the ranked cameras, the 4-tile video wall
playing the demo streams, dispatch the recommended unit and follow it, replay and prediction.

Screenshots are kept under artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS, Watched
from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token
from tests.map_waits import wait_map_at_view, wait_map_loaded

SPOT = (24.944064, 60.172631)  # seen by ~16 demo cameras
# The first tile's current frame drawn on a canvas (same origin: not tainted), as a short fingerprint.
READ_TILE = """() => { const img = document.querySelector('[data-testid=video-tile] img');
  const c = document.createElement('canvas'); c.width = 64; c.height = 36; const g = c.getContext('2d');
  g.drawImage(img, 0, 0, 64, 36); const d = g.getImageData(0, 0, 64, 36).data;
  let h = 0; for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0; return h; }"""


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = ApiProcess(demo_db_url)
    proc.start()
    # Simulated patrol cars drive and obey dispatches (as in `sharpeyes demo`).
    from app.simulator.run import simulate

    ctl: dict = {}

    async def run() -> None:
        ctl["loop"], ctl["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await simulate(demo_db_url, units=5, protocol="osmand", url=proc.base, seconds=300, seed=7, stop=ctl["stop"])

    sim = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    sim.start()
    try:
        yield proc
    finally:
        if "loop" in ctl:
            ctl["loop"].call_soon_threadsafe(ctl["stop"].set)
        sim.join(15)
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_console(browser, base: str, width: int = 1920, height: int = 1080) -> Watched:
    page = browser.new_page(viewport={"width": width, "height": height})
    w = Watched(page)
    page.goto(base + "/dispatch")
    page.fill("input[name=username]", "dispatcher")
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=60_000)
    return w


def test_incident_cameras_wall_and_dispatch(server, browser):
    base = server.base
    w = open_console(browser, base)
    page = w.page
    # Wait for the simulated cars to be on the map, then click the spot on the map.
    page.wait_for_function("() => window.sharpeyes.store.targets.size >= 3", timeout=60_000)
    page.evaluate(f"window.sharpeyes.map.centerOn({SPOT[0]}, {SPOT[1]})")
    wait_map_at_view(page)  # the click lands on the spot only once the map is drawn there
    box = page.locator("[data-testid=map]").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lon, lat = float(page.input_value("[data-testid=inc-lon]")), float(page.input_value("[data-testid=inc-lat]"))
    assert abs(lon - SPOT[0]) < 3e-4 and abs(lat - SPOT[1]) < 2e-4, (lon, lat)
    page.fill("[data-testid=inc-desc]", "手机被抢")
    page.click("[data-testid=create-incident]")
    page.wait_for_selector("[data-testid=incident-status][data-status=new]")
    iid = page.evaluate("window.dispatchConsole.selected.id")
    assert page.locator(f"[data-testid=incident-list] [data-incident='{iid}']").count() == 1

    # Ranked cameras, the same order as the API.
    page.wait_for_selector("[data-testid=camera-list] li")
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    seeing = httpx.get(base + "/api/v1/callup/seeing", params={"lon": lon, "lat": lat}, headers=hdr).json()
    shown = [int(x) for x in page.eval_on_selector_all("[data-testid=camera-list] li", "els => els.map(e => e.dataset.camera)")]
    assert len(shown) >= 4 and shown == [c["id"] for c in seeing["cameras"]]

    # The 4-tile wall plays the demo MJPEG streams: a tile's picture changes over time.
    page.click("[data-testid=open-wall]")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=video-tile] img').length === 4"
                           " && [...document.querySelectorAll('[data-testid=video-tile] img')].every(i => i.naturalWidth > 0)",
                           timeout=45_000)
    assert page.get_attribute("[data-testid=video-wall]", "data-layout") == "4"
    assert "MJPEG" in page.inner_text("[data-testid=video-tile] .vw-fmt")
    # The caption strip sits under the picture: the text cameras burn into their frames stays readable.
    overlap = page.eval_on_selector_all(
        "[data-testid=video-tile]",
        "ts => ts.map(t => t.querySelector('.vw-label').getBoundingClientRect().top"
        " - t.querySelector('img').getBoundingClientRect().bottom)",
    )
    assert all(gap >= -0.5 for gap in overlap), overlap
    a = page.evaluate(READ_TILE)
    page.wait_for_function(f"a => ({READ_TILE})() !== a", arg=a, timeout=45_000)
    b = page.evaluate(READ_TILE)
    assert a and b and a != b, "the video tile did not change"
    audit = httpx.get(base + "/api/v1/audit", params={"action": "video_callup"},
                      headers={"Authorization": f"Bearer {token(base, 'auditor')}"}).json()
    assert audit["items"] and audit["items"][0]["actor_name"] == "dispatcher"

    # Recommended units with ETA; dispatch the first (preselected) one.
    page.wait_for_selector("[data-testid=unit-list] li")
    first = page.get_attribute("[data-testid=unit-list] li >> nth=0", "data-callsign")
    page.screenshot(path=str(SHOTS / "dispatch-1920x1080.png"))
    page.click("[data-testid=dispatch-units]")
    row = f"[data-testid=dispatches] .dx-drow[data-unit='{first}']"
    page.wait_for_selector(row, timeout=45_000)
    page.wait_for_selector("[data-testid=incident-status][data-status=dispatched]")
    disp = httpx.get(f"{base}/api/v1/incidents/{iid}", headers=hdr).json()["properties"]["dispatches"]
    assert disp[0]["callsign"] == first and disp[0]["route"]["type"] == "LineString"
    page.wait_for_function("""() => { const l = window.sharpeyes.map.deck.layerManager.getLayers().find(l => l.id === 'dx-routes');
        return l && l.props.data.length === 1; }""", timeout=45_000)
    # The car drives to the incident: its ETA is recomputed live (websocket) or it arrives.
    eta0 = page.inner_text(f"{row} [data-testid=dispatch-eta]")
    page.wait_for_function(f"""() => {{ const r = document.querySelector("{row}");
        return r && (r.dataset.status === 'on_scene' || r.querySelector('[data-testid=dispatch-eta]').textContent !== {eta0!r}); }}""",
                           timeout=60_000)
    unit_status = page.evaluate(f"[...window.sharpeyes.store.units.values()].find(u => u.callsign === '{first}').status")
    assert unit_status in ("assigned", "en_route", "on_scene")
    page.screenshot(path=str(SHOTS / "dispatch-en-route.png"))
    assert w.foreign(base) == []
    assert w.errors == []
    page.close()


def test_replay_and_prediction(server, browser):
    base = server.base
    w = open_console(browser, base)
    page = w.page
    page.wait_for_function("() => window.sharpeyes.store.targets.size >= 3", timeout=60_000)
    time.sleep(3)  # pacing, not a wait: the cars drive a few seconds of track to replay
    page.click("[data-testid=replay-toggle]")
    page.wait_for_selector("[data-testid=replay-targets] input")
    page.click("[data-testid=replay-load]")
    page.wait_for_function("() => document.querySelector('[data-testid=replay]').dataset.clock", timeout=45_000)
    page.select_option("[data-testid=replay-speed]", "60")
    c0 = float(page.get_attribute("[data-testid=replay]", "data-clock"))
    page.click("[data-testid=replay-play]")
    page.wait_for_function("""c0 => { const end = window.dispatchConsole.replay.end;
        return parseFloat(document.querySelector('[data-testid=replay]').dataset.clock) >= Math.min(end, c0 + 20); }""",
                           arg=c0, timeout=45_000)
    c1 = float(page.get_attribute("[data-testid=replay]", "data-clock"))
    start, end, n = page.evaluate("(() => { const r = window.dispatchConsole.replay; return [r.start, r.end, r.tracks.length]; })()")
    assert n >= 1 and end > start, (start, end, n)
    assert c1 >= min(end, c0 + 20), (c0, c1, start, end)  # 60× on the shared clock (or at the end of the tracks)
    ids = page.evaluate("window.sharpeyes.map.deck.layerManager.getLayers().map(l => l.id)")
    assert "rp-now" in ids and "rp-done" in ids
    # Prediction cone ahead of a target.
    page.click("[data-testid=replay-targets] .btn >> nth=0")
    page.wait_for_selector("[data-testid=prediction] .dx-pred-card", timeout=45_000)
    page.wait_for_function("() => window.sharpeyes.map.deck.layerManager.getLayers().some(l => l.id.startsWith('pred-cone'))")
    wait_map_loaded(page)
    page.screenshot(path=str(SHOTS / "dispatch-replay-prediction.png"))
    assert w.foreign(base) == []
    assert w.errors == []
    page.close()


def test_a_refused_action_says_why_in_the_dispatchers_language(server, browser):
    """Another dispatcher takes the recommended car first: the click is refused (409) and the console says
    so in zh-CN with the server's detail, instead of a bare "操作失败"."""
    base = server.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    w = open_console(browser, base)
    page = w.page
    iid = httpx.post(base + "/api/v1/incidents", headers=hdr, json={
        "type": "theft", "priority": 2, "lon": SPOT[0] + 0.002, "lat": SPOT[1]}).json()["id"]
    page.click(f"[data-testid=incident-list] [data-incident='{iid}']", timeout=45_000)
    page.wait_for_selector("[data-testid=unit-list] li")
    first = page.get_attribute("[data-testid=unit-list] li >> nth=0", "data-callsign")
    item = f"[data-testid=incident-list] [data-incident='{iid}']"
    page.eval_on_selector(item, "el => { el.dataset.kept = '1'; }")
    unit = next(r for r in httpx.get(f"{base}/api/v1/incidents/{iid}/recommend", headers=hdr).json()["recommended"]
                if r["callsign"] == first)
    other = httpx.post(base + "/api/v1/incidents", headers=hdr, json={
        "type": "theft", "priority": 1, "lon": SPOT[0], "lat": SPOT[1] + 0.002}).json()["id"]
    taken = httpx.post(f"{base}/api/v1/incidents/{other}/dispatch", headers=hdr, json={"unit_ids": [unit["unit_id"]]})
    assert taken.status_code == 201, taken.text
    page.click("[data-testid=dispatch-units]")
    page.wait_for_selector(".dx-flash.show", timeout=45_000)
    said = page.inner_text(".dx-flash")
    assert said.startswith("操作失败 · 操作冲突，数据已变化：") and first in said, said
    assert page.locator("[data-testid=dispatches] .dx-drow").count() == 0
    # the other incident's frames left this item in place (a rebuilt list loses the click being made)
    assert page.get_attribute(item, "data-kept") == "1"
    page.close()
