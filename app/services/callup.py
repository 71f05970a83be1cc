"""Video call-up (应急视频调用): the cameras that see a point, the cameras a target passed, play URLs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db.models import Camera, Position
from app.db.scoping import division_filter
from app.domain import callup, track_views
from app.domain.access import Scope
from app.domain.errors import InvalidInput, NotFound
from app.video import signing

# One indexed query: the GiST index on camera.view answers "which views contain the point".
SEEING_SQL = """
SELECT c.id, c.gb_id, c.name, c.kind, c.heading_deg, c.fov_deg, c.range_m, c.hd, c.cls, c.status,
       c.division_code, c.secrecy, ST_X(c.location) AS lon, ST_Y(c.location) AS lat,
       ST_Distance(c.location::geography, p.g::geography) AS distance_m,
       degrees(ST_Azimuth(c.location::geography, p.g::geography)) AS bearing_deg
FROM camera c, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
WHERE ST_Intersects(c.view, p.g) AND c.status <> 'planned' AND {scope}
LIMIT :limit
"""


def _scope_sql(scope: Scope) -> tuple[str, dict]:
    if scope.everywhere:
        return "c.secrecy <= :sec", {"sec": scope.max_secrecy}
    ors = " OR ".join(f"c.division_code LIKE :p{i}" for i in range(len(scope.prefixes))) or "false"
    return f"c.secrecy <= :sec AND ({ors})", {"sec": scope.max_secrecy,
                                            **{f"p{i}": p + "%" for i, p in enumerate(scope.prefixes)}}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


async def cameras_seeing(conn: AsyncConnection, scope: Scope, lon: float, lat: float, limit: int = 100) -> dict:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("coordinates out of range", field="lon")
    where, params = _scope_sql(scope)
    rows = (await conn.execute(text(SEEING_SQL.format(scope=where)),
                               {"lon": lon, "lat": lat, "limit": limit, **params})).mappings().all()
    by_id = {r["id"]: r for r in rows}
    cands = [callup.Candidate(r["id"], r["distance_m"], r["bearing_deg"] or 0.0, r["kind"], r["heading_deg"],
                              r["fov_deg"], r["range_m"], r["hd"], r["cls"], r["status"]) for r in rows]
    online, others = callup.rank(cands)

    def item(c: callup.Candidate, s: float) -> dict:
        r = by_id[c.camera_id]
        return {"id": c.camera_id, "gb_id": r["gb_id"], "name": r["name"], "kind": c.kind, "status": c.status,
                "hd": c.hd, "cls": c.cls, "lon": r["lon"], "lat": r["lat"], "distance_m": round(c.distance_m, 1),
                "off_axis_deg": _round(callup.off_axis_deg(c)), "pan_bearing_deg": callup.pan_bearing(c),
                "score": round(s, 3)}

    return {"point": [lon, lat], "cameras": [item(*cs) for cs in online],
            "unavailable": [item(*cs) for cs in others]}


async def cameras_along_track(conn: AsyncConnection, scope: Scope, target_id: int, start: datetime,
                              end: datetime) -> dict:
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    pts = (await conn.execute(select(Position.fix_time, func.ST_X(Position.location), func.ST_Y(Position.location))
                              .where(Position.target_id == target_id, Position.fix_time >= start,
                                     Position.fix_time < end).order_by(Position.fix_time))).all()
    if not pts:
        return {"target_id": target_id, "fixes": 0, "sightings": []}
    times = [p[0] for p in pts]
    lon = np.array([p[1] for p in pts])
    lat = np.array([p[2] for p in pts])
    line_wkt = (f"LINESTRING({', '.join(f'{x} {y}' for x, y in zip(lon, lat, strict=True))})" if len(pts) > 1
                else f"POINT({lon[0]} {lat[0]})")
    track = func.ST_GeomFromText(line_wkt, 4326)
    rows = (await conn.execute(select(Camera.id, Camera.gb_id, Camera.name, Camera.view).where(
        Camera.view.intersects(track), division_filter(Camera.division_code, scope),
        Camera.secrecy <= scope.max_secrecy))).all()
    views = {r.id: to_shape(r.view) for r in rows}
    names = {r.id: (r.gb_id, r.name) for r in rows}
    seen = track_views.sightings(times, lon, lat, views)
    return {"target_id": target_id, "fixes": len(pts), "sightings": [
        {"camera_id": s.camera_id, "gb_id": names[s.camera_id][0], "name": names[s.camera_id][1],
         "enter": s.enter.isoformat(), "exit": s.exit.isoformat()} for s in seen]}


async def play_urls(conn: AsyncConnection, scope: Scope, settings: Settings, user_id: int,
                    camera_ids: list[int]) -> list[dict]:
    """Signed play URLs for cameras the user may watch live; unknown or hidden ids are a 404."""
    rows = (await conn.execute(select(Camera.id, Camera.gb_id, Camera.name, Camera.stream_url, Camera.status,
                                      Camera.division_code, Camera.secrecy).where(Camera.id.in_(camera_ids)))).all()
    visible = {r.id: r for r in rows if scope.covers(r.division_code, r.secrecy)}
    missing = [c for c in camera_ids if c not in visible]
    if missing:
        raise NotFound(f"camera(s) not found: {', '.join(map(str, missing))}")
    out = []
    for cid in camera_ids:
        r = visible[cid]
        url, expires = signing.play_url(settings.secret_key, cid, user_id, settings.play_url_minutes)
        out.append({"camera_id": cid, "gb_id": r.gb_id, "name": r.name, "status": r.status, "url": url,
                    "format": stream_format(r.stream_url), "expires": expires})
    return out


def stream_format(stream_url: str | None) -> str:
    """How the browser plays it: our demo MJPEG, HLS (hls.js), MJPEG, HTTP-FLV (mpegts.js) or WebRTC (WHEP)."""
    if not stream_url:
        return "mjpeg"
    u = stream_url.lower().split("?")[0]
    if u.startswith(("rtsp:", "rtmp:", "webrtc:")):  # no browser plays these: a media server must relay them
        return u.split(":", 1)[0]
    if u.endswith(".m3u8"):
        return "hls"
    if u.endswith(".flv"):
        return "flv"
    if "whep" in u:  # a media server's WHEP endpoint (ZLMediaKit, SRS, MediaMTX…): played over WebRTC
        return "webrtc"
    return "mjpeg"
