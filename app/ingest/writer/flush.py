"""One flush of the batch writer, and its retries: a transaction on a connection of the writer's own that
creates the targets never seen before (ids cached after commit) and binary-``COPY``s straight into
``position``.

The primary key (target, fix_time) makes a replayed batch harmless: if the COPY meets a stored row (a
flush whose commit reply was lost to a crash, a device resending), the same rows go through a temp table
and ``INSERT … ON CONFLICT DO NOTHING`` instead: exactly once. Connection-level failures (database
restarting, network) are retried on a new connection with capped exponential backoff for as long as it
takes; a data error is retried once (after re-checking the partitions) and then bisected, so one bad row
fails only its own caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.partitions import ensure_partitions
from app.domain.fix import Fix
from app.ingest.writer.copy_encoder import COLUMNS, COPY_HEADER, COPY_TRAILER, chunks, copy_binary, unique_fixes
from app.ingest.writer.errors import is_data_error
from app.ingest.writer.stats import WriterStats

log = logging.getLogger(__package__)  # "app.ingest.writer", as before the split

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


@dataclass
class Entry:
    """One caller's fixes, waiting for their flush; ``done`` is resolved after its commit."""

    fixes: list[Fix]
    done: asyncio.Future
    queued_at: float
    # Prepared by the producer (outside the flush, while the database works on the previous one) when
    # all its targets were known: its binary COPY rows, their target ids, its earliest and latest time.
    data: bytes | None = None
    tids: list[int] | None = None
    first: datetime | None = None
    last: datetime | None = None


class Flusher:
    """Writes batches of entries, each in one transaction on connection ``slot`` (slots
    ``0..connections-1`` for flushes, ``connections`` for the last-position updater). ``on_committed``
    receives each committed flush's newest fix per target (id, time, lon, lat, speed, course)."""

    def __init__(self, engine: AsyncEngine, stats: WriterStats, *, connections: int, max_backoff_s: float,
                 on_committed: Callable[[list[tuple]], Awaitable[None]]) -> None:
        self.engine, self.stats, self.max_backoff_s = engine, stats, max_backoff_s
        self._on_committed = on_committed
        self.known_days: set[date] = set()
        # Committed facts of this process, so a steady-state flush is one COPY and at most one UPDATE.
        self.target_ids: dict[tuple[str, str], int] = {}
        self._conns: list[asyncpg.Connection | None] = [None] * (connections + 1)  # + the updater's
        self._serial = asyncio.Lock()  # creating target rows: one flush at a time (see ``write``)

    async def write_resilient(self, batch: list[Entry], slot: int = 0) -> None:
        attempt = data_errors = 0
        while True:
            try:
                await self.write(batch, slot)
            except Exception as exc:
                if not is_data_error(exc):
                    attempt += 1
                    self.stats.retries += 1
                    await self.disconnect(slot)  # a fresh connection for the next attempt
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
                self.known_days.clear()
                self.target_ids.clear()
                for entry in batch:  # prepared with ids that may be wrong now: the full way next time
                    entry.data = entry.tids = None
                if data_errors < 2:
                    continue
                if len(batch) > 1:  # isolate the bad entry, store the others
                    half = len(batch) // 2
                    await self.write_resilient(batch[:half], slot)
                    await self.write_resilient(batch[half:], slot)
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

    # -- connections -------------------------------------------------------------------------
    async def connection(self, slot: int = 0) -> asyncpg.Connection:
        """The writer's own connection(s): they carry a binary codec for ``geometry`` (EWKB bytes in, no
        text parsing in the server), which must not leak into the pool shared with the rest of the app."""
        conn = self._conns[slot]
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(self.dsn())
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

    def dsn(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def disconnect(self, slot: int = 0) -> None:
        conn, self._conns[slot] = self._conns[slot], None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    async def disconnect_all(self) -> None:
        for slot in range(len(self._conns)):
            await self.disconnect(slot)

    # -- one flush ---------------------------------------------------------------------------
    async def _ensure_days(self, fixes: list[Fix], first: datetime | None = None,
                           last: datetime | None = None) -> None:
        # Usually every fix of a batch falls on one or two known days: look at the extremes first.
        if first is None or last is None:
            first, last = min(f.fix_time for f in fixes), max(f.fix_time for f in fixes)
        ends = {first.astimezone(UTC).date(), last.astimezone(UTC).date()}
        if ends <= self.known_days and (last - first).days == 0:
            return
        days = {f.fix_time.astimezone(UTC).date() for f in fixes} - self.known_days
        if not days:
            return
        async with self.engine.begin() as conn:
            for day in sorted(days):
                await ensure_partitions(conn, first=day, days=0)
        self.known_days |= days
        self.stats.partitions_created += len(days)

    async def write(self, batch: list[Entry], slot: int = 0) -> None:
        t0 = time.perf_counter()
        fixes = [f for e in batch for f in e.fixes]
        prepared = all(e.data is not None for e in batch)
        if prepared:
            await self._ensure_days(fixes, min(e.first for e in batch), max(e.last for e in batch))
        else:
            await self._ensure_days(fixes)
        conn = await self.connection(slot)
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
                data = b"".join([COPY_HEADER, *(e.data for e in batch), COPY_TRAILER])
            else:
                fixes = unique_fixes(fixes)
                new_ids = await self._resolve_targets(conn, fixes)
                ids = {**self.target_ids, **new_ids} if new_ids else self.target_ids
                tids = [ids[(f.protocol, f.device_id)] for f in fixes]  # once per fix, used twice below
                data = copy_binary(fixes, tids)
            try:
                # The common case: none of these rows is stored yet, so COPY straight into ``position``
                # (as fast as a raw COPY). A savepoint keeps the transaction usable if one is (a replay).
                t1 = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_to_table("position", source=chunks(data), columns=COLUMNS, format="binary")
                inserted = len(fixes)
                self.stats.copy_s += time.perf_counter() - t1
            except asyncpg.UniqueViolationError:
                await conn.copy_to_table("position_stage", source=chunks(data), columns=COLUMNS, format="binary")
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
        self.target_ids.update(new_ids)
        # Acknowledged: target.last_* follows outside this transaction (a derived cache of ``position``).
        newest = _newest_per_target(fixes, tids)
        if newest:
            await self._on_committed(newest)
        self.stats.flushes += 1
        self.stats.flush_s += time.perf_counter() - t0
        self.stats.rows_staged += len(fixes)
        self.stats.rows_inserted += inserted

    async def _resolve_targets(self, conn: asyncpg.Connection, fixes: list[Fix]) -> dict[tuple[str, str], int]:
        """Ids of the targets not known yet (created if new), in the flush's transaction."""
        unknown = {(f.protocol, f.device_id) for f in fixes} - self.target_ids.keys()
        if not unknown:
            return {}
        protocols, external_ids = zip(*unknown, strict=True)
        await conn.execute(_NEW_TARGETS, protocols, external_ids)
        return {(p, e): i for p, e, i in await conn.fetch(_TARGET_IDS, protocols, external_ids)}


def _newest_per_target(fixes: list[Fix], tids: list[int]) -> list[tuple]:
    """(id, time, lon, lat, speed, course) of each target's newest fix here (the database decides)."""
    newest: dict[int, Fix] = {}
    for f, tid in zip(fixes, tids, strict=True):
        seen = newest.get(tid)
        if seen is None or f.fix_time > seen.fix_time:
            newest[tid] = f
    return [(tid, f.fix_time, f.lon, f.lat, f.speed_kmh, f.course_deg) for tid, f in newest.items()]
