"""Internal events → the websocket hub's topics, with the routing fields the hub filters on.

Ingest publishes one ``position`` per fix and the SIP server ``incident.created`` / ``camera.status``;
the hub speaks ``positions`` / ``incidents`` / ``cameras`` with ``division`` (and ``secrecy``,
``lon``/``lat``). Target divisions and kinds are cached briefly: positions arrive many per second.
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services import incidents, live

META_TTL_S = 60.0
# A target's division: its own, else the deepest division containing its last position.
_META = text("""
SELECT t.id, t.kind, COALESCE(t.division_code, (SELECT d.code FROM division d
         WHERE d.boundary IS NOT NULL AND ST_Intersects(d.boundary, t.last_location)
         ORDER BY d.level DESC LIMIT 1)) AS division
FROM target t WHERE t.id = ANY(:ids)""")


class LiveFeed:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._meta: dict[int, tuple[float, str | None, str]] = {}

    async def _load(self, ids: list[int]) -> None:
        """One query for all the targets not (or no longer) cached; unknown ids are cached too."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_META, {"ids": ids})).all()
        if len(self._meta) + len(ids) > 100_000:
            self._meta.clear()
        expires = time.monotonic() + META_TTL_S
        for i in ids:
            self._meta[i] = (expires, None, "vehicle")
        for r in rows:
            self._meta[r.id] = (expires, r.division, r.kind)

    async def _target(self, target_id: int) -> tuple[str | None, str]:
        hit = self._meta.get(target_id)
        if hit is None or hit[0] < time.monotonic():
            await self._load([target_id])
            hit = self._meta[target_id]
        return hit[1], hit[2]

    async def positions(self, messages: list[dict]) -> list[dict]:
        """``translate`` for the ``position`` messages of a whole batch: at most one query."""
        meta, now = self._meta, time.monotonic()
        ids = {m.get("target_id") for m in messages}
        ids.discard(None)
        missing = {i for i in ids if (hit := meta.get(i)) is None or hit[0] < now}
        if missing:
            await self._load(sorted(missing))
            meta = self._meta
        t = time.time()
        out = []
        for m in messages:
            tid = m.get("target_id")
            if tid is not None:
                _, division, kind = meta.get(tid) or (0.0, None, "vehicle")
                m["division"], m["kind"], m["t"] = division, kind, t  # the message is ours: no copy
                out.append(m)
        return out

    async def translate(self, topic: str, msg: dict) -> tuple[str, dict] | None:
        """The hub message for an internal one, or None when the hub has nothing to show for it."""
        if topic == "position":
            if msg.get("target_id") is None:
                return None
            division, kind = await self._target(msg["target_id"])
            return "positions", {**msg, "division": division, "kind": kind, "t": time.time()}
        if topic == "incident.created":
            async with self.engine.connect() as conn:
                m = await incidents.live_message_for(conn, msg["id"], "created")
            return ("incidents", m) if m else None
        if topic in ("camera.status", "camera.deleted"):
            async with self.engine.connect() as conn:
                cam_id = (await conn.execute(text("SELECT id FROM camera WHERE gb_id = :g"),
                                             {"g": msg["gb_id"]})).scalar()
                m = await live.camera_message(conn, cam_id) if cam_id else None
            return ("cameras", {**m, "table": "cameras"}) if m else None
        return topic, msg
