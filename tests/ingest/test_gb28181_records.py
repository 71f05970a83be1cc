"""RecordInfo against the simulated device over real sockets: the query body, answers over many MESSAGEs
assembled by SN, device-local times, a missing page, no recordings, no answer; UDP and TCP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.ingest.gb28181 import Gb28181Server, manscdp
from app.ingest.gb28181.records import RecordInfoError, RecordInfoIncomplete, parse_records
from tests.gb28181_peer import SimDevice
from tests.gb_server_fixtures import nvr_with_camera, quiet_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = iter(range(1000, 10000))


@pytest.fixture(scope="module")
async def server():
    async with Gb28181Server(quiet_settings()) as srv:
        yield srv


async def nvr(server: Gb28181Server, transport: str = "UDP", **kw) -> tuple[SimDevice, str]:
    n = next(_ids)
    cam = f"3402000000131001{n}"
    return await nvr_with_camera(server, f"3402000000111001{n}", cam, transport, **kw), cam


def half_hours(n: int, first: datetime) -> list[tuple[datetime, datetime]]:
    """``n`` recordings of 25 min every 30 min from ``first`` (device-local, naive)."""
    return [(first + timedelta(minutes=30 * i), first + timedelta(minutes=30 * i + 25)) for i in range(n)]


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_500_records_over_many_messages(server, transport):
    first = datetime(2026, 11, 20, 0, 0)
    dev, cam = await nvr(server, transport, records=half_hours(500, first), record_page_size=7)
    try:
        start = first.replace(tzinfo=SHANGHAI)
        records = await server.record_info(cam, start, start + timedelta(days=11), timeout_s=20)
        assert len(records) == 500  # 72 MESSAGEs of 7
        assert [r.start for r in records] == sorted(r.start for r in records)
        r0 = records[0]
        assert r0.start == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
        assert r0.end - r0.start == timedelta(minutes=25)
        assert (r0.device_id, r0.name, r0.address, r0.type, r0.secrecy) == (cam, "录像0000", "仓库", "time", 0)
        assert r0.file_path == f"/rec/{cam}/20261120000000.mp4" and r0.file_size == 25 * 60 * 250_000
        assert r0.recorder_id == dev.device_id
        # The query: the channel, device-local times, Secrecy 0 and Type all (Dahua NVRs need it).
        q = manscdp.parse(dev.record_queries[0].encode("gb18030"))
        assert (q.root, q.cmd_type, q.device_id) == ("query", "RecordInfo", cam)
        assert manscdp.text(q.el, "StartTime") == "2026-11-20T00:00:00"
        assert manscdp.text(q.el, "EndTime") == "2026-12-01T00:00:00"
        assert (manscdp.text(q.el, "Secrecy"), manscdp.text(q.el, "Type")) == ("0", "all")
        assert not server._record_queries
    finally:
        dev.ep.close()


async def test_default_device_has_three_days_of_hourly_recordings(server):
    dev, cam = await nvr(server)
    try:
        now = datetime.now(UTC)
        records = await server.record_info(cam, now - timedelta(days=3, hours=1), now, timeout_s=10)
        assert len(records) == 72
        assert all(r.end - r.start == timedelta(hours=1) for r in records)
        # Only what overlaps the asked window.
        part = await server.record_info(cam, now - timedelta(hours=5), now, timeout_s=10)
        assert 5 <= len(part) <= 6
    finally:
        dev.ep.close()


async def test_missing_page_raises_incomplete_with_what_arrived(server):
    first = datetime(2026, 11, 20, 0, 0)
    dev, cam = await nvr(server, records=half_hours(30, first), record_page_size=10, record_skip_pages={1})
    try:
        start = first.replace(tzinfo=SHANGHAI)
        with pytest.raises(RecordInfoIncomplete) as e:
            await server.record_info(cam, start, start + timedelta(days=1), timeout_s=1.5)
        assert (len(e.value.records), e.value.expected) == (20, 30)
        assert "20 of 30" in str(e.value)
        assert not server._record_queries
    finally:
        dev.ep.close()


async def test_no_recordings_is_an_empty_list(server):
    dev, cam = await nvr(server, records=[])
    try:
        now = datetime.now(UTC)
        assert await server.record_info(cam, now - timedelta(hours=1), now, timeout_s=5) == []
    finally:
        dev.ep.close()


async def test_silent_device_and_bad_input(server):
    dev, cam = await nvr(server, records=[])
    now = datetime.now(UTC)
    try:
        dev.vanish()
        with pytest.raises(RecordInfoError, match="no answer"):
            await server.record_info(cam, now - timedelta(hours=1), now, timeout_s=1)
        with pytest.raises(ValueError):
            await server.record_info(cam, datetime(2026, 1, 1), datetime(2026, 1, 2))  # naive
        with pytest.raises(ValueError):
            await server.record_info(cam, now, now - timedelta(hours=1))
        with pytest.raises(RecordInfoError, match="no online device"):
            await server.record_info("34020000001310009998", now - timedelta(hours=1), now)
    finally:
        dev.ep.close()


def test_parse_tolerates_case_charset_and_missing_fields():
    body = (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<response><cmdtype>RecordInfo</cmdtype><sn>7</sn>'
        "<deviceid>34020000001310000001</deviceid><sumnum>2</sumnum><recordList Num=\"2\">"
        "<item><name>大门录像</name><starttime>2026-12-01 08:00:00</starttime>"
        "<endtime>2026-12-01T09:00:00</endtime><type>alarm</type></item>"
        "<Item><DeviceID>34020000001310000002</DeviceID><StartTime>2026-12-01T10:00:00Z</StartTime>"
        "<FileSize>n/a</FileSize></Item></recordList></response>"
    ).encode("gb18030")
    sum_num, recs = parse_records(manscdp.parse(body), SHANGHAI)
    assert sum_num == 2
    assert (recs[0].device_id, recs[0].name, recs[0].type) == ("34020000001310000001", "大门录像", "alarm")
    assert recs[0].start == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert recs[1].start == datetime(2026, 12, 1, 10, 0, tzinfo=UTC) and recs[1].file_size is None
