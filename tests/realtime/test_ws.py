"""The websocket hub in one process: authentication, scoping, snapshot, coalescing, ordering, grant expiry."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.websockets import WebSocketDisconnect

from app.api.main import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.services.users import create_user

NW = "990101001001"  # a community of the North-West district
NE = "990102001001"


@pytest.fixture(scope="module")
def client(demo_db_url):
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        yield c


_TOKENS: dict[str, str] = {}


def login(client, user: str, password: str = "sharpeyes-demo") -> str:
    """One login per user and module (the API rate-limits logins)."""
    if user not in _TOKENS:
        r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        _TOKENS[user] = r.json()["access_token"]
    return _TOKENS[user]


def bearer(tok: str) -> list[str]:
    """The token as a subprotocol (never in the URL: ``?access_token=`` is refused)."""
    return ["sharpeyes", f"bearer.{tok}"]


def frames(ws, kind: str, n: int = 1) -> list[dict]:
    out = []
    while len(out) < n:
        f = orjson.loads(ws.receive_bytes())
        if f["type"] == kind:
            out.append(f)
    return out


def publish(client, topic: str, msg: dict) -> None:
    client.portal.call(client.app.state.bus.publish, topic, msg)


def publish_many(client, items: list[tuple[str, dict]]) -> None:
    async def _all():
        for topic, msg in items:
            await client.app.state.bus.publish(topic, msg)
    client.portal.call(_all)


def subscribe(ws, layers=None, bbox=None) -> dict:
    ws.send_text(orjson.dumps({"type": "subscribe", "layers": layers, "bbox": bbox}).decode())
    return frames(ws, "snapshot")[0]


def test_refuses_without_valid_token(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_text('{"type": "auth", "token": "nonsense"}')
        assert orjson.loads(ws.receive_bytes())["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_bytes()
        assert exc.value.code == 4401


def test_auditor_without_map_permission_is_refused(client):
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'auditor'))) as ws:
        assert orjson.loads(ws.receive_bytes())["code"] == "forbidden"


def test_snapshot_is_scoped(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(orjson.dumps({"type": "auth", "token": login(client, "commander")}).decode())
        assert orjson.loads(ws.receive_bytes())["type"] == "hello"
        city = subscribe(ws)
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'planner_nw'))) as ws:
        nw = subscribe(ws)
    assert len(city["cameras"]["id"]) == 221 and city["kpi"]["cameras"] == 221
    assert 0 < len(nw["cameras"]["id"]) == nw["kpi"]["cameras"] < 221
    assert {d["code"][:6] for d in nw["divisions"] if d["level"] >= 4} == {"990101"}


def test_deltas_are_filtered_by_scope(client):
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'planner_nw'))) as nw, \
            client.websocket_connect("/ws", subprotocols=bearer(login(client, 'commander'))) as city:
        subscribe(nw)
        subscribe(city)
        inc = {"type": "fire", "priority": 1, "status": "new", "lon": 24.94, "lat": 60.17}
        publish(client, "incidents", {"op": "created", "division": NE, "incident": {"id": 1, **inc}})
        publish(client, "incidents", {"op": "created", "division": NW, "incident": {"id": 2, **inc}})
        assert [f["incident"]["id"] for f in frames(city, "incidents", 2)] == [1, 2]
        assert frames(nw, "incidents")[0]["incident"]["id"] == 2  # the NE one never reached it


def test_camera_route_publishes_to_the_wall(client):
    admin = {"Authorization": f"Bearer {login(client, 'admin')}"}
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'commander'))) as ws:
        subscribe(ws, layers=["cameras", "kpi"])
        r = client.post("/api/v1/cameras", headers=admin,
                        json={"name": "实时测试", "lon": 24.944, "lat": 60.171})
        cam_id = r.json()["id"]
        f = frames(ws, "cameras")[0]
        assert f["op"] == "upsert" and f["camera"]["id"] == cam_id
        client.patch(f"/api/v1/cameras/{cam_id}", headers=admin, json={"status": "fault"})
        f = frames(ws, "cameras")[0]
        assert f["camera"]["status"] == 2  # fault
        client.delete(f"/api/v1/cameras/{cam_id}", headers=admin)
        gone = frames(ws, "cameras")[0]
        assert gone["op"] == "delete" and gone["id"] == cam_id
        # The KPIs of the scope follow (recomputed at most every few seconds).
        assert frames(ws, "kpi")[0]["kpi"]["cameras"] == 221


def test_positions_coalesced_latest_wins_incidents_never(client):
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'commander'))) as ws:
        subscribe(ws, layers=["positions", "incidents"])
        burst = [("positions", {"target_id": 7, "division": NW, "lon": 24.94 + i * 1e-5, "lat": 60.17,
                                "seq": i}) for i in range(50)]
        burst += [("incidents", {"op": "created", "division": NW,
                                 "incident": {"id": 100 + i, "priority": 2, "status": "new", "lon": 24.94,
                                              "lat": 60.17, "type": "test"}}) for i in range(20)]
        t0 = time.monotonic()
        publish_many(client, burst)
        assert [f["incident"]["id"] for f in frames(ws, "incidents", 20)] == list(range(100, 120))
        pos = frames(ws, "positions")[0]
        assert time.monotonic() - t0 < 1.0
        assert [it["seq"] for it in pos["items"]] == [49]  # one target, latest wins, one frame


def test_an_sos_from_a_tracker_reaches_the_wall_with_its_division(client):
    """Issue #16: the SOS incident raised in the pipeline is filed under its place's division and goes out
    on the ``incidents`` topic the hub forwards (before: no division, an internal topic)."""
    from app.domain.fix import Fix

    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'commander'))) as ws:
        subscribe(ws, layers=["incidents"])
        fix = Fix("sos-tracker-16", "osmand", datetime.now(UTC) - timedelta(seconds=2), 24.9402, 60.1702, sos=True)
        batch = client.portal.call(client.app.state.ingest.pipeline.submit, [fix])
        assert batch.persisted and not batch.failed
        frame = frames(ws, "incidents")[0]
    assert frame["op"] == "created" and frame["division"] == "990103002001"  # the demo division at that spot
    assert frame["incident"]["type"] == "sos" and frame["incident"]["priority"] == 1
    assert abs(frame["lon"] - 24.9402) < 1e-9


def test_bbox_limits_positions(client):
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'commander'))) as ws:
        subscribe(ws, layers=["positions"], bbox=[24.93, 60.16, 24.95, 60.18])
        publish_many(client, [("positions", {"target_id": 1, "division": NW, "lon": 25.5, "lat": 60.17}),
                              ("positions", {"target_id": 2, "division": NW, "lon": 24.94, "lat": 60.17})])
        assert [it["target_id"] for it in frames(ws, "positions")[0]["items"]] == [2]


def test_expired_grant_stops_the_feed(client, demo_db_url):
    async def _user():
        engine = make_engine(demo_db_url)
        async with engine.begin() as conn:
            await create_user(conn, "temp_cmd", "sharpeyes-demo", "commander", "990100",
                              valid_until=datetime.now(UTC) + timedelta(seconds=3))
        await engine.dispose()

    asyncio.run(_user())
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'temp_cmd'))) as ws:
        subscribe(ws, layers=["incidents"])
        t0 = time.monotonic()
        assert frames(ws, "error")[0]["code"] == "grant_expired"
        assert time.monotonic() - t0 < 5
        with pytest.raises(WebSocketDisconnect) as exc:
            frames(ws, "never")
        assert exc.value.code == 4403


def test_revoked_grant_and_logout_end_the_feed_at_once(client, demo_db_url):
    """Rights taken away act now, not at the token's expiry: revoking the grant ends the live feed with
    ``access_revoked`` (4403); so does a logout, for the feeds opened with that login's tokens."""
    async def _user() -> tuple[int, int]:
        engine = make_engine(demo_db_url)
        async with engine.begin() as conn:
            uid = await create_user(conn, "rev_cmd", "sharpeyes-demo", "commander", "990100")
            await create_user(conn, "rev_out", "sharpeyes-demo", "commander", "990100")
            gid = (await conn.execute(text('SELECT id FROM "grant" WHERE user_id = :u'), {"u": uid})).scalar_one()
        await engine.dispose()
        return uid, gid

    _, gid = asyncio.run(_user())
    admin = {"Authorization": f"Bearer {login(client, 'admin')}"}
    with client.websocket_connect("/ws", subprotocols=bearer(login(client, 'rev_cmd'))) as ws:
        subscribe(ws, layers=["incidents"])
        t0 = time.monotonic()
        assert client.delete(f"/api/v1/users/grants/{gid}", headers=admin).status_code == 204
        assert frames(ws, "error")[0]["code"] == "access_revoked"
        assert time.monotonic() - t0 < 5
        with pytest.raises(WebSocketDisconnect) as exc:
            frames(ws, "never")
        assert exc.value.code == 4403

    token = login(client, "rev_out")
    with client.websocket_connect("/ws", subprotocols=bearer(token)) as ws:
        subscribe(ws, layers=["incidents"])
        r = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code in (200, 204), r.text
        assert frames(ws, "error")[0]["code"] == "access_revoked"
