"""Identity, scoped permissions, temporary access on request, rate limits (issue #7)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings
from tests.conftest import login


def test_settings_refuse_default_secret_outside_demo(monkeypatch):
    monkeypatch.delenv("SHARPEYES_DEMO_MODE", raising=False)
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(demo_mode=False)
    with pytest.raises(ValueError, match="32 characters"):
        Settings(demo_mode=False, secret_key="short-secret")
    assert Settings(demo_mode=False, secret_key="x" * 40).secret_key == "x" * 40


async def test_login_failures_lock_the_account(api):
    h = await login(api, "admin")
    r = await api.post("/api/v1/users", headers=h, json={
        "username": "lockme", "password": "correct-horse", "role": "dispatcher", "division_code": "990100"})
    assert r.status_code == 201, r.text
    for _ in range(5):
        bad = await api.post("/api/v1/auth/login", json={"username": "lockme", "password": "wrong-password"})
        assert bad.status_code == 401 and bad.json()["error"]["message"] == "wrong username or password"
    locked = await api.post("/api/v1/auth/login", json={"username": "lockme", "password": "correct-horse"})
    # Locked: refused even with the right password, in the very words of a wrong one (no account probing).
    assert locked.status_code == 401 and locked.json() == bad.json()
    # Unknown users get the same answer as wrong passwords (no user enumeration).
    nouser = await api.post("/api/v1/auth/login", json={"username": "nobody-here", "password": "whatever1"})
    assert nouser.status_code == 401 and nouser.json()["error"]["message"] == "wrong username or password"
    api.app.state.limiters["login"]._buckets.clear()


async def test_refresh_and_logout_revoke_every_token(api):
    r = await api.post("/api/v1/auth/login", json={"username": "commander", "password": "sharpeyes-demo"})
    tokens = r.json()
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.get("/api/v1/auth/me", headers=h)).json()["username"] == "commander"
    # An access token is not a refresh token and vice versa.
    assert (await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})).status_code == 401
    r2 = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r2.status_code == 200
    assert (await api.post("/api/v1/auth/logout", headers=h)).status_code == 204
    assert (await api.get("/api/v1/auth/me", headers=h)).status_code == 401
    assert (await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    api.app.state.limiters["login"]._buckets.clear()


async def test_login_is_rate_limited(api):
    limiter = api.app.state.limiters["login"]
    rate, limiter.rate = limiter.rate, 1e-6  # no refill during the test: 15 slow logins on a loaded machine
    try:                                     # took long enough to earn their tokens back (30/min)
        codes = [(await api.post("/api/v1/auth/login", json={"username": "x", "password": "y"})).status_code
                 for _ in range(15)]
    finally:
        limiter.rate = rate
        limiter._buckets.clear()
    assert codes[:10] == [401] * 10 and codes[10:] == [429] * 5  # the burst, then refused


async def test_roles_and_permissions(api):
    me = (await api.get("/api/v1/auth/me", headers=await login(api, "auditor"))).json()
    assert me["permissions"] == ["read_audit"]
    aud = await login(api, "auditor")
    assert (await api.get("/api/v1/cameras", headers=aud)).status_code == 403
    assert (await api.get("/api/v1/audit", headers=aud)).status_code == 200
    disp = await login(api, "dispatcher")
    assert (await api.get("/api/v1/audit", headers=disp)).status_code == 403
    assert (await api.get("/api/v1/users", headers=disp)).status_code == 403


async def test_timeboxed_grant_expires(api):
    admin = await login(api, "admin")
    uid = (await api.post("/api/v1/users", headers=admin, json={
        "username": "temp_planner", "password": "temp-planner-pw", "role": "auditor", "division_code": "000000"}
    )).json()["id"]
    now = datetime.now(UTC)
    past = await api.post(f"/api/v1/users/{uid}/grants", headers=admin, json={
        "role_name": "planner", "division_code": "990102", "valid_from": (now - timedelta(days=2)).isoformat(),
        "valid_until": (now - timedelta(days=1)).isoformat(), "reason": "last week's survey"})
    assert past.status_code == 201
    h = await login(api, "temp_planner", "temp-planner-pw")
    assert (await api.get("/api/v1/cameras", headers=h)).status_code == 403  # expired: no view_map anywhere
    live = await api.post(f"/api/v1/users/{uid}/grants", headers=admin, json={
        "role_name": "planner", "division_code": "990102", "valid_until": (now + timedelta(hours=1)).isoformat()})
    gid = live.json()["id"]
    fc = (await api.get("/api/v1/cameras", params={"limit": 5000}, headers=h)).json()
    assert fc["total"] > 0 and all(f["properties"]["division_code"].startswith("990102") for f in fc["features"])
    assert (await api.delete(f"/api/v1/users/grants/{gid}", headers=admin)).status_code == 204
    assert (await api.get("/api/v1/cameras", headers=h)).status_code == 403


async def test_access_on_request_flow(api):
    officer = await login(api, "planner_nw")
    req = await api.post("/api/v1/access-requests", headers=officer, json={
        "division_code": "990104", "hours": 2, "reason": "追查走失儿童 missing child search"})
    assert req.status_code == 201, req.text
    rid = req.json()["id"]
    # Not granted yet: still only 990101.
    fc = (await api.get("/api/v1/cameras", params={"division": "990104"}, headers=officer)).json()
    assert fc["total"] == 0
    dup = await api.post("/api/v1/access-requests", headers=officer, json={
        "division_code": "990104", "hours": 2, "reason": "again please"})
    assert dup.status_code == 409
    admin = await login(api, "admin")
    pending = (await api.get("/api/v1/access-requests", headers=admin)).json()
    assert any(p["id"] == rid for p in pending)
    ok = await api.post(f"/api/v1/access-requests/{rid}/decision", headers=admin, json={"approve": True})
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    fc = (await api.get("/api/v1/cameras", params={"division": "990104"}, headers=officer)).json()
    assert fc["total"] > 0
    again = await api.post(f"/api/v1/access-requests/{rid}/decision", headers=admin, json={"approve": False})
    assert again.status_code == 409
    log = (await api.get("/api/v1/audit", params={"action": "access_approve"},
                         headers=await login(api, "auditor"))).json()
    assert log["total"] >= 1 and log["items"][0]["actor_name"] == "admin"


@pytest.mark.parametrize("body", [
    {"division_code": "990104", "hours": 0, "reason": "zero hours"},
    {"division_code": "990104", "hours": 10000, "reason": "forever"},
    {"division_code": "12", "hours": 1, "reason": "bad code"},
    {"division_code": "990104", "hours": 1, "reason": ""},
    {"division_code": "990104", "hours": 1, "reason": "role", "role": "admin"},
])
async def test_bad_access_requests(api, body):
    r = await api.post("/api/v1/access-requests", headers=await login(api, "officer"), json=body)
    assert r.status_code == 422


async def test_regional_admin_cannot_grant_outside(api):
    admin = await login(api, "admin")
    await api.post("/api/v1/users", headers=admin, json={
        "username": "nw_admin", "password": "nw-admin-pw", "role": "admin", "division_code": "990101"})
    nw = await login(api, "nw_admin", "nw-admin-pw")
    r = await api.post("/api/v1/users", headers=nw, json={
        "username": "sneaky", "password": "sneaky-pw1", "role": "admin", "division_code": "000000"})
    assert r.status_code == 403
    users = (await api.get("/api/v1/users", headers=nw)).json()
    assert {u["username"] for u in users} >= {"nw_admin", "planner_nw"}
    assert "dispatcher" not in {u["username"] for u in users}
