"""Every page in English shows no Chinese of its own (issue #20), in headless Chromium against a real API
process on the demo city: each page, signed in as the user who works there, switched to English before it
loads, has no CJK character in its visible text, placeholders, titles or labels, except data values (the
demo's division, camera, unit and key-area names, which are Chinese in the data itself, and Chinese number
plates, whose first character is the province's). A screenshot of each page in English is kept."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.test_wall_browser import SHOTS, chromium  # noqa: F401 (chromium: a fixture)
from tests.frontend_build import ensure_built
from tests.live_servers import ApiProcess, token

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]+")
PLATE = re.compile(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{4,6}")  # 京A12345: data, in every language
# page, the user who works there, what says it is ready
PAGES = [
    ("wall", "commander", "[data-testid=conn][data-state=live]"),
    ("dispatch", "dispatcher", "[data-testid=conn][data-state=live]"),
    ("planning", "planner", "[data-testid=conn][data-state=live]"),
    ("m", "officer", "[data-testid=m-sheet]"),
    ("admin", "admin", "table"),
    ("audit", "auditor", "table"),
    ("devices", "admin", "table"),
    ("watchlists", "dispatcher", "[data-testid=wl-form]"),
]
# Visible text, and the attributes a user reads (placeholder, title, aria-label, alt), of every element
# that is rendered; the map canvas's labels are data (street and place names) and drawn, not text.
VISIBLE_TEXT = """() => {
  const out = [];
  const shown = el => el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent.trim();
    // The language switch names the other language in its own script ("中文"), as switches do.
    if (t && shown(n.parentElement) && !n.parentElement.closest('script,style,select,[data-testid=lang]')) out.push(t);
  }
  for (const el of document.querySelectorAll('[placeholder],[title],[aria-label],img[alt]'))
    if (shown(el)) for (const a of ['placeholder', 'title', 'aria-label', 'alt'])
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
  for (const sel of document.querySelectorAll('select')) if (shown(sel))
    for (const o of sel.options) out.push(o.textContent.trim());
  return out;
}"""


@pytest.fixture(scope="module")
def server(demo_db_url):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = ApiProcess(demo_db_url)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _strings(value, out: set[str]) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, dict):  # a "…_zh" field is the UI's Chinese name of a key: never data here
        for k, v in value.items():
            if not k.endswith("_zh"):
                _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def data_values(server) -> list[str]:
    """The Chinese that is data, not UI: every CJK string the API lists to the admin (names, callsigns,
    addresses, descriptions), longest first so that a name is taken out before its parts. Read after the page
    is shown: the demo's own activity (incidents, assignments) may have added data since the module began."""
    hdr = {"Authorization": f"Bearer {token(server.base, 'admin')}"}
    found: set[str] = set()
    for path in ("/api/v1/divisions", "/api/v1/cameras", "/api/v1/units", "/api/v1/key-areas", "/api/v1/incidents",
                 "/api/v1/users", "/api/v1/devices", "/api/v1/platforms"):
        r = httpx.get(server.base + path, headers=hdr, params={"limit": 5000}, timeout=60)
        if r.status_code == 200:
            _strings(r.json(), found)
    return sorted((s for s in found if CJK.search(s)), key=len, reverse=True)


def ui_chinese(texts: list[str], data: list[str]) -> list[str]:
    """The texts that still hold CJK once every data value is taken out of them."""
    left = []
    for t in texts:
        rest = PLATE.sub(" ", t)
        for d in data:
            if d in rest:
                rest = rest.replace(d, " ")
        if CJK.search(rest):
            left.append(t)
    return sorted(set(left))


@pytest.mark.parametrize("path,user,ready", PAGES, ids=[p[0] for p in PAGES])
def test_page_in_english_has_no_chinese_of_its_own(server, chromium, path, user, ready):  # noqa: F811
    ctx = chromium.new_context(viewport={"width": 1920, "height": 1080}, locale="en-GB")
    ctx.add_init_script("localStorage.setItem('se.lang', 'en')")
    try:
        page = ctx.new_page()
        page.set_default_timeout(60_000)  # a bound on a loaded machine, not a speed check
        page.goto(f"{server.base}/{path}")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", "sharpeyes-demo")
        page.click("button[type=submit]")
        page.wait_for_selector(ready, state="attached")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.lang") == "en"
        texts = page.evaluate(VISIBLE_TEXT)
        left = ui_chinese(texts, data_values(server))
        page.screenshot(path=str(SHOTS / f"{path}-en-1920x1080.png"))
        assert left == [], f"/{path} in English still shows: {left}"
    finally:
        ctx.close()
