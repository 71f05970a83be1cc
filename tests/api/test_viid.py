"""The GA/T 1400 view library (/VIID) spoken by a simulated checkpoint (tests/viid_peer.py): digest register,
keepalive, lapsed sessions, checkpoint catalogue, motor-vehicle uploads with ~50 KB images (acknowledged =
stored: the row and the image file exist when the answer comes), a bad record refused with its own status
while the others of its list are stored, unknown and pending devices refused, malformed bodies 4xx.

The app runs outside demo mode: an unknown device is not admitted by the platform-wide password."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from tests.conftest import login
from tests.viid_peer import ViidPeer, jpeg, statuses, tollgate, vehicle

DEVICE = "99010100001190000001"
PASSWORD = "viid-checkpoint-pass-1"
PLATFORM_PASSWORD = "gb-test-password"  # SHARPEYES_GB_PASSWORD of the test run (tests/conftest.py)
T1, T2 = "99010100001210000001", "99010100001210000002"


@pytest_asyncio.fixture(scope="module")
async def strict(demo_db: str, tmp_path_factory):
    from app.api.main import create_app

    images = tmp_path_factory.mktemp("viid-images")
    app = create_app(Settings(demo_mode=False, secret_key="viid-test-secret-" + "x" * 20, viid_image_dir=images),
                     demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app, client.images = app, images
            yield client


@pytest_asyncio.fixture(scope="module")
async def db(demo_db: str):
    engine = make_engine(demo_db)
    yield engine
    await engine.dispose()


async def q(db, sql: str, **params) -> list[dict]:
    async with db.begin() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r) for r in result.mappings()] if result.returns_rows else []


@pytest_asyncio.fixture(scope="module")
async def peer(strict) -> ViidPeer:
    """A checkpoint camera registered by an administrator in district 990101, with its own password."""
    adm = await login(strict, "admin")
    r = await strict.post("/api/v1/devices", headers=adm, json={
        "gb_id": DEVICE, "name": "卡口 1", "division_code": "990101", "password": PASSWORD, "kind": "ipc"})
    assert r.status_code == 201, r.text
    return ViidPeer(strict, DEVICE, PASSWORD)


async def test_register_is_challenged_then_admitted(peer, db):
    wrong_first, wrong = await peer.register(password="not-its-password")
    assert wrong_first.status_code == 401 and wrong.status_code == 403, wrong.text
    first, second = await peer.register()
    assert first.status_code == 401, first.text
    assert first.headers["www-authenticate"].startswith("Digest ") and 'realm="' in first.headers["www-authenticate"]
    assert first.json()["ResponseStatusObject"]["StatusCode"] == 4
    assert second.status_code == 200, second.text
    answer = second.json()["ResponseStatusObject"]
    assert answer["StatusCode"] == 0 and answer["Id"] == DEVICE and len(answer["LocalTime"]) == 14
    assert [r["device_id"] for r in await q(db, "SELECT device_id FROM viid_session")] == [DEVICE]
    assert (await peer.keepalive()).json()["ResponseStatusObject"]["StatusCode"] == 0
    t = await peer.client.get("/VIID/System/Time", headers=peer.headers)
    assert t.status_code == 200 and len(t.json()["SystemTimeObject"]["LocalTime"]) == 14


async def test_upload_acknowledged_is_stored(peer, db, strict):
    await peer.register()
    r = await peer.tollgates([tollgate(T1, "北门卡口", 24.94, 60.17, "990101"),
                              tollgate(T2, "东门卡口", 24.96, 60.171, "990102")])  # outside the device's division
    assert [s["StatusCode"] for s in statuses(r)] == [0, 0], r.text
    gates = {g["tollgate_id"]: g for g in await q(
        db, "SELECT tollgate_id, division_code, ST_X(location) AS lon FROM viid_tollgate")}
    assert gates[T1]["division_code"] == "990101" and gates[T1]["lon"] == pytest.approx(24.94)
    assert gates[T2]["division_code"] == "990101"  # its PlaceCode lies outside the device's own division

    start = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    images = [jpeg(50_000, seed=i) for i in range(3)]
    items = [vehicle(peer.record_id(i, start), "京A12345", (T1, T2, T1)[i], start + timedelta(minutes=5 * i),
                     device=DEVICE, image=images[i]) for i in range(3)]
    r = await peer.motor_vehicles(items)
    assert r.status_code == 200, r.text
    answer = statuses(r)
    assert [s["StatusCode"] for s in answer] == [0, 0, 0]
    assert [s["Id"] for s in answer] == [i["MotorVehicleID"] for i in items]
    # Acknowledged = stored: the rows and their images are there the moment the answer is.
    rows = await q(db, "SELECT record_id, pass_time, plate_no, lane_no, speed_kmh, division_code, images "
                       "FROM viid_motor_vehicle WHERE plate_no = '京A12345' ORDER BY pass_time")
    assert [x["record_id"] for x in rows] == [i["MotorVehicleID"] for i in items]
    assert rows[0]["pass_time"] == start and rows[0]["lane_no"] == 2 and rows[0]["speed_kmh"] == 48.5
    assert {x["division_code"] for x in rows} == {"990101"}
    for x, img in zip(rows, images, strict=True):
        ref = x["images"][0]
        assert ref["sha256"] == hashlib.sha256(img).hexdigest() and ref["format"] == "jpg"
        assert (strict.images / ref["key"]).read_bytes() == img
    # Sent again (the answer lost on the way): kept once, acknowledged again.
    again = await peer.motor_vehicles(items[:1])
    assert [s["StatusCode"] for s in statuses(again)] == [0]
    assert len(await q(db, "SELECT 1 FROM viid_motor_vehicle WHERE record_id = :r",
                       r=items[0]["MotorVehicleID"])) == 1


async def test_a_bad_record_is_refused_and_the_others_stored(peer, db):
    await peer.register()
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    good = vehicle(peer.record_id(100, at), "京B54321", T1, at, device=DEVICE, image=jpeg(2000, 7))
    bad_time = vehicle(peer.record_id(101, at), "京B54322", T1, at, device=DEVICE) | {"PassTime": "2026-12-03"}
    bad_image = vehicle(peer.record_id(102, at), "京B54323", T1, at, device=DEVICE, image=jpeg(100, 8))
    bad_image["SubImageList"]["SubImageInfoObject"][0]["Data"] = "@@not base64@@"
    no_id = vehicle("", "京B54324", T1, at, device=DEVICE)
    r = await peer.motor_vehicles([bad_time, good, bad_image, no_id, "not an object"])
    assert r.status_code == 200, r.text
    answer = statuses(r)
    assert [s["StatusCode"] for s in answer] == [8, 0, 8, 8, 8]
    assert "PassTime" in answer[0]["StatusString"] and answer[0]["Id"] == bad_time["MotorVehicleID"]
    assert "base64" in answer[2]["StatusString"] and "MotorVehicleID" in answer[3]["StatusString"]
    stored = await q(db, "SELECT plate_no FROM viid_motor_vehicle WHERE plate_no LIKE '京B5432%'")
    assert [x["plate_no"] for x in stored] == ["京B54321"]


async def test_unknown_and_pending_devices_are_refused(strict, db):
    stranger = ViidPeer(strict, "99010100001190000077", PLATFORM_PASSWORD)
    first, second = await stranger.register()
    assert first.status_code == 403 and second is None, first.text  # registered mode: refused, no challenge
    assert first.json()["ResponseStatusObject"]["StatusString"] == "Unknown Device"
    up = await stranger.motor_vehicles([vehicle("x" * 48, "京C1", T1, datetime.now(UTC), device=stranger.device_id)])
    assert up.status_code == 403, up.text
    assert (await strict.post("/VIID/MotorVehicles", json={})).status_code == 400  # no User-Identify

    adm = await login(strict, "admin")
    r = await strict.put("/api/v1/admission/policy/gb28181", headers=adm, json={"mode": "pending"})
    assert r.status_code == 200, r.text
    try:
        first, second = await stranger.register()  # the platform-wide password reaches the pending list
        assert first.status_code == 401 and second.status_code == 403, second.text
        assert second.json()["ResponseStatusObject"]["StatusString"] == "Pending Approval"
        listed = await q(db, "SELECT status, detail FROM pending_device WHERE external_id = :e",
                         e=stranger.device_id)
        assert listed and listed[0]["status"] == "pending" and listed[0]["detail"]["via"] == "GA/T 1400"
        assert not await q(db, "SELECT 1 FROM viid_session WHERE device_id = :e", e=stranger.device_id)
    finally:
        await strict.put("/api/v1/admission/policy/gb28181", headers=adm, json={"mode": "registered"})


async def test_a_lapsed_session_is_refused_until_registered_again(peer, db):
    await peer.register()
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    # No keepalive for longer than keepalive_s x misses (the clock moved rather than the test waiting).
    await q(db, "UPDATE viid_session SET last_keepalive_at = now() - interval '1 hour' WHERE device_id = :d", d=DEVICE)
    r = await peer.motor_vehicles([vehicle(peer.record_id(200, at), "京D11111", T1, at, device=DEVICE)])
    assert r.status_code == 401 and "lapsed" in r.json()["ResponseStatusObject"]["StatusString"], r.text
    assert (await peer.keepalive()).status_code == 401  # the session is over: a keepalive does not revive it
    assert not await q(db, "SELECT 1 FROM viid_motor_vehicle WHERE plate_no = '京D11111'")
    _, again = await peer.register()
    assert again.status_code == 200
    r = await peer.motor_vehicles([vehicle(peer.record_id(200, at), "京D11111", T1, at, device=DEVICE)])
    assert [s["StatusCode"] for s in statuses(r)] == [0]
    assert (await peer.unregister()).status_code == 200
    assert (await peer.keepalive()).status_code == 401


async def test_other_record_kinds_are_stored(peer, db):
    await peer.register()
    at = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    face = {"FaceID": "f" * 48, "DeviceID": DEVICE, "ShotTime": "20261203190000", "GenderCode": "1",
            "SubImageList": [{"Type": "11", "Data": "/9j/" + "A" * 400}]}
    r = await peer.post("/VIID/Faces", {"FaceListObject": {"FaceObject": face}})  # one object, not a list
    assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    r = await peer.post("/VIID/NonMotorVehicles", {"NonMotorVehicleListObject": {"NonMotorVehicleObject": [
        {"NonMotorVehicleID": "n" * 48, "TollgateID": T1, "AppearTime": at.strftime("%Y%m%d%H%M%S")}]}})
    assert [s["StatusCode"] for s in statuses(r)] == [0], r.text
    rows = await q(db, "SELECT kind, shot_time, division_code, attributes, images FROM viid_object ORDER BY kind")
    assert [x["kind"] for x in rows] == ["face", "nonmotor"]
    assert rows[0]["shot_time"] == at and rows[0]["attributes"]["GenderCode"] == "1"
    assert rows[0]["images"][0]["format"] == "jpg" and rows[1]["division_code"] == "990101"


MALFORMED = [
    b"", b"{", b"null", b"[]", b"[1, 2]", b'"text"', b"\xff\xfe\x00", b'{"MotorVehicleListObject": 5}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": []}}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": [null, 1, "x", [], {}]}}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": [{"MotorVehicleID": {"a": 1}, "PassTime": []}]}}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": [{"MotorVehicleID": "a", "PassTime": "20261399250000"}]}}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": [{"MotorVehicleID": "b", "PassTime": "20261203080000",'
    b' "Speed": 1e400, "LaneNo": 1.5, "PlateNo": "\\u0000"}]}}',
    b'{"MotorVehicleListObject": {"MotorVehicleObject": [{"MotorVehicleID": "c", "PassTime": "20261203080000",'
    b' "SubImageList": {"SubImageInfoObject": [{"Data": 5}, {"Data": ""}]}}]}}',
    b"[" * 5000 + b"]" * 5000,
]


async def test_malformed_bodies_get_4xx_never_500(peer):
    await peer.register()
    headers = peer.headers
    valid = orjson.dumps({"MotorVehicleListObject": {"MotorVehicleObject": [vehicle(
        "z" * 48, "京E1", T1, datetime(2026, 12, 3, tzinfo=UTC), device=DEVICE, image=jpeg(300, 3))]}})
    rng = random.Random(1400)
    mutants = []
    for _ in range(60):  # byte flips, cuts and splices of a valid upload
        b = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
        mutants.append(bytes(b[: rng.randint(1, len(b))] if rng.random() < 0.3 else b))
    for path in ("/VIID/MotorVehicles", "/VIID/Tollgates", "/VIID/Faces", "/VIID/Persons", "/VIID/System/Register",
                 "/VIID/System/Keepalive"):
        for body in MALFORMED + mutants:
            r = await peer.client.post(path, content=body, headers=headers)
            assert r.status_code < 500, (path, body[:80], r.text)
            if r.status_code == 200 and path in ("/VIID/MotorVehicles", "/VIID/Tollgates"):
                assert all(s["StatusCode"] in (0, 4, 8) for s in statuses(r))
    for bad in ("", "123", "9901010000119000000X", "99010100001190000001 and more"):
        r = await peer.client.post("/VIID/MotorVehicles", content=valid, headers=headers | {"User-Identify": bad})
        assert r.status_code == 400, (bad, r.text)


def test_the_protocol_package_imports_no_service():
    """app/ingest/viid parses; storage and the exchange are services (the rule of tests/test_architecture.py)."""
    from tests.test_architecture import MODULES, imports

    for name, path in MODULES.items():
        if name.startswith("app.ingest.viid"):
            bad = [m for m in imports(name, path) if m.startswith(("app.services", "app.api", "app.runtime"))]
            assert not bad, (name, bad)


def test_local_times_and_wildcards():
    from zoneinfo import ZoneInfo

    from app.domain import plates
    from app.ingest.viid import messages

    tz = ZoneInfo("Asia/Shanghai")
    assert messages.parse_time("20261203080000", tz) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    assert messages.parse_time("20261203080000123", tz).microsecond == 123_000
    for bad in ("2026120308000", "20261303080000", "19991203080000", 20261203, None, True):
        with pytest.raises(ValueError):
            messages.parse_time(bad, tz)
    assert plates.like_pattern(" 京a1* ") == "京A1%" and plates.like_pattern("京A1?3**") == "京A1_3%"



async def test_a_failing_image_store_acknowledges_nothing(peer, strict, db, tmp_path):
    await peer.register()
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    rx = strict.app.state.viid
    saved, rx.images.root = rx.images.root, blocker
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    try:
        r = await peer.motor_vehicles([vehicle(peer.record_id(300, at), "京F30000", T1, at, device=DEVICE,
                                               image=jpeg(1000, 9))])
    finally:
        rx.images.root = saved
    assert r.status_code == 503 and r.headers["retry-after"] == "30", r.text
    assert not await q(db, "SELECT 1 FROM viid_motor_vehicle WHERE plate_no = '京F30000'")
