"""What the live map files a position under: its target's division and kind, cached beside the writer's
target ids so the pipeline enriches a batch's positions once, with at most one query per batch.

A target's division is its own, else its unit's — the same rule as the REST look-ups
(``services/targets.py``): a unit driving into another district stays with its own district's viewers.
Entries expire (``TTL_S``) so a target moved to another division is filed anew within a minute.
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TTL_S = 60.0
MAX_ENTRIES = 100_000
DEFAULT_KIND = "vehicle"
_META = text("""
SELECT t.id, t.kind, COALESCE(t.division_code, (SELECT u.division_code FROM unit u WHERE u.target_id = t.id
         LIMIT 1)) AS division
FROM target t WHERE t.id = ANY(:ids)""")


class TargetMeta:
    def __init__(self, engine: AsyncEngine, ttl_s: float = TTL_S) -> None:
        self.engine, self.ttl_s = engine, ttl_s
        self._meta: dict[int, tuple[float, str | None, str]] = {}  # id → (expires, division, kind)

    async def _load(self, ids: list[int]) -> None:
        """One query for all the targets not (or no longer) cached; unknown ids are cached too."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_META, {"ids": ids})).all()
        expires = time.monotonic() + self.ttl_s
        for i in ids:
            self._meta[i] = (expires, None, DEFAULT_KIND)
        for r in rows:
            self._meta[r.id] = (expires, r.division, r.kind)

    async def filing(self, ids: list[int | None]) -> dict[int, tuple[float, str | None, str]]:
        """The cache, holding every id of ``ids`` (None skipped) unexpired: id → (expires, division, kind).
        Loads the missing ones with one query; the caller reads the returned mapping, not a copy."""
        now = time.monotonic()
        meta = self._meta
        if len(meta) + len(ids) > MAX_ENTRIES:
            meta.clear()  # before the look-up: every id of this batch is then loaded anew
        missing = {tid for tid in ids if tid is not None and ((hit := meta.get(tid)) is None or hit[0] < now)}
        if missing:
            await self._load(sorted(missing))
        return self._meta
