"""No control out of view or covered (issue #20), in headless Chromium against a real API process on the demo
city with simulated patrol cars: each page, signed in as the user who works there, at the size where it is
tightest for its users (``SIZES``: 1366×768, 1920×1080 and 390×844 between them), every visible, enabled button, input, select, textarea and link lies inside the viewport —
or inside a scrolling container that can bring it there, which the test scrolls — and is not covered: at its
centre and at four points inside its box, document.elementFromPoint returns it or a descendant. On /dispatch an
incident is selected first so the recommendation list is long, and the 派警 (dispatch) button must not slide
under the map attribution. A screenshot of each page at each size is kept."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from tests.browser.test_english_pages_browser import PAGES, server  # noqa: F401 (the same API process)
from tests.browser.test_wall_browser import CHROMIUM_ARGS, SHOTS
from tests.live_servers import token

DESKTOP = [(1366, 768), (1920, 1080)]
PHONE = (390, 844)
SPOT = (24.944064, 60.172631)  # the dispatch test's spot: cars and cameras around it
# Each page at the size where it is tightest for its users (desk pages and the console on a 1366×768 laptop,
# the wall at 1920×1080, /m and the console on a phone; the wall's 4K scaling is checked by
# tests/browser/test_wall_browser.py::test_wall_at_4k): software WebGL costs 20–35 s a map page here, and the
# suite must stay within its time.
SIZES = {"m": [PHONE], "dispatch": [DESKTOP[0], PHONE], "wall": [DESKTOP[1]], "planning": [DESKTOP[0]]}
DESK = [DESKTOP[0]]
XFAIL = {
    ("dispatch", PHONE): "the console is laid out for desktops: at 390 px the right column (incident, cameras, "
    "units) covers the new-incident form and the incident list, and the top bar's request-access and logout "
    "buttons lie beyond the right edge",
}

# Brings every control into view the way a user could (scrolling only containers that scroll: overflow auto or
# scroll), then reports the ones outside the viewport or a clipping ancestor, or covered by another element.
CHECK = """() => {
  const vw = innerWidth, vh = innerHeight, out = [];
  const name = el => el.tagName.toLowerCase() + (el.dataset.testid ? `[${el.dataset.testid}]` : '')
    + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + ` "${(el.textContent || el.getAttribute('placeholder') || el.getAttribute('aria-label') || '').trim().slice(0, 24)}"`;
  const shown = el => {
    if (!el.getClientRects().length) return false;
    for (let a = el; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.visibility === 'hidden' || cs.opacity === '0' || a.inert) return false;
    }
    return true;
  };
  const scrolls = (a, axis) => /(auto|scroll)/.test(getComputedStyle(a)[axis]);
  const clips = a => getComputedStyle(a).overflowX !== 'visible' || getComputedStyle(a).overflowY !== 'visible';
  const sel = 'button, input:not([type=hidden]), select, textarea, a[href], [data-incident]';
  for (const el of document.querySelectorAll(sel)) {
    if (!shown(el) || el.disabled) continue;
    let r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ar = a.getBoundingClientRect(); r = el.getBoundingClientRect();
      if (scrolls(a, 'overflowY') && a.scrollHeight > a.clientHeight) {
        if (r.bottom > ar.bottom) a.scrollTop += r.bottom - ar.bottom + 2;
        r = el.getBoundingClientRect();
        if (r.top < ar.top) a.scrollTop -= ar.top - r.top + 2;
      }
      if (scrolls(a, 'overflowX') && a.scrollWidth > a.clientWidth) {
        if (r.right > ar.right) a.scrollLeft += r.right - ar.right + 2;
        r = el.getBoundingClientRect();
        if (r.left < ar.left) a.scrollLeft -= ar.left - r.left + 2;
      }
    }
    r = el.getBoundingClientRect();
    let box = {l: 0, t: 0, r: vw, b: vh};
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) if (clips(a)) {
      const ar = a.getBoundingClientRect();
      box = {l: Math.max(box.l, ar.left), t: Math.max(box.t, ar.top), r: Math.min(box.r, ar.right), b: Math.min(box.b, ar.bottom)};
    }
    const where = `[${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}×${Math.round(r.height)}]`;
    if (r.left < box.l - 1 || r.top < box.t - 1 || r.right > box.r + 1 || r.bottom > box.b + 1) {
      out.push(`${name(el)} ${where} out of view (visible area ${Math.round(box.l)},${Math.round(box.t)}-${Math.round(box.r)},${Math.round(box.b)})`);
      continue;
    }
    for (const [fx, fy] of [[0.5, 0.5], [0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]) {
      const hit = document.elementFromPoint(r.left + r.width * fx, r.top + r.height * fy);
      if (hit && hit !== el && !el.contains(hit) && hit.control !== el) {
        out.push(`${name(el)} ${where} covered by ${name(hit)}`);
        break;
      }
    }
  }
  return out;
}"""


def fresh_fixes(server, db_url: str) -> None:  # noqa: F811
    """A few seconds of simulated patrol cars: a dozen fresh fixes (stale only after minutes), so the incident's
    recommendation list is long, as on a busy shift, without a map redrawing all through the other cases."""
    from app.simulator.run import simulate

    run = threading.Thread(target=lambda: asyncio.run(simulate(  # its own loop: Playwright's runs in this thread
        db_url, units=12, protocol="osmand", url=server.base, seconds=4, interval_s=2.0, seed=11)))
    run.start()
    run.join(120)


@pytest.fixture(scope="module")
def incident(server) -> int:  # noqa: F811
    hdr = {"Authorization": f"Bearer {token(server.base, 'dispatcher')}"}
    r = httpx.post(server.base + "/api/v1/incidents", headers=hdr, timeout=30,
                   json={"type": "theft", "priority": 1, "lon": SPOT[0], "lat": SPOT[1]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def contexts():
    """One browser context per size, kept for the module; each case opens and closes its own page."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        made: dict = {}

        def get(size: tuple[int, int]):
            if size not in made:
                phone = size == PHONE
                made[size] = b.new_context(viewport={"width": size[0], "height": size[1]}, locale="zh-CN",
                                           is_mobile=phone, has_touch=phone, permissions=["geolocation"],
                                           geolocation={"longitude": SPOT[0], "latitude": SPOT[1]})
            return made[size]

        yield get
        for c in made.values():
            c.close()
        b.close()


def _cases():
    for path, user, ready in PAGES:
        for size in SIZES.get(path, DESK):
            why = XFAIL.get((path, size))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            yield pytest.param(path, user, ready, size, marks=marks, id=f"{path}-{size[0]}x{size[1]}")


def _select_incident(page, iid: int) -> None:
    """Open the incident and wait for its recommended cars: the right column at its longest."""
    page.click(f"[data-testid=incident-list] [data-incident='{iid}']", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=unit-list] li').length >= 5", timeout=90_000)
    page.wait_for_selector("[data-testid=dispatch-units]")


def _overlap(page, a: str, b: str) -> bool:
    return page.evaluate("""([a, b]) => { const p = document.querySelector(a).getBoundingClientRect(),
      q = document.querySelector(b).getBoundingClientRect();
      return p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom; }""", [a, b])


@pytest.mark.parametrize("path,user,ready,size", list(_cases()))
def test_every_control_in_view_and_uncovered(server, demo_db_url, contexts, incident, path, user, ready, size):  # noqa: F811
    page = contexts(size).new_page()
    page.set_default_timeout(60_000)  # a bound on a loaded machine, not a speed check
    try:
        page.goto(f"{server.base}/{path}")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        page.wait_for_selector(ready, state="attached")
        try:  # the map pages' tiles may keep the network busy: a bound, then the check regardless
            page.wait_for_load_state("networkidle", timeout=20_000)
        except PlaywrightTimeout:
            pass
        problems = page.evaluate(CHECK)
        if path == "dispatch" and not problems:  # the incident list must be usable to open one
            fresh_fixes(server, demo_db_url)
            _select_incident(page, incident)
            problems = page.evaluate(CHECK)  # issue #20's case: the button scrolled to the bottom of its column
            page.eval_on_selector("[data-testid=dispatch-units]", "el => el.scrollIntoView({block: 'end'})")
            if _overlap(page, "[data-testid=dispatch-units]", "[data-testid=attribution]"):
                problems.append("派警 button [dispatch-units] under the attribution")
        page.screenshot(path=str(SHOTS / f"layout-{path}-{size[0]}x{size[1]}.png"))
        assert problems == [], f"/{path} at {size[0]}×{size[1]}:\n" + "\n".join(problems)
    finally:
        page.evaluate("localStorage.removeItem('se.tokens')")  # the next case signs in as its own user
        page.close()
