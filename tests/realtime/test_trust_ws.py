"""Live dispatch messages are scoped: only receivers who may see dispatches get them, and a unit's route
reaches only receivers whose map covers that unit."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.services.users import create_user

NW, NE = "990101001001", "990102001001"
ROUTE = {"type": "LineString", "coordinates": [[24.93, 60.17], [24.94, 60.17]]}


@pytest.fixture(scope="module")
def client(demo_db_url):
    async def _users():
        engine = make_engine(demo_db_url)
        async with engine.begin() as conn:
            await create_user(conn, "nw_dispatcher", "sharpeyes-demo", "dispatcher", "990101")
        await engine.dispose()

    asyncio.run(_users())
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        yield c


def _feed(client, user: str):
    r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
    assert r.status_code == 200, r.text
    ws = client.websocket_connect("/ws", subprotocols=["sharpeyes", f"bearer.{r.json()['access_token']}"])
    return ws


def _next(ws, kinds=("dispatch", "incidents")) -> dict:
    while True:
        f = orjson.loads(ws.receive_bytes())
        if f["type"] in kinds:
            return f


def _publish(client, items):
    async def _all():
        for topic, msg in items:
            await client.app.state.bus.publish(topic, msg)
    client.portal.call(_all)


def test_dispatch_frames_follow_the_dispatch_scope(client):
    with _feed(client, "planner_nw") as planner, _feed(client, "nw_dispatcher") as disp:
        for ws in (planner, disp):
            ws.send_text(orjson.dumps({"type": "subscribe", "layers": ["dispatch", "incidents"]}).decode())
            while orjson.loads(ws.receive_bytes())["type"] != "snapshot":
                pass
        _publish(client, [
            ("dispatch", {"op": "progress", "incident_id": 1, "division": NE, "unit_division": NE, "route": ROUTE}),
            ("dispatch", {"op": "assigned", "incident_id": 2, "division": NW, "lon": 24.93, "lat": 60.17,
                          "dispatches": [{"dispatch_id": 7, "unit_division": NE, "route": ROUTE},
                                         {"dispatch_id": 8, "unit_division": NW, "route": ROUTE}]}),
            ("incidents", {"op": "updated", "id": 2, "division": NW, "lon": 24.93, "lat": 60.17}),
        ])
        # The planner may see the map, not dispatches: the incident comes, no dispatch frame before it.
        assert _next(planner)["type"] == "incidents"
        # The NW dispatcher: nothing of the NE incident; the NW one without the NE unit's route.
        f = _next(disp)
        assert f["type"] == "dispatch" and f["incident_id"] == 2
        routes = {d["dispatch_id"]: d.get("route") for d in f["dispatches"]}
        assert routes == {7: None, 8: ROUTE}
        assert _next(disp)["type"] == "incidents"
