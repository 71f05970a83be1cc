"""/watchlists and the wall in headless Chromium against a real server: a district dispatcher sets a plate on
the page (a bad plate refused with the server's reason, a missing reason with the page's), a simulated
checkpoint (tests/viid_peer.py) pushes a GA/T 1400 pass of that plate to the real /VIID receiver over HTTP,
and the alarm shows on the watchlist page (with its image and a link that opens the incident on the
console) and on the dispatcher's wall (the incident panel and the alarm card with the plate, the next checkpoint to
intercept at and the patrol car that gets there first). A dispatcher
of the neighbouring district sees neither the entry nor the alarm. Every wait is bounded (45–60 s)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image

from tests.browser.test_planning_browser import SHOTS, api, browser, sign_in  # noqa: F401  (fixtures)
from tests.frontend_build import ensure_built
from tests.server import running_server
from tests.viid_peer import ViidPeer, statuses, tollgate, vehicle
from tests.waiting import wait_for

DEVICE = "99010100001190000031"
DEVICE_PASSWORD = "viid-browser-pass-1"
GATE = "99010100001210000031"
NEXT_GATE = "99010100001210000032"  # 600 m on by road: where to intercept
CAR = "wl-browser-car-31"  # a patrol car's phone, waiting at the next checkpoint
PLATE = "京W93157"
PLATE2 = "京W93158"  # priority 1, black, two subdistricts
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def base(demo_db, tmp_path_factory):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    images = tmp_path_factory.mktemp("viid-browser-images")
    with running_server(demo_db, env={"SHARPEYES_VIID_IMAGE_DIR": str(images)}) as url:
        yield url


def photo() -> bytes:
    """A real JPEG (the page shows it: a random blob would not decode)."""
    out = io.BytesIO()
    Image.new("RGB", (320, 180), (40, 90, 200)).save(out, "JPEG")
    return out.getvalue()


def viid(base: str, talk: Callable[[ViidPeer], Awaitable[httpx.Response]]) -> httpx.Response:
    """One exchange of the checkpoint with the server over HTTP (its own loop, beside Playwright's)."""
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            return await talk(ViidPeer(http, DEVICE, DEVICE_PASSWORD))
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=120)


@pytest.fixture(scope="module")
def checkpoint(base) -> None:
    """Dispatchers of 990101 (wl_nw) and 990102 (wl_ne), and a registered checkpoint camera of 990101."""
    for name, div in (("wl_nw", "990101"), ("wl_ne", "990102")):
        api(base, "admin", "POST", "/api/v1/users", json={"username": name, "password": "sharpeyes-demo",
                                                          "role": "dispatcher", "division_code": div})
    api(base, "admin", "POST", "/api/v1/units", json={"callsign": "巡31", "kind": "patrol_car", "division_code": "990101",
                                                      "tracker": {"protocol": "osmand", "external_id": CAR}})
    api(base, "admin", "POST", "/api/v1/devices", json={"gb_id": DEVICE, "name": "卡口 31", "division_code": "990101",
                                                        "password": DEVICE_PASSWORD, "kind": "ipc"})

    async def register(peer: ViidPeer) -> httpx.Response:
        _, ok = await peer.register()
        assert ok is not None and ok.status_code == 200, ok and ok.text
        return await peer.tollgates([tollgate(GATE, "北门卡口", 24.94, 60.17, "990101"),
                                     tollgate(NEXT_GATE, "东门卡口", 24.9505, 60.171, "990101")])
    assert [s["StatusCode"] for s in statuses(viid(base, register))] == [0, 0]


def test_watchlist_alarm_on_page_and_wall_in_scope_only(base, browser, checkpoint):  # noqa: F811
    wall = sign_in(browser, base, "/wall", "wl_nw")
    wall.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=WAIT_MS)

    w = sign_in(browser, base, "/watchlists", "wl_nw")
    page = w.page
    page.on("dialog", lambda d: d.accept())  # the removal's confirmation
    page.wait_for_selector("select[name=area][data-ready=true]", timeout=WAIT_MS)
    assert "布控管理" in page.inner_text(".page-title")
    assert page.eval_on_selector("select[name=area]", "s => s.value") == "990101"  # the caller's own division
    form = "[data-testid=wl-form]"
    # The page's own check, then the server's refusal (a 4xx) in words.
    page.fill(f"{form} input[name=plate]", PLATE)
    page.click("[data-testid=wl-add]")
    page.wait_for_selector("[data-testid=wl-flash][data-kind=error]", timeout=WAIT_MS)
    assert page.inner_text("[data-testid=wl-flash]") == "请填写布控事由"
    page.fill(f"{form} input[name=plate]", "京*")
    page.fill(f"{form} input[name=reason]", "被盗车辆")
    page.click("[data-testid=wl-add]")
    page.wait_for_function("""() => document.querySelector('[data-testid=wl-flash]').textContent.startsWith('输入有误')""",
                           timeout=WAIT_MS)
    assert "plate" in page.inner_text("[data-testid=wl-flash]")
    # Set.
    page.fill(f"{form} input[name=plate]", PLATE)
    page.click("[data-testid=wl-add]")
    row = f"[data-testid=wl-entry][data-plate='{PLATE}']"
    page.wait_for_selector(row, timeout=WAIT_MS)
    assert page.get_attribute("[data-testid=wl-flash]", "data-kind") == "ok"
    text = page.inner_text(row)
    assert "被盗车辆" in text and "990101" in text and "wl_nw" in text
    assert page.input_value(f"{form} input[name=plate]") == ""
    # Priority 1, a colour and two divisions (the area is a multiple select): stored so, and listed by name.
    page.fill(f"{form} input[name=plate]", PLATE2)
    page.fill(f"{form} input[name=reason]", "套牌嫌疑")
    page.select_option(f"{form} select[name=vehicle_color]", "J")
    page.select_option(f"{form} select[name=priority]", "1")
    page.select_option(f"{form} select[name=area]", ["990101001", "990101002"])
    page.click("[data-testid=wl-add]")
    row2 = f"[data-testid=wl-entry][data-plate='{PLATE2}']"
    page.wait_for_selector(row2, timeout=WAIT_MS)
    stored = [e for e in api(base, "wl_nw", "GET", "/api/v1/watchlists", params={"limit": 200}).json()["items"]
              if e["plate"] == PLATE2]
    assert [(e["priority"], e["vehicle_color"], e["area"]) for e in stored] == [(1, "J", ["990101001", "990101002"])]
    assert page.get_attribute(f"{row2} [data-testid=wl-priority]", "data-priority") == "1"
    text = page.inner_text(row2)
    assert "一级" in text and "黑" in text and "北区第1街道 (990101001)" in text and "北区第2街道 (990101002)" in text
    page.screenshot(path=str(SHOTS / "watchlists-entries.png"))

    # A free patrol car waits at the next checkpoint (its fix fresh when the alarm comes).
    r = httpx.get(base + "/ingest/osmand", params={"id": CAR, "lat": 60.17105, "lon": 24.95055,
                                                   "timestamp": int(datetime.now(UTC).timestamp())}, timeout=30)
    assert r.status_code == 200, r.text
    wait_for(lambda: any(u["callsign"] == "巡31" and not u["stale"]
                         for u in api(base, "wl_nw", "GET", "/api/v1/units").json()), timeout=45, interval=0.5,
             what="the patrol car's position")
    # The checkpoint sees the car.
    at = datetime.now(UTC) - timedelta(seconds=5)

    async def send(peer: ViidPeer) -> httpx.Response:
        return await peer.motor_vehicles([vehicle(peer.record_id(1, at), PLATE, GATE, at, device=DEVICE,
                                                  image=photo())])
    assert [s["StatusCode"] for s in statuses(viid(base, send))] == [0]

    # (a) on the watchlist page: the alarm, its image, its incident's link.
    alarm = f"[data-testid=wl-alarm][data-plate='{PLATE}']"
    page.wait_for_selector(alarm, timeout=WAIT_MS)
    incident = int(page.get_attribute(alarm, "data-incident"))
    assert "北门卡口" in page.inner_text(alarm)
    assert page.get_attribute(f"{alarm} [data-testid=wl-incident-link]", "href") == f"/dispatch?incident={incident}"
    page.wait_for_function("""(sel) => { const i = document.querySelector(sel + ' img');
        return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 320 && !i.hidden; }""", arg=alarm, timeout=WAIT_MS)
    # (b) on the wall: the incident's panel and the alarm card with the plate.
    wall.page.wait_for_selector(f"[data-testid=incident-panel][data-incident='{incident}']", timeout=WAIT_MS)
    card = f"[data-testid=wall-alarm][data-incident='{incident}']"
    wall.page.wait_for_selector(card, timeout=WAIT_MS)
    assert PLATE in wall.page.inner_text(card) and "北门卡口" in wall.page.inner_text(card)
    assert "东门卡口" in wall.page.inner_text(f"{card} [data-testid=alarm-next]")  # the next checkpoint, with its ETA
    assert "巡31" in wall.page.inner_text(f"{card} [data-testid=alarm-interceptors]")  # and who gets there first
    wall.page.wait_for_function("(sel) => document.querySelector(sel + ' img')?.naturalWidth === 320", arg=card,
                                timeout=WAIT_MS)
    # Drawn, not only in the DOM: a software-WebGL page composites late (an earlier frame was captured).
    wall.page.wait_for_function("""(sel) => document.querySelector(sel).getAnimations({ subtree: true })
        .every(a => a.playState === 'finished')""", arg=card, timeout=WAIT_MS)  # slid in
    wall.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    wall.page.screenshot(path=str(SHOTS / "wall-watchlist-alarm.png"))
    assert wall.errors == [] and wall.foreign(base) == []
    wall.page.close()

    # Another district: neither the entry nor the alarm, on the page or through the API.
    other = sign_in(browser, base, "/watchlists", "wl_ne")
    op = other.page
    op.wait_for_selector("[data-testid=wl-entries][data-loaded=true]", timeout=WAIT_MS)
    op.wait_for_selector("[data-testid=wl-alarm-list][data-loaded=true]", timeout=WAIT_MS)
    assert op.locator(row).count() == 0 and op.locator(alarm).count() == 0
    assert all(x["incident_id"] != incident for x in
               api(base, "wl_ne", "GET", "/api/v1/watchlists/alarms", params={"limit": 500}).json()["items"])
    assert other.errors == []
    op.close()

    # In English, then removed: the entry goes, its alarm stays.
    page.click("[data-testid=lang]")
    assert "Watchlists" in page.inner_text(".page-title")
    assert "Recent alarms" in page.inner_text("[data-testid=wl-alarm-list]")
    assert "P1" in page.inner_text(row2) and "Black" in page.inner_text(row2)
    assert "North-West Subdistrict 2 (990101002)" in page.inner_text(row2)
    page.click(f"{row} [data-testid=wl-remove]")
    page.wait_for_selector(row, state="detached", timeout=WAIT_MS)
    assert page.inner_text("[data-testid=wl-flash]") == f"{PLATE} is no longer watched"
    assert page.locator(alarm).count() == 1
    # The link opens the incident on the dispatch console.
    page.click(f"{alarm} [data-testid=wl-incident-link]")
    page.wait_for_function("(id) => window.dispatchConsole?.selected?.id === id", arg=incident, timeout=WAIT_MS)
    # The only refused request: the bad plate's (a 422, and the browser's console line for it).
    assert [e for e in w.errors if "422" not in e] == [] and w.foreign(base) == []
    assert [e for e in w.errors if e.startswith("422")] == [f"422 {base}/api/v1/watchlists"]
    page.close()
