"""Detected events → ``target_event`` (after persist, so the targets of new devices exist)."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.tracking import Event, EventKind

_INSERT = text("""
INSERT INTO target_event (target_id, at, type, detail, position_time)
SELECT t.id, :at, :type, CAST(:detail AS jsonb), :position_time
FROM target t WHERE t.protocol = :protocol AND t.external_id = :device_id""")


def event_row(e: Event) -> dict:
    # Events of a fix carry its time (the key of its ``position`` row); silence (stale) and an SOS
    # without GNSS lock have no stored position.
    located = e.kind is not EventKind.STALE and e.detail.get("located", True)
    detail = {"lon": e.lon, "lat": e.lat, **({"area_id": e.area_id} if e.area_id is not None else {}), **e.detail}
    return {"at": e.at, "type": e.kind.value, "detail": orjson.dumps(detail, default=str).decode(),
            "position_time": e.at if located else None, "protocol": e.target[0], "device_id": e.target[1]}


async def store_events(engine: AsyncEngine, events: list[Event]) -> None:
    if not events:
        return
    async with engine.begin() as conn:
        await conn.execute(_INSERT, [event_row(e) for e in events])
