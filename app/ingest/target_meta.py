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
        if len(self._meta) + len(ids) > MAX_ENTRIES:
            self._meta.clear()
        expires = time.monotonic() + self.ttl_s
        for i in ids:
            self._meta[i] = (expires, None, DEFAULT_KIND)
        for r in rows:
            self._meta[r.id] = (expires, r.division, r.kind)

    async def enrich(self, positions: list[dict]) -> list[dict]:
        """The positions with a target, each given its ``division``, ``kind`` and the time ``t`` it went
        live (in place: the messages are the pipeline's own); those without a target are dropped."""
        now = time.monotonic()
        meta = self._meta
        missing = {tid for m in positions if (tid := m["target_id"]) is not None
                   and ((hit := meta.get(tid)) is None or hit[0] < now)}
        if missing:
            await self._load(sorted(missing))
            meta = self._meta
        t = time.time()
        out = []
        for m in positions:
            tid = m["target_id"]
            if tid is not None:
                _, m["division"], m["kind"] = meta.get(tid) or (0.0, None, DEFAULT_KIND)
                m["t"] = t
                out.append(m)
        return out
