"""/planning in headless Chromium (system browser, SwiftShader WebGL) against a real server on the demo city.

The planner runs the analysis job, reads the same KPIs in the division tree as the API gives, drills down to a
community, toggles layers, runs placement with a budget and accepts it (planned cameras exist afterwards),
exports; a district planner sees only their district. No request leaves the origin, no console errors.
Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.frontend_build import ensure_built
from tests.live_servers import token
from tests.map_waits import wait_map_loaded
from tests.server import running_server

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
KPIS = ("key_area_surface_rate", "networked_rate", "online_rate", "hd_rate", "retention_compliance_rate",
        "cameras_per_main_road_km")


@pytest.fixture(scope="module")
def base(demo_db):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_server(demo_db) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """Every request (pages opened from it too) and console error, recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        # Bounds, not speed checks: a software-WebGL page on a loaded 2-core CI machine has taken over 30 s.
        page.set_default_timeout(60_000)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.watch(page)

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def foreign(self, base: str) -> list[str]:
        ours = (base + "/", base.replace("http", "ws", 1) + "/", "data:", "blob:", "about:")
        return [u for u in self.requests if not u.startswith(ours)]


def sign_in(browser, base: str, path: str, user: str, width=1920, height=1080) -> Watched:
    page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    w = Watched(page)
    page.goto(base + path)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "sharpeyes-demo")
    page.click("button[type=submit]")
    return w


_TOKENS: dict[tuple[str, str], str] = {}


def api(base: str, user: str, method: str, path: str, **kw) -> httpx.Response:
    """An API call as ``user`` (one login per user and server: logins are rate-limited)."""
    if (base, user) not in _TOKENS:
        _TOKENS[base, user] = token(base, user)
    r = httpx.request(method, base + path, headers={"Authorization": f"Bearer {_TOKENS[base, user]}"}, timeout=60, **kw)
    r.raise_for_status()
    return r


def layer_ids(page: Page) -> list[str]:
    return page.evaluate("window.sharpeyes.map.deck.layerManager.getLayers().map(l => l.id)")


def wait_layers(page: Page, present=(), absent=()) -> None:
    page.wait_for_function("""([present, absent]) => {
        const ids = new Set(window.sharpeyes.map.deck.layerManager.getLayers().map(l => l.id));
        return present.every(i => ids.has(i)) && absent.every(i => !ids.has(i));
    }""", arg=[list(present), list(absent)], timeout=45_000)


def same(raw: str | None, value) -> bool:
    if value is None:
        return raw == ""
    return raw is not None and raw != "" and abs(float(raw) - float(value)) < 1e-9


def test_planner_workflow(base, browser):
    w = sign_in(browser, base, "/planning", "planner")
    page = w.page
    page.wait_for_selector("[data-testid=division-tree]", timeout=60_000)

    # Run the analysis from the page: progress bar to done, then the tree has its KPIs.
    page.click("[data-testid=run-job]")
    page.wait_for_selector("[data-testid=job-progress]", timeout=45_000)
    page.wait_for_selector("[data-testid=job-progress][data-status=done]", timeout=120_000)
    page.wait_for_selector("[data-testid=tree-node][data-code='990100']", timeout=45_000)

    # The tree shows exactly the API's numbers: the city and each of its districts.
    items = api(base, "planner", "GET", "/api/v1/planning/kpi").json()["items"]
    by = {i["code"]: i for i in items}
    city = by["990100"]
    for k in KPIS:
        assert same(page.get_attribute(f"[data-testid=tree-kpi][data-kpi={k}]", "data-raw"), city[k]), k
    assert page.inner_text("[data-testid=tree-kpi][data-kpi=key_area_surface_rate] .pl-kpi-v") == \
        f"{city['key_area_surface_rate'] * 100:.1f}%"
    districts = sorted(c for c, i in by.items() if i["parent_code"] == "990100")
    rows = page.eval_on_selector_all("[data-testid=tree-row]", "els => els.map(e => [e.dataset.code, e.dataset.raw])")
    assert sorted(c for c, _ in rows) == districts
    for code, raw in rows:
        assert same(raw, by[code]["key_area_surface_rate"]), code
    # The choropleth follows the chosen KPI.
    page.select_option("[data-testid=kpi-select]", "online_rate")
    rows = page.eval_on_selector_all("[data-testid=tree-row]", "els => els.map(e => [e.dataset.code, e.dataset.raw])")
    for code, raw in rows:
        assert same(raw, by[code]["online_rate"]), code
    page.select_option("[data-testid=kpi-select]", "key_area_surface_rate")
    page.wait_for_function("() => window.sharpeyes.map.deck.layerManager.getLayers().some(l => l.id === 'pl-choro')")
    wait_map_loaded(page)
    page.screenshot(path=str(SHOTS / "planning-city.png"))

    # Drill down: city → district → township → community.
    district = "990101"
    township = min(c for c, i in by.items() if i["parent_code"] == district)
    community = min(c for c, i in by.items() if i["parent_code"] == township)
    for code in (district, township, community):
        page.click(f"[data-testid=tree-row][data-code='{code}']")
        page.wait_for_selector(f"[data-testid=tree-node][data-code='{code}']")
    for k in KPIS:
        assert same(page.get_attribute(f"[data-testid=tree-kpi][data-kpi={k}]", "data-raw"), by[community][k]), k
    assert by[community]["level"] == 6
    assert page.inner_text("[data-testid=crumbs]").count("/") == 3
    page.click(f"[data-testid=crumbs] >> text={by[district]['name']}")
    page.wait_for_selector(f"[data-testid=tree-node][data-code='{district}']")

    # Layers on and off.
    wait_layers(page, ["pl-uncovered", "pl-blind", "pl-gaps", "pl-choro"], ["pl-dup"])
    page.uncheck("[data-testid=layer-uncovered]")
    page.check("[data-testid=layer-duplicates]")
    wait_layers(page, ["pl-dup", "pl-dup-moves"], ["pl-uncovered"])
    page.check("[data-testid=layer-uncovered]")
    wait_layers(page, ["pl-uncovered"])
    # Blind intersections and duplicates are binary attributes (typed arrays), not arrays of objects.
    assert page.evaluate("""() => {
        const l = window.sharpeyes.map.deck.layerManager.getLayers().find(l => l.id === 'pl-blind');
        return l.props.data.attributes.getPosition.value instanceof Float64Array && l.props.data.length > 0;
    }""")

    # Placement for the district with a budget of 4: sites with sectors, greedy vs MILP.
    page.eval_on_selector("[data-testid=budget]", "(el) => { el.value = '4'; el.dispatchEvent(new Event('input')); }")
    assert page.inner_text("[data-testid=budget-value]") == "4"
    page.click("[data-testid=run-placement]")
    page.wait_for_selector("[data-testid=placement-result]", timeout=90_000)
    assert page.get_attribute("[data-testid=placement-result]", "data-sites") == "4"
    assert page.inner_text("[data-testid=gap]").endswith("%")
    wait_layers(page, ["pl-sites", "pl-sectors"])
    wait_map_loaded(page)
    page.screenshot(path=str(SHOTS / "planning-placement.png"))

    before = {f["id"] for f in api(base, "planner", "GET", "/api/v1/cameras?limit=1000").json()["features"]}
    page.click("[data-testid=accept]")
    page.wait_for_selector("[data-testid=accepted]", timeout=45_000)
    ids = [int(x) for x in page.get_attribute("[data-testid=accepted]", "data-ids").split(",")]
    assert len(ids) == 4 and not set(ids) & before
    for cid in ids:
        cam = api(base, "planner", "GET", f"/api/v1/cameras/{cid}").json()
        assert cam["properties"]["status"] == "planned"

    # Exports: a CSV table and a GeoJSON layer download; the HTML report opens in a new tab, all offline.
    with page.expect_download() as dl:
        page.click("[data-testid=csv-kpi]")
    assert Path(dl.value.path()).read_text(encoding="utf-8").splitlines()[0].startswith("division_code,")
    with page.expect_download() as dl:
        page.click("[data-testid=geojson-blind_intersections]")
    assert '"FeatureCollection"' in Path(dl.value.path()).read_text(encoding="utf-8")
    with page.context.expect_page() as popup_info:
        page.click("[data-testid=report]")
    report = popup_info.value
    w.watch(report)
    report.wait_for_load_state("load", timeout=60_000)
    report.wait_for_function("() => document.querySelector('canvas') !== null", timeout=60_000)
    wait_map_loaded(report, "typeof deckInstance === 'undefined' ? null : deckInstance")
    report.screenshot(path=str(SHOTS / "planning-report.png"))
    # The findings fill the map right of the panel (before, a fixed zoom left them a speck mid-screen),
    # the panel names layers and KPIs in the page's language.
    frame = report.evaluate(
        """() => { const vp = deckInstance.getViewports()[0];
          const [x0, y0] = vp.project([bounds[0], bounds[1]]), [x1, y1] = vp.project([bounds[2], bounds[3]]);
          const p = document.getElementById('panel');
          return {x0, y0, x1, y1, left: p.offsetLeft + p.offsetWidth, w: innerWidth, h: innerHeight}; }"""
    )
    assert frame["left"] - 1 <= frame["x0"] and frame["x1"] <= frame["w"] + 1, frame
    assert 0 <= frame["y1"] and frame["y0"] <= frame["h"] + 1, frame
    assert max((frame["x1"] - frame["x0"]) / (frame["w"] - frame["left"]), (frame["y0"] - frame["y1"]) / frame["h"]) > 0.8
    assert "重点区域盲区" in report.inner_text("[data-testid=report-legend]")
    assert "重点区域面积覆盖率" in report.inner_text("[data-testid=report-kpi]")
    report.close()

    assert w.foreign(base) == []
    assert w.errors == [], w.errors
    page.close()


def test_english_and_district_planner(base, browser):
    # planner_nw plans district 990101 only: the tree starts there and shows nothing of other districts.
    w = sign_in(browser, base, "/planning", "planner_nw")
    page = w.page
    page.wait_for_selector("[data-testid=tree-node][data-code='990101']", timeout=60_000)
    codes = page.eval_on_selector_all("[data-testid=tree-row]", "els => els.map(e => e.dataset.code)")
    assert codes and all(c.startswith("990101") for c in codes)
    assert "990100" not in page.inner_text("[data-testid=crumbs]")
    items = api(base, "planner_nw", "GET", "/api/v1/planning/kpi").json()["items"]
    assert {i["code"] for i in items if i["level"] == 4} == {"990101"}
    assert "覆盖分析" in page.inner_text("[data-testid=analysis]")
    # OSM records no retention: the district's retention compliance is "no data", not 0.0 %.
    retention = "[data-testid=tree-kpi][data-kpi=retention_compliance_rate] .pl-kpi-v"
    assert page.inner_text(retention) == "无数据"
    page.click("[data-testid=lang]")
    assert page.inner_text(retention) == "no data"
    assert "Coverage analysis" in page.inner_text("[data-testid=analysis]")
    assert page.inner_text("[data-testid=division-tree] h2") == "Divisions and KPIs"
    # Sibling names often differ only at their end: each is shown whole (wrapped, never cut off).
    shown = page.eval_on_selector_all("[data-testid=tree-row] .pl-row-title",
                                      "els => els.map(e => [e.innerText, e.scrollWidth <= e.clientWidth])")
    names = {i["code"]: i.get("name_en") or i["name"] for i in items}
    assert sorted(text for text, _ in shown) == sorted(names[c] for c in codes) and all(fits for _, fits in shown)
    page.wait_for_function("() => window.sharpeyes.map.deck.layerManager.getLayers().some(l => l.id === 'pl-choro')")
    # The map's own labels follow the language switch too (not only the panels).
    # A function, not an expression: a polled expression is eval'ed in the page, which its CSP forbids.
    page.wait_for_function("""() => { const l = window.sharpeyes.map.deck.layerManager.getLayers()
        .find(x => x.id === 'division-labels'); return l && l.props.updateTriggers.getText === 'en'; }""",
                           timeout=45_000)
    wait_map_loaded(page)
    page.screenshot(path=str(SHOTS / "planning-district-en.png"))
    page.click("[data-testid=lang]")
    assert w.foreign(base) == []
    assert w.errors == [], w.errors
    page.close()
