"""Persistence for GB/T 28181 access: cameras from catalogs, status history, positions, alarm incidents.

Each method is one short transaction. Status changes are written as ``camera_status_event`` rows in
the same statement that changes ``camera.status`` (a CTE compares with the pre-statement snapshot),
so the intact-rate history never disagrees with the camera table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import orjson
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.camera_view import view_wkts
from app.services import incidents
from app.services.gb28181_mobile import MobileStore

log = logging.getLogger(__name__)

# Catalog rows are written in batches, one statement per ``_BATCH`` channels (a 10,000-channel NVR is ten
# statements in one transaction, not 10,000). A camera a person placed (``placed_by`` set: a planner's
# correction, or a mobile device's own fixes) keeps its location, view, heading and division; name, status,
# kind etc. still follow the catalog.
_BATCH = 1000
_ROWS = """rows AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
    gb_id text, name text, owner text, kind text, heading_deg float8, secrecy int, status text,
    parent_device text, division_code text, lon float8, lat float8, view text))"""

_UPSERT_CAMERAS = text(f"""
WITH {_ROWS},
prev AS (SELECT c.id, c.status FROM camera c JOIN rows r ON c.gb_id = r.gb_id),
up AS (
  INSERT INTO camera (gb_id, name, owner, kind, heading_deg, secrecy, status, parent_device, division_code,
                      location, view, source, last_seen_at, updated_at)
  SELECT r.gb_id, r.name, r.owner, r.kind, r.heading_deg, r.secrecy, r.status, r.parent_device,
         -- where the camera is decides its division (its scope); the catalog's CivilCode only where no
         -- division's boundary holds it
         COALESCE((SELECT d.code FROM division d
                   WHERE ST_Contains(d.boundary, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326))
                   ORDER BY d.level DESC LIMIT 1), r.division_code),
         ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), ST_GeomFromText(r.view, 4326), 'gb28181', now(), now()
  FROM rows r ORDER BY r.gb_id  -- rows locked in gb_id order, as by every writer of camera rows
  ON CONFLICT (gb_id) DO UPDATE SET
    name = EXCLUDED.name, owner = COALESCE(EXCLUDED.owner, camera.owner), kind = EXCLUDED.kind,
    heading_deg = CASE WHEN camera.placed_by IS NULL THEN COALESCE(EXCLUDED.heading_deg, camera.heading_deg)
                       ELSE camera.heading_deg END,
    secrecy = EXCLUDED.secrecy, status = EXCLUDED.status, parent_device = EXCLUDED.parent_device,
    division_code = CASE WHEN camera.placed_by IS NULL THEN COALESCE(EXCLUDED.division_code, camera.division_code)
                         ELSE camera.division_code END,
    location = CASE WHEN camera.placed_by IS NULL THEN EXCLUDED.location ELSE camera.location END,
    view = CASE WHEN camera.placed_by IS NULL THEN EXCLUDED.view ELSE camera.view END,
    networked = true, last_seen_at = now(), updated_at = now()
  RETURNING id, gb_id, status),
ev AS (INSERT INTO camera_status_event (camera_id, status)
       SELECT up.id, up.status FROM up LEFT JOIN prev ON prev.id = up.id
       WHERE prev.status IS DISTINCT FROM up.status RETURNING camera_id)
SELECT up.gb_id, prev.status IS DISTINCT FROM up.status AS changed FROM up LEFT JOIN prev ON prev.id = up.id
""")

# A channel without coordinates cannot be put on the map; it only updates a camera that exists.
_UPDATE_CAMERAS = text(f"""
WITH {_ROWS},
prev AS (SELECT c.id, c.status FROM camera c JOIN rows r ON c.gb_id = r.gb_id ORDER BY c.gb_id FOR UPDATE OF c),
up AS (
  UPDATE camera c SET name = r.name, kind = r.kind, secrecy = r.secrecy, status = r.status,
    parent_device = r.parent_device, division_code = COALESCE(r.division_code, c.division_code),
    last_seen_at = now(), updated_at = now()
  FROM rows r WHERE c.gb_id = r.gb_id RETURNING c.id, c.gb_id, c.status),
ev AS (INSERT INTO camera_status_event (camera_id, status)
       SELECT up.id, up.status FROM up JOIN prev ON prev.id = up.id
       WHERE prev.status IS DISTINCT FROM up.status RETURNING camera_id)
SELECT up.gb_id, prev.status IS DISTINCT FROM up.status AS changed FROM up JOIN prev ON prev.id = up.id
""")

_SET_STATUS = text("""
WITH prev AS (
  SELECT id FROM camera
  WHERE (gb_id = ANY(CAST(:ids AS text[])) OR parent_device = ANY(CAST(:devices AS text[])))
    AND status <> :status AND status <> 'planned' AND source = 'gb28181'
  ORDER BY gb_id FOR UPDATE),
up AS (
  UPDATE camera c SET status = :status, updated_at = now(),
    last_seen_at = CASE WHEN :status = 'online' THEN now() ELSE c.last_seen_at END
  FROM prev WHERE c.id = prev.id RETURNING c.id, c.gb_id),
ev AS (INSERT INTO camera_status_event (camera_id, status) SELECT id, :status FROM up RETURNING camera_id)
SELECT gb_id FROM up
""")


# One statement for a round of device state (device_state.py): {gb_id: {field: value}}, a field left out
# keeps its value; ``online`` moves ``status_since`` (to ``at``) only when it changes.
_UPDATE_DEVICES = text("""
UPDATE gb_device d SET
  online = COALESCE((u.f->>'online')::bool, d.online),
  status_since = CASE WHEN u.f ? 'online' AND ((u.f->>'online')::bool IS DISTINCT FROM d.online
                                               OR d.status_since IS NULL)
                      THEN (u.f->>'at')::timestamptz ELSE d.status_since END,
  registered_at = COALESCE((u.f->>'registered_at')::timestamptz, d.registered_at),
  last_keepalive_at = COALESCE((u.f->>'last_keepalive_at')::timestamptz, d.last_keepalive_at),
  expires_at = COALESCE((u.f->>'expires_at')::timestamptz, d.expires_at),
  transport = COALESCE(u.f->>'transport', d.transport),
  address = COALESCE(u.f->>'address', d.address),
  edition = COALESCE(u.f->>'edition', d.edition),
  manufacturer = COALESCE(u.f->>'manufacturer', d.manufacturer),
  model = COALESCE(u.f->>'model', d.model),
  firmware = COALESCE(u.f->>'firmware', d.firmware),
  channel_count = COALESCE((u.f->>'channel_count')::int, d.channel_count),
  catalog_sum = COALESCE((u.f->>'catalog_sum')::int, d.catalog_sum),
  directory = COALESCE(u.f->'directory', d.directory)
FROM jsonb_each(CAST(:rows AS jsonb)) AS u(gb_id, f)
WHERE d.gb_id = CAST(u.gb_id AS char(20))
""")





class Gb28181Store(MobileStore):
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(session_maker)
        self._divisions: dict[str, bool] = {}  # code → exists

    async def _division(self, s: AsyncSession, rows: Sequence[dict]) -> None:
        """Learn in one query which of the rows' CivilCode candidates are known divisions."""
        unknown = sorted({c for r in rows for c in r["division_candidates"]} - self._divisions.keys())
        if unknown:
            found = set((await s.execute(
                text("SELECT code FROM division WHERE code = ANY(CAST(:c AS text[]))"), {"c": unknown})).scalars())
            self._divisions.update({c: c in found for c in unknown})

    async def upsert_cameras(self, rows: Iterable[dict]) -> dict[str, list[str]]:
        """Insert or update cameras from catalog rows (see ``mapping.camera_row``), in batches, one
        transaction. Returns {'stored': gb_ids, 'changed': gb_ids whose status changed, 'skipped': no location}."""
        by_id = {r["gb_id"]: r for r in rows}  # a channel listed twice: its last entry (one row per statement)
        # Rows are written in gb_id order, as every other writer of camera rows locks them (status, touch):
        # two transactions never wait on each other in a circle. A deadlock with another writer is retried.
        by_id = dict(sorted(by_id.items()))
        for attempt in (1, 2):
            try:
                return await self._upsert_cameras(by_id)
            except DBAPIError as exc:
                if attempt == 2 or "deadlock" not in str(exc).lower():
                    raise
                log.warning("camera upsert deadlocked; retrying once")
        raise AssertionError("unreachable")

    async def _upsert_cameras(self, by_id: dict[str, dict]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"stored": [], "changed": [], "skipped": []}
        async with self.session_maker() as s, s.begin():
            await self._division(s, list(by_id.values()))
            placed, unplaced = [], []
            for row in by_id.values():
                params = {k: row[k] for k in ("gb_id", "name", "owner", "kind", "heading_deg", "secrecy", "status",
                                              "parent_device")}
                params["division_code"] = next((c for c in row["division_candidates"] if self._divisions[c]), None)
                spec = row["view_spec"]
                if spec is not None:
                    placed.append(params | {"lon": spec.lon, "lat": spec.lat, "spec": spec})
                else:
                    unplaced.append(params | {"lon": None, "lat": None, "view": None})
            for p, wkt in zip(placed, view_wkts([p.pop("spec") for p in placed]), strict=True):
                p["view"] = wkt
            for stmt, batch in [(_UPSERT_CAMERAS, placed), (_UPDATE_CAMERAS, unplaced)]:
                for i in range(0, len(batch), _BATCH):
                    part = batch[i : i + _BATCH]
                    res = (await s.execute(stmt, {"rows": orjson.dumps(part).decode()})).all()
                    out["stored"] += [r.gb_id for r in res]
                    out["changed"] += [r.gb_id for r in res if r.changed]
                    if stmt is _UPDATE_CAMERAS:
                        done = {r.gb_id for r in res}
                        out["skipped"] += [p["gb_id"] for p in part if p["gb_id"] not in done]
        return out

    async def delete_cameras(self, gb_ids: Sequence[str]) -> list[dict]:
        """Channels a device removed (catalog DEL); only cameras this protocol created. Returns what the
        live feed needs to announce each one gone (its row is): gb_id, id, division, secrecy."""
        async with self.session_maker() as s, s.begin():
            res = await s.execute(
                text("DELETE FROM camera WHERE gb_id = ANY(CAST(:ids AS text[])) AND source = 'gb28181'"
                     " RETURNING gb_id, id, division_code AS division, secrecy"),
                {"ids": list(gb_ids)},
            )
            return [dict(r._mapping) for r in res]

    async def prune_cameras(self, device_id: str, keep: Sequence[str]) -> list[dict]:
        """A lower platform's channels that its complete catalog no longer lists (unshared while the link was
        down): deleted; as ``delete_cameras`` returns them. Locked in gb_id order, as every writer of these rows."""
        async with self.session_maker() as s, s.begin():
            res = await s.execute(text(
                "WITH gone AS (SELECT id FROM camera WHERE parent_device = :d AND source = 'gb28181'"
                " AND gb_id <> ALL(CAST(:keep AS text[])) ORDER BY gb_id FOR UPDATE)"
                " DELETE FROM camera c USING gone WHERE c.id = gone.id"
                " RETURNING c.gb_id, c.id, c.division_code AS division, c.secrecy"),
                {"d": device_id, "keep": list(keep)})
            return [dict(r._mapping) for r in res]

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

    async def update_devices(self, rows: dict[str, dict]) -> int:
        """Live state of registered devices into their ``gb_device`` rows (devices without one are not
        admitted by the registry: nothing to write)."""
        if not rows:
            return 0
        async with self.session_maker() as s, s.begin():
            res = await s.execute(_UPDATE_DEVICES, {"rows": orjson.dumps(rows).decode()})
            return res.rowcount or 0

    async def offline_lapsed(self) -> int:
        """Devices whose registration lapsed with no SIP server to sweep them (the process holding them
        stopped or restarted): offline since their registration ran out."""
        async with self.session_maker() as s, s.begin():
            res = await s.execute(text("UPDATE gb_device SET online = false, status_since = expires_at "
                                       "WHERE online AND expires_at < now()"))
            return res.rowcount or 0

    async def touch(self, gb_ids: Sequence[str], device_ids: Sequence[str]) -> None:
        """last_seen_at = now() for cameras heard from (batched, one statement)."""
        if not gb_ids and not device_ids:
            return
        async with self.session_maker() as s, s.begin():
            await s.execute(
                text(
                    "WITH hit AS (SELECT id FROM camera WHERE source = 'gb28181' AND "
                    "(gb_id = ANY(CAST(:ids AS text[])) OR parent_device = ANY(CAST(:devs AS text[]))) "
                    "ORDER BY gb_id FOR UPDATE) "  # gb_id order, as every writer of these rows: no deadlock
                    "UPDATE camera c SET last_seen_at = now() FROM hit WHERE c.id = hit.id"
                ),
                {"ids": list(gb_ids), "devs": list(device_ids)},
            )

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
            # Filed under the alarming camera's division (the place's when no camera is known).
            feat = await incidents.open_incident(
                await s.connection(), type=row["type"], priority=row["priority"], description=row["description"],
                reporter=row["device_id"], source="gb28181", lon=point[0], lat=point[1],
                camera_id=cam.id if cam is not None else None,
                **({"division": cam.division_code} if cam is not None else {}))
        # The ``incidents`` message (division, lon/lat, the incident as the wall draws it) and the alarm's own fields.
        return {**incidents.opened_message(feat), "camera_gb_id": cam.gb_id if cam is not None else None,
                "alarm_method": row["alarm_method"], "alarm_type": row["alarm_type"],
                "alarm_time": row["alarm_time"].isoformat() if row["alarm_time"] else None}
