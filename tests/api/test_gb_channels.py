"""GB/T 28181 channels on the map, with the platform running (its SIP server in the app, real UDP):
a planner's correction of a channel's place survives the next catalog; a mobile device's camera follows its
MobilePosition fixes, so call-up finds it where it is and not where it was."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from app.db.engine import make_engine
from tests.conftest import login
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.waiting import async_wait_for

PASSWORD = "gb-test-password"  # the platform-wide password (tests/conftest.py); demo mode admits with it
M_PER_DEG_LAT = 111_320.0


def _east(lon: float, lat: float, metres: float) -> float:
    return lon + metres / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


class Db:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    async def one(self, sql: str, **params):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).mappings().first()


async def _device(api, device_id: str, channel: Channel) -> tuple[PeerEndpoint, SimDevice]:
    server = api.app.state.gb28181
    ep = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    dev = SimDevice(ep, device_id, PASSWORD, channels=[channel])
    assert (await dev.register()).status == 200
    return ep, dev


async def _camera(db: Db, gb_id: str):
    return await db.one("SELECT id, name, status, heading_deg, placed_by, ST_X(location) AS lon, "
                        "ST_Y(location) AS lat FROM camera WHERE gb_id = :g", g=gb_id)


async def _seeing(api, h, lon: float, lat: float) -> set[int]:
    r = await api.get("/api/v1/callup/seeing", params={"lon": lon, "lat": lat}, headers=h)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["cameras"] + r.json()["unavailable"]}


async def test_a_planners_correction_survives_the_next_catalog(api, demo_db):
    db = Db(demo_db)
    ch = Channel("99010100001320000301", "东门枪机", 24.9380, 60.1690, ptz_type=3, direction_type=4)
    ep, dev = await _device(api, "99010100001320000301", ch)
    try:
        async def stored():
            return await _camera(db, ch.gb_id)

        await async_wait_for(stored, interval=0.1, timeout=15, what="the channel stored from the catalog")
        cam = await _camera(db, ch.gb_id)
        assert cam["placed_by"] is None and cam["heading_deg"] == 0.0  # DirectionType 4: north
        h = await login(api, "admin")
        placed = {"lon": 24.9391, "lat": 60.1694, "heading_deg": 135.0, "range_m": 80.0}
        r = await api.patch(f"/api/v1/cameras/{cam['id']}", json=placed, headers=h)
        assert r.status_code == 204, r.text
        cam = await _camera(db, ch.gb_id)
        assert cam["placed_by"] == "admin"
        # The device's next catalog: renamed, still at its old (wrong) coordinates and axis.
        renamed = Channel(ch.gb_id, "东门枪机（改）", ch.lon, ch.lat, ptz_type=3, direction_type=4)
        assert (await dev.send_catalog_event([(renamed, "UPDATE")])).status == 200

        async def renamed_stored():
            return (await _camera(db, ch.gb_id))["name"] == renamed.name

        await async_wait_for(renamed_stored, interval=0.1, timeout=10, what="the catalog update applied")
        cam = await _camera(db, ch.gb_id)
        assert (round(cam["lon"], 6), round(cam["lat"], 6)) == (placed["lon"], placed["lat"])
        assert cam["heading_deg"] == 135.0 and cam["placed_by"] == "admin"
        # A full catalog answer (a new registration asks for one) keeps the planner's place too.
        before = api.app.state.gb28181.stats["catalogs"]
        dev.call_id = uuid.uuid4().hex
        assert (await dev.register()).status == 200
        await async_wait_for(lambda: api.app.state.gb28181.stats["catalogs"] > before, interval=0.1, timeout=10,
                             what="the catalog answered again")

        async def name_back():
            return (await _camera(db, ch.gb_id))["name"] == ch.name

        await async_wait_for(name_back, interval=0.1, timeout=10, what="the full catalog applied")
        fov = await db.one("SELECT range_m FROM camera WHERE gb_id = :g", g=ch.gb_id)
        cam = await _camera(db, ch.gb_id)
        assert (round(cam["lon"], 6), round(cam["lat"], 6)) == (placed["lon"], placed["lat"])
        assert cam["heading_deg"] == 135.0 and fov["range_m"] == 80.0
        # Seeing: where the planner aimed it (south-east of it), not where the catalog says (north).
        assert cam["id"] in await _seeing(api, h, _east(placed["lon"], placed["lat"], 30), placed["lat"] - 0.0002)
        assert cam["id"] not in await _seeing(api, h, ch.lon, ch.lat + 0.0003)
    finally:
        ep.close()
        await db.engine.dispose()


async def test_a_mobile_cameras_place_follows_its_fixes(api, demo_db):
    db = Db(demo_db)
    server = api.app.state.gb28181
    device_id = "99010100001380000501"  # type 138: filed as kind 'mobile' on its first REGISTER (demo mode)
    # The catalog places the body camera somewhere else (where it was issued).
    ch = Channel("99010100001320000501", "执法记录仪 501", 24.9300, 60.1650, ptz_type=3, civil_code="990101")
    ep, dev = await _device(api, device_id, ch)
    try:
        async def ready():
            row = await db.one("SELECT kind FROM gb_device WHERE gb_id = :g", g=device_id)
            return row is not None and row["kind"] == "mobile" and await _camera(db, ch.gb_id) is not None

        await async_wait_for(ready, interval=0.1, timeout=15, what="the mobile device filed, its channel stored")
        cam_id = (await _camera(db, ch.gb_id))["id"]
        h = await login(api, "dispatcher")
        spot = (24.9500, 60.1750)
        here = (_east(spot[0], spot[1], -20), spot[1])  # 20 m west of the spot, looking east (Direction 90)
        now = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        fix = (device_id, now, here[0], here[1], 4.0, 90.0)
        assert (await dev.send_positions([fix], "flat", "NOTIFY")).status == 200

        async def seen_at_spot():
            return cam_id in await _seeing(api, h, *spot)

        try:
            await async_wait_for(seen_at_spot, interval=0.2, timeout=15, what="call-up at the spot lists it")
        except AssertionError:
            raise AssertionError((dict(server.stats), await _camera(db, ch.gb_id))) from None
        cam = await _camera(db, ch.gb_id)
        assert cam["heading_deg"] == 90.0 and cam["placed_by"] == "gb28181:position"
        assert cam_id not in await _seeing(api, h, _east(here[0], here[1], -30), here[1])  # behind it: not seen
        # 2 km north: seen there, no longer at the old spot.
        far = (spot[0], spot[1] + 2000 / M_PER_DEG_LAT)
        later = now + timedelta(seconds=10)
        assert (await dev.send_positions(
            [(device_id, later, _east(far[0], far[1], -20), far[1], 30.0, 90.0)], "list", "MESSAGE")).status == 200

        async def seen_far():
            return cam_id in await _seeing(api, h, *far)

        await async_wait_for(seen_far, interval=0.2, timeout=15, what="call-up 2 km away lists it")
        assert cam_id not in await _seeing(api, h, *spot)
        # Its track and its camera share the GB id: the target is the device that reports the fixes.
        target = await db.one("SELECT id, kind FROM target WHERE protocol = 'gb28181' AND external_id = :d",
                              d=device_id)
        assert target is not None
        parent = await db.one("SELECT parent_device FROM camera WHERE id = :i", i=cam_id)
        assert parent["parent_device"] == device_id
        # The next catalog (still saying where it was issued) does not move it back.
        assert (await dev.send_catalog_event([(Channel(ch.gb_id, "执法记录仪 501A", ch.lon, ch.lat, ptz_type=3,
                                                       civil_code="990101"),
                                               "UPDATE")])).status == 200

        async def renamed():
            return (await _camera(db, ch.gb_id))["name"] == "执法记录仪 501A"

        await async_wait_for(renamed, interval=0.1, timeout=10, what="the catalog update applied")
        assert cam_id in await _seeing(api, h, *far)
    finally:
        ep.close()
        await db.engine.dispose()


async def test_a_fixed_device_sending_positions_moves_no_camera(api, demo_db):
    """A device not admitted as mobile (an IPC that happens to report MobilePosition) stays where it is."""
    db = Db(demo_db)
    server = api.app.state.gb28181
    ch = Channel("99010100001320000601", "路口枪机 601", 24.9450, 60.1650, ptz_type=1)
    ep, dev = await _device(api, ch.gb_id, ch)
    try:
        async def stored():
            return await _camera(db, ch.gb_id)

        await async_wait_for(stored, interval=0.1, timeout=15, what="the channel stored")
        rounds = server.stats["camera_follow_rounds"]
        now = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        assert (await dev.send_positions([(ch.gb_id, now, 24.9600, 60.1800, 0.0, 0.0)])).status == 200
        await async_wait_for(lambda: server.stats["camera_follow_rounds"] > rounds, interval=0.1,
                             what="the fix's follow round written")
        cam = await _camera(db, ch.gb_id)
        assert (round(cam["lon"], 6), round(cam["lat"], 6)) == (ch.lon, ch.lat) and cam["placed_by"] is None
    finally:
        ep.close()
        await db.engine.dispose()
