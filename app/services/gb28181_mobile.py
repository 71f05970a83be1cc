"""Persistence of GB/T 28181 mobile devices: their MobilePosition fixes stored as a target's track, and the
cameras that follow them moved to where they are (``Gb28181Store`` inherits these)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import partitions
from app.domain.camera_view import ViewSpec, view_wkts

# Cameras that follow a mobile device's fixes (see ``follow_fixes``): by gb_id (the index) or by parent
# device, only devices admitted as 'mobile', never one a person placed.
_MOBILE_CAMERAS = text("""
WITH mobile AS (SELECT d.gb_id::text AS dev FROM gb_device d
                WHERE d.kind = 'mobile' AND d.gb_id = ANY(CAST(:devs AS char(20)[])))
SELECT c.id, c.gb_id, c.kind, c.heading_deg, c.fov_deg, c.range_m, x.dev FROM (
  SELECT c.id, c.gb_id AS dev FROM camera c
  WHERE c.gb_id = ANY(CAST(:devs AS text[]))
    AND EXISTS (SELECT 1 FROM gb_device d WHERE d.kind = 'mobile'
                AND d.gb_id IN (CAST(c.gb_id AS char(20)), CAST(c.parent_device AS char(20))))
  UNION
  SELECT c.id, c.parent_device FROM camera c JOIN mobile m ON c.parent_device = m.dev
) x JOIN camera c ON c.id = x.id
WHERE c.source = 'gb28181' AND (c.placed_by IS NULL OR c.placed_by = 'gb28181:position')
ORDER BY c.id FOR UPDATE OF c
""")

_MOVE_CAMERAS = text("""
UPDATE camera c SET location = ST_SetSRID(ST_MakePoint(u.x, u.y), 4326), view = ST_GeomFromText(u.v, 4326),
  heading_deg = u.h, placed_by = 'gb28181:position', updated_at = now()
FROM unnest(CAST(:ids AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:h AS float8[]),
            CAST(:v AS text[])) AS u(id, x, y, h, v)
WHERE c.id = u.id
""")


class MobileStore:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.session_maker = session_maker
        self._targets: dict[str, int] = {}  # device id → target.id
        self._days: set[date] = set()  # position partitions known to exist

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
        """Store fixes (``app.domain.fix.Fix``) as targets' positions; one transaction per batch.
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

    async def follow_fixes(self, fixes: Sequence) -> list[str]:
        """Move the cameras of mobile devices to their latest fixes (one per device, ``app.domain.fix.Fix``):
        location, view and, when the fix has a course, heading. Returns the gb_ids moved.

        Which cameras follow: a ``gb28181`` camera whose gb_id is the fix's device, or whose parent device is,
        when that device was admitted as kind 'mobile' (an administrator's word: a fixed NVR that happens to
        send MobilePosition moves nothing). A camera a person placed is never moved. The moved camera is
        marked ``placed_by = 'gb28181:position'`` so the next catalog keeps where it really is. Its track is
        the target with the same GB id (protocol 'gb28181', external_id = the fix's device id)."""
        latest = {}
        for f in fixes:
            if f.device_id not in latest or f.fix_time >= latest[f.device_id].fix_time:
                latest[f.device_id] = f
        if not latest:
            return []
        async with self.session_maker() as s, s.begin():
            cams = (await s.execute(_MOBILE_CAMERAS, {"devs": list(latest)})).mappings().all()
            moves: dict[int, dict] = {}
            for c in cams:
                f = latest[c["dev"]]
                heading = f.course_deg if f.course_deg is not None else c["heading_deg"]
                moves[c["id"]] = {"gb_id": c["gb_id"], "x": f.lon, "y": f.lat, "h": heading,
                                  "spec": ViewSpec(f.lon, f.lat, c["kind"], heading, c["fov_deg"], c["range_m"])}
            if not moves:
                return []
            for m, wkt in zip(moves.values(), view_wkts([m["spec"] for m in moves.values()]), strict=True):
                m["v"] = wkt
            await s.execute(_MOVE_CAMERAS, {
                "ids": list(moves), "x": [m["x"] for m in moves.values()], "y": [m["y"] for m in moves.values()],
                "h": [m["h"] for m in moves.values()], "v": [m["v"] for m in moves.values()]})
            return [m["gb_id"] for m in moves.values()]
