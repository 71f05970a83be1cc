"""Batched, lossless writes of fixes into the day-partitioned ``position`` table.

``add()`` returns once its fixes are committed ("acknowledged" means committed) or raises. Fixes wait
in a buffer that is flushed at ``max_rows`` or after ``max_delay_s``; what queues up during a flush goes
in the next one (group commit). Up to ``connections`` flushes run at once, each one transaction on a
connection of the writer's own: create the targets never seen before (ids are cached after commit) and
binary ``COPY`` straight into ``position``. ``target.last_*`` is a derived cache of ``position``, not part
of the acknowledged transaction: after its commit a flush marks the newest fix of each of its targets
dirty, and one updater task applies the dirty set (one ``UPDATE … FROM unnest``, only forward in fix
time) on its own connection, one round at a time, rounds at most every ``last_every_s`` (at once when
idle; ``sync_last()`` waits for the round covering what was committed before it). ``repair_last()``
(run at ingest start) moves a target's last_* to its newest stored fix of the last day when a crash
lost dirty entries (a round the database refuses is repaired the same way at once); ``close()`` applies
the dirty set. The binary COPY rows (points as
EWKB, times as microseconds) are built with numpy per NULL pattern and protocol, by the producer in
``add_many`` when all its targets are known: the flush itself only joins bytes. The primary key
(target, fix_time) makes a replayed batch harmless: if the COPY meets a stored row (a flush whose commit
reply was lost to a crash, a device resending), the same rows go through a temp table and ``INSERT …
ON CONFLICT DO NOTHING`` instead: exactly once. Connection-level failures (database restarting,
network) are retried on a new connection with capped exponential backoff for as long as it takes; a data
error is retried once (after re-checking the partitions) and then bisected, so one bad row fails only its
own caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.partitions import ensure_partitions
from app.domain.fix import Fix

log = logging.getLogger(__name__)

COLUMNS = ("target_id", "fix_time", "location", "speed_kmh", "course_deg", "accuracy_m", "source")
# Same columns as ``position``; used only when a batch collides with stored rows (a replay).
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS position_stage
  (LIKE position INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"""
_FROM_STAGE = """
INSERT INTO position (target_id, fix_time, location, speed_kmh, course_deg, accuracy_m, source)
SELECT target_id, fix_time, location, speed_kmh, course_deg, accuracy_m, source FROM position_stage
ON CONFLICT DO NOTHING"""
# NOT EXISTS first: ON CONFLICT alone would burn a sequence value per known target per flush.
_NEW_TARGETS = """
WITH k AS (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(protocol, external_id))
INSERT INTO target (protocol, external_id)
SELECT k.protocol, k.external_id FROM k
WHERE NOT EXISTS (SELECT 1 FROM target t WHERE t.protocol = k.protocol AND t.external_id = k.external_id)
ON CONFLICT (protocol, external_id) DO NOTHING"""
_TARGET_IDS = """
SELECT t.protocol, t.external_id, t.id FROM target t
JOIN unnest($1::text[], $2::text[]) AS k(protocol, external_id)
  ON t.protocol = k.protocol AND t.external_id = k.external_id"""
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
    replays: int = 0  # flushes that met already stored rows and went the ON CONFLICT way
    # Seconds spent, summed over flushes: where a flush's time goes (whole flush, COPY, target UPDATE).
    flush_s: float = 0.0
    copy_s: float = 0.0
    update_s: float = 0.0  # spent by the last-position updater (outside the flushes)
    last_rounds: int = 0  # rounds of the last-position updater
    last_rows: int = 0  # targets sent by them (coalesced: one per target per round)


@dataclass
class _Entry:
    fixes: list[Fix]
    done: asyncio.Future
    queued_at: float
    # Prepared by the producer (outside the flush, while the database works on the previous one) when
    # all its targets were known: its binary COPY rows, their target ids, its earliest and latest time.
    data: bytes | None = None
    tids: list[int] | None = None
    first: datetime | None = None
    last: datetime | None = None


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_rows: int = 2000,
        max_batch_rows: int = 20_000,
        max_delay_s: float = 0.05,
        max_pending_rows: int = 200_000,
        max_backoff_s: float = 2.0,
        last_every_s: float = 1.0,
        connections: int = 2,
    ) -> None:
        self.engine = engine
        # Flushes in flight at once, each on its own connection: while one waits for the database's
        # COPY and commit, the next batch is already being written (the database works on both).
        self.connections = max(1, connections)
        # Flush at ``max_rows`` or after ``max_delay_s``; rows that queued up while a flush was running
        # go together in the next one, up to ``max_batch_rows`` (group commit: under load, batches grow
        # by themselves and one commit answers many callers).
        self.max_rows, self.max_delay_s = max_rows, max_delay_s
        self.max_batch_rows = max(max_rows, max_batch_rows)
        self.max_pending_rows = max_pending_rows
        self.max_backoff_s = max_backoff_s
        # target.last_* is a derived cache of ``position``, kept outside the acknowledged transactions:
        # a committed flush marks its targets' newest fixes dirty and one updater applies them, one round
        # at a time, rounds starting at most every ``last_every_s`` (at once when idle). Updating a
        # GiST-indexed target row per flush was most of the database's work per row; even coalesced, a
        # target's update costs ~35 µs of database time (a new tuple in every index, the GiST one too),
        # so under load a round per second (a position at most 1 s old for dispatch, which reads
        # last_*; the live map does not) instead of four keeps it ~0.7 µs per stored row, not ~2.7.
        self.last_every_s = last_every_s
        self.stats = WriterStats()
        self._entries: deque[_Entry] = deque()
        self._pending_rows = 0  # added and not yet written (backpressure)
        self._queued_rows = 0  # added and not yet taken by a flush
        self._changed = asyncio.Condition()
        self._known_days: set[date] = set()
        # Committed facts of this process, so a steady-state flush is one COPY and at most one UPDATE.
        self._target_ids: dict[tuple[str, str], int] = {}
        self._conns: list[asyncpg.Connection | None] = [None] * (self.connections + 1)  # + the updater's
        self._serial = asyncio.Lock()  # creating target rows: one flush at a time (see ``_write``)
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        # The last-position updater: newest committed fix per target not yet in target.last_*.
        self._dirty: dict[int, tuple] = {}  # id → (id, time, lon, lat, speed, course)
        self._dirty_gen = 0  # bumped per committed flush that dirtied targets
        self._applied_gen = 0  # every flush up to this one is in target.last_*
        self._last_changed = asyncio.Condition()
        self._last_task: asyncio.Task | None = None
        self._last_closing = False

    async def start(self) -> BatchWriter:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(slot), name=f"batch-writer-{slot}")
                           for slot in range(self.connections)]
            self._last_closing = False
            self._last_task = asyncio.create_task(self._run_last(), name="batch-writer-last")
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
        if not self._tasks or self._closing:
            raise RuntimeError("BatchWriter is not running")
        async with self._changed:
            # Backpressure: producers wait instead of growing memory while the database is away.
            await self._changed.wait_for(lambda: self._pending_rows < self.max_pending_rows)
            entry = self._prepare(fixes)
            self._entries.append(entry)
            self._pending_rows += len(entry.fixes)
            self._queued_rows += len(entry.fixes)
            self._changed.notify_all()
        await asyncio.shield(entry.done)  # a cancelled caller does not cancel the write of others

    @property
    def target_ids(self) -> dict[tuple[str, str], int]:
        """(protocol, device id) → ``target.id`` of the targets committed here (read only)."""
        return self._target_ids

    def _prepare(self, fixes: list[Fix]) -> _Entry:
        fixes = _unique(list(fixes))
        entry = _Entry(fixes, asyncio.get_running_loop().create_future(), time.monotonic())
        ids = self._target_ids
        tids = list(map(ids.get, map(_KEY, fixes)))
        if None not in tids:
            times = list(map(_TIME, fixes))
            entry.tids, entry.data = tids, copy_rows(fixes, tids, times)
            entry.first, entry.last = min(times), max(times)
        return entry

    def target_id(self, key: tuple[str, str]) -> int | None:
        """The ``target.id`` of (protocol, device id), known once a fix of it was committed here."""
        return self._target_ids.get(key)

    async def close(self) -> None:
        """Flush everything buffered, then stop."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._tasks:
            await asyncio.gather(*self._tasks)
            self._tasks = []
        if self._last_task is not None:  # a clean shutdown leaves target.last_* up to date
            async with self._last_changed:
                self._last_closing = True
                self._last_changed.notify_all()
            await self._last_task
            self._last_task = None
        for slot in range(self.connections + 1):
            await self._disconnect(slot)

    # -- target.last_* -------------------------------------------------------------------------
    async def sync_last(self) -> None:
        """Return once target.last_* reflects every flush committed before this call (read-your-writes
        for a caller that reads a target's last position right after its fixes were acknowledged)."""
        async with self._last_changed:
            gen = self._dirty_gen
            self._last_changed.notify_all()
            await self._last_changed.wait_for(lambda: self._applied_gen >= gen or self._last_task is None)

    async def repair_last(self, window_s: float = 86_400.0) -> int:
        """Move target.last_* of every target to its newest stored fix of the last ``window_s`` seconds
        where that is newer (after a crash lost updates that were still dirty). Returns targets fixed."""
        conn = await asyncpg.connect(self._dsn())
        try:
            status = await conn.execute(REPAIR_LAST, window_s)
        finally:
            await conn.close()
        fixed = int(status.split()[-1])
        if fixed:
            log.info("target.last_* repaired from position for %d targets", fixed)
        return fixed

    async def _repair_round(self, ids: list[int]) -> bool:
        try:
            conn = await self._connection(self.connections)
            await conn.execute(REPAIR_LAST_OF, 86_400.0, ids)
        except Exception:
            log.exception("repairing target.last_* of %d targets failed", len(ids))
            await self._disconnect(self.connections)
            return False
        return True

    def _mark_dirty(self, newest: list[tuple]) -> None:
        dirty = self._dirty
        for row in newest:
            seen = dirty.get(row[0])
            if seen is None or row[1] > seen[1]:
                dirty[row[0]] = row
        self._dirty_gen += 1

    async def _run_last(self) -> None:
        slot, last_start, attempt = self.connections, -1e9, 0
        while True:
            async with self._last_changed:
                await self._last_changed.wait_for(lambda: self._dirty or self._last_closing
                                                  or self._applied_gen < self._dirty_gen)
                if not self._dirty:
                    self._applied_gen = self._dirty_gen
                    self._last_changed.notify_all()
                    if self._last_closing:
                        return
                    continue
            # Coalesce under load: at most one round per ``last_every_s``; at once when idle or closing.
            wait = last_start + self.last_every_s - time.monotonic()
            if wait > 0 and not self._last_closing:
                await asyncio.sleep(wait)
            last_start = time.monotonic()
            async with self._last_changed:
                rows, gen, self._dirty = sorted(self._dirty.values()), self._dirty_gen, {}
            try:
                conn = await self._connection(slot)
                t1 = time.perf_counter()
                await conn.execute(_UPDATE_LAST, *zip(*rows, strict=True))
                self.stats.update_s += time.perf_counter() - t1
                self.stats.last_rounds += 1
                self.stats.last_rows += len(rows)
                attempt = 0
            except Exception as exc:
                async with self._last_changed:
                    self._mark_dirty(rows)  # back into the set, unless newer fixes came meanwhile
                    self._dirty_gen -= 1
                await self._disconnect(slot)
                attempt += 1
                if is_data_error(exc) or (self._last_closing and attempt > 3):
                    # Positions are the source of truth: those targets take their newest stored fix.
                    repaired = await self._repair_round([row[0] for row in rows])
                    log.error("target.last_* update failed (%s); %d targets %s", exc, len(rows),
                              "repaired from position" if repaired else "left to the startup repair")
                    async with self._last_changed:
                        self._dirty.clear()
                        self._applied_gen = gen
                        self._last_changed.notify_all()
                    continue
                delay = min(self.max_backoff_s, 0.05 * 2 ** min(attempt, 10))
                log.warning("target.last_* update failed (%s); retry %d in %.2f s", type(exc).__name__,
                            attempt, delay)
                await asyncio.sleep(delay)
                continue
            async with self._last_changed:
                self._applied_gen = max(self._applied_gen, gen)
                self._last_changed.notify_all()

    # -- flusher -----------------------------------------------------------------------------
    async def _next_batch(self) -> list[_Entry] | None:
        async with self._changed:
            while True:
                await self._changed.wait_for(lambda: self._entries or self._closing)
                if not self._entries:
                    return None
                # Rows that waited through the previous flush are past their deadline: no extra wait then.
                while self._entries and self._queued_rows < self.max_rows and not self._closing:
                    remaining = self._entries[0].queued_at + self.max_delay_s - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._changed.wait(), remaining)
                    except TimeoutError:
                        break
                if not self._entries:
                    continue  # another flusher took them meanwhile
                batch, rows = [], 0
                while self._entries and (not batch or rows + len(self._entries[0].fixes) <= self.max_batch_rows):
                    entry = self._entries.popleft()
                    batch.append(entry)
                    rows += len(entry.fixes)
                self._queued_rows -= rows
                return batch

    async def _run(self, slot: int) -> None:
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            try:
                await self._write_resilient(batch, slot)
            finally:
                async with self._changed:
                    self._pending_rows -= sum(len(e.fixes) for e in batch)
                    self._changed.notify_all()

    async def _write_resilient(self, batch: list[_Entry], slot: int = 0) -> None:
        attempt = data_errors = 0
        while True:
            try:
                await self._write(batch, slot)
            except Exception as exc:
                if not is_data_error(exc):
                    attempt += 1
                    self.stats.retries += 1
                    await self._disconnect(slot)  # a fresh connection for the next attempt
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
                # e.g. a partition dropped by retention under our feet, or a target deleted
                self._known_days.clear()
                self._target_ids.clear()
                for entry in batch:  # prepared with ids that may be wrong now: the full way next time
                    entry.data = entry.tids = None
                if data_errors < 2:
                    continue
                if len(batch) > 1:  # isolate the bad entry, store the others
                    half = len(batch) // 2
                    await self._write_resilient(batch[:half], slot)
                    await self._write_resilient(batch[half:], slot)
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

    # -- one flush ---------------------------------------------------------------------------
    async def _connection(self, slot: int = 0) -> asyncpg.Connection:
        """The writer's own connection(s): they carry a binary codec for ``geometry`` (EWKB bytes in, no
        text parsing in the server), which must not leak into the pool shared with the rest of the app."""
        conn = self._conns[slot]
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(self._dsn())
            try:
                schema = await conn.fetchval(
                    "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE t.typname = 'geometry'")
                await conn.set_type_codec("geometry", schema=schema, encoder=bytes, decoder=bytes, format="binary")
                await conn.execute(_STAGE)
            except BaseException:
                await conn.close()
                raise
            self._conns[slot] = conn
        return conn

    def _dsn(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _disconnect(self, slot: int = 0) -> None:
        conn, self._conns[slot] = self._conns[slot], None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    async def _ensure_days(self, fixes: list[Fix], first: datetime | None = None,
                           last: datetime | None = None) -> None:
        # Usually every fix of a batch falls on one or two known days: look at the extremes first.
        if first is None or last is None:
            first, last = min(f.fix_time for f in fixes), max(f.fix_time for f in fixes)
        ends = {first.astimezone(UTC).date(), last.astimezone(UTC).date()}
        if ends <= self._known_days and (last - first).days == 0:
            return
        days = {f.fix_time.astimezone(UTC).date() for f in fixes} - self._known_days
        if not days:
            return
        async with self.engine.begin() as conn:
            for day in sorted(days):
                await ensure_partitions(conn, first=day, days=0)
        self._known_days |= days
        self.stats.partitions_created += len(days)

    async def _write(self, batch: list[_Entry], slot: int = 0) -> None:
        t0 = time.perf_counter()
        fixes = [f for e in batch for f in e.fixes]
        prepared = all(e.data is not None for e in batch)
        if prepared:
            await self._ensure_days(fixes, min(e.first for e in batch), max(e.last for e in batch))
        else:
            await self._ensure_days(fixes)
        conn = await self._connection(slot)
        # Flushes that create targets take turns up to their commit (they never wait for each other's
        # target rows in a cycle); the steady state (every target known) locks no target row at all.
        serial, held = self._serial, False
        if not prepared:
            await serial.acquire()
            held = True
        tr = conn.transaction()
        try:
            await tr.start()
            if prepared:
                # The steady state: every row encoded by its producer, the flush only joins them. (Rows of
                # two entries with the same key meet in the database: the ON CONFLICT way below.)
                new_ids: dict[tuple[str, str], int] = {}
                tids = [t for e in batch for t in e.tids]
                data = b"".join([_COPY_HEADER, *(e.data for e in batch), _COPY_TRAILER])
            else:
                fixes = _unique(fixes)
                new_ids = await self._resolve_targets(conn, fixes)
                ids = {**self._target_ids, **new_ids} if new_ids else self._target_ids
                tids = [ids[(f.protocol, f.device_id)] for f in fixes]  # once per fix, used twice below
                data = copy_binary(fixes, tids)
            try:
                # The common case: none of these rows is stored yet, so COPY straight into ``position``
                # (as fast as a raw COPY). A savepoint keeps the transaction usable if one is (a replay).
                t1 = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_to_table("position", source=_chunks(data), columns=COLUMNS, format="binary")
                inserted = len(fixes)
                self.stats.copy_s += time.perf_counter() - t1
            except asyncpg.UniqueViolationError:
                await conn.copy_to_table("position_stage", source=_chunks(data), columns=COLUMNS, format="binary")
                inserted = int((await conn.execute(_FROM_STAGE)).split()[-1])
                self.stats.replays += 1
            await tr.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await tr.rollback()
            raise
        finally:
            if held:
                serial.release()
        # Only after the commit: a rolled-back flush must not leave ids of targets that do not exist.
        self._target_ids.update(new_ids)
        # Acknowledged: target.last_* follows outside this transaction (a derived cache of ``position``).
        newest = self._newest_per_target(fixes, tids)
        if newest:
            async with self._last_changed:
                self._mark_dirty(newest)
                self._last_changed.notify_all()
        self.stats.flushes += 1
        self.stats.flush_s += time.perf_counter() - t0
        self.stats.rows_staged += len(fixes)
        self.stats.rows_inserted += inserted

    async def _resolve_targets(self, conn: asyncpg.Connection, fixes: list[Fix]) -> dict[tuple[str, str], int]:
        """Ids of the targets not known yet (created if new), in the flush's transaction."""
        unknown = {(f.protocol, f.device_id) for f in fixes} - self._target_ids.keys()
        if not unknown:
            return {}
        protocols, external_ids = zip(*unknown, strict=True)
        await conn.execute(_NEW_TARGETS, protocols, external_ids)
        return {(p, e): i for p, e, i in await conn.fetch(_TARGET_IDS, protocols, external_ids)}

    def _newest_per_target(self, fixes: list[Fix], tids: list[int]) -> list[tuple]:
        """(id, time, lon, lat, speed, course) of each target's newest fix here (the database decides)."""
        newest: dict[int, Fix] = {}
        for f, tid in zip(fixes, tids, strict=True):
            seen = newest.get(tid)
            if seen is None or f.fix_time > seen.fix_time:
                newest[tid] = f
        return [(tid, f.fix_time, f.lon, f.lat, f.speed_kmh, f.course_deg) for tid, f in newest.items()]


_KEY = operator.attrgetter("protocol", "device_id")
_TIME = operator.attrgetter("fix_time")
_ROW_KEY = operator.attrgetter("protocol", "device_id", "fix_time")


def _unique(fixes: list[Fix]) -> list[Fix]:
    """First fix per (target, time): the primary key, so a batch never collides with itself."""
    keys = list(map(_ROW_KEY, fixes))
    if len(set(keys)) == len(keys):
        return fixes  # the usual case, decided in one pass
    seen: set[tuple[str, str, datetime]] = set()
    out = []
    for f, k in zip(fixes, keys, strict=True):
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out


# A point as EWKB: little-endian, type Point with the SRID flag, SRID 4326, x, y (25 bytes).
_EWKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])


def ewkb_points(lons: np.ndarray, lats: np.ndarray) -> list[bytes]:
    """EWKB of SRID-4326 points, built as one numpy buffer (no GEOS geometry per point)."""
    n = len(lons)
    arr = np.empty(n, _EWKB_POINT)
    arr["order"], arr["type"], arr["srid"], arr["x"], arr["y"] = 1, 0x20000001, 4326, lons, lats
    buf, size = arr.tobytes(), _EWKB_POINT.itemsize
    return [buf[i:i + size] for i in range(0, n * size, size)]


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags 0, no header extension
_COPY_TRAILER = b"\xff\xff"
_OPTIONAL = ("speed_kmh", "course_deg", "accuracy_m")  # float8 columns that may be NULL
_VALUES = (operator.attrgetter("speed_kmh"), operator.attrgetter("course_deg"), operator.attrgetter("accuracy_m"))
_PROTOCOL, _LON, _LAT = operator.attrgetter("protocol"), operator.attrgetter("lon"), operator.attrgetter("lat")
_ROW_TYPES: dict[tuple[int, bytes], np.dtype] = {}
_ROW_TEMPLATES: dict[tuple[int, bytes], np.void] = {}


def _row_type(nulls: int, source: bytes) -> np.dtype:
    """The binary COPY layout of a row with these NULL columns (bit i: ``_OPTIONAL[i]``) and this source:
    fixed size, so rows of one kind are one numpy record array."""
    key = (nulls, source)
    dtype = _ROW_TYPES.get(key)
    if dtype is None:
        fields = [("n", ">i2"), ("l_tid", ">i4"), ("tid", ">i4"), ("l_time", ">i4"), ("time", ">i8"),
                  ("l_geom", ">i4"), ("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
        for i, name in enumerate(_OPTIONAL):
            fields.append((f"l_{name}", ">i4"))
            if not nulls >> i & 1:
                fields.append((name, ">f8"))
        fields += [("l_source", ">i4"), ("source", f"S{len(source)}")] if source else [("l_source", ">i4")]
        dtype = _ROW_TYPES[key] = np.dtype(fields)
        row = np.zeros(1, dtype)  # a row with every constant field filled in: copied to all rows at once
        row["n"], row["l_tid"], row["l_time"], row["l_geom"] = len(COLUMNS), 4, 8, 25
        row["order"], row["type"], row["srid"] = 1, 0x20000001, 4326
        for i, name in enumerate(_OPTIONAL):
            row[f"l_{name}"] = -1 if nulls >> i & 1 else 8
        row["l_source"] = len(source)
        if source:
            row["source"] = source
        _ROW_TEMPLATES[key] = row[0]
    return dtype


def copy_binary(fixes: list[Fix], tids: list[int]) -> bytes:
    """``COPY position (COLUMNS) FROM STDIN (FORMAT binary)`` data for these fixes."""
    return _COPY_HEADER + copy_rows(fixes, tids) + _COPY_TRAILER


def copy_rows(fixes: list[Fix], tids: list[int], times: list[datetime] | None = None) -> bytes:
    """The rows of binary COPY data, built as numpy record arrays (one per NULL pattern and protocol)
    instead of a Python tuple and codec calls per row. The point is EWKB (what ``geometry``'s binary
    input takes), the time microseconds since 2000-01-01 UTC (each distinct time computed once: fixes of
    a batch share their times). ``times``: the fixes' times, when the caller has them already."""
    if times is None:
        times = list(map(_TIME, fixes))
    micros = {t: (t - _PG_EPOCH) // _MICROSECOND for t in set(times)}
    speeds, courses, accuracies = (list(map(g, fixes)) for g in _VALUES)
    protocols = list(map(_PROTOCOL, fixes))
    kinds: dict[tuple[int, str], list[int]] = {}
    n = len(fixes)
    nones = [column.count(None) for column in (speeds, courses, accuracies)]
    if n and all(c in (0, n) for c in nones) and len(set(protocols)) == 1:
        # The usual case: one kind (each column NULL everywhere or nowhere), every row, no list of indexes.
        kinds[((nones[0] == n) | (nones[1] == n) << 1 | (nones[2] == n) << 2, protocols[0])] = []
    else:
        for i, (s, c, a, p) in enumerate(zip(speeds, courses, accuracies, protocols, strict=True)):
            nulls = (s is None) | (c is None) << 1 | (a is None) << 2
            kind = kinds.get((nulls, p))
            if kind is None:
                kinds[(nulls, p)] = [i]
            else:
                kind.append(i)
    columns = (speeds, courses, accuracies)
    parts = []
    for (nulls, protocol), rows in kinds.items():
        whole = not rows
        pick = (lambda col: col) if whole else (lambda col, rows=rows: [col[i] for i in rows])
        group = fixes if whole else pick(fixes)
        k = len(group)
        source = protocol.encode()
        dtype = _row_type(nulls, source)
        arr = np.empty(k, dtype)
        arr[...] = _ROW_TEMPLATES[(nulls, source)]  # the constant fields (lengths, EWKB head, source) at once
        arr["tid"] = np.fromiter(pick(tids), np.int32, k)
        arr["time"] = np.fromiter(map(micros.__getitem__, pick(times)), np.int64, k)
        arr["x"] = np.fromiter(map(_LON, group), float, k)
        arr["y"] = np.fromiter(map(_LAT, group), float, k)
        for i, name in enumerate(_OPTIONAL):
            if not nulls >> i & 1:
                arr[name] = np.fromiter(pick(columns[i]), float, k)
        parts.append(arr.tobytes())
    return b"".join(parts)


async def _chunks(data: bytes, size: int = 1 << 20):
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i:i + size]
