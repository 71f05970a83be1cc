"""The scope oracle (issue #15), video, the live feed, audit and tiles: a user with random grants asks for play
and playback URLs, stored snapshots, the cameras seeing a place or a track, replays, the audit trail, every
scoped vector tile layer and the websocket feed; nothing out of the user's scope may come back. The REST
objects and planning are judged in tests/api/test_scope_oracle.py (its docstring tells how the oracle works),
over the same world (tests/scope_world.py) with the same judge (tests/scope_oracle.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from app.api.routes import channels as channel_routes
from app.api.routes import ws as ws_route
from app.domain.access import Perm, Principal
from app.services import tiles as tile_service
from tests.mvt import tile_of
from tests.scope_oracle import (
    UNSCOPED_TILE_LAYERS,
    Case,
    case_params,
    check_judged,
    check_kpi,
    judge,
    judged_cases,
    mvt_decode,
    ok_or_hidden,
    openapi_app,
    pick,
    route_perms,
    run_case,
    split,
)
from tests.scope_world import API, G, World, apply_grants, login_token, world  # noqa: F401

_SNAPSHOTS: dict[int, str] = {}  # camera → a snapshot of it, planted once per run


def snapshot_by_id(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    """A stored snapshot is served to whoever may watch its camera live, and is a 404 to anyone else."""
    scope = p.scope_for(perm, datetime.now(UTC))
    store = channel_routes.snapshot_store(w.client.app.state.settings)
    inside, outside = split(w, scope, "camera", w.cams)
    for cam in pick(rng, inside) + pick(rng, outside, 3):
        if cam not in _SNAPSHOTS:  # as a device's upload would store it
            _, ticket = store.issue(cam, w.user_id, 60)
            _SNAPSHOTS[cam] = store.save(store.claim(ticket), b"\xff\xd8\xff\xe0oracle")["id"]
        url = f"{API}/snapshots/{_SNAPSHOTS[cam]}"
        r = w.client.get(url, headers=w.headers)
        if ok_or_hidden(r, url):
            assert cam in inside, f"{url}: the snapshot of camera {cam} served out of scope {scope.rules}"


def along_track(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    inside, outside = split(w, scope, "target", w.targets)
    now = datetime.now(UTC)
    for t in pick(rng, inside) + pick(rng, outside):
        r = w.client.get(f"{API}/callup/along-track", headers=w.headers, params={
            "target_id": t, "start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()})
        if ok_or_hidden(r, "along-track"):
            assert t in inside, f"along-track: answered for target {t} out of scope {scope.rules}"
            judge(w, scope, [("camera", s["camera_id"]) for s in r.json()["sightings"]], r.json(), "along-track")


def callup(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    """Play URLs (a POST that returns objects): only for cameras open to the caller's live-video right."""
    scope = p.scope_for(perm, datetime.now(UTC))
    inside, outside = split(w, scope, "camera", w.cams)
    for ids in (pick(rng, inside, 2), pick(rng, inside, 1) + pick(rng, outside, 1)):
        if not ids:
            continue
        r = w.client.post(f"{API}/callup", headers=w.headers, json={"camera_ids": ids, "reason": "scope oracle"})
        if ok_or_hidden(r, "callup"):
            assert set(ids) <= set(inside), f"callup {ids}: play URLs for cameras out of scope {scope.rules}"
            judge(w, scope, [("camera", s["camera_id"]) for s in r.json()["streams"]], r.json(), "callup")


def playback(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    """Playback URLs (a POST that hands out a recording): never for a camera out of the caller's scope."""
    scope = p.scope_for(perm, datetime.now(UTC))
    inside, outside = split(w, scope, "camera", w.cams)
    now = datetime.now(UTC)
    for cid in pick(rng, inside, 1) + pick(rng, outside, 2):
        r = w.client.post(f"{API}/callup/playback", headers=w.headers, json={
            "camera_id": cid, "start": (now - timedelta(hours=2)).isoformat(),
            "end": (now - timedelta(hours=1)).isoformat(), "reason": "scope oracle"})
        if ok_or_hidden(r, "playback"):
            assert cid in inside, f"playback {cid}: a URL for a camera out of scope {scope.rules}"
        elif cid not in inside:
            assert r.status_code in (403, 404), f"playback {cid}: {r.status_code} tells a hidden camera apart"


def seeing(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    for cid in pick(rng, w.cams, 4):
        lon, lat = w.cam_at[cid]
        r = w.client.get(f"{API}/callup/seeing", headers=w.headers, params={"lon": lon, "lat": lat})
        if ok_or_hidden(r, "seeing"):
            judge(w, scope, [], r.json(), f"seeing at camera {cid}")  # every camera carries its gb_id


def replay(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    inside, outside = split(w, scope, "target", w.targets)
    for ids in ([*pick(rng, inside, 2)], [*pick(rng, inside, 1), *pick(rng, outside, 1)]):
        if not ids:
            continue
        r = w.client.get(f"{API}/replay", headers=w.headers, params={"ids": ",".join(map(str, ids))})
        if ok_or_hidden(r, "replay"):
            assert set(ids) <= set(inside), f"replay of {ids}: answered with targets out of scope {scope.rules}"
            judge(w, scope, [("target", t["target_id"]) for t in r.json()["tracks"]], r.json(), "replay")


def audit(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/audit", headers=w.headers, params={"limit": 500})
    if ok_or_hidden(r, "audit") and not scope.everywhere:
        for item in r.json()["items"]:
            assert any(scope.covers(d) for d in item.get("divisions") or []), \
                f"audit: event {item['id']} filed under {item.get('divisions')} out of scope {scope.rules}"


def tile_layer(layer: str) -> Callable:
    spec = tile_service.LAYERS[layer]

    def objects(props: dict) -> list[tuple[str, Any]]:
        if layer in ("cameras", "camera_views"):
            return [("camera", props.get("id"))]
        if layer == "key_areas":
            return [("area", props.get("id"))]
        if layer == "divisions":
            return [("division_tree", props.get("code"))]
        raise AssertionError(f"tile layer {layer!r} is scoped but has no judge here: add one")

    def run(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
        scope = p.scope_for(perm, datetime.now(UTC))
        z = max(spec.minzoom, 14 if layer != "camera_views" else 17)
        tiles = {tile_of(*w.cam_at[c], z) for c in pick(rng, w.cams, 4)}
        if layer == "divisions":
            tiles |= {tile_of(24.94, 60.17, 10)}
            z_of = {t: 10 if t == tile_of(24.94, 60.17, 10) else z for t in tiles}
        else:
            z_of = dict.fromkeys(tiles, z)
        for (x, y), zz in z_of.items():
            url = f"/tiles/{layer}/{zz}/{x}/{y}.pbf"
            r = w.client.get(url, headers=w.headers)
            if ok_or_hidden(r, url) and r.status_code == 200:
                for props in mvt_decode(r.content).get(layer, []):
                    judge(w, scope, objects(props), props, url)
    return run


def websocket(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    """The snapshot of every layer, then one live message per seeded object: only the scope's arrive."""
    scope = p.scope_for(perm, datetime.now(UTC))
    # Both ways a client may authenticate: the first message, or a ``bearer.<token>`` subprotocol where
    # the server offers one (read from the route, so the oracle follows the handshake as it changes).
    bearer = getattr(ws_route, "BEARER_PROTOCOL", None)
    protocols = [ws_route.PROTOCOL, f"{bearer}{w.token}"] if bearer and rng.random() < 0.5 else None
    with w.client.websocket_connect("/ws", subprotocols=protocols) as ws:
        if protocols is None:
            ws.send_text(orjson.dumps({"type": "auth", "token": w.token}).decode())
        first = orjson.loads(ws.receive_bytes())
        if scope.empty:
            assert first["type"] == "error", f"ws: no view_map yet {first['type']}"
            return
        assert first["type"] == "hello", first
        ws.send_text(orjson.dumps({"type": "subscribe", "layers": None}).decode())
        snap = _frames(ws, "snapshot")[-1]
        objects = [("camera", i) for i in snap["cameras"]["id"]]
        objects += [("division_tree", d["code"]) for d in snap["divisions"]]
        objects += [("target", t["target_id"]) for t in snap["targets"]]
        objects += [("incident", i["id"]) for i in snap["incidents"]]
        objects += [("unit", u["id"]) for u in snap["units"]]
        judge(w, scope, objects, {k: snap[k] for k in ("targets", "incidents", "units")}, "ws snapshot")
        check_kpi(w, scope, snap["kpi"], "ws snapshot kpi", cameras_only=True)  # the rest: GET /kpi/summary
        msgs = []
        for cid in pick(rng, w.cams, 12):
            div, sec = w.cams[cid]
            lon, lat = w.cam_at[cid]
            msgs.append(("cameras", {"op": "upsert", "id": cid, "division": div, "secrecy": sec, "lon": lon,
                                     "lat": lat, "camera": {"id": cid}}))
        for iid, div in w.incidents.items():
            msgs.append(("incidents", {"op": "updated", "division": div, "incident": {"id": iid}}))
            msgs.append(("dispatch", {"op": "status", "incident_id": iid, "division": div}))
        sentinel = None
        for tid, div in w.targets.items():
            msgs.append(("positions", {"target_id": tid, "division": div, "lon": 24.94, "lat": 60.17}))
            sentinel = tid if scope.covers(div) else sentinel

        async def publish():
            for topic, m in msgs:
                await w.client.app.state.bus.publish(topic, m)
        w.client.portal.call(publish)
        ws.send_text('{"type": "ping"}')
        got = _frames(ws, "pong")
        if sentinel is not None:  # positions travel at the next tick: wait for one we must get
            while not any(f["type"] == "positions" and any(i["target_id"] == sentinel for i in f["items"])
                          for f in got):
                got.append(orjson.loads(ws.receive_bytes()))
                # A keepalive comes every 15 s, a position tick every 0.1 s: one first means it was lost.
                assert got[-1]["type"] != "keepalive", f"ws: position of target {sentinel} in scope never came"
        for f in got:
            if f["type"] == "cameras":
                judge(w, scope, [("camera", f["id"])], {}, "ws cameras")
            elif f["type"] == "incidents":
                judge(w, scope, [("incident", f["incident"]["id"])], {}, "ws incidents")
            elif f["type"] == "dispatch":
                judge(w, scope, [("incident", f["incident_id"])], {}, "ws dispatch")
            elif f["type"] == "positions":
                judge(w, scope, [("target", i["target_id"]) for i in f["items"]], {}, "ws positions")


def _frames(ws, until: str) -> list[dict]:
    out = []
    while not out or out[-1]["type"] != until:
        out.append(orjson.loads(ws.receive_bytes()))
    return out


def _cases() -> tuple[list[Case], list[str]]:
    app = openapi_app()
    cases, unjudged = judged_cases("live", {
        f"{API}/snapshots/{{snapshot_id}}": [("", snapshot_by_id)],
        f"{API}/replay": [("", replay)],
        f"{API}/callup/seeing": [("", seeing)],
        f"{API}/callup/along-track": [("", along_track)],
        f"{API}/audit": [("", audit)],
        "/tiles/{layer}/{z}/{x}/{y}.pbf": [(n, tile_layer(n)) for n, s in tile_service.LAYERS.items()
                                           if n not in UNSCOPED_TILE_LAYERS],
    })
    cases.append(Case("WS /ws", "/ws", websocket, Perm.VIEW_MAP))
    # POSTs that hand out objects (not walked from the OpenAPI: a POST usually writes).
    cases.append(Case(f"POST {API}/callup", f"{API}/callup", callup, route_perms(app, "POST").get(f"{API}/callup")))
    cases.append(Case(f"POST {API}/callup/playback", f"{API}/callup/playback", playback,
                      route_perms(app, "POST").get(f"{API}/callup/playback")))
    unscoped = [n for n, s in tile_service.LAYERS.items() if not s.scoped and n not in UNSCOPED_TILE_LAYERS]
    return cases, unjudged + [f"tile layer {n} (unscoped)" for n in unscoped]


CASES, UNJUDGED = _cases()


def test_every_get_endpoint_is_judged():
    """A new GET endpoint must join the oracle (a case above) or be allow-listed with its reason."""
    check_judged("live", CASES, UNJUDGED)


@pytest.mark.parametrize("case", case_params(CASES))
def test_nothing_out_of_scope_comes_back(world, case):  # noqa: F811
    run_case(world, case)


def test_a_camera_leaving_the_scope_leaves_the_live_feeds(world):  # noqa: F811
    """A camera made secret, or moved to another division, is deleted from the feeds that saw it: the
    upsert that announces the change reaches only those that see it now, so without a delete routed as
    before the change, the old camera stayed on the wall of users no longer cleared for it."""
    w = world
    admin = {"Authorization": f"Bearer {login_token(w.client, 'admin')}"}
    apply_grants(w, [G("commander", "990101", "always", 0)])
    cam = next(c for c, (d, s) in sorted(w.cams.items()) if s == 0 and d and d.startswith("990101"))
    with w.client.websocket_connect("/ws") as ws:
        ws.send_text(orjson.dumps({"type": "auth", "token": w.token}).decode())
        assert orjson.loads(ws.receive_bytes())["type"] == "hello"
        ws.send_text(orjson.dumps({"type": "subscribe", "layers": ["cameras"]}).decode())
        assert cam in _frames(ws, "snapshot")[-1]["cameras"]["id"]
        there = next(c for c, (d, _) in sorted(w.cams.items()) if d and d.startswith("990102"))
        here = dict(zip(("lon", "lat"), w.cam_at[cam], strict=True))
        for change, back in (({"secrecy": 2}, {"secrecy": 0}),
                             (dict(zip(("lon", "lat"), w.cam_at[there], strict=True)), here)):
            r = w.client.patch(f"{API}/cameras/{cam}", headers=admin, json=change)
            assert r.status_code == 204, r.text
            ws.send_text('{"type": "ping"}')
            got = [f for f in _frames(ws, "pong") if f["type"] == "cameras"]
            assert [(f["op"], f["id"]) for f in got] == [("delete", cam)], (change, got)
            assert w.client.patch(f"{API}/cameras/{cam}", headers=admin, json=back).status_code == 204
            ws.send_text('{"type": "ping"}')
            got = [f for f in _frames(ws, "pong") if f["type"] == "cameras"]
            assert [(f["op"], f["id"]) for f in got] == [("upsert", cam)], (back, got)
