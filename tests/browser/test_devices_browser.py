"""/devices in headless Chromium against a real server on the demo city, with its SIP server on a real port.

The administrator admits a GB/T 28181 NVR through the form (the 20-digit check and the repeated password in
the page's words; the password shown once); a simulated device (tests/gb28181_peer.SimDevice) registers over
UDP with that password and its row turns online with its address and its channels, refreshed in place (the
row element survives the 5 s poll, so a click on it is never lost); the catalog query is answered; the page
reads in English after the switch; the device unregisters, goes offline, and an action on it is refused with
the reason in English; a rename and a delete with confirmation. No request leaves the origin.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.browser.test_planning_browser import SHOTS, api, browser, sign_in  # noqa: F401  (fixtures)
from tests.frontend_build import ensure_built
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.gb_live import PeerLoop
from tests.server import free_port, running_server

NVR = "34020000001180000101"
CHANNELS = [Channel("34020000001310000101", "Harbour gate", 24.9512, 60.1673),
            Channel("34020000001310000102", "Market square", 24.9526, 60.1679)]
PASSWORD = "nvr-secret-2026"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@pytest.fixture(scope="module")
def sip_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def base(demo_db, sip_port):
    ensure_built()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_server(demo_db, env={"SHARPEYES_GB_PORT": str(sip_port), "SHARPEYES_GB_HOST": "127.0.0.1"}) as url:
        yield url


@pytest.fixture
def peer():
    p = PeerLoop()
    yield p
    p.close()


def test_admit_register_act(base, browser, sip_port, peer):  # noqa: F811
    w = sign_in(browser, base, "/devices", "admin")
    page = w.page
    page.wait_for_selector("[data-testid=admit-form]", timeout=60_000)
    assert "国标设备" in page.inner_text(".page-title")
    form = "[data-testid=admit-form]"

    # The form's own checks, in the page's language.
    page.fill(f"{form} input[name=gb_id]", "3402000000118")
    page.fill(f"{form} input[name=name]", "Harbour NVR")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[data-testid=admit-msg].note-error")
    assert "20 位数字" in page.inner_text("[data-testid=admit-msg]")
    page.fill(f"{form} input[name=gb_id]", NVR)
    assert page.inner_text("[data-testid=gb-id-count]") == "20 / 20"
    page.select_option(f"{form} select[name=kind]", "nvr")
    page.select_option(f"{form} select[name=division_code]", "990103")
    page.fill(f"{form} input[name=password]", PASSWORD)
    page.fill(f"{form} input[name=password2]", PASSWORD + "x")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[data-testid=admit-msg] >> text=两次输入的密码不一致")
    page.fill(f"{form} input[name=password2]", PASSWORD)
    page.click(f"{form} button[type=submit]")

    # Admitted: the password is shown this once; the row is there, offline until the device registers.
    page.wait_for_selector("[data-testid=once-password]")
    assert page.inner_text("[data-testid=once-value]") == PASSWORD
    row = f"[data-testid=device-row][data-gb-id='{NVR}']"
    page.wait_for_selector(f"{row}[data-online=false]")
    assert page.input_value(f"{form} input[name=password]") == ""  # the form forgot it
    page.click("[data-testid=once-dismiss]")
    assert not page.locator("[data-testid=once-password]").count()
    created = next(d for d in api(base, "admin", "GET", "/api/v1/devices").json()["devices"] if d["gb_id"] == NVR)
    assert (created["kind"], created["division_code"], created["online"]) == ("nvr", "990103", False)
    assert PASSWORD not in str(created)

    # A real device registers over UDP with that password; the poll shows it online with its address.
    ep = peer.run(PeerEndpoint.open(("127.0.0.1", sip_port), "UDP"))
    sim = SimDevice(ep, NVR, PASSWORD, channels=list(CHANNELS), gb_version="2.0")
    answer = peer.run(sim.register(expires=3600))
    assert answer is not None and answer.status == 200, answer and answer.status
    peer.run(sim.keepalive())
    page.wait_for_selector(f"{row}[data-online=true]", timeout=45_000)
    address = f"127.0.0.1:{ep.local[1]}"
    assert page.inner_text(f"{row} [data-testid=device-address]") == address
    assert "在线" in page.inner_text(f"{row} [data-testid=device-state]")
    assert "GB/T 28181-2016" in page.inner_text(row) and "UDP" in page.inner_text(row)
    page.wait_for_function(f"""() => document.querySelector("{row} [data-testid=device-channels]")
        ?.textContent === '2 / 2'""", timeout=60_000)

    # The row is kept across a refresh that changes nothing in it (a click on it is never lost).
    page.eval_on_selector(row, "el => { el.dataset.mark = 'kept'; }")
    with page.expect_response(lambda r: "/api/v1/devices" in r.url and r.request.method == "GET", timeout=45_000):
        pass
    with page.expect_response(lambda r: "/api/v1/devices" in r.url and r.request.method == "GET", timeout=45_000):
        pass
    assert page.get_attribute(row, "data-mark") == "kept"

    # Detail: the channels with their coordinates; the catalog query is answered by the device.
    page.click(row)
    detail = f"[data-testid=device-detail][data-gb-id='{NVR}']"
    page.wait_for_selector(f"{detail} [data-testid=channel-row][data-gb-id='{CHANNELS[0].gb_id}']")
    assert page.locator(f"{detail} [data-testid=channel-row]").count() == 2
    assert "60.167300" in page.inner_text(f"{detail} [data-testid=channel-row][data-gb-id='{CHANNELS[0].gb_id}']")
    page.click(f"{detail} [data-testid=action-catalog]")
    page.wait_for_selector("[data-testid=action-result][data-action=catalog][data-state=done]", timeout=60_000)
    # A reboot asks first; cancelled, nothing is sent.
    page.click(f"{detail} [data-testid=action-reboot]")
    page.wait_for_selector("[data-testid=confirm-modal]")
    assert "Harbour NVR" in page.inner_text("[data-testid=confirm-modal]")
    page.click("[data-testid=confirm-no]")
    assert page.get_attribute("[data-testid=action-result]", "data-action") == "catalog"
    page.screenshot(path=str(SHOTS / "devices.png"))

    # English: every text of the page (the device's own names are ASCII here).
    page.click("[data-testid=lang]")
    page.wait_for_selector(".page-title >> text=GB/T 28181 devices")
    text = page.inner_text("body").replace("中文", "")  # the switch back names its language in it
    assert "Online" in text and "Admit a device" in text and "Channels" in text, text
    assert not CJK.findall(text), sorted(set(CJK.findall(text)))

    # The device leaves; an action on it is refused with the reason, in English.
    assert peer.run(sim.register(expires=0)).status == 200
    page.wait_for_selector(f"{row}[data-online=false]", timeout=45_000)
    page.wait_for_selector(f"{detail} [data-testid=action-device_info]:not([disabled])")
    with page.expect_response(lambda r: r.url.endswith("/actions"), timeout=60_000) as got:
        page.click(f"{detail} [data-testid=action-device_info]")
    assert got.value.status == 503, got.value.text()
    refused = "[data-testid=action-result][data-action=device_info][data-state=refused]"
    page.wait_for_selector(refused)
    said = page.inner_text(refused)
    assert said.startswith("Device info · Not done: ") and not CJK.findall(said), said
    assert any(r in said for r in ("offline or not registered", "cannot be reached", "did not answer")), said
    page.screenshot(path=str(SHOTS / "devices-refused-en.png"))

    # Rename, then delete with confirmation.
    page.click(f"{detail} [data-testid=edit-device]")
    page.fill("[data-testid=edit-form] input[name=name]", "Harbour NVR 2")
    page.click("[data-testid=edit-form] button[type=submit]")
    page.wait_for_selector(f"{row} >> text=Harbour NVR 2")
    page.click(f"{detail} [data-testid=delete-device]")
    page.click("[data-testid=confirm-yes]")
    page.wait_for_selector(row, state="detached")
    assert NVR not in [d["gb_id"] for d in api(base, "admin", "GET", "/api/v1/devices").json()["devices"]]

    # The one refusal is the action on the offline device (its response and its console line).
    others = [e for e in w.errors if "503" not in e]
    assert others == [] and w.foreign(base) == [], w.errors
    ep.close()
    page.close()


def test_pending_accept(base, browser, sip_port, peer):  # noqa: F811
    """With the rule "pending", an unknown device that registers with the platform-wide password waits on the
    pending tab; accepted there (division, kind), its next REGISTER is taken and it shows online."""
    unknown = "34020000001320000777"
    api(base, "admin", "PUT", "/api/v1/admission/policy/gb28181", json={"mode": "pending"})
    ep = peer.run(PeerEndpoint.open(("127.0.0.1", sip_port), "UDP"))
    sim = SimDevice(ep, unknown, os.environ["SHARPEYES_GB_PASSWORD"])
    first = peer.run(sim.register(expires=3600))
    assert first is not None and first.status != 200, first and first.status  # not admitted yet

    w = sign_in(browser, base, "/devices", "admin")
    page = w.page
    page.wait_for_selector("[data-testid=tab-pending]", timeout=60_000)
    page.click("[data-testid=tab-pending]")
    row = f"[data-testid=pending-row][data-gb-id='{unknown}']"
    page.wait_for_selector(row, timeout=45_000)
    assert "127.0.0.1" in page.inner_text(row)
    page.click(f"{row} [data-testid=accept]")
    page.fill("[data-testid=accept-form] input[name=name]", "Pier camera")
    page.select_option("[data-testid=accept-form] select[name=kind]", "ipc")
    page.select_option("[data-testid=accept-form] select[name=division_code]", "990101")
    page.click("[data-testid=accept-form] button[type=submit]")
    page.wait_for_selector(row, state="detached")
    page.wait_for_selector("[data-testid=devices-flash].note-ok")

    again = peer.run(sim.register(expires=3600))
    assert again is not None and again.status == 200, again and again.status
    page.click("[data-testid=tab-devices]")
    page.wait_for_selector(f"[data-testid=device-row][data-gb-id='{unknown}'][data-online=true]", timeout=45_000)
    got = next(d for d in api(base, "admin", "GET", "/api/v1/devices").json()["devices"] if d["gb_id"] == unknown)
    assert (got["name"], got["kind"], got["division_code"]) == ("Pier camera", "ipc", "990101")
    page.screenshot(path=str(SHOTS / "devices-pending-accepted.png"))
    assert w.errors == [] and w.foreign(base) == [], w.errors
    ep.close()
    page.close()
