"""/admin and /audit in headless Chromium against a real server on the demo city.

An officer files an access request from the top bar; the administrator creates a user, gives them a time-boxed
grant, deactivates and reactivates them, and approves the officer's request; the auditor filters the audit log,
pages through it, opens an event and verifies the hash chain. No request leaves the origin, no console errors.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.browser.test_planning_browser import SHOTS, Watched, api, base, browser, sign_in  # noqa: F401  (fixtures)
from tests.live_servers import token


def test_access_request_and_admin(base, browser):  # noqa: F811
    # Any user files an access request from the top bar (here the officer's phone page).
    w = sign_in(browser, base, "/m", "officer", 430, 900)
    page = w.page
    page.click("[data-testid=request-access]", timeout=60_000)
    page.fill("[data-testid=access-form] input[name=division_code]", "990102")
    page.select_option("[data-testid=access-form] select[name=role]", "commander")
    page.fill("[data-testid=access-form] input[name=hours]", "6")
    page.fill("[data-testid=access-form] textarea[name=reason]", "festival in the east district")
    page.click("[data-testid=access-form] button[type=submit]")
    page.wait_for_selector("[data-testid=access-form] .note-ok")
    request_id = page.get_attribute("[data-testid=access-form] .note-ok", "data-request-id")
    page.screenshot(path=str(SHOTS / "access-request-mobile.png"))
    assert w.errors == [] and w.foreign(base) == []
    page.close()

    w = sign_in(browser, base, "/admin", "admin")
    page = w.page
    page.wait_for_selector("[data-testid=user-row][data-user=planner_nw]", timeout=60_000)
    # Create a user.
    page.fill("[data-testid=create-user] input[name=username]", "analyst1")
    page.fill("[data-testid=create-user] input[name=password]", "a-long-password-1")
    page.fill("[data-testid=create-user] input[name=display_name]", "分析员一")
    page.select_option("[data-testid=create-user] select[name=role]", "planner")
    page.select_option("[data-testid=create-user] select[name=division_code]", "990103")
    page.click("[data-testid=create-user] button[type=submit]")
    row = "[data-testid=user-row][data-user=analyst1]"
    page.wait_for_selector(row)
    assert page.get_attribute(f"{row} [data-testid=grant]", "data-division") == "990103"

    # A time-boxed grant: commander on district 990101 for the next 8 hours (the form's default window).
    page.click(f"{row} [data-testid=add-grant]")
    page.select_option("[data-testid=grant-form] select[name=role_name]", "commander")
    page.select_option("[data-testid=grant-form] select[name=division_code]", "990101")
    page.fill("[data-testid=grant-form] textarea[name=reason]", "weekend event")
    page.screenshot(path=str(SHOTS / "admin-grant-form.png"))
    page.click("[data-testid=grant-form] button[type=submit]")
    page.wait_for_selector(f"{row} [data-testid=grant][data-role=commander][data-division='990101']")
    users = api(base, "admin", "GET", "/api/v1/users").json()
    me = next(u for u in users if u["username"] == "analyst1")
    g = next(g for g in me["grants"] if g["role_name"] == "commander")
    hours = (datetime.fromisoformat(g["valid_until"]) - datetime.fromisoformat(g["valid_from"])).total_seconds() / 3600
    assert abs(hours - 8) < 0.05 and g["max_secrecy"] == 0 and g["reason"] == "weekend event"

    # Deactivate and reactivate; revoke the grant.
    page.click(f"{row} [data-testid=deactivate]")
    page.wait_for_selector(f"{row} [data-testid=activate]")
    users = api(base, "admin", "GET", "/api/v1/users").json()
    assert not next(u for u in users if u["username"] == "analyst1")["is_active"]
    page.click(f"{row} [data-testid=activate]")
    page.wait_for_selector(f"{row} [data-testid=deactivate]")
    page.click(f"{row} [data-testid=grant][data-grant='{g['id']}'] [data-testid=revoke]")
    page.wait_for_selector(f"{row} [data-testid=grant][data-grant='{g['id']}'][data-status=revoked]")

    # Register a patrol unit with its JT/T 808 terminal and the new user as its officer; off duty and back.
    page.fill("[data-testid=create-unit] input[name=callsign]", "巡逻88")
    page.select_option("[data-testid=create-unit] select[name=kind]", "patrol_car")
    page.select_option("[data-testid=create-unit] select[name=division_code]", "990103")
    page.select_option("[data-testid=create-unit] select[name=tracker_protocol]", "jt808")
    page.fill("[data-testid=create-unit] input[name=tracker_id]", "013912345678")
    page.select_option("[data-testid=create-unit] select[name=officer]", "analyst1")
    page.click("[data-testid=create-unit] button[type=submit]")
    unit_row = "[data-testid=unit-row][data-unit='巡逻88']"
    page.wait_for_selector(f"{unit_row}[data-status=available]")
    assert "013912345678" in page.inner_text(unit_row) and "analyst1" in page.inner_text(unit_row)
    page.click(f"{unit_row} [data-testid=off-duty]")
    page.wait_for_selector(f"{unit_row}[data-status=off_duty]")
    unit = next(u for u in api(base, "admin", "GET", "/api/v1/units").json() if u["callsign"] == "巡逻88")
    assert (unit["status"], unit["tracker_protocol"], unit["officer"]) == ("off_duty", "jt808", "analyst1")
    # A second unit cannot take the same terminal: the form says why and nothing is added.
    page.fill("[data-testid=create-unit] input[name=callsign]", "巡逻89")
    page.fill("[data-testid=create-unit] input[name=tracker_id]", "013912345678")
    page.click("[data-testid=create-unit] button[type=submit]")
    page.wait_for_selector("[data-testid=unit-msg].note-error")
    assert "tracker already belongs" in page.inner_text("[data-testid=unit-msg]")
    assert not page.locator("[data-testid=unit-row][data-unit='巡逻89']").count()

    # Approve the officer's request.
    req = f"[data-testid=request-row][data-request='{request_id}']"
    page.wait_for_selector(req)
    assert page.get_attribute(req, "data-user") == "officer"
    page.screenshot(path=str(SHOTS / "admin.png"))
    page.click(f"{req} [data-testid=approve]")
    page.wait_for_selector(req, state="detached")
    officer = next(u for u in api(base, "admin", "GET", "/api/v1/users").json() if u["username"] == "officer")
    granted = next(g for g in officer["grants"] if g["id"] == int(request_id))
    assert granted["status"] == "active" and granted["division_code"] == "990102"
    # The one refusal is the unit that asked for a taken terminal (its response and its console line).
    refused = [e for e in w.errors if "409" in e]
    assert len(refused) == 2 and all("/api/v1/units" in e or "status of 409" in e for e in refused), w.errors
    assert [e for e in w.errors if e not in refused] == [] and w.foreign(base) == []
    page.close()


def test_auditor(base, browser):  # noqa: F811
    auth = {"Authorization": f"Bearer {token(base, 'auditor')}"}
    for _ in range(20):  # enough events for a second page (each verification is audited)
        httpx.get(base + "/api/v1/audit/verify", headers=auth, timeout=30).raise_for_status()
    w = sign_in(browser, base, "/audit", "auditor")
    page = w.page
    page.wait_for_selector("[data-testid=audit-row]", timeout=60_000)
    total_all = int(page.get_attribute("[data-testid=audit-total]", "data-total"))
    assert total_all > 0

    # Filter by action: only user creations, the same total as the API.
    page.select_option("[data-testid=audit-filters] select[name=action]", "user_create")
    page.click("[data-testid=apply-filter]")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=audit-row]')]"
                           ".every(r => r.dataset.action === 'user_create')")
    expect = api(base, "auditor", "GET", "/api/v1/audit?action=user_create").json()
    assert int(page.get_attribute("[data-testid=audit-total]", "data-total")) == expect["total"] >= 1
    # Actions and objects by name (zh-CN), the stored key in the detail.
    assert "新建用户" in page.inner_text("[data-testid=audit-row]") and "用户" in page.inner_text("[data-testid=audit-row]")
    page.click("[data-testid=audit-row]")
    assert "新建用户 (user_create)" in page.inner_text("[data-testid=audit-detail]")
    assert "analyst1" in page.inner_text("[data-testid=audit-json]")
    assert expect["items"][0]["hash"] in page.inner_text("[data-testid=audit-detail]")

    # Actor and time range: the admin's events since an hour ago.
    with page.expect_response(lambda r: "/api/v1/audit?" in r.url and "actor=" not in r.url):
        page.click("[data-testid=reset-filter]")
    page.fill("[data-testid=audit-filters] input[name=actor]", "admin")
    page.fill("[data-testid=audit-filters] input[name=since]", "2000-01-01T00:00")
    # The filtered query itself is awaited and checked. Submitted with Enter, as a user may: twice in full
    # runs under load the query never went out after a click on the button.
    with page.expect_response(lambda r: "/api/v1/audit?" in r.url and "actor=admin" in r.url, timeout=60_000) as got:
        page.press("[data-testid=audit-filters] input[name=actor]", "Enter")
    assert got.value.status == 200, got.value.text()
    page.wait_for_function("""() => { const r = [...document.querySelectorAll('[data-testid=audit-row]')];
        return r.length > 0 && r.every(x => x.dataset.actor === 'admin'); }""", timeout=60_000)

    # Paging through everything.
    page.click("[data-testid=reset-filter]")
    page.wait_for_function(f"() => Number(document.querySelector('[data-testid=audit-total]').dataset.total) >= {total_all}")
    assert total_all > 25
    if total_all > 25:
        first = page.get_attribute("[data-testid=audit-row]", "data-id")
        page.click("[data-testid=next]")
        page.wait_for_function(f"() => document.querySelector('[data-testid=audit-row]').dataset.id !== '{first}'")
        assert page.inner_text("[data-testid=page]").startswith("2 /")
        page.click("[data-testid=prev]")
        page.wait_for_selector("[data-testid=page] >> text=/^1 \\//")

    # Verify the chain.
    page.click("[data-testid=verify-chain]")
    page.wait_for_selector("[data-testid=verify-result]")
    assert page.get_attribute("[data-testid=verify-result]", "data-intact") == "true"
    page.click("[data-testid=audit-row]")
    page.screenshot(path=str(SHOTS / "audit.png"))
    assert w.errors == [] and w.foreign(base) == []
    page.close()
