"""The cascade's sharing rule and directory (app/domain/sharing.py) and its split over MESSAGE bodies
(app/ingest/gb28181/upper_catalog.py): pure, no sockets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.domain import sharing
from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.upper_catalog import catalog_bodies

LOCAL = "34020000002000000001"
DIVS = [sharing.Division("990100", "市", "990000"), sharing.Division("990101", "北区", "990100"),
        sharing.Division("990101001", "街道", "990101"), sharing.Division("990102", "东区", "990100")]


def cam(i: int, division: str, secrecy: int = 0, cls: int = 3, kind: str = "fixed", gb_id: str | None = None):
    return sharing.Camera(i, gb_id if gb_id is not None else f"9901010000132{i:07d}", f"摄像机 {i}", division,
                          secrecy, cls, kind, "online", 24.9, 60.2)


def test_the_rule_decides_by_subtree_secrecy_class_and_kind():
    rule = sharing.SharingRule(("990101",), max_secrecy=2, classes=frozenset({1, 3}),
                               kinds=frozenset({"ptz", "fixed"}))
    assert rule.shares("990101001001", 2, 3, "fixed")
    assert not rule.shares("990102001001", 0, 3, "fixed")  # another district
    assert not rule.shares("990101", 3, 3, "fixed")  # above the ceiling
    assert not rule.shares("990101", 0, 2, "fixed") and not rule.shares("990101", 0, 3, "dome")
    assert not rule.shares(None, 0, 3, "fixed")
    assert not sharing.SharingRule(()).shares("990101", 0, 3, "fixed")  # nothing named, nothing shared
    assert sharing.SharingRule(("000000",)).shares("990104002002", 0, 1, "dome")  # the whole tree
    assert sharing.SharingRule(("990101", "990101001")).prefixes == ("990101",)


def test_directory_tree_and_ids():
    rule = sharing.SharingRule(("990101",), max_secrecy=1)
    cams = [cam(1, "990101001"), cam(2, "990101", secrecy=2), cam(3, "990102"), cam(4, "990101", gb_id="x1")]
    items = sharing.directory(rule, LOCAL, "本平台", DIVS, cams)
    bg, *rest = items
    assert bg["DeviceID"] == "34020000002150000001" and bg["ParentID"] == LOCAL
    orgs = [i for i in rest if i["DeviceID"][10:13] == "216"]
    assert [o["Name"] for o in orgs] == ["北区", "街道"]  # parents first; 990100 / 990102 not shared
    north, street = orgs
    assert north["ParentID"] == bg["DeviceID"] and street["ParentID"] == north["DeviceID"]
    assert north["DeviceID"] == "99010100002160000000" and street["DeviceID"] == "99010100002160001000"
    cams_out = [i for i in rest if i not in orgs]
    assert [c["DeviceID"] for c in cams_out] == ["99010100001320000001", "34020000001310000004"]
    assert cams_out[0]["ParentID"] == street["DeviceID"] and cams_out[0]["CivilCode"] == "990101"
    assert cams_out[0]["Info"]["PTZType"] == "3" and cams_out[0]["Longitude"].startswith("24.9")
    assert sharing.civil_code("990000") == "99" and sharing.civil_code("990100") == "9901"


def test_bodies_carry_every_item_with_the_total():
    rule = sharing.SharingRule(("990101",))
    items = sharing.directory(rule, LOCAL, "本平台", DIVS, [cam(i, "990101001") for i in range(1, 96)])
    bodies = catalog_bodies(items, 7, LOCAL, "GB2312", max_items=20, max_bytes=1 << 20)
    assert len(bodies) == 5 and all(b.startswith(b'<?xml version="1.0" encoding="GB2312"?>') for b in bodies)
    seen = []
    for b in bodies:
        root = ET.fromstring(manscdp.decode(b).split("?>", 1)[1].strip())
        assert root.findtext("SumNum") == str(len(items)) and root.findtext("SN") == "7"
        dl = root.find("DeviceList")
        assert int(dl.get("Num")) == len(dl) <= 20
        seen += [it.findtext("DeviceID") for it in dl]
    assert seen == [i["DeviceID"] for i in items]
    assert "摄像机 5".encode("gb18030") in b"".join(bodies)  # GB2312 bytes, not UTF-8
    empty = catalog_bodies([], 1, LOCAL)
    assert len(empty) == 1 and b"<SumNum>0</SumNum>" in empty[0] and b'Num="0"' in empty[0]
    small = catalog_bodies(items, 1, LOCAL, max_items=1000, max_bytes=3000)
    assert all(len(b) < 3000 + 600 for b in small) and len(small) > 1
