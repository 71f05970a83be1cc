"""The batch writer's front: callers' fixes queue up and are handed to the flushes (group commit).

``add()`` returns once its fixes are committed ("acknowledged" means committed) or raises. Fixes wait in
a batch that is flushed at ``max_rows`` or after ``max_delay_s``; what queues up during a flush goes in
the next one (``batching.GroupCommit``, the ingest's one batching primitive). Up to ``connections``
flushes run at once (``flush.Flusher``), each one transaction on a connection of the writer's own. A
producer whose targets are all known encodes its binary COPY rows itself in ``add_many``
(``copy_encoder``), so the flush only joins bytes. ``target.last_*`` follows the
commits in ``last_updater``.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.fix import Fix
from app.ingest.batching import GroupCommit
from app.ingest.writer.copy_encoder import KEY, TIME, copy_rows, unique_fixes
from app.ingest.writer.flush import Entry, Flusher
from app.ingest.writer.last_updater import LastUpdater, repair_last
from app.ingest.writer.stats import WriterStats


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
        self._running = self._closing = False
        self._last = LastUpdater(lambda: self._flusher.connection(self.connections),
                                 lambda: self._flusher.disconnect(self.connections), self.stats,
                                 every_s=last_every_s, max_backoff_s=max_backoff_s)
        self._flusher = Flusher(engine, self.stats, connections=self.connections, max_backoff_s=max_backoff_s,
                                on_committed=self._last.mark)
        # Backpressure: producers wait (``room``) instead of growing memory while the database is away.
        # ``write_resilient`` settles each entry itself (a bad entry is isolated, the others stored).
        self._flushes = GroupCommit(self._flusher.write_resilient, delay_s=max_delay_s, max_items=max_rows,
                                    max_batch=self.max_batch_rows, slots=self.connections,
                                    max_pending=max_pending_rows, weight=lambda e: len(e.fixes),
                                    name="batch-writer")

    async def start(self) -> BatchWriter:
        if not self._running:
            self._running = True
            self._last.start()
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
        if not self._running or self._closing:
            raise RuntimeError("BatchWriter is not running")
        await self._flushes.room()
        entry = self._prepare(fixes)
        self._flushes.add([entry])
        await asyncio.shield(entry.done)  # a cancelled caller does not cancel the write of others

    @property
    def target_ids(self) -> dict[tuple[str, str], int]:
        """(protocol, device id) → ``target.id`` of the targets committed here (read only)."""
        return self._flusher.target_ids

    def _prepare(self, fixes: list[Fix]) -> Entry:
        fixes = unique_fixes(list(fixes))
        entry = Entry(fixes, asyncio.get_running_loop().create_future(), time.monotonic())
        ids = self._flusher.target_ids
        tids = list(map(ids.get, map(KEY, fixes)))
        if None not in tids:
            times = list(map(TIME, fixes))
            entry.tids, entry.data = tids, copy_rows(fixes, tids, times)
            entry.first, entry.last = min(times), max(times)
        return entry

    def target_id(self, key: tuple[str, str]) -> int | None:
        """The ``target.id`` of (protocol, device id), known once a fix of it was committed here."""
        return self._flusher.target_ids.get(key)

    async def close(self) -> None:
        """Flush everything buffered, then stop."""
        self._closing = True
        await self._flushes.drain()
        self._running = False
        await self._last.close()  # a clean shutdown leaves target.last_* up to date
        await self._flusher.disconnect_all()

    # -- target.last_* -------------------------------------------------------------------------
    async def sync_last(self) -> None:
        """Return once target.last_* reflects every flush committed before this call (read-your-writes
        for a caller that reads a target's last position right after its fixes were acknowledged)."""
        await self._last.sync()

    async def repair_last(self, window_s: float = 86_400.0) -> int:
        """Move target.last_* of every target to its newest stored fix of the last ``window_s`` seconds
        where that is newer (after a crash lost updates that were still dirty). Returns targets fixed."""
        return await repair_last(self._flusher.dsn(), window_s)
