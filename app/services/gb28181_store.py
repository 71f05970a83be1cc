"""Persistence for GB/T 28181 access: cameras from catalogs, status history, positions, alarm incidents.

Each method is one short transaction. Status changes are written as ``camera_status_event`` rows in
the same statement that changes ``camera.status`` (a CTE compares with the pre-statement snapshot),
so the intact-rate history never disagrees with the camera table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import partitions
from app.domain.camera_view import view_polygon

log = logging.getLogger(__name__)

_UPSERT_CAMERA = text("""
WITH prev AS (SELECT id, status FROM camera WHERE gb_id = :gb_id),
up AS (
  INSERT INTO camera (gb_id, name, owner, kind, heading_deg, secrecy, status, parent_device, division_code,
                      location, view, source, last_seen_at, updated_at)
  VALUES (:gb_id, :name, :owner, :kind, :heading_deg, :secrecy, :status, :parent_device, :division_code,
          ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), ST_GeomFromText(:view, 4326), 'gb28181', now(), now())
  ON CONFLICT (gb_id) DO UPDATE SET
    name = EXCLUDED.name, owner = COALESCE(EXCLUDED.owner, camera.owner), kind = EXCLUDED.kind,
    heading_deg = COALESCE(EXCLUDED.heading_deg, camera.heading_deg), secrecy = EXCLUDED.secrecy,
    status = EXCLUDED.status, parent_device = EXCLUDED.parent_device,
    division_code = COALESCE(EXCLUDED.division_code, camera.division_code),
    location = EXCLUDED.location, view = EXCLUDED.view, networked = true,
    last_seen_at = now(), updated_at = now()
  RETURNING id, status),
ev AS (INSERT INTO camera_status_event (camera_id, status)
       SELECT up.id, up.status FROM up LEFT JOIN prev ON prev.id = up.id
       WHERE prev.status IS DISTINCT FROM up.status RETURNING camera_id)
SELECT up.id, up.status, (SELECT count(*) FROM ev) AS changed FROM up
""")

# A channel without coordinates cannot be put on the map; it only updates a camera that exists.
_UPDATE_CAMERA = text("""
WITH prev AS (SELECT id, status FROM camera WHERE gb_id = :gb_id),
up AS (
  UPDATE camera SET name = :name, kind = :kind, secrecy = :secrecy, status = :status,
    parent_device = :parent_device, division_code = COALESCE(:division_code, division_code),
    last_seen_at = now(), updated_at = now()
  WHERE gb_id = :gb_id RETURNING id, status),
ev AS (INSERT INTO camera_status_event (camera_id, status)
       SELECT up.id, up.status FROM up JOIN prev ON prev.id = up.id
       WHERE prev.status IS DISTINCT FROM up.status RETURNING camera_id)
SELECT up.id, up.status, (SELECT count(*) FROM ev) AS changed FROM up
""")

_SET_STATUS = text("""
WITH prev AS (
  SELECT id FROM camera
  WHERE (gb_id = ANY(CAST(:ids AS text[])) OR parent_device = ANY(CAST(:devices AS text[])))
    AND status <> :status AND status <> 'planned' AND source = 'gb28181'
  FOR UPDATE),
up AS (
  UPDATE camera c SET status = :status, updated_at = now(),
    last_seen_at = CASE WHEN :status = 'online' THEN now() ELSE c.last_seen_at END
  FROM prev WHERE c.id = prev.id RETURNING c.id, c.gb_id),
ev AS (INSERT INTO camera_status_event (camera_id, status) SELECT id, :status FROM up RETURNING camera_id)
SELECT gb_id FROM up
""")


class Gb28181Store:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.session_maker = session_maker
        self._divisions: dict[str, bool] = {}  # code → exists
        self._targets: dict[str, int] = {}  # device id → target.id
        self._days: set[date] = set()  # position partitions known to exist

    async def _division(self, s: AsyncSession, candidates: Sequence[str]) -> str | None:
        unknown = [c for c in candidates if c not in self._divisions]
        if unknown:
            rows = await s.execute(
                text("SELECT code FROM division WHERE code = ANY(CAST(:c AS text[]))"), {"c": unknown}
            )
            found = {r[0] for r in rows}
            for c in unknown:
                self._divisions[c] = c in found
        return next((c for c in candidates if self._divisions[c]), None)

    async def upsert_cameras(self, rows: Iterable[dict]) -> dict[str, list[str]]:
        """Insert or update cameras from catalog rows (see ``mapping.camera_row``).
        Returns {'stored': gb_ids, 'changed': gb_ids whose status changed, 'skipped': no location}."""
        out: dict[str, list[str]] = {"stored": [], "changed": [], "skipped": []}
        async with self.session_maker() as s, s.begin():
            for row in rows:
                params = {
                    k: row[k]
                    for k in (
                        "gb_id",
                        "name",
                        "owner",
                        "kind",
                        "heading_deg",
                        "secrecy",
                        "status",
                        "parent_device",
                    )
                }
                params["division_code"] = await self._division(s, row["division_candidates"])
                spec = row["view_spec"]
                if spec is not None:
                    params |= {"lon": spec.lon, "lat": spec.lat, "view": view_polygon(spec).wkt}
                    res = (await s.execute(_UPSERT_CAMERA, params)).first()
                else:
                    res = (await s.execute(_UPDATE_CAMERA, params)).first()
                if res is None:
                    out["skipped"].append(row["gb_id"])
                    continue
                out["stored"].append(row["gb_id"])
                if res.changed:
                    out["changed"].append(row["gb_id"])
        return out

    async def delete_cameras(self, gb_ids: Sequence[str]) -> int:
        """Channels a device removed (catalog DEL); only cameras this protocol created."""
        async with self.session_maker() as s, s.begin():
            res = await s.execute(
                text("DELETE FROM camera WHERE gb_id = ANY(CAST(:ids AS text[])) AND source = 'gb28181'"),
                {"ids": list(gb_ids)},
            )
            return res.rowcount or 0

    async def set_status(
        self, status: str, gb_ids: Sequence[str] = (), device_ids: Sequence[str] = ()
    ) -> list[str]:
        """Set the status of the given cameras and of every camera whose parent is in ``device_ids``;
        returns the gb_ids that actually changed (an event row is written for each)."""
        async with self.session_maker() as s, s.begin():
            rows = await s.execute(
                _SET_STATUS, {"ids": list(gb_ids), "devices": list(device_ids), "status": status}
            )
            return [r[0] for r in rows]

    async def touch(self, gb_ids: Sequence[str], device_ids: Sequence[str]) -> None:
        """last_seen_at = now() for cameras heard from (batched, one statement)."""
        if not gb_ids and not device_ids:
            return
        async with self.session_maker() as s, s.begin():
            await s.execute(
                text(
                    "UPDATE camera SET last_seen_at = now() WHERE source = 'gb28181' AND "
                    "(gb_id = ANY(CAST(:ids AS text[])) OR parent_device = ANY(CAST(:devs AS text[])))"
                ),
                {"ids": list(gb_ids), "devs": list(device_ids)},
            )

    async def _target_ids(self, s: AsyncSession, device_ids: set[str]) -> dict[str, int]:
        missing = sorted(d for d in device_ids if d not in self._targets)
        if missing:
            await s.execute(
                text(
                    "INSERT INTO target (protocol, external_id, kind, name) "
                    "SELECT 'gb28181', x, 'vehicle_cam', x FROM unnest(CAST(:ids AS text[])) AS x "
                    "ON CONFLICT (protocol, external_id) DO NOTHING"
                ),
                {"ids": missing},
            )
            rows = await s.execute(
                text(
                    "SELECT external_id, id FROM target WHERE protocol = 'gb28181' "
                    "AND external_id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": missing},
            )
            self._targets.update({r[0]: r[1] for r in rows})
        return self._targets

    async def insert_positions(self, fixes: Sequence, now: datetime | None = None) -> int:
        """Store fixes (``mapping.PositionFix``) as targets' positions; one transaction per batch.
        Fixes outside the kept window (a week back, a day ahead: device clock errors) are dropped."""
        now = now or datetime.now(UTC)
        fixes = [f for f in fixes if now - timedelta(days=7) <= f.fix_time <= now + timedelta(days=1)]
        if not fixes:
            return 0
        async with self.session_maker() as s, s.begin():
            conn = await s.connection()
            for day in {f.fix_time.astimezone(UTC).date() for f in fixes} - self._days:
                await partitions.ensure_partitions(conn, first=day, days=0)
                self._days.add(day)
            ids = await self._target_ids(s, {f.device_id for f in fixes})
            cols = {
                "t": [ids[f.device_id] for f in fixes],
                "ft": [f.fix_time for f in fixes],
                "x": [f.lon for f in fixes],
                "y": [f.lat for f in fixes],
                "sp": [f.speed_kmh for f in fixes],
                "co": [f.course_deg for f in fixes],
            }
            res = await s.execute(
                text("""
                INSERT INTO position (target_id, fix_time, location, speed_kmh, course_deg, source)
                SELECT t, ft, ST_SetSRID(ST_MakePoint(x, y), 4326), sp, co, 'gb28181'
                FROM unnest(CAST(:t AS int[]), CAST(:ft AS timestamptz[]), CAST(:x AS float8[]),
                            CAST(:y AS float8[]), CAST(:sp AS float8[]), CAST(:co AS float8[]))
                     AS u(t, ft, x, y, sp, co)
                ON CONFLICT DO NOTHING"""),
                cols,
            )
            await s.execute(
                text("""
                UPDATE target SET last_fix_at = u.ft,
                       last_location = ST_SetSRID(ST_MakePoint(u.x, u.y), 4326),
                       last_speed_kmh = u.sp, last_course_deg = u.co
                FROM (SELECT DISTINCT ON (t) t, ft, x, y, sp, co
                      FROM unnest(CAST(:t AS int[]), CAST(:ft AS timestamptz[]), CAST(:x AS float8[]),
                                  CAST(:y AS float8[]), CAST(:sp AS float8[]), CAST(:co AS float8[]))
                           AS v(t, ft, x, y, sp, co)
                      ORDER BY t, ft DESC) AS u
                WHERE target.id = u.t AND (target.last_fix_at IS NULL OR target.last_fix_at < u.ft)"""),
                cols,
            )
            return res.rowcount or 0

    async def insert_incident(self, row: dict, fallback_device: str | None = None) -> dict | None:
        """An incident from an alarm (``mapping.incident_row``), with the camera attached.
        Where the alarm carries no position the camera's is used; with neither, nothing is stored."""
        async with self.session_maker() as s, s.begin():
            cam = None
            for gb_id in dict.fromkeys(x for x in (row["device_id"], fallback_device) if x):
                cam = (
                    await s.execute(
                        text(
                            "SELECT id, gb_id, division_code, ST_X(location) AS lon, ST_Y(location) AS lat "
                            "FROM camera WHERE gb_id = :g"
                        ),
                        {"g": gb_id},
                    )
                ).first()
                if cam is not None:
                    break
            point = row["point"] or ((cam.lon, cam.lat) if cam is not None else None)
            if point is None:
                return None
            res = (
                await s.execute(
                    text("""
                INSERT INTO incident (type, priority, description, reporter, source, location,
                                      division_code, camera_id)
                VALUES (:type, :priority, :description, :reporter, 'gb28181',
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :division_code, :camera_id)
                RETURNING id, created_at"""),
                    {
                        "type": row["type"],
                        "priority": row["priority"],
                        "description": row["description"],
                        "reporter": row["device_id"],
                        "lon": point[0],
                        "lat": point[1],
                        "division_code": cam.division_code if cam is not None else None,
                        "camera_id": cam.id if cam is not None else None,
                    },
                )
            ).one()
        return {
            "id": res.id,
            "type": row["type"],
            "priority": row["priority"],
            "description": row["description"],
            "lon": point[0],
            "lat": point[1],
            "camera_id": cam.id if cam is not None else None,
            "camera_gb_id": cam.gb_id if cam is not None else None,
            "division_code": cam.division_code if cam is not None else None,
            "alarm_method": row["alarm_method"],
            "alarm_type": row["alarm_type"],
            "created_at": res.created_at.isoformat(),
            "alarm_time": row["alarm_time"].isoformat() if row["alarm_time"] else None,
        }
