"""``target.last_*``: a derived cache of ``position``, kept outside the acknowledged transactions.

After its commit a flush marks the newest fix of each of its targets dirty (``mark``); one updater task
applies the dirty set (one ``UPDATE … FROM unnest``, only forward in fix time) on its own connection, one
round at a time, rounds at most every ``every_s`` (at once when idle; ``sync()`` waits for the round
covering what was committed before it). ``repair_last()`` (run at ingest start) moves a target's last_* to
its newest stored fix of the last day when a crash lost dirty entries (a round the database refuses is
repaired the same way at once); ``close()`` applies the dirty set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from app.ingest.writer.errors import is_data_error
from app.ingest.writer.stats import WriterStats

log = logging.getLogger(__package__)  # "app.ingest.writer", as before the split

# One round of the last-position updater: the newest committed fix of each dirty target, only forward.
_UPDATE_LAST = """
UPDATE target t SET last_fix_at = l.fix_time, last_location = ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326),
       last_speed_kmh = l.speed_kmh, last_course_deg = l.course_deg
FROM unnest($1::int[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[])
     AS l(id, fix_time, lon, lat, speed_kmh, course_deg)
WHERE t.id = l.id AND (t.last_fix_at IS NULL OR l.fix_time > t.last_fix_at)"""
# Startup repair (positions are the source of truth): a target whose last_* is older than its newest stored
# fix of the last ``$1`` seconds (a crash lost the dirty set) takes that fix. One backward probe of the
# primary key (target_id, fix_time) per target, in the partitions of that window only.
REPAIR_LAST = """
UPDATE target t SET last_fix_at = n.fix_time, last_location = n.location,
       last_speed_kmh = n.speed_kmh, last_course_deg = n.course_deg
FROM target t0 CROSS JOIN LATERAL (
  SELECT p.fix_time, p.location, p.speed_kmh, p.course_deg FROM position p
  WHERE p.target_id = t0.id AND p.fix_time >= now() - make_interval(secs => $1)
    AND p.fix_time > COALESCE(t0.last_fix_at, '-infinity')  -- in the index condition: an up-to-date target
                                                            -- costs one index descent per partition
  ORDER BY p.fix_time DESC LIMIT 1) n
WHERE t.id = t0.id"""
# The same for some targets only (the ones of an updater round the database refused).
REPAIR_LAST_OF = REPAIR_LAST + " AND t.id = ANY($2::int[])"


async def repair_last(dsn: str, window_s: float = 86_400.0) -> int:
    """Move target.last_* of every target to its newest stored fix of the last ``window_s`` seconds
    where that is newer (after a crash lost updates that were still dirty). Returns targets fixed."""
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(REPAIR_LAST, window_s)
    finally:
        await conn.close()
    fixed = int(status.split()[-1])
    if fixed:
        log.info("target.last_* repaired from position for %d targets", fixed)
    return fixed


class LastUpdater:
    """The newest committed fix per target not yet in target.last_*, and the task that applies them.
    ``connection``/``disconnect``: the updater's own connection (opened lazily, dropped on failure)."""

    def __init__(self, connection: Callable[[], Awaitable[asyncpg.Connection]],
                 disconnect: Callable[[], Awaitable[None]], stats: WriterStats, *,
                 every_s: float, max_backoff_s: float) -> None:
        self._connection, self._disconnect = connection, disconnect
        self.stats, self.every_s, self.max_backoff_s = stats, every_s, max_backoff_s
        self._dirty: dict[int, tuple] = {}  # id → (id, time, lon, lat, speed, course)
        self._dirty_gen = 0  # bumped per committed flush that dirtied targets
        self._applied_gen = 0  # every flush up to this one is in target.last_*
        self._changed = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="batch-writer-last")

    async def close(self) -> None:
        """Apply what is dirty, then stop (a clean shutdown leaves target.last_* up to date)."""
        if self._task is None:
            return
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        await self._task
        self._task = None

    async def mark(self, newest: list[tuple]) -> None:
        """A committed flush's newest (id, time, lon, lat, speed, course) per target."""
        async with self._changed:
            self._mark_dirty(newest)
            self._changed.notify_all()

    async def sync(self) -> None:
        """Return once target.last_* reflects every flush committed before this call."""
        async with self._changed:
            gen = self._dirty_gen
            self._changed.notify_all()
            await self._changed.wait_for(lambda: self._applied_gen >= gen or self._task is None)

    def _mark_dirty(self, newest: list[tuple]) -> None:
        dirty = self._dirty
        for row in newest:
            seen = dirty.get(row[0])
            if seen is None or row[1] > seen[1]:
                dirty[row[0]] = row
        self._dirty_gen += 1

    async def _repair_round(self, ids: list[int]) -> bool:
        try:
            conn = await self._connection()
            await conn.execute(REPAIR_LAST_OF, 86_400.0, ids)
        except Exception:
            log.exception("repairing target.last_* of %d targets failed", len(ids))
            await self._disconnect()
            return False
        return True

    async def _run(self) -> None:
        last_start, attempt = -1e9, 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self._dirty or self._closing
                                             or self._applied_gen < self._dirty_gen)
                if not self._dirty:
                    self._applied_gen = self._dirty_gen
                    self._changed.notify_all()
                    if self._closing:
                        return
                    continue
            # Coalesce under load: at most one round per ``every_s``; at once when idle or closing.
            wait = last_start + self.every_s - time.monotonic()
            if wait > 0 and not self._closing:  # a close cuts the wait short: shutdown never waits a round
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait_for(lambda: self._closing), wait)
            last_start = time.monotonic()
            async with self._changed:
                rows, gen, self._dirty = sorted(self._dirty.values()), self._dirty_gen, {}
            try:
                conn = await self._connection()
                t1 = time.perf_counter()
                await conn.execute(_UPDATE_LAST, *zip(*rows, strict=True))
                self.stats.update_s += time.perf_counter() - t1
                self.stats.last_rounds += 1
                self.stats.last_rows += len(rows)
                attempt = 0
            except Exception as exc:
                async with self._changed:
                    self._mark_dirty(rows)  # back into the set, unless newer fixes came meanwhile
                    self._dirty_gen -= 1
                await self._disconnect()
                attempt += 1
                if is_data_error(exc) or (self._closing and attempt > 3):
                    # Positions are the source of truth: those targets take their newest stored fix.
                    repaired = await self._repair_round([row[0] for row in rows])
                    log.error("target.last_* update failed (%s); %d targets %s", exc, len(rows),
                              "repaired from position" if repaired else "left to the startup repair")
                    async with self._changed:
                        self._dirty.clear()
                        self._applied_gen = gen
                        self._changed.notify_all()
                    continue
                delay = min(self.max_backoff_s, 0.05 * 2 ** min(attempt, 10))
                log.warning("target.last_* update failed (%s); retry %d in %.2f s", type(exc).__name__,
                            attempt, delay)
                await asyncio.sleep(delay)
                continue
            async with self._changed:
                self._applied_gen = max(self._applied_gen, gen)
                self._changed.notify_all()
