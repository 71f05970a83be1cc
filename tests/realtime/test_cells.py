"""Viewports snapped to shared grid cells: every position inside a screen's bbox reaches it, nothing out of
its scope does, and screens with different bboxes share the encoded cells and frames."""

from __future__ import annotations

import random
from contextlib import ExitStack

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.domain.access import Scope
from app.realtime.cells import PER_SIDE, Positions, snap
from app.realtime.groups import Group

NW = "990101001001"
NE = "990102001001"
CITY = (24.85, 60.13, 25.05, 60.25)


def inside(b, m) -> bool:
    return b[0] <= m["lon"] <= b[2] and b[1] <= m["lat"] <= b[3]


def random_bbox(rng: random.Random) -> tuple[float, float, float, float]:
    w, h = rng.uniform(0.005, 0.06), rng.uniform(0.003, 0.04)
    x, y = rng.uniform(CITY[0], CITY[2] - w), rng.uniform(CITY[1], CITY[3] - h)
    return (x, y, x + w, y + h)


def aligned_bbox() -> tuple[float, float, float, float]:
    """A ~0.016° × 0.011° view whose edges sit 0.3 cell inside its cells: small pans keep the same cells."""
    sx, sy = 360.0 / (1 << 16), 180.0 / (1 << 16)
    x1, y1 = (int((24.93 + 180) / sx) + 0.3) * sx - 180, (int((60.16 + 90) / sy) + 0.3) * sy - 90
    return (x1, y1, x1 + 3 * sx, y1 + 3 * sy)


def test_snap_covers_the_bbox_with_few_cells():
    rng = random.Random(7)
    for _ in range(500):
        b = random_bbox(rng)
        cells = snap(b)
        zx, zy = cells[0][:2]
        sx, sy = 360.0 / (1 << zx), 180.0 / (1 << zy)
        assert {c[:2] for c in cells} == {(zx, zy)}
        assert len(cells) <= (PER_SIDE + 1) ** 2
        x1, y1 = min(c[2] for c in cells) * sx - 180, min(c[3] for c in cells) * sy - 90
        x2, y2 = (max(c[2] for c in cells) + 1) * sx - 180, (max(c[3] for c in cells) + 1) * sy - 90
        assert x1 <= b[0] and y1 <= b[1] and b[2] < x2 and b[3] < y2  # covered
        assert x2 - x1 < (b[2] - b[0]) * 2.5 and y2 - y1 < (b[3] - b[1]) * 2.5  # and not much more
    assert snap((24.9, 60.1, 24.9, 60.1)) == snap((24.9, 60.1, 24.9, 60.1))[:1]  # a point: one cell


class Screen:
    """The receiving end of a connection, as the fan-out sees it (``Client.push``)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def push(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True

    def items(self) -> list[dict]:
        return [it for f in self.frames for it in orjson.loads(f)["items"]]


def fan_out(cells: bool, bboxes, msgs, scopes=None):
    """Screens grouped as the hub groups them (same scope and bbox: one group)."""
    positions = Positions(cells)
    screens, groups = [], {}
    for i, b in enumerate(bboxes):
        scope = (scopes or {}).get(i, Scope.within([""]))
        g = groups.get((scope.key, b))
        if g is None:
            g = groups[scope.key, b] = Group((scope.key, b), scope, frozenset({"positions"}), b)
            positions.attach(g)
        s = Screen()
        g.clients.add(s)  # type: ignore[arg-type]
        screens.append(s)
    positions.add(msgs)
    positions.flush()
    return positions, screens


def test_every_position_inside_reaches_the_screen_and_nothing_out_of_scope():
    rng = random.Random(11)
    bboxes = [random_bbox(rng) for _ in range(60)]
    msgs = [{"target_id": i, "division": NW if i % 2 else NE, "lon": rng.uniform(CITY[0], CITY[2]),
             "lat": rng.uniform(CITY[1], CITY[3])} for i in range(3000)]
    nw_only = {i: Scope.within(["990101"]) for i in range(0, 60, 3)}
    _, screens = fan_out(True, bboxes, msgs, nw_only)
    extra = 0
    for i, (b, s) in enumerate(zip(bboxes, screens, strict=True)):
        got = {it["target_id"] for it in s.items()}
        scope = nw_only.get(i, Scope.within([""]))
        want = {m["target_id"] for m in msgs if inside(b, m) and scope.covers(m["division"])}
        assert want <= got, f"screen {i} missed {sorted(want - got)[:5]}"
        assert all(msgs[t]["division"] == NW for t in got) if i in nw_only else True
        assert len(s.frames) == 1  # one frame per tick, whatever the number of cells
        extra += len(got) - len(want)
    assert extra > 0  # the cells' margin: documented, a few positions just outside
    # Cells off: the exact bbox, one frame build per screen.
    exact_positions, exact = fan_out(False, bboxes, msgs, nw_only)
    for i, (b, s) in enumerate(zip(bboxes, exact, strict=True)):
        scope = nw_only.get(i, Scope.within([""]))
        assert {it["target_id"] for it in s.items()} == {
            m["target_id"] for m in msgs if inside(b, m) and scope.covers(m["division"])}
    assert exact_positions.frames_built == 60


def test_screens_with_different_bboxes_share_cells_and_frames():
    base = aligned_bbox()
    # Forty screens panned a little around one view: same zoom, same cells, forty different bboxes.
    bboxes = [(base[0] + d, base[1] + d, base[2] + d, base[3] + d) for d in (i * 1e-5 for i in range(40))]
    assert len({snap(b) for b in bboxes}) == 1
    rng = random.Random(3)
    msgs = [{"target_id": i, "division": NW, "lon": rng.uniform(24.92, 24.96),
             "lat": rng.uniform(60.155, 60.175)} for i in range(500)]
    positions, screens = fan_out(True, bboxes, msgs)
    assert positions.frames_built == 1  # one frame for the forty
    assert positions.chunks_built <= len(snap(base))  # each cell's items joined once
    assert len({s.frames[0] for s in screens}) == 1
    assert {id(s.frames[0]) for s in screens} == {id(screens[0].frames[0])}  # the very same bytes
    # And the whole-city path is unchanged: one frame for every wall on it.
    city, walls = fan_out(True, [None] * 10, msgs)
    assert city.frames_built == 1 and city.chunks_built == 0
    assert all(len(w.items()) == 500 for w in walls)


def test_a_target_moving_between_cells_in_one_tick_appears_once_at_its_latest_place():
    b = (24.93, 60.16, 24.95, 60.17)
    cells = snap(b)
    size = 360.0 / (1 << cells[0][0])
    lon1 = (cells[0][2] + 0.5) * size - 180
    lon2 = lon1 + size  # the next column, still covered
    msgs = [{"target_id": 1, "division": NW, "lon": lon1, "lat": 60.165},
            {"target_id": 1, "division": NW, "lon": lon2, "lat": 60.165}]
    _, (s,) = fan_out(True, [b], msgs)
    assert s.items() == [msgs[1]]


@pytest.fixture(scope="module")
def client(demo_db_url):
    with TestClient(create_app(Settings(demo_mode=True), demo_db_url)) as c:
        yield c


def test_live_screens_get_their_bboxes_and_share_frames(client):
    """Through the real hub and websockets: a fence position in every bbox marks the end of the batch."""
    tokens = {}
    for user in ("commander", "planner_nw"):
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "sharpeyes-demo"})
        tokens[user] = r.json()["access_token"]
    rng = random.Random(5)
    base = aligned_bbox()
    views = [("commander", base), ("commander", tuple(v + 2e-5 for v in base)),
             ("planner_nw", base), ("commander", random_bbox(rng)), ("commander", random_bbox(rng))]
    msgs = [{"target_id": i, "division": NW if i % 2 else NE, "lon": rng.uniform(CITY[0], CITY[2]),
             "lat": rng.uniform(CITY[1], CITY[3])} for i in range(400)]
    fences = [{"target_id": f"fence{i}", "division": NW, "lon": (b[0] + b[2]) / 2, "lat": (b[1] + b[3]) / 2}
              for i, (_, b) in enumerate(views)]
    hub = client.app.state.hub
    with ExitStack() as stack:
        sockets = []
        for user, b in views:
            ws = stack.enter_context(client.websocket_connect(
                "/ws", subprotocols=["sharpeyes", f"bearer.{tokens[user]}"]))
            ws.send_text(orjson.dumps({"type": "subscribe", "layers": ["positions"], "bbox": list(b)}).decode())
            while orjson.loads(ws.receive_bytes())["type"] != "snapshot":
                pass
            sockets.append(ws)

        async def _publish():
            await hub.bus.publish_many("positions", msgs[:200])  # a batch, as ingest publishes
            for m in msgs[200:] + fences:  # and one by one
                await hub.bus.publish("positions", m)

        client.portal.call(_publish)
        received = []
        for i, ws in enumerate(sockets):
            got, raw = {}, []
            while f"fence{i}" not in got:
                frame = ws.receive_bytes()
                if orjson.loads(frame)["type"] == "positions":
                    raw.append(frame)
                    got.update({it["target_id"]: it for it in orjson.loads(frame)["items"]})
            received.append((got, raw))
    for (user, b), (got, _) in zip(views, received, strict=True):
        want = {m["target_id"] for m in msgs if inside(b, m) and (user == "commander" or m["division"] == NW)}
        assert want <= set(got), f"{user} {b} missed {sorted(want - set(got))[:5]}"
        if user == "planner_nw":
            assert all(it["division"] == NW for it in got.values())
    # The first two commanders: different bboxes, same cells, the same frames.
    assert snap(views[0][1]) == snap(views[1][1])
    # (each read up to its own fence: one may have read a tick further)
    n = min(len(received[0][1]), len(received[1][1]))
    assert n >= 1 and received[0][1][:n] == received[1][1][:n]
