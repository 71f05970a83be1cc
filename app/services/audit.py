"""Tamper-evident audit trail: each row carries sha256(previous hash + canonical row)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import orjson
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AuditEvent, Camera, Grant, Incident, KeyArea, Target, Unit

GENESIS = "0" * 64


def row_hash(prev_hash: str, at: datetime, actor_id, actor_name, action, object_type, object_id,
             detail, reason, client_ip, divisions=None) -> str:
    fields = [prev_hash, at.isoformat(), actor_id, actor_name, action, object_type, object_id, detail, reason,
              client_ip]
    if divisions is not None:  # rows from before the column hash as they always did
        fields.append(divisions)
    payload = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


# Objects whose division an event inherits: object_type → (id column, division column).
_DIVISION_OF = {
    "camera": (Camera.id, Camera.division_code),
    "key_area": (KeyArea.id, KeyArea.division_code),
    "incident": (Incident.id, Incident.division_code),
    "unit": (Unit.id, Unit.division_code),
    "target": (Target.id, Target.division_code),
    "grant": (Grant.id, Grant.division_code),
    "user": (Grant.user_id, Grant.division_code),
}


async def _divisions(conn: AsyncConnection, actor_id: int | None, object_type: str | None,
                     object_id: str | None) -> list[str]:
    """The divisions an event concerns: its objects' (ids may be comma-joined) and its actor's grants'."""
    found: set[str] = set()
    cols = _DIVISION_OF.get(object_type or "")
    ids = [int(i) for i in (object_id or "").split(",") if i.strip().isdigit() and len(i.strip()) < 10]
    if cols is not None and ids:
        found.update(d for (d,) in await conn.execute(select(cols[1]).where(cols[0].in_(ids))) if d)
    if actor_id is not None:
        found.update(d for (d,) in await conn.execute(
            select(Grant.division_code).where(Grant.user_id == actor_id, Grant.status == "active")))
    return sorted(found)


async def record(conn: AsyncConnection, action: str, *, actor_id: int | None = None,
                 actor_name: str | None = None, object_type: str | None = None, object_id: str | None = None,
                 detail: dict | None = None, reason: str | None = None, client_ip: str | None = None,
                 divisions: list[str] | None = None) -> str:
    """Append one event inside the caller's transaction; the caller commits with its own change.

    The event is filed under the divisions of its objects and actor (plus any given), which is what a
    division administrator's audit view is cut by."""
    divisions = sorted(set(divisions or []) | set(await _divisions(conn, actor_id, object_type, object_id)))
    # One writer at a time extends the chain (transaction-scoped advisory lock).
    await conn.execute(text("SELECT pg_advisory_xact_lock(7291001)"))
    prev = (await conn.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))).scalar()
    prev = prev or GENESIS
    at = (await conn.execute(text("SELECT date_trunc('milliseconds', clock_timestamp())"))).scalar_one()
    detail = detail or {}
    h = row_hash(prev, at, actor_id, actor_name, action, object_type, object_id, detail, reason, client_ip,
                 divisions)
    await conn.execute(insert(AuditEvent).values(
        at=at, actor_id=actor_id, actor_name=actor_name, action=action, object_type=object_type,
        object_id=object_id, detail=detail, reason=reason, client_ip=client_ip, divisions=divisions,
        prev_hash=prev, hash=h))
    return h


async def verify(conn: AsyncConnection) -> list[str]:
    """Walk the chain; return a list of problems (empty = intact)."""
    problems: list[str] = []
    prev = GENESIS
    last_id = 0
    result = await conn.stream(select(AuditEvent).order_by(AuditEvent.id))
    async for r in result:
        e = r[0] if not hasattr(r, "hash") else r
        if e.prev_hash != prev:
            problems.append(f"event {e.id}: previous-hash link broken (a row before it was removed or altered)")
        expect = row_hash(e.prev_hash, e.at, e.actor_id, e.actor_name, e.action, e.object_type, e.object_id,
                          e.detail, e.reason, e.client_ip, e.divisions)
        if expect != e.hash:
            problems.append(f"event {e.id}: content does not match its hash (row altered)")
        prev = e.hash
        last_id = e.id
    _ = last_id
    return problems
