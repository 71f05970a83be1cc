"""The ingest pipeline end to end on the real database: JT/T 808 and OsmAnd in, rows and messages out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import box
from sqlalchemy import event, text

from app.db.engine import make_engine
from app.domain.events import Topic
from app.domain.fix import Fix
from app.domain.tracking import AreaIndex, Rules
from app.ingest import osmand
from app.ingest.jt808 import messages as m
from app.ingest.jt808.server import Jt808Server
from app.ingest.pipeline import Batch, NotStored, Pipeline, Tracker, build_pipeline
from app.ingest.writer import BatchWriter
from app.services import incidents
from tests.ingest.test_jt808 import connect, location_body, login
from tests.waiting import async_wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
async def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


class Bus:
    def __init__(self, fail_topic=None):
        self.messages, self.fail_topic = [], fail_topic

    async def publish(self, topic, message):
        if topic == self.fail_topic:
            raise ConnectionError("bus down")
        self.messages.append((topic, message))


async def test_osmand_reports_through_the_pipeline(engine):
    bus = Bus()
    index = AreaIndex([(7, box(116.30, 39.90, 116.31, 39.91))])
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(
            writer=writer,
            publish=bus.publish,
            areas=lambda: index,
            engine=engine,
            open_sos=lambda events: incidents.open_sos(engine, events),
            tracker=Tracker(Rules(speed_limit_kmh=50)),
        )
        t = int((NOW - timedelta(seconds=20)).timestamp())
        for k, (lon, knots, alarm) in enumerate([(116.29, 10, ""), (116.305, 30, ""), (116.32, 10, "sos")]):
            batch = await pipe.submit_raw(
                lambda q: [osmand.decode_params(q)],
                {
                    "id": "phone-1",
                    "lat": "39.905",
                    "lon": str(lon),
                    "timestamp": str(t + k),
                    "speed": str(knots),
                    "alarm": alarm,
                },
            )
            assert batch.persisted and not batch.failed and not batch.rejected
        bad = await pipe.submit_raw(
            lambda q: [osmand.decode_params(q)], {"id": "phone-1", "lat": "95", "lon": "1"}
        )
        assert [r.reason for r in bad.rejected] == ["coordinates_out_of_range"] and not bad.fixes
        nothing = await pipe.submit_raw(lambda q: [osmand.decode_params(q)], {"lat": "1"})
        assert [r.reason for r in nothing.rejected] == ["missing_id"]
    kinds = [msg["kind"] for topic, msg in bus.messages if topic == Topic.EVENTS]
    assert kinds == ["area_enter", "overspeed", "sos", "area_exit", "overspeed_end"]
    positions = [msg for topic, msg in bus.messages if topic == Topic.POSITIONS]
    assert len(positions) == 3 and positions[1]["areas"] == [7] and positions[0]["target_id"] is not None
    assert pipe.rejected == {"coordinates_out_of_range": 1, "missing_id": 1}
    async with engine.connect() as conn:
        n = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                    "WHERE t.external_id = 'phone-1'"
                )
            )
        ).scalar()
        incident = (
            await conn.execute(
                text(
                    "SELECT i.type, i.priority, ST_X(i.location), t.external_id FROM incident i "
                    "JOIN target t ON t.id = i.target_id"
                )
            )
        ).one()
    assert n == 3 and incident == ("sos", 1, pytest.approx(116.32), "phone-1")


async def test_a_failing_step_never_stops_the_pipeline(engine):
    calls = []

    async def broken(batch: Batch):
        raise ValueError("detector bug")

    async def after(batch: Batch):
        calls.append(len(batch.fixes))

    pipe = Pipeline([("broken", broken), ("after", after)])
    batch = await pipe.submit([Fix("d", "api", NOW, 1.0, 1.0)])
    assert batch.failed == ["broken"] and calls == [1] and pipe.errors == {"broken": 1}

    bus = Bus(fail_topic=Topic.POSITIONS)
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(writer=writer, publish=bus.publish)
        batch = await pipe.submit([Fix("pub", "api", NOW, 1.0, 1.0, sos=True)])
    # the bus being down loses live updates, not data; the event still went out
    assert batch.persisted and batch.failed == ["publish"] and [t for t, _ in bus.messages] == [Topic.EVENTS]


async def test_sink_refuses_to_acknowledge_unstored(engine):
    writer = BatchWriter(engine)  # never started: persisting fails
    pipe = build_pipeline(writer=writer, publish=Bus().publish)
    with pytest.raises(NotStored):
        await pipe.sink([Fix("x", "api", NOW, 1.0, 1.0)])
    await pipe.sink(
        [Fix("x", "api", NOW + timedelta(days=1), 1.0, 1.0)]
    )  # rejected (future): final, no raise


async def test_jt808_terminal_to_database_and_stale(engine):
    bus = Bus()
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(writer=writer, publish=bus.publish, engine=engine,
                              open_sos=lambda events: incidents.open_sos(engine, events))
        server = Jt808Server(pipe.sink, secret="pipeline-secret")
        await server.start()
        try:
            t = await connect(server.port, "13912340000")
            await login(t)
            when = NOW - timedelta(minutes=10)
            serials = [t.send(m.LOCATION, location_body(when=when + timedelta(seconds=k))) for k in range(3)]
            serials.append(
                t.send(m.LOCATION, location_body(status=0, alarm=1, when=when + timedelta(seconds=9)))
            )
            for s in serials:
                assert await t.reply() == (s, m.LOCATION, m.OK)
            t.writer.close()
        finally:
            await server.close()
    async with engine.connect() as conn:
        n = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                    "WHERE t.protocol = 'jt808' AND t.external_id = '013912340000'"
                )
            )
        ).scalar()
        sos = (
            await conn.execute(
                text("SELECT ST_Y(location) FROM incident WHERE description LIKE '%013912340000%'")
            )
        ).scalar()
    assert n == 3  # the fix without GNSS lock raised the SOS but is not a stored position
    assert sos == pytest.approx(39.906)  # placed at the last known position
    events = await pipe.check_stale(NOW + timedelta(minutes=10))
    assert [e.kind.value for e in events] == ["stale"]
    await async_wait_for(lambda: bus.messages and bus.messages[-1][1]["kind"] == "stale",
                         what="the stale event published")


async def test_the_live_feed_gets_the_latest_fix_of_each_target_of_a_batch(engine):
    """Every fix is stored; of one target's fixes in a batch only the latest received is published."""
    bus = Bus()
    t0 = NOW - timedelta(seconds=30)
    fixes = [Fix("coal-1", "sim", t0, 116.30, 39.90), Fix("coal-2", "sim", t0, 116.31, 39.91),
             Fix("coal-1", "sim", t0 + timedelta(seconds=1), 116.32, 39.92),
             Fix("coal-3", "sim", t0, 116.33, 39.93, valid=False)]
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(writer=writer, publish=bus.publish)
        batch = await pipe.submit(fixes)
    assert batch.persisted and not batch.failed
    positions = [msg for topic, msg in bus.messages if topic == Topic.POSITIONS]
    assert [(p["device_id"], p["lon"]) for p in positions] == [("coal-2", 116.31), ("coal-1", 116.32)]
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                                          "WHERE t.external_id IN ('coal-1', 'coal-2')"))).scalar()
    assert stored == 3


async def test_positions_are_enriched_once_in_the_pipeline(engine):
    """A position leaves the pipeline filed under its target's division (its own, else its unit's) and kind,
    from a cache: one query for a batch of new targets, none for the next batches (issue #16)."""
    bus, queries = Bus(), []
    t0 = NOW - timedelta(seconds=20)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO division (code, name, level) VALUES ('990101', 'Meta', 1) "
                                "ON CONFLICT DO NOTHING"))
        await conn.execute(text("INSERT INTO target (protocol, external_id, kind, division_code) VALUES "
                                "('sim', 'meta-1', 'officer', '990101') ON CONFLICT DO NOTHING"))
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(writer=writer, publish=bus.publish, engine=engine)

        def count(_conn, _cursor, statement, *_args):
            if "FROM target t WHERE t.id = ANY" in statement:
                queries.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        await pipe.submit([Fix("meta-1", "sim", t0, 116.30, 39.90), Fix("meta-2", "sim", t0, 116.31, 39.91)])
        await pipe.submit([Fix("meta-1", "sim", t0 + timedelta(seconds=1), 116.32, 39.92)])
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    positions = {m["device_id"]: m for topic, m in bus.messages if topic == Topic.POSITIONS}
    assert (positions["meta-1"]["division"], positions["meta-1"]["kind"]) == ("990101", "officer")
    assert (positions["meta-2"]["division"], positions["meta-2"]["kind"]) == (None, "vehicle")
    assert positions["meta-1"]["lon"] == 116.32 and "t" in positions["meta-1"]
    assert len(queries) == 1


async def test_history_is_stored_but_not_live(engine):
    """Late, out-of-order or backfilled fixes are stored with their own time; they reach neither the live feed
    nor the detectors. A report without GNSS lock repeating the last fix's time still raises its SOS."""
    bus = Bus()
    last = NOW - timedelta(seconds=60)
    async with BatchWriter(engine, max_delay_s=0.02) as writer:
        pipe = build_pipeline(writer=writer, publish=bus.publish)
        await pipe.submit([Fix("hist-1", "sim", last, 116.30, 39.90)])
        bus.messages.clear()
        batch = await pipe.submit([
            Fix("hist-1", "sim", NOW - timedelta(hours=2), 116.31, 39.91, speed_kmh=300.0),  # older than the last
            Fix("hist-1", "sim", NOW - timedelta(hours=30), 116.32, 39.92),  # a day late
            Fix("hist-1", "sim", NOW - timedelta(minutes=30), 116.33, 39.93, sos=True, history=True),  # backfill
            Fix("hist-1", "sim", last, 116.0, 39.0, valid=False, sos=True),  # no lock, the last fix's time
        ])
    assert batch.persisted and not batch.failed and len(batch.history) == 3
    assert [m["kind"] for t, m in bus.messages if t == Topic.EVENTS] == ["sos"]
    assert [t for t, _ in bus.messages if t == Topic.POSITIONS] == []
    assert pipe.tracker.states[("sim", "hist-1")].last_fix_at == last
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                                          "WHERE t.external_id = 'hist-1'"))).scalar()
    assert stored == 4
