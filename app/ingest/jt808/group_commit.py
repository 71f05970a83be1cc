"""Group commit across JT/T 808 connections, on the ingest's one batching primitive.

The fixes of all connections go into one open batch, sealed after ``delay_s`` or at ``max_fixes`` and
handed to ``sink``; while up to ``max_in_flight`` batches are being stored the next ones fill
(``batching.GroupCommit``). A location's 0x8001 waits in its connection's reply queue until its batch is
settled — "ok" after the commit, or "fail" if the sink raised (the terminal keeps and resends its data):
nothing acknowledged is ever lost. Backpressure: when ``max_waiting_fixes`` wait for a commit slot, every
connection stops being read (``held``) until the commits catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.domain.fix import Fix
from app.ingest.batching import Batch, GroupCommit
from app.ingest.jt808.connection import MAX_QUEUED, Connection

log = logging.getLogger("app.ingest.jt808.server")  # one logger for the listener, as before the split
Sink = Callable[[list[Fix]], Awaitable[object]]


class LocationCommits:
    """``conns``: the listener's live connections (paused and resumed together when ``held``)."""

    def __init__(self, sink: Sink, stats, conns: set[Connection], *, delay_s: float, max_fixes: int,
                 max_in_flight: int, max_waiting_fixes: int) -> None:
        self.sink, self.stats, self.conns = sink, stats, conns
        self.max_waiting_fixes = max_waiting_fixes
        self.held = False  # every connection paused: too many fixes waiting for their commit
        self._commits = GroupCommit(self._store, delay_s=delay_s, max_items=max_fixes,
                                    max_batch=max_waiting_fixes, slots=max_in_flight,
                                    on_settled=self._settled, name="jt808-commit")

    def add(self, conn: Connection, fixes: list[Fix], phone_raw: bytes, serial: int, msg_id: int,
            version: int | None) -> None:
        """Put ``fixes`` in the open batch; ``conn``'s 0x8001 for them waits for its commit."""
        batch = self._commits.add(fixes)
        batch.parties.add(conn)
        conn.queue.append((batch, phone_raw, serial, msg_id, version))
        if self._commits.waiting >= self.max_waiting_fixes and not self.held:
            # The database is slower than the terminals: stop reading until the commits catch up.
            self.held = True
            for c in self.conns:
                if not c.paused:
                    c.paused = True
                    c.transport.pause_reading()

    def drop_open(self) -> list:
        """Closing: forget the open batch (never acknowledged: the terminals send it again); the commits
        under way are returned, for the caller to cancel and await."""
        self._commits.drop_open()
        return self._commits.in_flight

    async def _store(self, fixes: list[Fix], _slot: int) -> None:
        self.stats.groups += 1
        try:
            await self.sink(fixes)
        except Exception:
            # Not acknowledged: the terminals keep the data and send it again.
            self.stats.sink_errors += 1
            log.exception("JT/T 808: storing %d fixes failed", len(fixes))
            raise
        self.stats.fixes += len(fixes)

    def _settled(self, batch: Batch[Fix]) -> None:
        for conn in batch.parties:
            conn.flush()
        if self.held and self._commits.waiting < self.max_waiting_fixes // 2:
            self.held = False
            for conn in self.conns:
                if conn.paused and len(conn.queue) < MAX_QUEUED // 2:
                    conn.paused = False
                    conn.transport.resume_reading()
