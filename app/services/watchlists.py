"""Watchlist (布控) entries: set, list, cancel, within the caller's divisions; the active ones for matching.

An entry is the caller's when every division of its area lies in the caller's scope: they see it, and only
then may they cancel it (a district dispatcher neither sees nor lifts the city's entries). Cancelled
entries stay (the audit log names them); an entry past its ``valid_until`` is simply no longer active."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import scope_sql
from app.domain import watchlist as wl
from app.domain.access import Scope
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.services import next_checkpoints

_COLS = ("id, plate, vehicle_color, reason, owner_id, owner_name, area, priority, valid_from, valid_until, "
         "created_at, cancelled_at, cancelled_by")


def _within(scope: Scope) -> tuple[str, dict]:
    """SQL: the entry's whole area lies in the scope."""
    if scope.everywhere:
        return "TRUE", {}
    cond, params = scope_sql(scope, "a", prefix="wl")
    return f"NOT EXISTS (SELECT 1 FROM unnest(area) a WHERE NOT {cond})", params


def _row(r) -> dict:
    d = dict(r)
    now = datetime.now(UTC)
    d["area"] = list(d["area"])
    d["active"] = d["cancelled_at"] is None and d["valid_from"] <= now < d["valid_until"]
    return d


async def create(conn: AsyncConnection, scope: Scope, *, plate: str, vehicle_color: str | None, reason: str,
                 area: list[str], valid_from: datetime | None, valid_until: datetime, priority: int,
                 owner_id: int | None, owner_name: str | None) -> dict:
    plate = wl.check_plate(plate)
    colour = wl.check_colour(vehicle_color)
    codes = wl.check_area(area)
    valid_from = valid_from or datetime.now(UTC)
    wl.check_window(valid_from, valid_until)
    if not all(scope.covers(c) for c in codes):
        raise Forbidden("the watchlist area must lie within your divisions")
    known = (await conn.execute(text("SELECT count(*) FROM division WHERE code = ANY(:c)"),
                                {"c": list(codes)})).scalar_one()
    if known != len(codes):
        raise InvalidInput("area: unknown division code", field="area")
    r = (await conn.execute(text(
        f"INSERT INTO watchlist_entry (plate, vehicle_color, reason, owner_id, owner_name, area, priority, "
        f"valid_from, valid_until) VALUES (:p, :c, :r, :oid, :on, :a, :pr, :vf, :vu) RETURNING {_COLS}"),
        {"p": plate, "c": colour, "r": reason, "oid": owner_id, "on": owner_name, "a": list(codes), "pr": priority,
         "vf": valid_from, "vu": valid_until})).mappings().one()
    return _row(r)


async def list_entries(conn: AsyncConnection, scope: Scope, *, active_only: bool = True, limit: int = 200,
                       offset: int = 0) -> dict:
    cond, params = _within(scope)
    if active_only:
        cond += " AND cancelled_at IS NULL AND valid_from <= now() AND valid_until > now()"
    total = (await conn.execute(text(f"SELECT count(*) FROM watchlist_entry WHERE {cond}"), params)).scalar_one()
    rows = (await conn.execute(text(
        f"SELECT {_COLS} FROM watchlist_entry WHERE {cond} ORDER BY id DESC LIMIT :lim OFFSET :off"),
        {**params, "lim": limit, "off": offset})).mappings().all()
    return {"total": total, "limit": limit, "offset": offset, "items": [_row(r) for r in rows]}


async def get(conn: AsyncConnection, scope: Scope, entry_id: int, *, lock: bool = False) -> dict:
    cond, params = _within(scope)
    r = (await conn.execute(text(
        f"SELECT {_COLS} FROM watchlist_entry WHERE id = :id AND {cond}" + (" FOR UPDATE" if lock else "")),
        {**params, "id": entry_id})).mappings().first()
    if r is None:
        raise NotFound(f"watchlist entry {entry_id} not found")
    return _row(r)


async def cancel(conn: AsyncConnection, scope: Scope, entry_id: int, by: str) -> dict:
    """Cancelled now (a second cancel changes nothing and says so: ``cancelled_at`` is the first one's)."""
    await get(conn, scope, entry_id, lock=True)
    await conn.execute(text("UPDATE watchlist_entry SET cancelled_at = now(), cancelled_by = :by "
                            "WHERE id = :id AND cancelled_at IS NULL"), {"id": entry_id, "by": by})
    return await get(conn, scope, entry_id)


async def active_entries(conn: AsyncConnection) -> list[wl.Entry]:
    """Entries not cancelled and not yet expired (those starting later too: ``Entry.active`` decides)."""
    rows = await conn.execute(text(
        "SELECT id, plate, vehicle_color, area, valid_from, valid_until FROM watchlist_entry "
        "WHERE cancelled_at IS NULL AND valid_until > now()"))
    return [wl.Entry(r.id, r.plate, r.vehicle_color, tuple(r.area), r.valid_from, r.valid_until) for r in rows]


# What an alarm shows (the hit, its pass, its checkpoint), for one incident and for the list.
_ALARM_SELECT = """
SELECT h.incident_id, h.entry_id, h.record_id, h.plate_no, h.direction, h.image_sha256, h.tollgate_id,
       t.name AS tollgate_name, h.division_code, mv.pass_time, mv.lane_no, mv.speed_kmh, mv.vehicle_color,
       mv.plate_color, h.created_at{extra}
FROM watchlist_hit h{join}
LEFT JOIN viid_motor_vehicle mv ON mv.record_id = h.record_id
LEFT JOIN viid_tollgate t ON t.tollgate_id = h.tollgate_id
"""
_ALARM = text(_ALARM_SELECT.format(extra=", ST_X(i.location) AS lon, ST_Y(i.location) AS lat",
                                   join="\nJOIN incident i ON i.id = h.incident_id")
              + "WHERE h.incident_id = :i ORDER BY h.id LIMIT 1")
_ALARMS = (_ALARM_SELECT.format(extra=", i.status AS incident_status", join="\nJOIN incident i ON i.id = h.incident_id")
           + "WHERE {cond} ORDER BY h.id DESC LIMIT :lim OFFSET :off")


async def alarm(conn: AsyncConnection, scope: Scope, incident_id: int) -> dict:
    """What a ``watchlist`` incident caught (the pass, its image, the entry), as its incident is scoped, and
    the next checkpoints to intercept at (those in the caller's scope)."""
    r = (await conn.execute(_ALARM, {"i": incident_id})).mappings().first()
    if r is None or not scope.covers(r["division_code"]):
        raise NotFound(f"no watchlist alarm for incident {incident_id}")
    d = dict(r)
    # Where to intercept: the checkpoints it is likely to pass next, from the hit (the incident's place).
    d["next_checkpoints"] = await next_checkpoints.next_checkpoints(conn, scope, d["tollgate_id"], d.pop("lon"),
                                                                    d.pop("lat"), d["pass_time"])
    return d


async def list_alarms(conn: AsyncConnection, scope: Scope, *, limit: int = 50, offset: int = 0) -> dict:
    """The latest alarms first, each as its incident is scoped (the division it was filed under)."""
    cond, params = ("TRUE", {}) if scope.everywhere else scope_sql(scope, "h.division_code", prefix="wa")
    total = (await conn.execute(text(f"SELECT count(*) FROM watchlist_hit h WHERE h.incident_id IS NOT NULL "
                                     f"AND {cond}"), params)).scalar_one()
    rows = (await conn.execute(text(_ALARMS.format(cond=cond)), {**params, "lim": limit, "off": offset})).mappings()
    return {"total": total, "limit": limit, "offset": offset, "items": [dict(r) for r in rows]}
