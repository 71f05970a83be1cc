"""Who may see and change upper platforms (/api/v1/platforms): ``manage_devices`` over every division a
platform shares, up to its secrecy ceiling. Others get 403 (no right at all) or 404 (not theirs), and no
answer ever carries the password. (The scope oracle allow-lists these GETs and points here.)"""

from __future__ import annotations

import pytest_asyncio

from tests.conftest import login

API = "/api/v1/platforms"


def body(sip_id: str, divisions: list[str], **extra) -> dict:
    # Disabled: no link traffic, the configuration alone is under test.
    return {"name": f"上级 {sip_id[-4:]}", "sip_id": sip_id, "domain": sip_id[:10], "host": "127.0.0.1",
            "port": 9, "password": "p-" + sip_id[-6:], "enabled": False, "share_divisions": divisions, **extra}


@pytest_asyncio.fixture(scope="module")
async def world(api):
    root = await login(api, "admin")
    r = await api.post("/api/v1/users", headers=root, json={
        "username": "plat_admin_nw", "password": "plat-admin-password-1", "role": "admin",
        "division_code": "990101"})
    assert r.status_code == 201, r.text
    district = await login(api, "plat_admin_nw", "plat-admin-password-1")
    north = (await api.post(API, headers=root, json=body("44010000002000000101", ["990101"]))).json()
    east = (await api.post(API, headers=root, json=body("44010000002000000102", ["990102"])))
    assert east.status_code == 201, east.text
    both = (await api.post(API, headers=root, json=body("44010000002000000103", ["990101", "990102"]))).json()
    return {"root": root, "district": district, "north": north, "east": east.json(), "both": both}


async def test_no_right_no_platforms(api, world):
    for user in ("dispatcher", "officer", "planner", "auditor"):
        h = await login(api, user)
        assert (await api.get(API, headers=h)).status_code == 403, user
        assert (await api.get(f"{API}/{world['north']['id']}", headers=h)).status_code == 403, user
        assert (await api.post(API, headers=h, json=body("44010000002000000109", ["990101"]))).status_code == 403


async def test_a_division_admin_sees_and_changes_only_their_platforms(api, world):
    d, north, east, both = world["district"], world["north"], world["east"], world["both"]
    listed = (await api.get(API, headers=d)).json()["platforms"]
    assert [p["id"] for p in listed] == [north["id"]]
    assert all("password" not in p and "password_sealed" not in p for p in listed)
    for other in (east, both):
        assert (await api.get(f"{API}/{other['id']}", headers=d)).status_code == 404
        assert (await api.patch(f"{API}/{other['id']}", headers=d, json={"name": "x"})).status_code == 404
        assert (await api.delete(f"{API}/{other['id']}", headers=d)).status_code == 404
    # Their own platform: changed, but never widened beyond their division or secrecy.
    r = await api.patch(f"{API}/{north['id']}", headers=d, json={"share_divisions": ["990101", "990102"]})
    assert r.status_code == 403, r.text
    r = await api.patch(f"{API}/{north['id']}", headers=d, json={"share_max_secrecy": 5})
    assert r.status_code == 403, r.text
    r = await api.patch(f"{API}/{north['id']}", headers=d, json={"share_divisions": ["990101001"],
                                                                 "share_kinds": ["ptz"]})
    assert r.status_code == 200 and r.json()["share_divisions"] == ["990101001"], r.text
    assert (await api.post(API, headers=d, json=body("44010000002000000104", ["990102"]))).status_code == 403
    assert (await api.post(API, headers=d, json=body("44010000002000000105", []))).status_code == 403
    mine = await api.post(API, headers=d, json=body("44010000002000000106", ["990101002"]))
    assert mine.status_code == 201 and "password" not in mine.json(), mine.text
    assert (await api.delete(f"{API}/{mine.json()['id']}", headers=d)).status_code == 204


async def test_the_root_sees_all_and_input_is_checked(api, world):
    root = world["root"]
    ids = {p["id"] for p in (await api.get(API, headers=root)).json()["platforms"]}
    assert {world["north"]["id"], world["east"]["id"], world["both"]["id"]} <= ids
    dup = await api.post(API, headers=root, json=body("44010000002000000101", ["990101"]))
    assert dup.status_code == 409, dup.text
    assert (await api.post(API, headers=root, json=body("4401", ["990101"]))).status_code == 422
    assert (await api.post(API, headers=root, json=body("44010000002000000107", ["999999"]))).status_code == 404
    assert (await api.post(API, headers=root, json=body("44010000002000000108", ["990101"],
                                                        share_kinds=["tank"]))).status_code == 422
