"""/VIID/APEs and /VIID/Lanes (issue #21) spoken by a simulated checkpoint (tests/viid_peer.py, digest
registered): capture devices and lanes stored by id (sent again: kept once, updated), a bad object refused with
its own status while the others are stored, an APE filed under the division its position stands in, a device's
credentials never kept, another device's description refused; a pass shows its lane and capture device in the
plate search and the trajectory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.test_viid import DEVICE, T1, db, peer, q, strict  # noqa: F401 (module fixtures)
from tests.conftest import login
from tests.viid_peer import ViidPeer, statuses, tollgate, vehicle

A1, A2, A3 = "99010100001190000101", "99010100001190000102", "99010100001190000103"


def ape(ape_id: str, name: str, lon: float | str = 0, lat: float | str = 0, **extra) -> dict:
    return {"ApeID": ape_id, "Name": name, "Model": "DS-2CD9", "IPAddr": "10.1.2.3", "IPV6Addr": "", "Port": "8000",
            "Longitude": lon, "Latitude": lat, "PlaceCode": "", "Place": name, "OrgCode": "990101000000",
            "IsOnline": "1", "UserId": "admin", "Password": "device-secret", "CapDirection": 3,
            "MonitorDirection": "1", "FunctionType": "1"} | extra


async def test_apes_are_stored_by_id_in_the_division_they_stand_in(peer, db) -> None:  # noqa: F811
    await peer.register()
    child = (await q(db, """
        SELECT code, ST_X(ST_PointOnSurface(boundary)) AS lon, ST_Y(ST_PointOnSurface(boundary)) AS lat
        FROM division WHERE code LIKE '990101%' AND code <> '990101' AND boundary IS NOT NULL
        ORDER BY ST_Area(boundary) LIMIT 1"""))
    assert child, "a sub-division of 990101 with a boundary"
    where = child[0]
    r = await peer.post("/VIID/APEs", {"APEListObject": {"APEObject": [
        ape(A1, "北门 1 号机", where["lon"], where["lat"]), ape(A2, "未测位置"),
        ape(A3, "坏经度", "east", 60.1)]}})
    assert r.status_code == 200, r.text
    answer = statuses(r)
    assert [(s["StatusCode"], s["Id"]) for s in answer] == [(0, A1), (0, A2), (8, A3)]
    assert "Longitude" in answer[2]["StatusString"]
    rows = {x["ape_id"]: x for x in await q(
        db, "SELECT ape_id, name, port, is_online, division_code, attributes, ST_X(location) AS lon FROM viid_ape")}
    assert set(rows) == {A1, A2}
    assert rows[A1]["division_code"] == where["code"] and rows[A1]["port"] == 8000 and rows[A1]["is_online"]
    assert rows[A2]["division_code"] == "990101" and rows[A2]["lon"] is None  # 0/0: not surveyed
    assert rows[A1]["attributes"]["CapDirection"] == 3
    assert not {"Password", "UserId"} & set(rows[A1]["attributes"])  # credentials are never kept

    again = await peer.post("/VIID/APEs", {"APEObject": [ape(A2, "西门 2 号机", IsOnline="2")]})
    assert [s["StatusCode"] for s in statuses(again)] == [0]
    assert await q(db, "SELECT name, is_online FROM viid_ape WHERE ape_id = :a", a=A2) == [
        {"name": "西门 2 号机", "is_online": False}]


async def test_lanes_are_stored_and_shown_with_the_passes(peer, db, strict) -> None:  # noqa: F811
    await peer.register()
    assert [s["StatusCode"] for s in statuses(await peer.tollgates([tollgate(T1, "北门卡口", 24.94, 60.17)]))] == [0]
    lane = {"TollgateID": T1, "LaneId": "1", "LaneNo": "2", "Name": "北向 2 道", "Direction": "1", "Desc": "小车道",
            "MaxSpeed": "60", "CityPass": "1", "ApeID": A1}
    r = await peer.post("/VIID/Lanes", {"LaneListObject": {"LaneObject": [
        lane, {"TollgateID": T1, "Name": "无编号"}, lane | {"LaneId": 3, "LaneNo": 3, "MaxSpeed": "fast"}]}})
    assert r.status_code == 200, r.text
    assert [(s["StatusCode"], s["Id"]) for s in statuses(r)] == [(0, f"{T1}/1"), (8, f"{T1}/"), (8, f"{T1}/3")]
    again = await peer.post("/VIID/Lanes", {"LaneListObject": {"LaneObject": [lane | {"MaxSpeed": 80}]}})
    assert [s["StatusCode"] for s in statuses(again)] == [0]
    assert await q(db, "SELECT lane_id, lane_no, name, max_speed, ape_id FROM viid_lane") == [
        {"lane_id": 1, "lane_no": 2, "name": "北向 2 道", "max_speed": 80, "ape_id": A1}]

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    rid = peer.record_id(900, start)
    r = await peer.motor_vehicles([vehicle(rid, "京C77777", T1, start, device=A1)])  # LaneNo 2
    assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    adm = await login(strict, "admin")
    params = {"plate": "京C77777", "reason": "catalogue test", "since": (start - timedelta(minutes=1)).isoformat(),
              "until": (start + timedelta(minutes=1)).isoformat()}
    found = await strict.get("/api/v1/plates/search", headers=adm, params=params)
    assert found.status_code == 200, found.text
    [p] = [f["properties"] for f in found.json()["features"]]
    assert (p["record_id"], p["lane_no"], p["lane_name"], p["lane_max_speed"]) == (rid, 2, "北向 2 道", 80)
    assert p["device_id"] == A1 and p["device_name"] == "北门 1 号机"
    traj = await strict.get("/api/v1/plates/trajectory", headers=adm, params=params)
    assert traj.status_code == 200, traj.text
    assert "北向 2 道" in traj.text and "北门 1 号机" in traj.text


async def test_another_devices_ape_and_lane_are_refused(strict, db) -> None:  # noqa: F811
    other = "99010100001190000009"
    adm = await login(strict, "admin")
    r = await strict.post("/api/v1/devices", headers=adm, json={
        "gb_id": other, "name": "卡口 9", "division_code": "990101", "password": "other-pass-9", "kind": "ipc"})
    assert r.status_code == 201, r.text
    intruder = ViidPeer(strict, other, "other-pass-9")
    await intruder.register()
    r = await intruder.post("/VIID/APEs", {"APEListObject": {"APEObject": [ape(A1, "冒名")]}})
    [s] = statuses(r)
    assert s["StatusCode"] != 0 and "ape described by another device" in s["StatusString"]
    r = await intruder.post("/VIID/Lanes", {"LaneObject": [{"TollgateID": T1, "LaneId": 1, "Name": "冒名"}]})
    [s] = statuses(r)
    assert s["StatusCode"] != 0 and "lane described by another device" in s["StatusString"]
    assert await q(db, "SELECT name FROM viid_ape WHERE ape_id = :a", a=A1) == [{"name": "北门 1 号机"}]
    assert DEVICE != other
