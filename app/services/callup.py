"""Video call-up (应急视频调用): the cameras that see a point, the cameras a target passed, play URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db.models import Camera, Position
from app.db.scoping import scope_filter, scope_sql
from app.domain import callup, track_views
from app.domain.access import Scope
from app.domain.errors import InvalidInput, NotFound
from app.services import targets
from app.video import signing

# A mobile device's camera (body, vehicle camera, drone) is where its device last reported: it counts as
# seeing a spot only while that report is recent; before its first fix it is where it was issued, not here.
MOBILE_FRESH = timedelta(minutes=5)

# One indexed query: the GiST index on camera.view answers "which views contain the point". A camera that
# follows a mobile device (kind 'mobile', its place not fixed by a person: gb28181_store.follow_fixes) is
# left out when the device's track (the target with its GB id) has no fix since ``:fresh_since``.
SEEING_SQL = """
SELECT c.id, c.gb_id, c.name, c.kind, c.heading_deg, c.fov_deg, c.range_m, c.hd, c.cls, c.status,
       c.division_code, c.secrecy, ST_X(c.location) AS lon, ST_Y(c.location) AS lat,
       ST_Distance(c.location::geography, p.g::geography) AS distance_m,
       degrees(ST_Azimuth(c.location::geography, p.g::geography)) AS bearing_deg
FROM camera c, (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) p
WHERE ST_Intersects(c.view, p.g) AND c.status <> 'planned' AND {scope}
  AND NOT (c.source = 'gb28181' AND (c.placed_by IS NULL OR c.placed_by = 'gb28181:position')
           AND EXISTS (SELECT 1 FROM gb_device d WHERE d.kind = 'mobile'
                       AND d.gb_id IN (CAST(c.gb_id AS char(20)), CAST(c.parent_device AS char(20))))
           AND NOT EXISTS (SELECT 1 FROM target t WHERE t.protocol = 'gb28181'
                           AND t.external_id IN (c.gb_id, c.parent_device) AND t.last_fix_at >= :fresh_since))
LIMIT :limit
"""


# The cameras of mobile devices whose track came within their range of a spot in a time window (the
# evidence of an incident: a body camera that passed the scene then is not near it now). Fixes are read
# through the device's target (protocol 'gb28181', external_id = the device's GB id), in the window only.
PASSING_SQL = """
SELECT c.id, c.gb_id, c.name, c.kind, c.status, min(ST_Distance(p.location::geography, s.g::geography)) AS distance_m
FROM camera c
JOIN gb_device d ON d.kind = 'mobile' AND d.gb_id IN (CAST(c.gb_id AS char(20)), CAST(c.parent_device AS char(20)))
JOIN target t ON t.protocol = 'gb28181' AND t.external_id = CAST(d.gb_id AS text)
JOIN position p ON p.target_id = t.id AND p.fix_time >= :start AND p.fix_time < :end
CROSS JOIN (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g) s
WHERE c.source = 'gb28181' AND (c.placed_by IS NULL OR c.placed_by = 'gb28181:position') AND c.status <> 'planned'
  AND {scope} AND ST_DWithin(p.location::geography, s.g::geography, c.range_m)
GROUP BY c.id ORDER BY distance_m LIMIT :limit
"""


async def mobile_cameras_passing(conn: AsyncConnection, scope: Scope, lon: float, lat: float, start: datetime,
                                 end: datetime, limit: int = 20) -> list[dict]:
    """Mobile devices' cameras that were within their range of (lon, lat) at some fix in [start, end)."""
    where, params = scope_sql(scope, "c.division_code", "c.secrecy")
    rows = (await conn.execute(text(PASSING_SQL.format(scope=where)), {
        "lon": lon, "lat": lat, "start": start, "end": end, "limit": limit, **params})).mappings().all()
    return [{"id": r["id"], "gb_id": r["gb_id"], "name": r["name"], "kind": r["kind"], "status": r["status"],
             "distance_m": round(r["distance_m"], 1)} for r in rows]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


async def cameras_seeing(conn: AsyncConnection, scope: Scope, lon: float, lat: float, limit: int = 100) -> dict:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("coordinates out of range", field="lon")
    where, params = scope_sql(scope, "c.division_code", "c.secrecy")
    rows = (await conn.execute(text(SEEING_SQL.format(scope=where)),
                               {"lon": lon, "lat": lat, "limit": limit,
                                "fresh_since": datetime.now(UTC) - MOBILE_FRESH, **params})).mappings().all()
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
    await targets.get_target(conn, scope, target_id)  # a track out of scope is not found, not read
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
        Camera.view.intersects(track), scope_filter(Camera.division_code, scope, Camera.secrecy)))).all()
    views = {r.id: to_shape(r.view) for r in rows}
    names = {r.id: (r.gb_id, r.name) for r in rows}
    seen = track_views.sightings(times, lon, lat, views)
    return {"target_id": target_id, "fixes": len(pts), "sightings": [
        {"camera_id": s.camera_id, "gb_id": names[s.camera_id][0], "name": names[s.camera_id][1],
         "enter": s.enter.isoformat(), "exit": s.exit.isoformat()} for s in seen]}


async def play_urls(conn: AsyncConnection, scope: Scope, settings: Settings, user_id: int,
                    camera_ids: list[int], token_version: int = 0) -> list[dict]:
    """Signed play URLs for cameras the user may watch live; unknown or hidden ids are a 404. They carry the
    user's token version, so a logout voids them (and stops the streams they opened)."""
    rows = (await conn.execute(select(Camera.id, Camera.gb_id, Camera.name, Camera.stream_url, Camera.status,
                                      Camera.division_code, Camera.secrecy, Camera.source)
                               .where(Camera.id.in_(camera_ids)))).all()
    visible = {r.id: r for r in rows if scope.covers(r.division_code, r.secrecy)}
    missing = [c for c in camera_ids if c not in visible]
    if missing:
        raise NotFound(f"camera(s) not found: {', '.join(map(str, missing))}")
    out = []
    for cid in camera_ids:
        r = visible[cid]
        url, expires = signing.play_url(settings.secret_key, cid, user_id, settings.play_url_minutes,
                                        version=token_version)
        out.append({"camera_id": cid, "gb_id": r.gb_id, "name": r.name, "status": r.status, "url": url,
                    "format": stream_format(r.stream_url, r.source), "expires": expires})
    return out


GB28181 = "gb28181"  # camera.source of a channel learnt from a GB/T 28181 catalog


def stream_format(stream_url: str | None, source: str | None = None) -> str:
    """How the browser plays it: our demo MJPEG, HLS (hls.js), MJPEG, HTTP-FLV (mpegts.js), WebRTC (WHEP), or
    live MPEG-TS (mpegts.js) remuxed by the platform from a GB/T 28181 channel's own RTP stream."""
    if not stream_url:
        return "ts" if source == GB28181 else "mjpeg"
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
