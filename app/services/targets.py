"""Moving targets as the map and the dispatch console see them: scoped list with last position, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import scope_sql
from app.domain.access import Scope
from app.domain.dispatch import STALE_FIX_S
from app.domain.errors import NotFound

# A target's division is its own, else its unit's (devices registered by their first fix have none).
_BASE = """
SELECT t.id, t.protocol, t.external_id, t.kind, t.name, COALESCE(t.division_code, u.division_code) AS division_code,
       t.last_fix_at, ST_X(t.last_location) AS lon, ST_Y(t.last_location) AS lat, t.last_speed_kmh,
       t.last_course_deg, u.id AS unit_id, u.callsign, u.status AS unit_status
FROM target t LEFT JOIN unit u ON u.target_id = t.id"""


def _scope_sql(scope: Scope) -> tuple[str, dict]:
    return scope_sql(scope, "COALESCE(t.division_code, u.division_code)")


def _row(r, now: datetime) -> dict:
    d = dict(r)
    d["stale"] = not (d["last_fix_at"] and now - d["last_fix_at"] < timedelta(seconds=STALE_FIX_S))
    d["age_s"] = round((now - d["last_fix_at"]).total_seconds(), 1) if d["last_fix_at"] else None
    d["last_fix_at"] = d["last_fix_at"].isoformat() if d["last_fix_at"] else None
    return d


async def list_targets(conn: AsyncConnection, scope: Scope, *, kind: str | None = None,
                       bbox: tuple[float, float, float, float] | None = None, limit: int = 1000,
                       offset: int = 0) -> list[dict]:
    where, params = _scope_sql(scope)
    if kind:
        where += " AND t.kind = :kind"
        params["kind"] = kind
    if bbox:
        where += " AND t.last_location && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)"
        params.update(x1=bbox[0], y1=bbox[1], x2=bbox[2], y2=bbox[3])
    rows = await conn.execute(text(f"{_BASE} WHERE {where} ORDER BY t.id LIMIT :limit OFFSET :offset"),
                              {**params, "limit": limit, "offset": offset})
    now = datetime.now(UTC)
    return [_row(r, now) for r in rows.mappings()]


async def get_target(conn: AsyncConnection, scope: Scope, target_id: int) -> dict:
    """The target if the scope covers it; NotFound otherwise (its existence is not disclosed)."""
    where, params = _scope_sql(scope)
    r = (await conn.execute(text(f"{_BASE} WHERE t.id = :id AND {where}"), {**params, "id": target_id})
         ).mappings().first()
    if r is None:
        raise NotFound(f"target {target_id} not found", field="target_id")
    return _row(r, datetime.now(UTC))


async def check_targets(conn: AsyncConnection, scope: Scope, ids: list[int]) -> None:
    for i in ids:
        await get_target(conn, scope, i)


async def list_events(conn: AsyncConnection, target_id: int, start: datetime, end: datetime,
                      limit: int = 1000) -> list[dict]:
    rows = await conn.execute(text(
        "SELECT id, at, type, detail, position_time FROM target_event WHERE target_id = :t AND at >= :s AND at < :e "
        "ORDER BY at DESC, id DESC LIMIT :limit"), {"t": target_id, "s": start, "e": end, "limit": limit})
    return [{**r, "at": r["at"].isoformat(),
             "position_time": r["position_time"].isoformat() if r["position_time"] else None}
            for r in rows.mappings()]
