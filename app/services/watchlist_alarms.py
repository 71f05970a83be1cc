"""Watchlist alarms: a stored checkpoint pass that an active entry catches opens a ``watchlist`` incident.

Called by the GA/T 1400 receiver after its upload committed (acknowledged = stored, whatever happens here).
The active entries are held per process as one compiled ``Matcher``, dropped when a watchlist changes (the
``watchlists`` bus topic, from every API process) and reloaded at least every ``REFRESH_S`` (a missed
message costs at most that). A pass whose plate no entry names costs no query; a candidate is then placed
(its stored division, its checkpoint's position) and matched against the area. One alarm per (entry,
record): a record sent again raises none.

The incident is opened with the one ``incidents.open_incident`` at the checkpoint, filed under the pass's
division, with the checkpoint's camera (the wall calls it up) when the capturing device is a registered
camera; its ``incidents`` bus message carries the hit (plate, direction, image, entry) under ``watchlist``.
Interception: the dispatch console recommends the free units by road ETA for any incident it shows
(``GET /incidents/{id}/recommend``), this one included."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain import watchlist as wl
from app.ingest.viid.records import MotorVehicle
from app.services import incidents, watchlists

log = logging.getLogger("app.watchlist")

TOPIC = "watchlists"
INCIDENT_TYPE = "watchlist"
REFRESH_S = 30.0

_PLACED = text("""
SELECT mv.record_id, mv.division_code, mv.device_id, mv.uploaded_by, mv.tollgate_id, mv.direction, mv.plate_no,
       mv.pass_time, mv.images, t.name AS tollgate_name,
       COALESCE(ST_X(t.location), ST_X(c.location)) AS lon, COALESCE(ST_Y(t.location), ST_Y(c.location)) AS lat,
       c.id AS camera_id
FROM viid_motor_vehicle mv
LEFT JOIN viid_tollgate t ON t.tollgate_id = mv.tollgate_id
LEFT JOIN LATERAL (SELECT id, gb_id, location FROM camera
                   WHERE gb_id IN (mv.device_id, t.device_id) AND location IS NOT NULL
                   ORDER BY gb_id = mv.device_id DESC LIMIT 1) c ON TRUE
WHERE mv.record_id = ANY(:ids)""")

_HIT = text("""
INSERT INTO watchlist_hit (entry_id, record_id, plate_no, direction, image_sha256, tollgate_id, division_code)
VALUES (:e, :r, :p, :d, :img, :tg, :div) ON CONFLICT (entry_id, record_id) DO NOTHING RETURNING id""")


def first_image(images: Iterable[dict]) -> str | None:
    return next((i["sha256"] for i in images or () if i.get("sha256")), None)


class WatchlistAlarms:
    def __init__(self, engine: AsyncEngine, publish: Callable[[str, dict], Awaitable[None]] | None = None,
                 subscribe: Callable | None = None) -> None:
        self.engine, self.publish = engine, publish
        self._matcher: wl.Matcher | None = None
        self._loaded = 0.0
        self._generation = 0
        self._lock = asyncio.Lock()
        if subscribe is not None:
            subscribe(lambda _t, _m: self.invalidate(), topics={TOPIC})

    def invalidate(self) -> None:
        self._generation += 1
        self._matcher = None

    async def matcher(self) -> wl.Matcher:
        m = self._matcher
        if m is not None and time.monotonic() - self._loaded < REFRESH_S:
            return m
        async with self._lock:
            if self._matcher is not None and time.monotonic() - self._loaded < REFRESH_S:
                return self._matcher
            generation = self._generation
            async with self.engine.connect() as conn:
                m = wl.Matcher(await watchlists.active_entries(conn))
            if generation == self._generation:  # not changed meanwhile: keep it (else load again next time)
                self._matcher, self._loaded = m, time.monotonic()
            return m

    async def on_stored(self, records: list[MotorVehicle]) -> list[dict]:
        """The alarms these stored passes raise: incidents opened and announced; their bus messages."""
        m = await self.matcher()
        if not len(m):
            return []
        now = datetime.now(UTC)
        candidates = {r.record_id: es for r in records
                      if (es := m.plates(wl.Pass(r.record_id, r.plate_no, r.vehicle_color, None), now))}
        if not candidates:
            return []
        messages = []
        async with self.engine.begin() as conn:
            for row in (await conn.execute(_PLACED, {"ids": sorted(candidates)})).mappings():
                hits = [e for e in candidates[row["record_id"]] if wl.in_area(row["division_code"], e.area)]
                if hits and row["lon"] is None:
                    log.warning("watchlist hit on a pass without a position (checkpoint %s)", row["tollgate_id"])
                    continue
                for e in hits:
                    messages.append(await self._alarm(conn, e, row))
        messages = [x for x in messages if x is not None]
        if self.publish is not None:
            for msg in messages:
                try:
                    await self.publish("incidents", msg)
                except Exception:  # the incident is stored; the wall picks it up on its next load
                    log.exception("could not publish a watchlist alarm")
        return messages

    async def _alarm(self, conn, e: wl.Entry, row) -> dict | None:
        sha = first_image(row["images"])
        hit = (await conn.execute(_HIT, {"e": e.id, "r": row["record_id"], "p": row["plate_no"],
                                         "d": row["direction"], "img": sha, "tg": row["tollgate_id"],
                                         "div": row["division_code"]})).scalar()
        if hit is None:  # this record already raised this entry's alarm
            return None
        priority = (await conn.execute(text("SELECT priority FROM watchlist_entry WHERE id = :i"),
                                       {"i": e.id})).scalar() or 2
        where = row["tollgate_name"] or row["tollgate_id"] or row["device_id"] or ""
        feat = await incidents.open_incident(
            conn, type=INCIDENT_TYPE, priority=priority, lon=row["lon"], lat=row["lat"], source="viid",
            reporter=row["device_id"] or row["uploaded_by"], camera_id=row["camera_id"],
            division=row["division_code"],
            description=f"布控 #{e.id} · {row['plate_no']} · {where} · 方向 direction {row['direction'] or '-'}")
        await conn.execute(text("UPDATE watchlist_hit SET incident_id = :i WHERE id = :h"),
                           {"i": feat["id"], "h": hit})
        return {**incidents.opened_message(feat), "watchlist": {
            "entry_id": e.id, "record_id": row["record_id"], "plate_no": row["plate_no"],
            "direction": row["direction"], "image_sha256": sha, "tollgate_id": row["tollgate_id"],
            "tollgate_name": row["tollgate_name"], "pass_time": row["pass_time"].isoformat()}}
