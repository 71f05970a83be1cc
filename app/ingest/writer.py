"""Batched, lossless writes of fixes into the day-partitioned ``position`` table.

``add()`` returns once its fixes are committed ("acknowledged" means committed) or raises. Fixes wait
in a buffer that is flushed every ``max_delay_s`` or at ``max_rows``. A flush is one transaction:
COPY into a session temp table, create the targets never seen before, ``INSERT … SELECT … ON CONFLICT
DO NOTHING`` into ``position`` and update ``target.last_*``. The primary key (target, fix_time) makes a
replayed batch harmless, so a flush whose commit reply was lost to a crash is simply written again:
exactly once. ``target.last_*`` follows the newest fix, at most once per ``last_every_s`` of fix time
per target (so it lags by less than that for devices reporting faster). Connection-level failures
(database restarting, network) are retried with capped exponential backoff for as long as it takes;
a data error is retried once (after re-checking the
partitions) and then bisected, so one bad row fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.partitions import ensure_partitions
from app.domain.fix import Fix

log = logging.getLogger(__name__)

STAGE_COLUMNS = ("protocol", "external_id", "fix_time", "lon", "lat", "speed_kmh", "course_deg", "accuracy_m")
_STAGE = text("""
CREATE TEMP TABLE IF NOT EXISTS position_stage (
  protocol text, external_id text, fix_time timestamptz, lon float8, lat float8,
  speed_kmh float8, course_deg float8, accuracy_m float8
) ON COMMIT DELETE ROWS""")
# NOT EXISTS first: ON CONFLICT alone would burn a sequence value per known target per flush.
_NEW_TARGETS = text("""
INSERT INTO target (protocol, external_id)
SELECT DISTINCT s.protocol, s.external_id FROM position_stage s
WHERE NOT EXISTS (SELECT 1 FROM target t WHERE t.protocol = s.protocol AND t.external_id = s.external_id)
ON CONFLICT (protocol, external_id) DO NOTHING""")
_INSERT = text("""
INSERT INTO position (target_id, fix_time, location, speed_kmh, course_deg, accuracy_m, source)
SELECT t.id, s.fix_time, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), s.speed_kmh, s.course_deg,
       s.accuracy_m, s.protocol
FROM position_stage s JOIN target t ON t.protocol = s.protocol AND t.external_id = s.external_id
ON CONFLICT DO NOTHING""")
_UPDATE_LAST = text("""
UPDATE target t SET last_fix_at = l.fix_time, last_location = ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326),
       last_speed_kmh = l.speed_kmh, last_course_deg = l.course_deg
FROM (SELECT DISTINCT ON (protocol, external_id) * FROM position_stage
      ORDER BY protocol, external_id, fix_time DESC) l
WHERE t.protocol = l.protocol AND t.external_id = l.external_id
  AND (t.last_fix_at IS NULL OR l.fix_time >= t.last_fix_at + make_interval(secs => :every))""")

_TARGET_IDS = text("""
SELECT t.protocol, t.external_id, t.id FROM target t
JOIN (SELECT DISTINCT protocol, external_id FROM position_stage) s
  ON t.protocol = s.protocol AND t.external_id = s.external_id""")

# SQLSTATE classes that mean "this data cannot be written", not "the database is unreachable".
_DATA_ERROR_CLASSES = ("22", "23", "42", "0A", "21")


def _sqlstate(exc: BaseException) -> str | None:
    for e in (exc, getattr(exc, "orig", None), exc.__cause__):
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def is_data_error(exc: BaseException) -> bool:
    state = _sqlstate(exc)
    return state is not None and state[:2] in _DATA_ERROR_CLASSES


@dataclass
class WriterStats:
    flushes: int = 0
    rows_staged: int = 0
    rows_inserted: int = 0
    retries: int = 0
    failed_rows: int = 0
    partitions_created: int = 0


@dataclass
class _Entry:
    fixes: list[Fix]
    done: asyncio.Future
    queued_at: float


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_rows: int = 1000,
        max_delay_s: float = 0.1,
        max_pending_rows: int = 200_000,
        max_backoff_s: float = 2.0,
        last_every_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.max_rows, self.max_delay_s = max_rows, max_delay_s
        self.max_pending_rows = max_pending_rows
        self.max_backoff_s = max_backoff_s
        # target.last_* moves only when the new fix is at least this much newer: updating a target row
        # (GiST-indexed point) per fix is the costliest part of a flush for devices reporting > 1 Hz.
        self.last_every_s = last_every_s
        self.stats = WriterStats()
        self._entries: list[_Entry] = []
        self._pending_rows = 0
        self._changed = asyncio.Condition()
        self._known_days: set[date] = set()
        self._target_ids: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task | None = None
        self._closing = False

    async def start(self) -> BatchWriter:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="batch-writer")
        return self

    async def __aenter__(self) -> BatchWriter:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def add(self, fix: Fix) -> None:
        await self.add_many([fix])

    async def add_many(self, fixes: list[Fix]) -> None:
        """Return when every fix is committed; raise if they cannot be stored (never silently drop)."""
        if not fixes:
            return
        if self._task is None or self._closing:
            raise RuntimeError("BatchWriter is not running")
        async with self._changed:
            # Backpressure: producers wait instead of growing memory while the database is away.
            await self._changed.wait_for(lambda: self._pending_rows < self.max_pending_rows)
            entry = _Entry(list(fixes), asyncio.get_running_loop().create_future(), time.monotonic())
            self._entries.append(entry)
            self._pending_rows += len(entry.fixes)
            self._changed.notify_all()
        await asyncio.shield(entry.done)  # a cancelled caller does not cancel the write of others

    def target_id(self, key: tuple[str, str]) -> int | None:
        """The ``target.id`` of (protocol, device id), known once a fix of it was committed here."""
        return self._target_ids.get(key)

    async def close(self) -> None:
        """Flush everything buffered, then stop."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._task is not None:
            await self._task
            self._task = None

    # -- flusher -----------------------------------------------------------------------------
    async def _next_batch(self) -> list[_Entry] | None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._entries or self._closing)
            if not self._entries:
                return None
            deadline = self._entries[0].queued_at + self.max_delay_s
            while self._pending_rows < self.max_rows and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            batch, rows = [], 0
            while self._entries and (not batch or rows + len(self._entries[0].fixes) <= self.max_rows):
                entry = self._entries.pop(0)
                batch.append(entry)
                rows += len(entry.fixes)
            return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            try:
                await self._write_resilient(batch)
            finally:
                async with self._changed:
                    self._pending_rows -= sum(len(e.fixes) for e in batch)
                    self._changed.notify_all()

    async def _write_resilient(self, batch: list[_Entry]) -> None:
        attempt = data_errors = 0
        while True:
            try:
                await self._write([f for e in batch for f in e.fixes])
            except Exception as exc:
                if not is_data_error(exc):
                    attempt += 1
                    self.stats.retries += 1
                    delay = min(self.max_backoff_s, 0.05 * 2 ** min(attempt, 10)) * (0.5 + random.random())
                    log.warning(
                        "position flush failed (%s: %s); retry %d in %.2f s",
                        type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                data_errors += 1
                self._known_days.clear()  # e.g. a partition dropped by retention under our feet
                if data_errors < 2:
                    continue
                if len(batch) > 1:  # isolate the bad entry, store the others
                    half = len(batch) // 2
                    await self._write_resilient(batch[:half])
                    await self._write_resilient(batch[half:])
                    return
                log.error("position flush rejected %d fixes: %s", len(batch[0].fixes), exc)
                self.stats.failed_rows += len(batch[0].fixes)
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            for entry in batch:
                if not entry.done.done():
                    entry.done.set_result(None)
            return

    async def _ensure_days(self, fixes: list[Fix]) -> None:
        days = {f.fix_time.astimezone(UTC).date() for f in fixes} - self._known_days
        if not days:
            return
        async with self.engine.begin() as conn:
            for day in sorted(days):
                await ensure_partitions(conn, first=day, days=0)
        self._known_days |= days
        self.stats.partitions_created += len(days)

    async def _write(self, fixes: list[Fix]) -> None:
        await self._ensure_days(fixes)
        records = [
            (f.protocol, f.device_id, f.fix_time, f.lon, f.lat, f.speed_kmh, f.course_deg, f.accuracy_m)
            for f in fixes
        ]
        async with self.engine.begin() as conn:
            await conn.execute(_STAGE)  # also opens the transaction the COPY below joins
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.copy_records_to_table("position_stage", records=records, columns=STAGE_COLUMNS)
            await conn.execute(_NEW_TARGETS)
            inserted = (await conn.execute(_INSERT)).rowcount
            await conn.execute(_UPDATE_LAST, {"every": self.last_every_s})
            ids = (await conn.execute(_TARGET_IDS)).all()
        # Only after the commit: a rolled-back flush must not leave ids of targets that do not exist.
        self._target_ids.update(((p, e), i) for p, e, i in ids)
        self.stats.flushes += 1
        self.stats.rows_staged += len(records)
        self.stats.rows_inserted += max(inserted, 0)
