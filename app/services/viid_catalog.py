"""The view library's catalogue beyond the checkpoints: capture devices (APEs) and lanes, stored as their
devices describe them (an upsert by id; a description by another device than the one that made it is refused,
as for checkpoints). The plate search shows them with each pass (app/services/viid_search.py)."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.ingest.viid.catalog import Ape, Lane
from app.services.viid_store import _prefix, canonical_place

# the division: the smallest loaded one its position stands in, inside the describing device's; else its
# PlaceCode's when that is such a division; else the device's
_APE = text("""
INSERT INTO viid_ape (ape_id, name, model, ip_addr, port, location, place_code, place, org_code, division_code,
                      is_online, attributes, device_id)
SELECT :id, :name, :model, :ip, :port, p.pt, CAST(:pc AS text), :place, :org,
       COALESCE((SELECT d.code FROM division d WHERE p.pt IS NOT NULL AND d.boundary IS NOT NULL
                   AND ST_Covers(d.boundary, p.pt) AND d.code LIKE :devp ORDER BY ST_Area(d.boundary) LIMIT 1),
                (SELECT code FROM division WHERE code = CAST(:pc AS text) AND code LIKE :devp),
                CAST(:dev AS text)),
       :online, CAST(:attrs AS jsonb), :by
FROM (SELECT ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326) AS pt) p
ON CONFLICT (ape_id) DO UPDATE SET name = EXCLUDED.name, model = EXCLUDED.model, ip_addr = EXCLUDED.ip_addr,
  port = EXCLUDED.port, location = EXCLUDED.location, place_code = EXCLUDED.place_code, place = EXCLUDED.place,
  org_code = EXCLUDED.org_code, division_code = EXCLUDED.division_code, is_online = EXCLUDED.is_online,
  attributes = EXCLUDED.attributes, updated_at = now()
WHERE viid_ape.device_id = EXCLUDED.device_id
RETURNING ape_id""")

_LANE = text("""
INSERT INTO viid_lane (tollgate_id, lane_id, lane_no, name, direction, description, max_speed, city_pass, ape_id,
                       device_id)
VALUES (:tg, :lid, :no, :name, :dir, :desc, :speed, :city, :ape, :by)
ON CONFLICT (tollgate_id, lane_id) DO UPDATE SET lane_no = EXCLUDED.lane_no, name = EXCLUDED.name,
  direction = EXCLUDED.direction, description = EXCLUDED.description, max_speed = EXCLUDED.max_speed,
  city_pass = EXCLUDED.city_pass, ape_id = EXCLUDED.ape_id, updated_at = now()
WHERE viid_lane.device_id = EXCLUDED.device_id
RETURNING lane_id""")


async def put_ape(conn: AsyncConnection, a: Ape, by: str, division: str | None) -> bool:
    """Stored (new, or described again by the device that described it); False: another device's."""
    pc = canonical_place(a.place_code)
    row = (await conn.execute(_APE, {
        "id": a.ape_id, "name": a.name, "model": a.model, "ip": a.ip_addr, "port": a.port, "lon": a.lon,
        "lat": a.lat, "pc": pc, "place": a.place, "org": a.org_code, "devp": _prefix(division), "dev": division,
        "online": a.is_online, "attrs": orjson.dumps(a.attributes).decode(), "by": by})).first()
    return row is not None


async def put_lane(conn: AsyncConnection, lane: Lane, by: str) -> bool:
    """Stored; False: the lane was described by another device."""
    row = (await conn.execute(_LANE, {
        "tg": lane.tollgate_id, "lid": lane.lane_id, "no": lane.lane_no, "name": lane.name, "dir": lane.direction,
        "desc": lane.description, "speed": lane.max_speed, "city": lane.city_pass, "ape": lane.ape_id,
        "by": by})).first()
    return row is not None
