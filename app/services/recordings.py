"""Recordings held by GB/T 28181 devices: asked for on demand (a timeline, an incident's evidence) and swept
on a schedule so that the retention KPI is measured from what the devices hold, not declared.

The devices are asked through the bus (``app.realtime.rpc``, op ``record_info``), answered by the process
whose SIP server holds the channel's device. The sweep is rate-limited: a few channels per round, one at a
time, each at most once per ``every``; a channel whose device did not answer is recorded as such (its
retention is unknown: "no data", not a failure).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.errors import DomainError
from app.domain.osm_tags import DEFAULT_RETENTION_DAYS, KEY_AREA_RETENTION_DAYS
from app.domain.recordings import Segment, clip, gaps, merge, retention
from app.realtime.rpc import DeviceCalls

log = logging.getLogger(__name__)

# How far back a sweep asks: past the longest requirement, so that "holds 90 days" can be proven.
SWEEP_BACK_DAYS = KEY_AREA_RETENTION_DAYS + 10
ASK_TIMEOUT_S = 20.0  # a large NVR answers a long range in many MESSAGEs


def _dt(s: str) -> datetime:
    d = datetime.fromisoformat(s)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


async def ask(calls: DeviceCalls, channel_id: str, start: datetime, end: datetime,
              timeout_s: float = ASK_TIMEOUT_S) -> tuple[list[Segment], bool]:
    """The channel's recordings in [start, end) as its device lists them, and whether the list is complete."""
    got = await calls.call("record_info", {"channel_id": channel_id, "start": start.isoformat(),
                                           "end": end.isoformat()}, timeout_s=timeout_s)
    segs = [Segment(_dt(r["start"]), _dt(r["end"])) for r in got.get("records", [])
            if r.get("start") and r.get("end")]
    return segs, bool(got.get("complete", True))


def timeline(segs: list[Segment], start: datetime, end: datetime, complete: bool) -> dict:
    """The answer of ``GET /cameras/{id}/recordings``: merged segments and the holes between them."""
    iso = lambda s: {"start": s.start.isoformat(), "end": s.end.isoformat()}  # noqa: E731
    merged = clip(segs, start, end)  # a device lists whole files: only what lies in the range counts
    return {"start": start.isoformat(), "end": end.isoformat(), "complete": complete,
            "segments": [iso(s) for s in merged], "gaps": [iso(g) for g in gaps(merged, start, end)],
            "recorded_s": round(sum(s.seconds for s in merged), 1)}


_DUE = text("""
SELECT c.id, c.gb_id,
  EXISTS (SELECT 1 FROM key_area k WHERE ST_Intersects(k.area, c.view)) AS key_cam
FROM camera c LEFT JOIN recording_check rc ON rc.camera_id = c.id
WHERE c.source = 'gb28181' AND c.status = 'online' AND (rc.checked_at IS NULL OR rc.checked_at < :before)
ORDER BY rc.checked_at NULLS FIRST, c.id LIMIT :limit
""")

_STORE = text("""
INSERT INTO recording_check (camera_id, checked_at, answered, oldest_at, newest_at, days, gap_s, segments, error)
VALUES (:camera_id, :at, :answered, :oldest, :newest, :days, :gap_s, :segments, :error)
ON CONFLICT (camera_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, answered = EXCLUDED.answered,
  oldest_at = EXCLUDED.oldest_at, newest_at = EXCLUDED.newest_at, days = EXCLUDED.days,
  gap_s = EXCLUDED.gap_s, segments = EXCLUDED.segments, error = EXCLUDED.error
""")


async def store_check(conn: AsyncConnection, camera_id: int, now: datetime, segs: list[Segment] | None,
                      required_days: int, error: str | None = None) -> None:
    """One sweep's finding for a camera: ``segs`` None = the device did not answer (retention unknown)."""
    if segs is None:
        row = {"answered": False, "oldest": None, "newest": None, "days": None, "gap_s": None,
               "segments": None, "error": (error or "no answer")[:500]}
    else:
        r = retention(segs, now, required_days)
        row = {"answered": True, "oldest": r.oldest, "newest": r.newest, "days": r.days, "gap_s": r.gap_s,
               "segments": len(merge(segs)), "error": None}
    await conn.execute(_STORE, {"camera_id": camera_id, "at": now, **row})


async def sweep(engine: AsyncEngine, calls: DeviceCalls, *, limit: int = 10, every: timedelta = timedelta(hours=24),
                now: datetime | None = None, timeout_s: float = ASK_TIMEOUT_S) -> dict:
    """Ask up to ``limit`` due channels (never checked, or not within ``every``), one at a time; store what
    each device holds. Returns counts."""
    now = now or datetime.now(UTC)
    async with engine.connect() as conn:
        due = (await conn.execute(_DUE, {"before": now - every, "limit": limit})).all()
    answered = failed = 0
    for cam in due:
        required = KEY_AREA_RETENTION_DAYS if cam.key_cam else DEFAULT_RETENTION_DAYS
        try:
            segs, _complete = await ask(calls, cam.gb_id, now - timedelta(days=SWEEP_BACK_DAYS), now, timeout_s)
            error = None
            answered += 1
        except DomainError as exc:
            segs, error = None, str(exc)
            failed += 1
        async with engine.begin() as conn:
            await store_check(conn, cam.id, now, segs, required, error)
    if due:
        log.info("recordings sweep: %d channels asked, %d answered, %d did not", len(due), answered, failed)
    return {"asked": len(due), "answered": answered, "failed": failed}
