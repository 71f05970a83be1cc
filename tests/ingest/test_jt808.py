"""JT/T 808: codec, messages, stream splitting, property tests and a real TCP server."""

from __future__ import annotations

import asyncio
import functools
import operator
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import (
    Jt808Error,
    checksum,
    decode_frame,
    encode_frame,
    escape,
    phone_to_bcd,
    time_from_bcd,
    unescape,
)
from app.ingest.jt808.server import Jt808Server, auth_code
from app.ingest.jt808.splitter import FrameSplitter

PHONE = "013912345678"  # as the terminal sends it: 12 BCD digits, the leading zero kept (2013 header)
PHONE_2019 = "00000000013912345678"  # the same number in the 20 digits of the 2019 header
# Within the retention: the server refuses what it could not store.
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def location_body(
    lat=39.906,
    lon=116.391,
    alarm=0,
    status=m.STATUS_FIXED,
    speed=36.5,
    when=T0,
    extras=b"\x01\x04\x00\x00\x30\x39\x30\x01\x1f\x31\x01\x0b",
):
    loc = m.Location(alarm, status, lat, lon, 52, speed, 270, when)
    return m.encode_location(loc, extras)


def frame(msg_id, body=b"", serial=1, phone=PHONE, version=None):
    raw = phone_to_bcd(phone, 10 if version is not None else 6)
    return encode_frame(msg_id, raw, serial, body, version)


def register_body(version=None):
    if version is None:
        return (
            struct.pack(">HH", 11, 108)
            + b"MAKER"
            + b"MODEL-X".ljust(20, b"\0")
            + b"T000001"
            + b"\x02"
            + "京A12345".encode("gbk")
        )
    return (
        struct.pack(">HH", 11, 108)
        + b"MAKER".ljust(11, b"\0")
        + b"MODEL-X".ljust(30, b"\0")
        + b"T000001".ljust(30, b"\0")
        + b"\x02"
        + "京A12345".encode("gbk")
    )


# -- codec -----------------------------------------------------------------------------------------


def test_escape_roundtrip_and_checksum():
    data = bytes([0x30, 0x7E, 0x08, 0x7D, 0x55])
    assert escape(data) == bytes([0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55])
    assert unescape(escape(data)) == data
    for sample in (b"", b"\x01", bytes(range(256)) * 3):
        assert checksum(sample) == functools.reduce(operator.xor, sample, 0)
    with pytest.raises(Jt808Error):
        unescape(b"\x7d\x03")


def test_frame_2013_roundtrip():
    raw = frame(m.LOCATION, location_body(), serial=0x7E7D)  # serial bytes need escaping
    assert raw[0] == raw[-1] == 0x7E and b"\x7e" not in raw[1:-1]
    f = decode_frame(raw[1:-1])
    assert f.checksum_ok and f.header.msg_id == m.LOCATION and f.header.phone == PHONE
    assert f.header.serial == 0x7E7D and f.header.version is None and len(f.header.phone_raw) == 6
    loc = m.decode_location(f.body)
    assert (loc.lat, loc.lon, loc.speed_kmh, loc.course_deg, loc.altitude_m) == (
        39.906,
        116.391,
        36.5,
        270,
        52,
    )
    assert loc.time == T0 and loc.extras == {"mileage_km": 1234.5, "signal": 31, "satellites": 11}


def test_frame_2019_header():
    raw = frame(m.HEARTBEAT, b"", serial=9, version=1)
    f = decode_frame(raw[1:-1])
    assert f.header.version == 1 and len(f.header.phone_raw) == 10 and f.header.phone == PHONE_2019
    assert f.header.body_length == 0 and f.checksum_ok


def test_subpackage_header_and_wrong_checksum():
    body = b"\x01\x02\x03"
    head = (
        struct.pack(">HH", m.LOCATION, len(body) | 1 << 13)
        + phone_to_bcd(PHONE)
        + struct.pack(">HHH", 5, 2, 1)
    )
    data = head + body
    f = decode_frame(escape(data + bytes([checksum(data)])))
    assert (f.header.package_total, f.header.package_index) == (2, 1) and f.body == body
    bad = decode_frame(escape(data + bytes([checksum(data) ^ 0xFF])))
    assert not bad.checksum_ok


def test_bcd_time_is_beijing_time():
    assert time_from_bcd(bytes.fromhex("260126120000")) == datetime(2026, 1, 26, 4, 0, 0, tzinfo=UTC)
    with pytest.raises(Jt808Error):
        time_from_bcd(bytes.fromhex("261326120000"))  # month 13
    with pytest.raises(Jt808Error):
        time_from_bcd(bytes.fromhex("2601261200AA"))


def test_location_alarm_status_south_west():
    body = location_body(
        lat=-33.86, lon=-70.65, alarm=0b1 | 1 << 1, status=m.STATUS_FIXED | m.STATUS_ACC | 1 << 19
    )
    loc = m.decode_location(body)
    assert loc.lat == -33.86 and loc.lon == -70.65
    fix = loc.to_fix(PHONE)
    assert fix.sos and {"sos", "overspeed"} <= fix.alarms and fix.valid
    assert fix.attributes["acc"] is True and fix.attributes["gnss"] == ["beidou"]
    no_fix = m.decode_location(location_body(status=0)).to_fix(PHONE)
    assert not no_fix.valid and not no_fix.sos


def test_batch_location():
    items = [location_body(lat=30 + i / 100) for i in range(3)]
    body = struct.pack(">HB", 3, 1) + b"".join(struct.pack(">H", len(i)) + i for i in items)
    batch = m.decode_batch_location(body)
    assert batch.kind == 1 and [round(x.lat, 2) for x in batch.items] == [30.0, 30.01, 30.02]
    with pytest.raises(Jt808Error):
        m.decode_batch_location(body[:-5])


def test_register_and_authenticate_both_versions():
    r = m.decode_register(register_body())
    assert (r.province, r.city, r.manufacturer, r.model, r.terminal_id, r.plate) == (
        11,
        108,
        "MAKER",
        "MODEL-X",
        "T000001",
        "京A12345",
    )
    assert m.decode_register(register_body(1), version=1).model == "MODEL-X"
    assert m.decode_authenticate(b"abc123").code == "abc123"
    a = m.decode_authenticate(b"\x06abc123" + b"860000000000001" + b"V1.0".ljust(20, b"\0"), version=1)
    assert (a.code, a.imei, a.software_version) == ("abc123", "860000000000001", "V1.0")


def test_reply_encoders():
    f = decode_frame(frame(m.PLATFORM_REPLY, m.encode_general_reply(7, m.LOCATION, m.OK))[1:-1])
    assert m.decode_general_reply(f.body) == (7, m.LOCATION, 0)
    body = m.encode_register_reply(3, m.REGISTERED, "code1")
    assert body == b"\x00\x03\x00code1"
    assert m.encode_register_reply(3, m.TERMINAL_TAKEN, "code1") == b"\x00\x03\x03"


# -- splitter --------------------------------------------------------------------------------------


def test_splitter_partial_frames_and_garbage():
    a, b = frame(m.HEARTBEAT, serial=1), frame(m.LOCATION, location_body(), serial=2)
    stream = b"noise" + a + b"\x00\x13garbage" + b + b"\x7e\x7e" + a
    s = FrameSplitter()
    segments = []
    for i in range(0, len(stream), 3):  # byte dribble: frames arrive in pieces
        segments += s.feed(stream[i : i + 3])
    good = []
    for seg in segments:
        try:
            good.append(decode_frame(seg).header.serial)
        except Jt808Error:
            pass
    assert good == [1, 2, 1]
    assert s.dropped_bytes == 5


def test_splitter_bounds_a_runaway_frame():
    s = FrameSplitter(max_frame=100)
    s.feed(b"\x7e" + b"\x01" * 1000)
    assert s.pending == 0 and s.overflows == 1
    assert [decode_frame(x).header.serial for x in s.feed(frame(m.HEARTBEAT, serial=4))] == [4]


# -- property tests: decoders raise Jt808Error and nothing else -------------------------------------

DECODERS = [
    m.decode_location,
    m.decode_batch_location,
    m.decode_register,
    m.decode_authenticate,
    functools.partial(m.decode_register, version=1),
    functools.partial(m.decode_authenticate, version=1),
    m.decode_general_reply,
]


def _only_jt808_error(fn, data):
    try:
        fn(data)
    except Jt808Error:
        pass


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    _only_jt808_error(decode_frame, data)
    for decoder in DECODERS:
        _only_jt808_error(decoder, data)
    for seg in FrameSplitter().feed(data):
        _only_jt808_error(decode_frame, seg)


VALID = [
    frame(m.LOCATION, location_body())[1:-1],
    frame(m.HEARTBEAT, version=1)[1:-1],
    frame(m.REGISTER, register_body())[1:-1],
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 400),
)
def test_mutated_frames(seg, flips, cut):
    data = bytearray(seg)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    data = bytes(data[:cut])
    try:
        f = decode_frame(data)
    except Jt808Error:
        return
    for decoder in DECODERS:
        _only_jt808_error(decoder, f.body)
        try:
            loc = m.decode_location(f.body)
            loc.to_fix(f.header.phone)
        except Jt808Error:
            pass


# -- a real TCP server with many terminals at once ---------------------------------------------------


class Terminal:
    def __init__(self, reader, writer, phone, version=None):
        self.reader, self.writer, self.phone, self.version = reader, writer, phone, version
        self.splitter = FrameSplitter()
        self.pending = []
        self.serial = 0

    def send(self, msg_id, body=b"", raw=None):
        self.serial += 1
        self.writer.write(
            raw if raw is not None else frame(msg_id, body, self.serial, self.phone, self.version)
        )
        return self.serial

    async def recv(self):
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(4096), 10)
            assert data, "server closed the connection"
            self.pending += [decode_frame(s) for s in self.splitter.feed(data)]
        return self.pending.pop(0)

    async def reply(self):
        f = await self.recv()
        assert f.checksum_ok and f.header.msg_id == m.PLATFORM_REPLY
        return m.decode_general_reply(f.body)


async def connect(port, phone, version=None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return Terminal(reader, writer, phone, version)


async def login(t: Terminal):
    serial = t.send(m.REGISTER, register_body(t.version))
    f = await t.recv()
    assert f.header.msg_id == m.REGISTER_REPLY and f.header.version == t.version
    assert f.body[:3] == struct.pack(">HB", serial, m.REGISTERED)
    code = f.body[3:].decode()
    body = code.encode() if t.version is None else bytes([len(code)]) + code.encode() + b"8" * 15 + b"\0" * 20
    serial = t.send(m.AUTHENTICATE, body)
    assert await t.reply() == (serial, m.AUTHENTICATE, m.OK)


@pytest.fixture
async def server():
    received = []

    async def sink(fixes):
        await asyncio.sleep(0.001)  # a commit that takes a moment: the server must not answer before it
        received.extend(fixes)

    srv = Jt808Server(sink, secret="test-secret")
    await srv.start()
    srv.received = received
    yield srv
    await srv.close()


async def test_many_terminals_concurrently(server):
    n, per = 150, 4

    async def run(i):
        t = await connect(server.port, f"1380000{i:04d}", version=1 if i % 3 == 0 else None)
        await login(t)
        serial = t.send(m.HEARTBEAT)
        assert await t.reply() == (serial, m.HEARTBEAT, m.OK)
        serials = []
        for k in range(per):  # pipelined, with garbage between frames
            serials.append(t.send(m.LOCATION, location_body(lat=30 + i / 1e4, when=T0.replace(second=k))))
            t.writer.write(b"\x00junk")
        for s in serials:
            assert await t.reply() == (s, m.LOCATION, m.OK)
        t.writer.close()

    await asyncio.gather(*(run(i) for i in range(n)))
    assert len(server.received) == n * per
    assert len({(f.device_id, f.fix_time) for f in server.received}) == n * per
    assert server.stats.bad_frames == n * (per - 1)  # every junk run closed by a 0x7E is counted


async def test_session_rules_bad_checksum_and_garbage(server):
    t = await connect(server.port, PHONE)
    # location before authentication: refused, the data is not taken
    s = t.send(m.LOCATION, location_body())
    assert await t.reply() == (s, m.LOCATION, m.FAIL)
    # wrong auth code
    s = t.send(m.AUTHENTICATE, b"guess")
    assert await t.reply() == (s, m.AUTHENTICATE, m.FAIL)
    # the derived code works without registering again (e.g. after a server restart)
    s = t.send(m.AUTHENTICATE, auth_code("test-secret", PHONE).encode())
    assert await t.reply() == (s, m.AUTHENTICATE, m.OK)
    # wrong checksum: answered "bad message", counted, connection kept
    good = frame(m.LOCATION, location_body(), serial=50)
    bad = bytearray(unescape(good[1:-1]))
    bad[-1] ^= 0x55
    t.writer.write(b"\x7e" + escape(bytes(bad)) + b"\x7e")
    assert await t.reply() == (50, m.LOCATION, m.BAD_MESSAGE)
    assert server.stats.bad_checksums == 1
    # garbage, a truncated body and an unknown message: the session goes on
    t.writer.write(b"\x7e\xff\xff\xff\x7e" + bytes(range(256)))
    s = t.send(m.LOCATION, location_body()[:10])
    assert await t.reply() == (s, m.LOCATION, m.BAD_MESSAGE)
    s = t.send(0x0900, b"\x01")
    assert await t.reply() == (s, 0x0900, m.UNSUPPORTED)
    # batch upload, then SOS
    items = [location_body(when=T0.replace(minute=k)) for k in range(1, 4)]
    s = t.send(
        m.BATCH_LOCATION, struct.pack(">HB", 3, 0) + b"".join(struct.pack(">H", len(i)) + i for i in items)
    )
    assert await t.reply() == (s, m.BATCH_LOCATION, m.OK)
    s = t.send(m.LOCATION, location_body(alarm=1, when=T0.replace(minute=9)))
    assert await t.reply() == (s, m.LOCATION, m.OK)
    assert len(server.received) == 4 and server.received[-1].sos
    # a peer spraying random bytes with no delimiters does not grow memory or stop the listener
    rogue = await connect(server.port, "1")
    rogue.writer.write(b"\x7e" + b"\x55" * 20000)
    await rogue.writer.drain()
    s = t.send(m.HEARTBEAT)
    assert await t.reply() == (s, m.HEARTBEAT, m.OK)
    rogue.writer.close()
    t.writer.close()


async def test_sink_failure_is_not_acknowledged():
    calls = []

    async def failing_sink(fixes):
        calls.append(fixes)
        raise RuntimeError("database down")

    srv = Jt808Server(failing_sink, secret="s", require_auth=False)
    await srv.start()
    try:
        t = await connect(srv.port, PHONE)
        s = t.send(m.LOCATION, location_body())
        assert await t.reply() == (s, m.LOCATION, m.FAIL)
        assert srv.stats.sink_errors == 1 and len(calls) == 1
        t.writer.close()
    finally:
        await srv.close()


def subpackage(msg_id, body, serial, total, index, phone=PHONE):
    head = struct.pack(">HH", msg_id, len(body) | 1 << 13) + phone_to_bcd(phone)
    data = head + struct.pack(">HHH", serial, total, index) + body
    return b"\x7e" + escape(data + bytes([checksum(data)])) + b"\x7e"


async def test_subpackaged_message_is_reassembled(server):
    t = await connect(server.port, PHONE)
    await login(t)
    body = location_body(when=T0.replace(minute=30))
    t.writer.write(subpackage(m.LOCATION, body[:10], 100, 2, 1))
    assert await t.reply() == (100, m.LOCATION, m.OK)
    assert server.received == []
    t.writer.write(subpackage(m.LOCATION, body[10:], 101, 2, 2))
    assert await t.reply() == (101, m.LOCATION, m.OK)
    assert [f.fix_time for f in server.received] == [T0.replace(minute=30)]
    t.writer.close()
