"""GB/T 28181 cascade between two real SharpEyes processes (issue #18), over real sockets on loopback: the
LOWER (county, its own demo database and SIP port) is told over its /api/v1/platforms about the UPPER (city),
which admitted it over /api/v1/devices as kind ``platform``. The lower registers, the upper shows it online,
queries its catalog and gets the lower's shared cameras (those above the sharing rule's secrecy absent, a
secret one kept secret) as cameras on its map, the directory (business group, virtual organisations) kept
on the lower's device row, not as cameras.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psycopg
import pytest

from tests.cascade_live import api_get, call_up_frames, platform
from tests.conftest import _admin, _url, fresh_db
from tests.gb28181_peer import Channel
from tests.gb_live import PeerLoop, registered
from tests.live_servers import ApiProcess, token
from tests.waiting import wait_for

UPPER_ID, UPPER_DOMAIN = "34020000002000000001", "3402000000"  # the SIP server's defaults
LOWER_ID, LOWER_DOMAIN = "99010200002000000001", "9901020000"  # type 200: a platform
LINK_PASSWORD = "county-to-city-1"
CAMERA = "99010200001320000901"  # a simulated camera registered with the lower (not a demo camera's id)
SHARED = "990102"  # the county the lower shares with the upper


@pytest.fixture(scope="module")
def lower_db(demo_template: str):
    name = fresh_db(demo_template)
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def instances(demo_db_url: str, lower_db: str):
    # Some of the county's cameras are secret: level 1 is shared (and must stay secret upstream), 2 is not.
    with psycopg.connect(lower_db) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM camera WHERE division_code LIKE %s ORDER BY id LIMIT 5", (SHARED + "%",))]
        conn.execute("UPDATE camera SET secrecy = 1 WHERE id = ANY(%s)", (ids[:3],))
        conn.execute("UPDATE camera SET secrecy = 2 WHERE id = ANY(%s)", (ids[3:],))
    # Both start from the same demo city: the county's own cameras reach the city only through the link.
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("DELETE FROM camera WHERE division_code LIKE %s", (SHARED + "%",))
    upper = platform(demo_db_url)
    lower = platform(lower_db, SHARPEYES_GB_SERVER_ID=LOWER_ID, SHARPEYES_GB_DOMAIN=LOWER_DOMAIN)
    with ThreadPoolExecutor(2) as pool:  # both start (and stop) at once: each takes seconds
        try:
            for f in [pool.submit(p.start, 60) for p in (upper, lower)]:
                f.result()
            yield upper, lower
        finally:
            list(pool.map(ApiProcess.stop, (upper, lower)))


@pytest.fixture(scope="module")
def lower_camera(instances):
    """A simulated camera (real H.264 in PS over RTP) registered with the lower, in the shared county."""
    _upper, lower = instances
    with psycopg.connect(lower.db) as conn:
        lon, lat = conn.execute("SELECT ST_X(location), ST_Y(location) FROM camera WHERE division_code LIKE %s"
                                " ORDER BY id LIMIT 1", (SHARED + "%",)).fetchone()
    peer = PeerLoop()
    ep, dev, _cam = peer.run(registered(lower, CAMERA, Channel(CAMERA, "县级路口球机", lon + 1e-4, lat, ptz_type=1),
                                        media="ps", media_size=(320, 180)))
    try:
        yield dev
    finally:
        peer.close(ep)


@pytest.fixture(scope="module")
def linked(instances, lower_camera):
    """The upper admits the lower (kind platform); the lower is told about the upper, sharing its county up
    to secrecy 1; both say the link is up. The admitted device's id at the upper."""
    upper, lower = instances
    up_tok, low_tok = token(upper.base, "admin"), token(lower.base, "admin")
    r = httpx.post(upper.base + "/api/v1/devices", headers={"Authorization": f"Bearer {up_tok}"}, timeout=10,
                   json={"gb_id": LOWER_ID, "name": "县级平台", "division_code": SHARED, "kind": "platform",
                         "password": LINK_PASSWORD})
    assert r.status_code == 201, r.text
    dev_id = r.json()["id"]
    assert r.json()["kind"] == "platform" and not r.json()["online"]

    r = httpx.post(lower.base + "/api/v1/platforms", headers={"Authorization": f"Bearer {low_tok}"}, timeout=10,
                   json={"name": "市级平台", "sip_id": UPPER_ID, "domain": UPPER_DOMAIN, "host": "127.0.0.1",
                         "port": upper.sip_port, "password": LINK_PASSWORD, "keepalive_s": 2,
                         "register_expires_s": 60, "share_divisions": [SHARED], "share_max_secrecy": 1})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    wait_for(lambda: api_get(lower.base, f"/api/v1/platforms/{pid}", low_tok)["link_state"] == "registered",
             timeout=30, what="the lower's link registered")
    wait_for(lambda: api_get(upper.base, f"/api/v1/devices/{dev_id}", up_tok)["online"], timeout=30,
             what="the lower platform online at the upper")
    return dev_id


def _expected(lower_db: str, max_secrecy: int) -> dict[str, int]:
    """The ids of the lower's shared cameras (theirs, sharing.camera_id) → their secrecy."""
    with psycopg.connect(lower_db) as conn:
        rows = conn.execute("SELECT id, gb_id, secrecy FROM camera WHERE division_code LIKE %s"
                            " AND secrecy <= %s AND status <> 'planned'", (SHARED + "%", max_secrecy)).fetchall()
    return {g or f"{LOWER_ID[:10]}131{LOWER_ID[13]}{i % 1_000_000:06d}": s for i, g, s in rows}


def _upper_cameras(db: str) -> dict[str, tuple[int, bool, str | None]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT gb_id, secrecy, location IS NOT NULL, division_code FROM camera"
                            " WHERE parent_device = %s", (LOWER_ID,)).fetchall()
    return {g: (s, loc, d) for g, s, loc, d in rows}


def test_lower_platform_registers_and_its_shared_cameras_reach_the_upper(instances, linked, demo_db_url,
                                                                         lower_db):
    upper, _lower = instances
    up_tok, dev_id = token(upper.base, "admin"), linked
    expected = _expected(lower_db, 1)
    assert len(expected) >= 10 and sum(1 for s in expected.values() if s == 1) == 3 and CAMERA in expected
    cams = wait_for(lambda: (c := _upper_cameras(demo_db_url)) and len(c) >= len(expected) and c,
                    timeout=30, what="the lower's shared cameras stored at the upper")
    assert set(cams) == set(expected)  # every shared camera, the secrecy-2 ones absent
    for gb_id, (secrecy, located, division) in cams.items():
        assert secrecy == expected[gb_id], gb_id  # Secrecy=1 from the lower stays secret here
        assert located and division and division.startswith(SHARED), gb_id

    # The devices page: the lower platform with its channel count; its channels in its detail.
    listed = wait_for(lambda: next((d for d in api_get(upper.base, "/api/v1/devices", up_tok)["devices"]
                                    if d["gb_id"] == LOWER_ID and d["channel_count"] is not None), None),
                      what="the lower's channel count")
    assert listed["kind"] == "platform" and listed["channel_count"] == len(expected)
    detail = api_get(upper.base, f"/api/v1/devices/{dev_id}", up_tok)
    assert {c["gb_id"] for c in detail["channels"]} == set(expected)

    # Its directory (business group, virtual organisations) is kept on its row, never a camera.
    with psycopg.connect(demo_db_url) as conn:
        tree = conn.execute("SELECT directory FROM gb_device WHERE gb_id = %s", (LOWER_ID,)).fetchone()[0]
        tree_ids = [n["id"] for n in tree]
        assert not conn.execute("SELECT 1 FROM camera WHERE gb_id = ANY(%s)", (tree_ids,)).fetchone()
    assert [n["type"] for n in tree].count("business_group") == 1
    assert any(n["type"] == "organisation" and n["id"][10:13] == "216" for n in tree)

    # On the upper's map, for its administrator.
    feats = api_get(upper.base, "/api/v1/cameras", up_tok, division=SHARED, limit=1000)["features"]
    on_map = {f["properties"].get("gb_id") for f in feats}
    assert set(expected) <= on_map


def test_the_upper_plays_a_lower_camera_through_the_lower(instances, linked, lower_camera, demo_db_url):
    """Call-up at the upper: INVITE to the lower platform for its channel, the lower's INVITE to the camera,
    PS relayed up, MPEG-TS to the viewer; the viewer gone, the camera gets its BYE through the lower."""
    upper, _lower = instances
    cams = wait_for(lambda: CAMERA in (c := _upper_cameras(demo_db_url)) and c, timeout=30,
                    what="the lower's camera at the upper")
    with psycopg.connect(demo_db_url) as conn:
        cam = conn.execute("SELECT id FROM camera WHERE gb_id = %s", (CAMERA,)).fetchone()[0]
    assert cams[CAMERA][0] == 0
    frames = call_up_frames(upper.base, token(upper.base, "dispatcher"), cam, "核查县级警情")
    assert len(frames) >= 5 and np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1
    invites = [m for m in lower_camera.received if m.method == "INVITE"]
    assert len(invites) == 1  # the lower asked its camera once
    wait_for(lambda: lower_camera.byes and lower_camera.streaming == 0, interval=0.2, timeout=20,
             what="BYE to the camera (through the lower) after the upper's viewer left")


def test_catalog_changes_at_the_lower_reach_the_upper(instances, linked, demo_db_url):
    """The upper subscribed to the lower's catalog on registration: a camera added at the lower appears at
    the upper, and one made more secret than the sharing rule allows disappears there."""
    _upper, lower = instances
    hdr = {"Authorization": f"Bearer {token(lower.base, 'admin')}"}
    with psycopg.connect(lower.db) as conn:
        lon, lat = conn.execute("SELECT ST_X(location), ST_Y(location) FROM camera WHERE division_code LIKE %s"
                                " ORDER BY id DESC LIMIT 1", (SHARED + "%",)).fetchone()
    new_id = "99010200001320000902"
    r = httpx.post(lower.base + "/api/v1/cameras", headers=hdr, timeout=10, json={
        "name": "新增县级探头", "lon": lon + 2e-4, "lat": lat, "gb_id": new_id, "division_code": SHARED})
    assert r.status_code == 201, r.text
    cam = r.json()["id"]
    wait_for(lambda: new_id in _upper_cameras(demo_db_url), timeout=30, what="the new camera at the upper")

    r = httpx.patch(f"{lower.base}/api/v1/cameras/{cam}", headers=hdr, timeout=10, json={"secrecy": 2})
    assert r.status_code == 204, r.text
    wait_for(lambda: new_id not in _upper_cameras(demo_db_url), timeout=30,
             what="the camera gone upstream once beyond the sharing rule's secrecy")


def test_a_camera_unshared_while_the_link_was_down_is_gone_once_it_is_back(instances, linked, demo_db_url):
    """The link disabled at the lower (it unregisters), a camera leaves the sharing rule meanwhile; the link
    back, the upper's catalog query on the new registration is the whole shared set: the camera is gone."""
    upper, lower = instances
    low = {"Authorization": f"Bearer {token(lower.base, 'admin')}"}
    up_tok = token(upper.base, "admin")
    pid = api_get(lower.base, "/api/v1/platforms", low["Authorization"][7:])["platforms"][0]["id"]
    gone = sorted(g for g, (s, _, _) in _upper_cameras(demo_db_url).items() if s == 0 and g != CAMERA)[0]

    r = httpx.patch(f"{lower.base}/api/v1/platforms/{pid}", headers=low, timeout=10, json={"enabled": False})
    assert r.status_code == 200, r.text
    wait_for(lambda: not api_get(upper.base, f"/api/v1/devices/{linked}", up_tok)["online"], timeout=30,
             what="the lower offline at the upper once it unregistered")
    with psycopg.connect(lower.db) as conn:
        conn.execute("UPDATE camera SET secrecy = 2 WHERE gb_id = %s", (gone,))  # not through the API: no event

    r = httpx.patch(f"{lower.base}/api/v1/platforms/{pid}", headers=low, timeout=10, json={"enabled": True})
    assert r.status_code == 200, r.text
    wait_for(lambda: api_get(upper.base, f"/api/v1/devices/{linked}", up_tok)["online"], timeout=30,
             what="the lower registered again")
    wait_for(lambda: gone not in _upper_cameras(demo_db_url), timeout=30,
             what="the camera no longer shared gone from the upper")
    assert CAMERA in _upper_cameras(demo_db_url)  # the others stay
