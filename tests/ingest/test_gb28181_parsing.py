"""Pure parts of GB/T 28181 access: SIP framing, digest, MANSCDP bodies, mapping, registry."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.domain import crs
from app.ingest.gb28181 import digest, manscdp, mapping, sip
from app.ingest.gb28181.registry import CatalogAssembler, Device, Registry

TZ = ZoneInfo("Asia/Shanghai")

HIK_REGISTER = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK385701375\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=1840661473\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\n"
    b"Call-ID: 418133739\r\nCSeq: 1 REGISTER\r\n"
    b"Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n"
    b"Max-Forwards: 70\r\nUser-Agent: IP Camera\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
)


def test_parse_hikvision_register_and_round_trip():
    msg = sip.parse_datagram(HIK_REGISTER)
    assert msg.method == "REGISTER" and msg.cseq == (1, "REGISTER")
    assert sip.uri_user(msg.get("From")) == "34020000001320000001"
    assert msg.branch == "z9hG4bK385701375" and msg.get("expires") == "3600"
    again = sip.parse_datagram(msg.to_bytes())
    assert again.headers == msg.headers


def test_compact_headers_folding_and_bare_lf():
    raw = (
        b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\n"
        b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\n"
        b"f: <sip:34020000001320000001@3402000000>;tag=1\n"
        b"t: <sip:34020000002000000001@3402000000>\n"
        b"i: abc\nCSeq: 2 MESSAGE\nc: Application/MANSCDP+xml\n"
        b"Subject: first part,\n\tsecond part\n"
        b"l: 4\n\nBODYextra"
    )
    msg = sip.parse_datagram(raw)
    assert msg.call_id == "abc" and msg.get("Content-Type") == "Application/MANSCDP+xml"
    assert msg.get("Subject") == "first part, second part"
    assert msg.body == b"BODY"  # cut to Content-Length


def test_content_length_counts_bytes_of_gb2312_body():
    body = manscdp.build("Notify", "Alarm", 1, "34020000001320000001", {"AlarmDescription": "视频遮挡"})
    msg = sip.SipMessage(method="MESSAGE", uri="sip:a@b", headers=[("Call-ID", "x")], body=body)
    data = msg.to_bytes()
    assert f"Content-Length: {len(body)}".encode() in data
    assert len(body) < len(body.decode("gb18030").encode("utf-8"))  # GB2312 is shorter than UTF-8 here


def test_truncated_datagram_and_garbage_rejected():
    raw = HIK_REGISTER.replace(b"Content-Length: 0", b"Content-Length: 50")
    with pytest.raises(sip.SipParseError) as e:
        sip.parse_datagram(raw)
    assert e.value.msg is not None  # headers were readable: the sender can get a 400
    for junk in (b"", b"\x00\xff" * 40, b"HELLO WORLD\r\n\r\n", b"INVITE sip:x SIP/2.0\r\nVia: a\r\n\r\n"):
        with pytest.raises(sip.SipParseError):
            sip.parse_datagram(junk)


def test_stream_framer_splits_and_limits():
    f = sip.StreamFramer(4096)
    two = HIK_REGISTER + b"\r\n\r\n" + HIK_REGISTER
    assert len(f.feed(two[:100])) == 0
    assert len(f.feed(two[100:])) == 2
    big = HIK_REGISTER.replace(b"Content-Length: 0", b"Content-Length: 9000")
    with pytest.raises(sip.SipParseError):
        sip.StreamFramer(4096).feed(big)


def test_digest_vectors_from_protocol_notes():
    p = {
        "username": "34020000001320000001",
        "realm": "3402000000",
        "uri": "sip:34020000002000000001@3402000000",
        "nonce": "9bd055e2a9bd8b1a6c4b3b1a9b8e7f60",
    }
    assert digest.expected_response(p, "12345678", "REGISTER") == "2662a8241acb18930c89df0581e79a48"
    q = p | {"qop": "auth", "nc": "00000001", "cnonce": "0a4f113b"}
    assert digest.expected_response(q, "12345678", "REGISTER") == "3dd1f436b7d07eda46cbcc1c9f481e51"
    hdr = digest.authorization(p["username"], p["realm"], "12345678", p["nonce"], p["uri"], qop=True)
    parsed = digest.parse_authorization(hdr)
    assert digest.verify(parsed, "12345678", "REGISTER")
    assert not digest.verify(parsed, "wrong", "REGISTER")
    assert digest.parse_authorization("Basic abc") == {}


def test_gb2312_body_decoding_and_case_tolerance():
    raw = (
        '<?xml version="1.0" encoding="GB2312" standalone="yes" ?><Notify><CmdType>Alarm</CmdType>'
        "<SN>102</SN><DeviceID>34020000001310000002</DeviceID><AlarmPriority>1</AlarmPriority>"
        "<AlarmMethod>5</AlarmMethod><AlarmTime>2021-09-26T17:26:16</AlarmTime>"
        "<AlarmDescription>视频遮挡</AlarmDescription><AlarmInfo>10</AlarmInfo>"
        "<info><AlarmType>11</AlarmType></info></Notify>"
    ).encode("gb2312")
    doc = manscdp.parse(raw)
    a = manscdp.alarm(doc, TZ)
    assert a.description == "视频遮挡" and a.method == 5 and a.alarm_type == 11
    assert a.time == datetime(2021, 9, 26, 9, 26, 16, tzinfo=UTC)
    row = mapping.incident_row(a, "wgs84")
    assert row["type"] == "gb_video_alarm" and "视频异常检测报警" in row["description"]
    # declared UTF-8 but GB18030 bytes (vendor bug), and a charset only in Content-Type
    lie = raw.replace(b'encoding="GB2312"', b'encoding="UTF-8"')
    assert manscdp.alarm(manscdp.parse(lie), TZ).description == "视频遮挡"
    nodecl = raw.split(b"?>", 1)[1]
    assert (
        manscdp.parse(nodecl, "Application/MANSCDP+xml; charset=GB2312").device_id == "34020000001310000002"
    )


def test_alarm_fixture_without_cmdtype_and_root_vs_info_type():
    raw = b"""<?xml version="1.0" encoding="UTF-8"?>
<Notify><DeviceID>34020000001320000001</DeviceID><AlarmPriority>1</AlarmPriority><AlarmMethod>5</AlarmMethod>
<AlarmTime>2026-06-05T10:30:00</AlarmTime><AlarmDescription>Motion detection</AlarmDescription>
<Longitude>116.397</Longitude><Latitude>39.908</Latitude><AlarmType>9</AlarmType>
<Info><AlarmType>2</AlarmType></Info></Notify>"""
    doc = manscdp.parse(raw)
    assert doc.cmd_type == "Alarm"
    a = manscdp.alarm(doc, TZ)
    assert a.alarm_type == 2 and (a.lon, a.lat) == (116.397, 39.908) and a.priority == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"<Notify><CmdType>",
        b"not xml",
        b"\xff\xfe\x00",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Notify>&a;</Notify>',
    ],
)
def test_bad_bodies_raise_body_error(bad):
    with pytest.raises(manscdp.BodyError):
        manscdp.parse(bad)


def test_mobile_position_flat_and_list_forms():
    flat = """<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>MobilePosition</CmdType><SN>1</SN>
<DeviceID>34020000001320000001</DeviceID><Time>2026-05-31T14:57:23</Time><Longitude>121.448204</Longitude>
<Latitude>31.2</Latitude><Speed>36.5</Speed><Direction>370</Direction><Altitude>5</Altitude></Notify>"""
    [f] = manscdp.mobile_positions(manscdp.parse(flat.encode("gb2312")), TZ)
    assert f.time == datetime(2026, 5, 31, 6, 57, 23, tzinfo=UTC) and f.speed == 36.5
    fix = mapping.position_fix(f, "wgs84", datetime.now(UTC))
    assert fix.course_deg == 10.0 and fix.lon == 121.448204
    listed = """<?xml version="1.0" encoding="GB18030"?>
<notify><cmdtype>MobilePosition</cmdtype><SN>166925</SN>
<DeviceID>31010400001320000002</DeviceID><Time>2026-05-31T14:57:23</Time><SumNum>2</SumNum>
<DeviceList Num="2"><Item><DeviceID>31010400001320000002</DeviceID>
<CaptureTime>2026-05-31T14:57:20</CaptureTime>
<Longitude>121.448204</Longitude><Latitude>31.1</Latitude></Item>
<Item><TargetID>31010400001320000003</TargetID><Longitude>121.5</Longitude><Latitude>31.2</Latitude></Item>
</DeviceList></notify>"""
    fixes = manscdp.mobile_positions(manscdp.parse(listed.encode("gb18030")), TZ)
    assert [x.device_id for x in fixes] == ["31010400001320000002", "31010400001320000003"]
    assert fixes[0].time.second == 20 and fixes[1].time.second == 23  # falls back to the root Time
    # GCJ-02 device: stored WGS-84 differs by the datum offset (hundreds of metres in Shanghai)
    g = mapping.position_fix(fixes[0], "gcj02", datetime.now(UTC))
    wlon, _ = crs.gcj02_to_wgs84(121.448204, 31.1)
    assert abs(g.lon - float(wlon)) < 1e-9 and abs(g.lon - 121.448204) > 1e-3


def test_catalog_items_and_camera_rows():
    raw = """<?xml version="1.0" encoding="GB2312"?><Response><CmdType>Catalog</CmdType><SN>7</SN>
<DeviceID>34020000001110000001</DeviceID><SumNum>3</SumNum><DeviceList Num="3">
<Item><DeviceID>34020000001320000011</DeviceID><Name>北门</Name><CivilCode>34020201</CivilCode>
<ParentID>34020000001110000001</ParentID><Secrecy>1</Secrecy><Status>ON</Status>
<Longitude>117.2</Longitude><Latitude>31.8</Latitude><Info><PTZType>1</PTZType></Info></Item>
<Item><DeviceID>34020000001310000012</DeviceID><Name>南门</Name><status>off</status><PTZType>2</PTZType>
<DirectionType>3</DirectionType><Longitude>0</Longitude><Latitude>0</Latitude><Extra>x</Extra></Item>
<Item><DeviceID>34020000002150000001</DeviceID><Name>group</Name></Item></DeviceList></Response>"""
    page = manscdp.catalog(manscdp.parse(raw.encode("gb2312")))
    assert page.sum_num == 3 and len(page.items) == 3
    a, b, g = page.items
    assert a.is_camera and b.is_camera and not g.is_camera
    ra = mapping.camera_row(a, "34020000001110000001", "wgs84")
    assert ra["kind"] == "ptz" and ra["secrecy"] == 1 and ra["status"] == "online" and ra["name"] == "北门"
    assert ra["division_candidates"] == ["340202", "340200", "340000"]
    rb = mapping.camera_row(b, "34020000001110000001", "gcj02")
    assert rb["kind"] == "dome" and rb["status"] == "offline" and rb["view_spec"] is None  # (0,0) = unknown
    assert rb["heading_deg"] == 180.0


def test_registry_heartbeat_timeout_and_refresh():
    reg = Registry(heartbeat_interval_s=10, heartbeat_count=3)

    def dev(call_id, t):
        return Device(
            "34020000001320000001", call_id, "", ("127.0.0.1", 1), "UDP", lambda b: None, t, t + 3600, t
        )

    d, refresh = reg.register(dev("a", 0))
    d.channels["x"] = "online"
    d2, refresh = reg.register(dev("a", 5))
    assert refresh and d2 is d and d.channels == {"x": "online"}
    reg.seen(d.device_id, 20)
    assert reg.sweep(49.9) == ([], [])
    silent, _ = reg.sweep(50.1)
    assert silent == [d] and not d.online and reg.sweep(60) == ([], [])  # reported once
    _, refresh = reg.register(dev("b", 70))
    assert not refresh and reg.get(d.device_id).channels == {"x": "online"}
    assert reg.sweep(3671)[1]  # registration expired


def test_catalog_assembler_aggregates_to_sumnum():
    asm = CatalogAssembler()
    items = [manscdp.CatalogItem(f"3402000000132000000{i}") for i in range(5)]
    assert asm.add("d", 7, 5, items[:2], 0) is None
    assert asm.add("d", 7, 5, items[:2], 1) is None  # retransmitted page counted once
    assert asm.add("d", 7, 5, items[2:4], 2) is None
    assert len(asm.add("d", 7, 5, items[4:], 3)) == 5
    asm.add("e", 1, 9, items[:1], 0)
    assert asm.expire(100, 30) == [("e", items[:1])]
