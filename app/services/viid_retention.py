"""Retention of the view library (issue #21): records older than the retention and their image files go.

Each kind has its own retention (app/config.py: ``viid_retention_days`` for records, overridden per kind),
and face images may go earlier than their face record (``viid_face_image_retention_days``, default 30): the
record stays, searchable, without its pictures.

Records age by their own time (``pass_time``; ``shot_time``, else ``received_at``, for faces, persons and
non-motor vehicles). They are deleted in batches, one short transaction each, so a backlog never holds a long
lock; the batch's image files are deleted only after its rows' deletion committed, and only those that no
remaining record names (an image is shared by the records that sent the same bytes the same day).

Alarms: ``watchlist_hit`` names its pass by ``record_id`` without a foreign key, so deleting a record never
cascades to an alarm or blocks on one. But the alarm's picture is served through the records that reference
it (app/services/viid_image_view.py): a pass caught by a watchlist whose incident is still open is kept, with
its images, until the incident is resolved or closed; then it ages out as any other."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services.kpi import OPEN_INCIDENT
from app.services.viid_images import CATEGORIES, ImageStore

log = logging.getLogger(__name__)

_HELD = (f"EXISTS (SELECT 1 FROM watchlist_hit h JOIN incident i ON i.id = h.incident_id "
         f"WHERE h.record_id = r.record_id AND i.status IN ({', '.join(repr(s) for s in OPEN_INCIDENT)}))")

_VEHICLES = text(f"""
DELETE FROM viid_motor_vehicle WHERE id IN (
  SELECT r.id FROM viid_motor_vehicle r WHERE r.pass_time < :cutoff AND NOT {_HELD}
  ORDER BY r.pass_time LIMIT :n FOR UPDATE SKIP LOCKED)
RETURNING images""")

# (kind, shot_time) index: the expired of one kind, and those of that kind without a shot time.
_OBJECTS = text("""
DELETE FROM viid_object WHERE id IN (
  SELECT r.id FROM viid_object r
  WHERE r.kind = :kind AND (r.shot_time < :cutoff OR (r.shot_time IS NULL AND r.received_at < :cutoff))
  LIMIT :n FOR UPDATE SKIP LOCKED)
RETURNING images""")

# faces past the image retention: their image list emptied (the record stays), the old list returned
_FACE_IMAGES = text("""
WITH s AS (
  SELECT r.id, r.images FROM viid_object r
  WHERE r.kind = 'face' AND r.images <> '[]'::jsonb
    AND (r.shot_time < :cutoff OR (r.shot_time IS NULL AND r.received_at < :cutoff))
  LIMIT :n FOR UPDATE SKIP LOCKED)
UPDATE viid_object o SET images = '[]'::jsonb FROM s WHERE o.id = s.id
RETURNING s.images""")

_STILL_NAMED = text("""
SELECT k FROM unnest(CAST(:keys AS text[])) AS k
WHERE EXISTS (SELECT 1 FROM viid_motor_vehicle WHERE images @> jsonb_build_array(jsonb_build_object('key', k)))
   OR EXISTS (SELECT 1 FROM viid_object WHERE images @> jsonb_build_array(jsonb_build_object('key', k)))""")

_HELD_COUNT = text(f"SELECT count(*) FROM viid_motor_vehicle r WHERE r.pass_time < :cutoff AND {_HELD}")

OBJECT_KINDS = tuple(c for c in CATEGORIES if c != "vehicle")
KINDS = CATEGORIES  # vehicle (motor-vehicle passes), face, person, nonmotor


@dataclass(frozen=True, slots=True)
class ViidSweep:
    """A view-library retention sweep: the records older than ``cutoff`` and their image files deleted."""

    at: datetime
    cutoff: datetime
    vehicles: int  # motor-vehicle passes deleted
    objects: int  # faces, persons, non-motor vehicles deleted
    images: int  # image files deleted
    batches: int  # transactions that deleted rows
    held: int  # expired passes kept for an open alarm
    face_images: int = 0  # faces whose images went (the record kept: its image retention is shorter)
    kept_days: dict[str, int] | None = None  # the retention in days applied to each kind


def _keys(rows: list) -> set[str]:
    out = set()
    for (images,) in rows:
        for img in orjson.loads(images) if isinstance(images, str | bytes) else images or []:
            if isinstance(img, dict) and isinstance(img.get("key"), str):
                out.add(img["key"])
    return out


async def _delete_files(engine: AsyncEngine, store: ImageStore, keys: set[str]) -> int:
    if not keys:
        return 0
    async with engine.connect() as conn:
        named = set((await conn.execute(_STILL_NAMED, {"keys": sorted(keys)})).scalars())
    gone = []
    for key in sorted(keys - named):
        try:
            store.path(key)
            gone.append(key)
        except ValueError:  # not a key of the store: nothing on disk of ours to delete
            pass
    return await asyncio.to_thread(store.remove, gone) if gone else 0


async def _drain(engine: AsyncEngine, store: ImageStore, stmt, params: dict, batch: int) -> tuple[int, int, int]:
    """(rows, files, batches) of deleting what ``stmt`` selects, ``batch`` rows per transaction."""
    rows = files = batches = 0
    while True:
        async with engine.begin() as conn:
            deleted = (await conn.execute(stmt, params | {"n": batch})).all()
        if not deleted:
            return rows, files, batches
        rows, batches = rows + len(deleted), batches + 1
        files += await _delete_files(engine, store, _keys(deleted))  # the rows' deletion is committed
        if len(deleted) < batch:
            return rows, files, batches


async def sweep(engine: AsyncEngine, store: ImageStore, retention_days: int, batch: int = 1000,
                *, now: datetime | None = None, kinds: Mapping[str, int] | None = None,
                face_image_days: int | None = None) -> ViidSweep:
    """Delete what is older than its retention, ``batch`` rows per transaction, until none is left.

    ``retention_days`` covers every kind not in ``kinds`` (``vehicle``, ``face``, ``person``, ``nonmotor`` →
    days); face images older than ``face_image_days`` go before their record when that is shorter."""
    days = {k: (kinds or {}).get(k, retention_days) for k in KINDS}
    if set(kinds or {}) - set(KINDS):
        raise ValueError(f"unknown kinds: {sorted(set(kinds or {}) - set(KINDS))}")
    if min(days.values()) < 1 or batch < 1 or (face_image_days is not None and face_image_days < 1):
        raise ValueError("retention days and batch must be ≥ 1")
    at = now or datetime.now(UTC)
    cutoff = at - timedelta(days=retention_days)
    cut = {k: at - timedelta(days=d) for k, d in days.items()}
    vehicles, files, batches = await _drain(engine, store, _VEHICLES, {"cutoff": cut["vehicle"]}, batch)
    objects = 0
    for kind in OBJECT_KINDS:
        n, f, b = await _drain(engine, store, _OBJECTS, {"cutoff": cut[kind], "kind": kind}, batch)
        objects, files, batches = objects + n, files + f, batches + b
    faces = 0
    if face_image_days is not None and face_image_days < days["face"]:
        faces, f, b = await _drain(engine, store, _FACE_IMAGES, {"cutoff": at - timedelta(days=face_image_days)},
                                   batch)
        files, batches = files + f, batches + b
    async with engine.connect() as conn:
        held = int((await conn.execute(_HELD_COUNT, {"cutoff": cut["vehicle"]})).scalar_one())
    return ViidSweep(at, cutoff, vehicles, objects, files, batches, held, faces, days)
