"""GB/T 28181 cascade over three real SharpEyes processes (issue #18), on loopback with real sockets:
COMMUNITY (lowest) → COUNTY (middle) → CITY (top), each its own copy of the demo database and its own SIP
port. Each upper admits its lower over /api/v1/devices (kind ``platform``); each lower is told about its
upper over /api/v1/platforms, as an administrator does. The county is both at once: the community's upper
and the city's lower, on one SIP server.

A simulated camera registers with the community once every link is up: it reaches the city through the
county, in its community division; a dispatcher at the city plays it (INVITE relayed down two levels, the
camera's video back up as RTP/PS, MPEG-TS to the viewer); and what the community does not share (a camera
of another community, one above the secrecy its rule allows) reaches neither the county nor the city.
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

CITY_ID = "34020000002000000001"  # the SIP server's defaults
COUNTY_ID, COUNTY_DOMAIN = "99010200002000000001", "9901020000"  # type 200: platforms
COMMUNITY_ID, COMMUNITY_DOMAIN = "99010200102000000001", "9901020010"
COUNTY, COMMUNITY, OTHER_COMMUNITY = "990102", "990102001002", "990102002002"  # what each level shares
CAMERA = "99010200101320000901"  # the simulated camera, registered with the community only
PASSWORDS = {"community": "community-to-county-1", "county": "county-to-city-1"}


@pytest.fixture(scope="module")
def dbs(demo_template: str):
    names = [fresh_db(demo_template) for _ in range(2)]
    try:
        yield [_url(n) for n in names]
    finally:
        for n in names:
            _admin(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)")


@pytest.fixture(scope="module")
def levels(demo_db_url: str, dbs):
    """(community, county, city) running. The city holds no county cameras of its own and the county none
    in the two communities (the demo copies share their GB ids): what they have there came through the links."""
    city_db, (county_db, community_db) = demo_db_url, dbs
    with psycopg.connect(city_db) as conn:
        conn.execute("DELETE FROM camera WHERE division_code LIKE %s", (COUNTY + "%",))
    with psycopg.connect(county_db) as conn:
        conn.execute("DELETE FROM camera WHERE division_code LIKE ANY(%s)",
                     ([COMMUNITY + "%", OTHER_COMMUNITY + "%"],))
    with psycopg.connect(community_db) as conn:  # one camera of the shared community beyond the secrecy
        conn.execute("UPDATE camera SET secrecy = 1 WHERE id = (SELECT min(id) FROM camera"
                     " WHERE division_code = %s AND status <> 'planned')", (COMMUNITY,))
    procs = (platform(community_db, SHARPEYES_GB_SERVER_ID=COMMUNITY_ID, SHARPEYES_GB_DOMAIN=COMMUNITY_DOMAIN),
             platform(county_db, SHARPEYES_GB_SERVER_ID=COUNTY_ID, SHARPEYES_GB_DOMAIN=COUNTY_DOMAIN),
             platform(city_db))
    with ThreadPoolExecutor(3) as pool:  # all start (and stop) at once: each takes seconds
        try:
            for f in [pool.submit(p.start) for p in procs]:
                f.result()
            yield procs
        finally:
            list(pool.map(ApiProcess.stop, procs))


def _link(lower: ApiProcess, lower_id: str, upper: ApiProcess, upper_id: str, upper_domain: str,
          division: str, shares: str, password: str) -> None:
    """The upper admits the lower as a platform device; the lower is told about the upper, sharing
    ``shares`` up to secrecy 0; both say the link is up."""
    up_tok, low_tok = token(upper.base, "admin"), token(lower.base, "admin")
    r = httpx.post(upper.base + "/api/v1/devices", headers={"Authorization": f"Bearer {up_tok}"}, timeout=10,
                   json={"gb_id": lower_id, "name": f"下级平台 {lower_id}", "division_code": division,
                         "kind": "platform", "password": password})
    assert r.status_code == 201, r.text
    dev_id = r.json()["id"]
    r = httpx.post(lower.base + "/api/v1/platforms", headers={"Authorization": f"Bearer {low_tok}"}, timeout=10,
                   json={"name": f"上级平台 {upper_id}", "sip_id": upper_id, "domain": upper_domain,
                         "host": "127.0.0.1", "port": upper.sip_port, "password": password, "keepalive_s": 2,
                         "register_expires_s": 60, "share_divisions": [shares], "share_max_secrecy": 0})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    wait_for(lambda: api_get(lower.base, f"/api/v1/platforms/{pid}", low_tok)["link_state"] == "registered",
             timeout=30, what=f"{lower_id}'s link to {upper_id} registered")
    wait_for(lambda: api_get(upper.base, f"/api/v1/devices/{dev_id}", up_tok)["online"], timeout=30,
             what=f"{lower_id} online at {upper_id}")


@pytest.fixture(scope="module")
def linked(levels):
    community, county, city = levels
    _link(community, COMMUNITY_ID, county, COUNTY_ID, COUNTY_DOMAIN, COMMUNITY[:9], COMMUNITY,
          PASSWORDS["community"])
    _link(county, COUNTY_ID, city, CITY_ID, CITY_ID[:10], COUNTY, COUNTY, PASSWORDS["county"])
    return levels


@pytest.fixture(scope="module")
def camera(linked):
    """A simulated camera (real H.264 in PS over RTP) registered with the community, inside the shared
    community, once every link is up."""
    community = linked[0]
    with psycopg.connect(community.db) as conn:
        lon, lat = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) AS p"
                                " FROM division WHERE code = %s) s", (COMMUNITY,)).fetchone()
    peer = PeerLoop()
    ep, dev, _cam = peer.run(registered(community, CAMERA, Channel(CAMERA, "社区门口球机", lon, lat, ptz_type=1),
                                        media="ps", media_size=(320, 180)))
    try:
        yield dev
    finally:
        peer.close(ep)


def _cameras_from(db: str, parent: str) -> dict[str, tuple[int, str | None]]:
    """The cameras a platform holds through its lower ``parent``: gb_id → (secrecy, division)."""
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT gb_id, secrecy, division_code FROM camera WHERE parent_device = %s",
                            (parent,)).fetchall()
    return {g: (s, d) for g, s, d in rows}


def _community_ids(db: str, where: str, *params) -> set[str]:
    """The community's cameras matching ``where`` by the ids it gives them upstream (their GB ids: every
    demo camera has one, as the simulated camera)."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(f"SELECT gb_id FROM camera WHERE status <> 'planned' AND {where}", params).fetchall()
    assert all(g for (g,) in rows)
    return {g for (g,) in rows}


def test_a_community_camera_reaches_the_city_through_the_county(linked, camera):
    community, county, city = linked
    shared = _community_ids(community.db, "division_code LIKE %s AND secrecy = 0", COMMUNITY + "%")
    assert CAMERA in shared and len(shared) >= 2
    at_county = wait_for(lambda: shared <= set(c := _cameras_from(county.db, COMMUNITY_ID)) and c, timeout=30,
                         what="the community's shared cameras at the county")
    at_city = wait_for(lambda: shared <= set(c := _cameras_from(city.db, COUNTY_ID)) and c, timeout=30,
                       what="the community's cameras at the city, through the county")
    for where in (at_county, at_city):
        assert where[CAMERA] == (0, COMMUNITY)  # in the community it belongs to, at every level

    # The city's camera list (its map), for its dispatcher: the camera there, in its community.
    feats = api_get(city.base, "/api/v1/cameras", token(city.base, "dispatcher"), division=COMMUNITY,
                 limit=1000)["features"]
    assert CAMERA in {f["properties"].get("gb_id") for f in feats}
    # The county's platform row at the city lists it among its channels.
    tok = token(city.base, "admin")
    dev = next(d for d in api_get(city.base, "/api/v1/devices", tok)["devices"] if d["gb_id"] == COUNTY_ID)
    assert CAMERA in {c["gb_id"] for c in api_get(city.base, f"/api/v1/devices/{dev['id']}", tok)["channels"]}


def test_what_the_community_does_not_share_reaches_neither_upper(linked, camera):
    community, county, city = linked
    unshared = _community_ids(community.db, "division_code LIKE %s", OTHER_COMMUNITY + "%")
    secret = _community_ids(community.db, "division_code LIKE %s AND secrecy > 0", COMMUNITY + "%")
    assert unshared and len(secret) == 1
    shared = _community_ids(community.db, "division_code LIKE %s AND secrecy = 0", COMMUNITY + "%")
    wait_for(lambda: shared <= set(_cameras_from(city.db, COUNTY_ID)), timeout=30,
             what="the shared cameras at the city")
    assert set(_cameras_from(county.db, COMMUNITY_ID)) == shared  # no other community, no secret one
    with psycopg.connect(city.db) as conn:
        there = {g for (g,) in conn.execute("SELECT gb_id FROM camera WHERE division_code LIKE ANY(%s)",
                                             ([COMMUNITY + "%", OTHER_COMMUNITY + "%"],))}
    assert there == shared
    for db in (county.db, city.db):
        with psycopg.connect(db) as conn:
            assert not conn.execute("SELECT 1 FROM camera WHERE gb_id = ANY(%s)",
                                    (sorted(unshared | secret),)).fetchone(), db


def test_the_city_plays_the_community_camera_live_through_two_levels(linked, camera):
    """Call-up at the city: INVITE to the county, the county's INVITE to the community, the community's to
    the camera; PS relayed up two hops, MPEG-TS to the viewer. The viewer gone, the camera gets its BYE."""
    _community, _county, city = linked
    wait_for(lambda: CAMERA in _cameras_from(city.db, COUNTY_ID), timeout=30, what="the camera at the city")
    with psycopg.connect(city.db) as conn:
        cam = conn.execute("SELECT id FROM camera WHERE gb_id = %s", (CAMERA,)).fetchone()[0]
    frames = call_up_frames(city.base, token(city.base, "dispatcher"), cam, "核查社区警情")
    assert len(frames) >= 5 and np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1
    assert len([m for m in camera.received if m.method == "INVITE"]) == 1  # the community asked it once
    wait_for(lambda: camera.byes and camera.streaming == 0, interval=0.2, timeout=30,
             what="BYE to the camera (through county and community) after the city's viewer left")


# Two hops: the county deletes the camera on the community's DEL and announces it with the row's routing
# fields (the row is gone), so its own cascade sends the city a DEL too (app/services/live_feed.py).
def test_a_camera_taken_out_of_the_community_rule_disappears_at_both_uppers(linked, camera):
    """Made more secret than the community's rule allows (an edit at the community), a camera leaves the
    county's catalog by the community's notification, and the city's by the county's: two hops."""
    community, county, city = linked
    with psycopg.connect(community.db) as conn:
        cam, gb_id = conn.execute("SELECT id, gb_id FROM camera WHERE division_code = %s AND secrecy = 0"
                                  " AND gb_id <> %s AND status <> 'planned' ORDER BY id DESC LIMIT 1",
                                  (COMMUNITY, CAMERA)).fetchone()
    wait_for(lambda: gb_id in _cameras_from(city.db, COUNTY_ID), timeout=30, what="the camera at the city")
    r = httpx.patch(f"{community.base}/api/v1/cameras/{cam}", timeout=10, json={"secrecy": 1},
                    headers={"Authorization": f"Bearer {token(community.base, 'admin')}"})
    assert r.status_code == 204, r.text
    wait_for(lambda: gb_id not in _cameras_from(county.db, COMMUNITY_ID), timeout=30,
             what="the camera gone from the county")
    wait_for(lambda: gb_id not in _cameras_from(city.db, COUNTY_ID), timeout=30,
             what="the camera gone from the city (the county's notification)")
    assert CAMERA in _cameras_from(city.db, COUNTY_ID)  # the others stay
