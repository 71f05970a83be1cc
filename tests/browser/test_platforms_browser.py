"""/devices → 上级平台 in headless Chromium against a real server whose SIP server runs on a real port: the
administrator adds an upper platform (a simulated one, tests/gb_upper_peer.py) through the dialog; this
platform registers to it and the row shows 已注册 with its keepalive; the tab reads in English after the
switch; delete with confirmation unregisters (Expires: 0)."""

from __future__ import annotations

import pytest

from tests.browser.test_planning_browser import SHOTS, api, browser, sign_in  # noqa: F401  (fixtures)
from tests.frontend_build import ensure_built
from tests.gb_live import PeerLoop
from tests.gb_upper_peer import UpperPeer
from tests.server import free_port, running_server
from tests.waiting import wait_for

LOWER = "34020000002000000001"  # the platform's own SIP id (SHARPEYES_GB_SERVER_ID default)


@pytest.fixture(scope="module")
def base(demo_db):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_server(demo_db, env={"SHARPEYES_GB_PORT": str(free_port()), "SHARPEYES_GB_HOST": "127.0.0.1"}) as url:
        yield url


@pytest.fixture
def upper():
    loop = PeerLoop()
    peer = loop.run(UpperPeer().start())
    yield peer
    loop.run(peer.stop())
    loop.close()


def test_add_see_registered_delete(base, browser, upper):  # noqa: F811
    w = sign_in(browser, base, "/devices", "admin")
    page = w.page
    page.click("[data-testid=tab-platforms]")
    page.wait_for_selector("[data-testid=platforms-empty]", timeout=60_000)
    assert "上级平台" in page.inner_text("[data-testid=platforms]")

    page.click("[data-testid=platform-add]")
    form = "[data-testid=platform-form]"
    page.fill(f"{form} input[name=name]", "市级平台")
    page.fill(f"{form} input[name=sip_id]", "4401")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[data-testid=platform-msg] >> text=20 位数字")
    page.fill(f"{form} input[name=sip_id]", upper.sip_id)
    page.fill(f"{form} input[name=host]", "127.0.0.1")
    page.fill(f"{form} input[name=port]", str(upper.port))
    page.fill(f"{form} input[name=password]", upper.password)
    page.fill(f"{form} input[name=keepalive_s]", "1")
    page.select_option(f"{form} select[name=share_divisions]", ["990102"])
    page.click(f"{form} button[type=submit]")

    row = f"[data-testid=platform-{upper.sip_id}]"
    page.wait_for_selector(f"{row} [data-testid=platform-state] >> text=已注册", timeout=60_000)
    assert LOWER in upper.lowers
    # The state says registered at the REGISTER's 200; the first keepalive follows within its 1 s period.
    wait_for(lambda: upper.keepalives.get(LOWER, 0) >= 1, timeout=30, what="a keepalive from the registered link")
    assert "东区" in page.inner_text(row) and upper.password not in page.content()
    page.screenshot(path=str(SHOTS / "platforms.png"))

    page.click("[data-testid=lang]")
    page.wait_for_selector(f"{row} [data-testid=platform-state] >> text=Registered")
    assert "Upper platforms" in page.inner_text("[data-testid=platforms]")

    page.click(f"{row} [data-testid=platform-delete]")
    page.click("[data-testid=confirm-yes]")
    page.wait_for_selector("[data-testid=platforms-empty]")
    wait_for(lambda: LOWER in upper.unregistered, what="Expires: 0 after the delete")
