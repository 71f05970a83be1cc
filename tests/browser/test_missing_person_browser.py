"""The missing person panel of the dispatch console in headless Chromium against a real API process on the
demo city: pick the last-seen spot on the map, give the reason, search; the reachable streets are drawn on
the map and the cameras listed in the order of earliest arrival the API gave. Screenshot under
artifacts/screenshots/."""

from __future__ import annotations

from tests.browser.test_dispatch_browser import SPOT, browser, open_console  # noqa: F401 (the Chromium fixture)
from tests.browser.test_english_pages_browser import server  # noqa: F401 (one API process, no simulated cars)
from tests.browser.test_wall_browser import SHOTS
from tests.map_waits import wait_map_at_view


def test_missing_person_search_on_the_map(server, browser):  # noqa: F811
    w = open_console(browser, server.base)
    page = w.page
    page.wait_for_selector("[data-testid=missing-person] [data-testid=mp-pick]")
    page.evaluate(f"window.sharpeyes.map.centerOn({SPOT[0]}, {SPOT[1]})")
    wait_map_at_view(page)
    page.click("[data-testid=mp-pick]")
    box = page.locator("[data-testid=map]").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lon, lat = (float(x) for x in page.inner_text("[data-testid=mp-point]").split(","))
    assert abs(lon - SPOT[0]) < 3e-4 and abs(lat - SPOT[1]) < 2e-4, (lon, lat)
    assert page.locator("[data-testid=inc-lon]").input_value() == ""  # picking did not draft an incident
    page.fill("[data-testid=mp-reason]", "走失儿童 家属报警")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/missing-person/search")) as got:
        page.click("[data-testid=mp-run]")
    answer = got.value.json()
    assert got.value.status == 200, answer
    page.wait_for_selector("[data-testid=mp-list] li")
    shown = [int(x) for x in page.eval_on_selector_all("[data-testid=mp-list] li", "els => els.map(e => e.dataset.camera)")]
    assert len(shown) >= 3 and shown == [c["camera_id"] for c in answer["cameras"]]
    page.wait_for_function("() => window.sharpeyes.map.deck.props.layers.flat(9).some(l => l && l.id === 'mp-area')")
    page.locator("[data-testid=missing-person]").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "missing_person.png"))
    assert not [e for e in w.errors if "mp-" in e or "missing" in e], w.errors
