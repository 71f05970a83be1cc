"""The batch-oriented ingest paths hold to their per-fix references: same fixes, same rejects with the same
reasons, same events and states, same areas; the JT/T 808 group commit acknowledges only after commit."""

from __future__ import annotations

import asyncio
import math
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from app.domain.fix import MAX_AGE, Fix, FixRejected, Validator, _check, validate_fix
from app.domain.tracking import AreaIndex, Rules
from app.ingest import batch_json
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import GMT8, Jt808Error, time_from_bcd
from app.ingest.jt808.server import Jt808Server
from app.ingest.pipeline import Tracker
from app.ingest.writer import ewkb_points
from app.realtime.bus import LocalBus, RedisBus
from tests.ingest.test_jt808 import connect, location_body, login
from tests.waiting import async_wait_for

NOW = datetime(2026, 1, 26, 8, 0, tzinfo=UTC)
RECENT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)  # for the listener (real clock)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except FixRejected as exc:
        return ("rejected", exc.reason, exc.message, exc.field)


# -- validation: the fast path never decides differently from the detailed checks -------------------

numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-500, 2000),
                    st.booleans(), st.sampled_from(["1", 3.5, -0.0, 360.0, 1500.0, 1500.1]))


@settings(max_examples=400, deadline=None)
@given(device=st.one_of(st.text(max_size=70), st.integers()),
       lon=numbers, lat=numbers, speed=numbers, course=numbers, accuracy=numbers, battery=numbers,
       dt=st.one_of(st.integers(-100 * 86400, 3600).map(lambda s: NOW + timedelta(seconds=s)),
                    st.just(datetime(2026, 1, 26, 8, 0)), st.just(NOW.astimezone(GMT8))))
def test_validator_fast_path_matches_the_detailed_checks(device, lon, lat, speed, course, accuracy, battery, dt):
    fix = Fix(device, "api", dt, lon, lat, speed, course, accuracy, None, True, False, frozenset(), battery)
    fast = outcome(Validator(NOW), fix)
    detailed = outcome(_check, fix, NOW, timedelta(minutes=5), MAX_AGE)
    assert fast == detailed
    assert fast == outcome(validate_fix, fix, NOW)


# -- the batch JSON decoder: one pass equals decode_item + validate_fix per item ---------------------

times = st.one_of(
    st.integers(-3600, 600).map(lambda s: (NOW + timedelta(seconds=s)).isoformat()),
    st.integers(-3600, 600).map(lambda s: (NOW + timedelta(seconds=s)).astimezone(GMT8).isoformat()),
    st.integers(-3600, 600).map(lambda s: int((NOW + timedelta(seconds=s)).timestamp())),
    st.sampled_from(["2026-01-26T07:59:00", "yesterday", "", "2026-01-26T07:59:00Z", 1.5e12, True, None, [1]]),
)
items = st.one_of(
    st.fixed_dictionaries(
        {"target": st.one_of(st.sampled_from(["car-1", "car-2", " car-3", ""]), st.integers(0, 3), st.none()),
         "time": times,
         "lon": st.one_of(st.floats(-200, 200), st.integers(-200, 200), st.none(), st.just("1")),
         "lat": st.one_of(st.floats(-100, 100), st.none())},
        optional={"speed": numbers, "heading": numbers, "accuracy": numbers, "sos": st.booleans(),
                  "extra": st.integers()}),
    st.sampled_from(["not an object", 5, None, [], {}]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items, max_size=12))
def test_decode_batch_equals_the_per_item_reference(batch):
    good, rejects = batch_json.decode_batch(batch, NOW)
    got = {i: ("ok", f, f.attributes) for i, f in good}
    got |= {r.index: ("rejected", r.reason, r.message, r.field) for r in rejects}
    for i, item in enumerate(batch):
        expected = outcome(lambda x: validate_fix(batch_json.decode_item(x), NOW), item)
        if expected[0] == "ok":
            assert got[i] == ("ok", expected[1], expected[1].attributes), item
        else:
            assert got[i] == expected, item


usual = st.fixed_dictionaries(
    {"target": st.sampled_from(["car-1", "car-2", "car-3", "x" * 65, "car-1 "]),
     "time": st.one_of(st.integers(-3600, 600).map(lambda s: (NOW + timedelta(seconds=s)).isoformat()),
                       st.integers(-3600, 600).map(
                           lambda s: (NOW + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")),
                       st.just((NOW - timedelta(days=31)).isoformat())),
     "lon": st.one_of(st.floats(-181, 181), st.just(24.9)), "lat": st.floats(-91, 91)},
    optional={"speed": numbers, "heading": numbers, "accuracy": numbers, "sos": st.booleans()})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(usual, usual, usual, items), min_size=8, max_size=60))
def test_columnar_decode_equals_the_per_item_reference(batch):
    """Batches large enough for the columnar way, mostly usual items with some odd and invalid ones."""
    good, rejects = batch_json.decode_batch(batch, NOW)
    assert [i for i, _ in good] == sorted(i for i, _ in good)
    got = {i: ("ok", f, f.attributes, f.alarms) for i, f in good}
    got |= {r.index: ("rejected", r.reason, r.message, r.field) for r in rejects}
    assert len(got) == len(batch)
    for i, item in enumerate(batch):
        expected = outcome(lambda x: validate_fix(batch_json.decode_item(x), NOW), item)
        if expected[0] == "ok":
            assert got[i] == ("ok", expected[1], expected[1].attributes, expected[1].alarms), item
        else:
            assert got[i] == expected, item


def test_batch_rejects_name_index_reason_and_field():
    ok = {"target": "car-1", "time": (NOW - timedelta(seconds=5)).isoformat(), "lon": 24.9, "lat": 60.1}
    batch = [ok, {**ok, "lat": 91.0}, {**ok, "time": "2026-01-26T08:00:00"}, {**ok, "speed": "fast"},
             {**ok, "time": (NOW + timedelta(hours=1)).isoformat()}, {"time": ok["time"]}, "x",
             {**ok, "lon": 25, "sos": True, "color": "red"}]
    good, rejects = batch_json.decode_batch(batch, NOW)
    assert [i for i, _ in good] == [0, 7]
    assert good[1][1].lon == 25.0 and good[1][1].sos and good[1][1].attributes == {"color": "red"}
    assert [(r.index, r.reason, r.field) for r in rejects] == [
        (1, "coordinates_out_of_range", "lat"), (2, "bad_timestamp", "time"), (3, "wrong_type", "speed"),
        (4, "time_in_future", "timestamp"), (5, "missing_id", "target"), (6, "wrong_type", None)]
    assert all(r.message for r in rejects)


# -- event detection per target equals the per-fix reference ----------------------------------------

AREAS = AreaIndex([(1, box(0, 0, 10, 10)), (2, box(5, 0, 15, 10)), (3, Point(100, 0).buffer(1))])
RULES = Rules(speed_limit_kmh=60, hysteresis_kmh=5, stale_after=timedelta(seconds=60))

fixes_st = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40), st.sampled_from([-1.0, 2.0, 7.0, 12.0, 100.5]),
              st.sampled_from([None, 30.0, 57.0, 61.0, 90.0]), st.booleans(), st.booleans()),
    max_size=25)


def as_fixes(rows, offset):
    return [Fix(dev, "jt808", NOW + timedelta(seconds=offset + sec), lon, 0.5, speed, sos=sos and sec % 3 == 0,
                valid=valid or sec % 4 != 0) for dev, sec, lon, speed, sos, valid in rows]


@settings(max_examples=300, deadline=None)
@given(st.lists(fixes_st, min_size=1, max_size=4), st.integers(0, 200))
def test_detect_batch_equals_per_fix_reference(batches, stale_at):
    fast, reference = Tracker(RULES), Tracker(RULES)
    for k, rows in enumerate(batches):
        fixes = as_fixes(rows, 30 * k)
        areas = AREAS.containing([f.lon for f in fixes], [f.lat for f in fixes])
        got, want = fast.detect_batch(fixes, areas), reference.detect_per_fix(fixes, areas)
        assert [(e, e.to_message()) for e in got] == [(e, e.to_message()) for e in want]
        assert fast.states == reference.states
        if k == 1:  # a stale check in between: the next batch resumes
            now = NOW + timedelta(seconds=stale_at)  # (targets may be met in another order: sort)
            assert sorted(fast.tick(now), key=lambda e: e.target) == sorted(reference.tick(now),
                                                                             key=lambda e: e.target)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 120), st.floats(-3, 12)), max_size=40))
def test_area_index_vectorised_equals_point_by_point(points):
    got = AREAS.containing([p[0] for p in points], [p[1] for p in points])
    geoms = [(1, box(0, 0, 10, 10)), (2, box(5, 0, 15, 10)), (3, Point(100, 0).buffer(1))]
    assert got == [frozenset(a for a, g in geoms if g.intersects(Point(x, y))) for x, y in points]


# -- JT/T 808 decoding: the hot path equals the reference -----------------------------------------------

def _old_time_from_bcd(raw: bytes) -> datetime:
    digits = raw.hex()
    if len(digits) != 12 or not digits.isdigit():
        raise Jt808Error("not BCD")
    try:
        local = datetime(2000 + int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6:8]),
                         int(digits[8:10]), int(digits[10:12]), tzinfo=timezone(timedelta(hours=8)))
    except ValueError:
        raise Jt808Error("invalid") from None
    return local.astimezone(UTC)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(min_size=6, max_size=6),
                 st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)).map(
                     lambda d: bytes.fromhex(d.strftime("%y%m%d%H%M%S")))))
def test_bcd_time_equals_the_zone_conversion(raw):
    try:
        want = _old_time_from_bcd(raw)
    except Jt808Error:
        with pytest.raises(Jt808Error):
            time_from_bcd(raw)
        return
    got = time_from_bcd(raw)
    assert got == want and got.utcoffset() == timedelta(0)


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.builds(lambda alarm, status, lat, lon, sec, extras: location_body(lat=lat, lon=lon, alarm=alarm,
                                                                         status=status, when=NOW + timedelta(
                                                                             seconds=sec), extras=extras),
              st.sampled_from([0, 1, 3, 1 << 15, 0xFFFFFFFF]), st.integers(0, 0x3FFFFF),
              st.floats(-89, 89), st.floats(-179, 179), st.integers(0, 10**6),
              st.sampled_from([b"", b"\x01\x04\x00\x00\x30\x39\x30\x01\x1f\x31\x01\x0b", b"\x99\x02ab",
                               b"\x01\x04\x00"])),
    st.binary(max_size=40)))
def test_location_fix_equals_decode_location_to_fix(body):
    try:
        want = m.decode_location(body).to_fix("13900000001")
    except Jt808Error:
        with pytest.raises(Jt808Error):
            m.location_fix(body, "13900000001")
        return
    got = m.location_fix(body, "13900000001")
    assert got == want and got.attributes == want.attributes and got.alarms == want.alarms
    assert math.copysign(1, got.lon) == math.copysign(1, want.lon)


# -- JT/T 808 group commit ----------------------------------------------------------------------------

async def _nothing_within(t, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(t.reader.read(1), seconds)
    except TimeoutError:
        return True
    t.pending_bytes = data
    return False


async def test_group_commit_acknowledges_only_after_commit():
    release = asyncio.Event()
    calls: list[list[Fix]] = []

    async def sink(fixes):
        calls.append(fixes)
        await release.wait()  # the "commit" takes until we say so

    srv = Jt808Server(sink, secret="g", group_delay_s=0.03)
    await srv.start()
    try:
        terms = [await connect(srv.port, f"1390000{i:04d}") for i in range(3)]
        for t in terms:
            await login(t)
        serials = []
        for k, t in enumerate(terms):
            s1 = t.send(m.LOCATION, location_body(lat=30 + k, when=RECENT + timedelta(seconds=1)))
            s2 = t.send(m.LOCATION, location_body(lat=30 + k, when=RECENT + timedelta(seconds=2)))
            s3 = t.send(m.HEARTBEAT)  # queued behind the location acks: answers keep the message order
            serials.append((s1, s2, s3))
        await async_wait_for(lambda: calls, what="the group commit to reach the sink")
        # one sink call for all three connections, and not a single answer before the commit returns
        assert len(calls) == 1 and len(calls[0]) == 6
        assert {f.device_id for f in calls[0]} == {f"01390000{i:04d}" for i in range(3)}  # the 12 digits as sent
        for t in terms:
            assert await _nothing_within(t, 0.05)
        release.set()
        for t, (s1, s2, s3) in zip(terms, serials, strict=True):
            assert [await t.reply() for _ in range(3)] == [(s1, m.LOCATION, m.OK), (s2, m.LOCATION, m.OK),
                                                           (s3, m.HEARTBEAT, m.OK)]
        assert srv.stats.groups == 1 and srv.stats.fixes == 6
        for t in terms:
            t.writer.close()
    finally:
        await srv.close()


async def test_group_commit_failure_fails_every_location_of_the_group():
    async def sink(fixes):
        await asyncio.sleep(0.01)  # the failing commit takes a moment, as a real one does
        raise RuntimeError("database down")

    srv = Jt808Server(sink, secret="g", group_delay_s=0.02)
    await srv.start()
    try:
        terms = [await connect(srv.port, f"1390000{i:04d}") for i in range(2)]
        for t in terms:
            await login(t)
        sent = [t.send(m.LOCATION, location_body()) for t in terms]
        for t, s in zip(terms, sent, strict=True):
            assert await t.reply() == (s, m.LOCATION, m.FAIL)
        assert srv.stats.sink_errors == 1 and srv.stats.fixes == 0
        for t in terms:
            t.writer.close()
    finally:
        await srv.close()


async def test_group_commit_limits_commits_in_flight_and_groups_by_size():
    gates: list[asyncio.Event] = []
    sizes: list[int] = []

    async def sink(fixes):
        sizes.append(len(fixes))
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()

    srv = Jt808Server(sink, secret="g", group_delay_s=0.01, group_max_fixes=5, max_in_flight=1)
    await srv.start()
    try:
        t = await connect(srv.port, "13900000001")
        await login(t)
        first = [t.send(m.LOCATION, location_body(when=RECENT + timedelta(seconds=k))) for k in range(5)]
        await async_wait_for(lambda: sizes, what="the first group to reach the sink")
        later = [t.send(m.LOCATION, location_body(when=RECENT + timedelta(seconds=10 + k))) for k in range(3)]
        await asyncio.sleep(0.1)  # a window in which a second commit would start, were the in-flight limit not held
        assert sizes == [5]  # a group at its size limit went at once; the next waits for the slot
        gates[0].set()
        for s in first:
            assert await t.reply() == (s, m.LOCATION, m.OK)
        await async_wait_for(lambda: len(gates) == 2, what="the second group to reach the sink")
        assert sizes == [5, 3]
        gates[1].set()
        for s in later:
            assert await t.reply() == (s, m.LOCATION, m.OK)
        t.writer.close()
    finally:
        await srv.close()


async def test_frames_split_anywhere_and_escaped_still_take_the_hot_path():
    received: list[Fix] = []

    async def sink(fixes):
        received.extend(fixes)

    srv = Jt808Server(sink, secret="g", group_delay_s=0.01)
    await srv.start()
    try:
        t = await connect(srv.port, "13900000001")
        await login(t)
        # serials 0x7E / 0x7D force escaping inside the frame
        t.serial = 0x7D7C
        raw = b""
        serials = []
        for k in range(4):
            t.serial += 1
            serials.append(t.serial)
            from tests.ingest.test_jt808 import frame
            raw += frame(m.LOCATION, location_body(when=RECENT + timedelta(seconds=k)), t.serial, t.phone)
        for i in range(0, len(raw), 7):
            t.writer.write(raw[i:i + 7])
            await t.writer.drain()
        for s in serials:
            assert await t.reply() == (s, m.LOCATION, m.OK)
        assert [f.fix_time for f in received] == [RECENT + timedelta(seconds=k) for k in range(4)]
        t.writer.close()
    finally:
        await srv.close()


# -- the bus carries a batch as one message --------------------------------------------------------------

async def test_local_bus_publish_many_reaches_batch_and_plain_subscribers():
    bus = LocalBus()
    plain, batches = [], []

    def many(topic, msgs):
        batches.append((topic, list(msgs)))

    def cb(topic, msg):
        raise AssertionError("a subscriber with .many gets the batch")

    cb.many = many
    bus.subscribe(cb)
    bus.subscribe(lambda topic, msg: plain.append((topic, msg)))
    await bus.publish_many("positions", [{"target_id": 1}, {"target_id": 2}])
    assert batches == [("positions", [{"target_id": 1}, {"target_id": 2}])]
    assert plain == [("positions", {"target_id": 1}), ("positions", {"target_id": 2})]


async def test_bus_subscriber_with_topics_sees_only_those():
    bus = LocalBus()
    seen = []
    stop = bus.subscribe(lambda topic, msg: seen.append((topic, msg)), topics={"access"})
    await bus.publish_many("positions", [{"target_id": 1}] * 500)  # costs this subscriber nothing
    await bus.publish("cameras", {"table": "cameras"})
    await bus.publish("access", {"user_id": 3})
    assert seen == [("access", {"user_id": 3})]
    stop()
    await bus.publish("access", {"user_id": 4})
    assert seen == [("access", {"user_id": 3})]


async def test_redis_bus_publish_many_is_one_message():
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    bus = RedisBus("redis://127.0.0.1:6379/0", prefix)
    await bus.start()
    got = []
    bus.subscribe(lambda topic, msg: got.append((topic, msg)))
    try:
        await bus.publish_many("positions", [{"target_id": 1}, {"target_id": 2}])
        await bus.publish("incidents", {"id": 3})
        await async_wait_for(lambda: len(got) == 3, interval=0.02, what="the three messages")
        assert got == [("positions", {"target_id": 1}), ("positions", {"target_id": 2}), ("incidents", {"id": 3})]
    finally:
        await bus.stop()


def test_location_struct_layout():
    assert struct.calcsize(">IIIIhHH") == 22


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180), st.floats(-90, 90)), max_size=30))
def test_ewkb_points_equal_geos(points):
    lons = np.array([p[0] for p in points], dtype=float)
    lats = np.array([p[1] for p in points], dtype=float)
    want = shapely.to_wkb(shapely.set_srid(shapely.points(lons, lats), 4326), include_srid=True) if points else []
    assert ewkb_points(lons, lats) == list(want)


# -- the hub's batch filter equals its per-message one ------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(prefixes=st.lists(st.sampled_from(["", "11", "1101", "12", "110105"]), max_size=3),
       max_secrecy=st.integers(-1, 2),
       bbox=st.one_of(st.none(), st.just((116.0, 39.0, 117.0, 40.0)), st.just((0.0, 0.0, 1.0, 1.0))),
       msgs=st.lists(st.fixed_dictionaries(
           {"target_id": st.integers(1, 5), "division": st.sampled_from([None, "110105001000", "12", "1101"]),
            "lon": st.floats(115.5, 117.5), "lat": st.floats(38.5, 40.5)}), max_size=20))
def test_hub_batch_filter_equals_wants(prefixes, max_secrecy, bbox, msgs):
    from app.domain.access import Scope
    from app.realtime.groups import Group, positions_for

    g = Group(("k",), Scope.within(prefixes, max_secrecy), frozenset({"positions"}), bbox)
    assert positions_for(g, msgs) == [m for m in msgs if g.wants("positions", m)]


def test_columnar_refuses_an_infinite_accuracy():
    """The columnar way must refuse what the detailed way refuses: an infinite accuracy was accepted."""
    ok = {"target": "car-1", "time": (NOW - timedelta(seconds=5)).isoformat(), "lon": 24.9, "lat": 60.1,
          "accuracy": 5.0}
    good, rejects = batch_json.decode_batch([ok] * 9 + [{**ok, "accuracy": float("inf")}], NOW)
    assert len(good) == 9 and [(r.index, r.field) for r in rejects] == [(9, "accuracy")]
