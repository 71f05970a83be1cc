"""Patrol units (警力单元): registered, linked to their tracker and officer, put on and off duty.

A unit is what a dispatcher sends; its position is its tracker's (a ``target``: a JT/T 808 terminal, an
OsmAnd/Traccar phone, a GB/T 28181 body camera), and the officer linked to it sees its assignments on /m.
The dispatch lifecycle moves a unit between ``assigned``/``en_route``/``on_scene``; here an administrator
only puts an idle unit on duty (``available``) or off it (``off_duty``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser, Dispatch, Target, Unit
from app.domain.access import Scope
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import divisions

# Unit kinds are the kinds of the trackers that report for them.
UNIT_KINDS = ("patrol_car", "officer", "drone", "vehicle")
DUTY = ("available", "off_duty")  # what an administrator sets; the rest belongs to the dispatch lifecycle


@dataclass(frozen=True)
class Tracker:
    protocol: str  # osmand | jt808 | gb28181 | api
    external_id: str  # device id / phone number / GB/T 28181 id


async def _check_division(conn: AsyncConnection, scope: Scope, code: str) -> None:
    if not scope.covers(code):
        raise Forbidden(f"division {code} is outside your divisions")
    await divisions.require(conn, code)


async def _tracker_target(conn: AsyncConnection, tracker: Tracker, kind: str, name: str, division: str) -> int:
    """The target of a tracker, registered now if it has not reported yet (it is then accepted when it does)."""
    found = (await conn.execute(select(Target.id).where(Target.protocol == tracker.protocol,
                                                        Target.external_id == tracker.external_id))).scalar()
    if found is not None:
        return found
    return (await conn.execute(insert(Target).values(
        protocol=tracker.protocol, external_id=tracker.external_id, kind=kind, name=name,
        division_code=division).returning(Target.id))).scalar_one()


async def _user_id(conn: AsyncConnection, username: str, unit_id: int | None = None) -> int:
    """The officer's user id; one officer serves in one unit (his /m page shows that unit's assignments)."""
    uid = (await conn.execute(select(AppUser.id).where(AppUser.username == username))).scalar()
    if uid is None:
        raise InvalidInput(f"unknown user {username}", field="officer")
    other = (await conn.execute(select(Unit.callsign).where(Unit.user_id == uid, Unit.id != (unit_id or 0)))).scalar()
    if other is not None:
        raise Conflict(f"{username} already serves in unit {other}")
    return uid


async def _visible(conn: AsyncConnection, scope: Scope, unit_id: int):
    u = (await conn.execute(select(Unit.id, Unit.callsign, Unit.kind, Unit.status, Unit.division_code)
                            .where(Unit.id == unit_id).with_for_update())).mappings().first()
    if u is None or not scope.covers(u["division_code"]):
        raise NotFound(f"unit {unit_id} not found")
    return u


async def _write(conn: AsyncConnection, stmt):
    """Runs an insert/update of a unit; a callsign, tracker or officer already taken is a 409."""
    try:
        async with conn.begin_nested():
            return await conn.execute(stmt)
    except IntegrityError as exc:
        text = str(exc.orig)
        what = "callsign" if "callsign" in text else "tracker" if "target_id" in text else "unit"
        raise Conflict(f"this {what} already belongs to another unit") from None


async def create(conn: AsyncConnection, scope: Scope, *, callsign: str, kind: str, division_code: str,
                 tracker: Tracker | None = None, officer: str | None = None) -> int:
    if kind not in UNIT_KINDS:
        raise InvalidInput(f"unknown unit kind; one of {', '.join(UNIT_KINDS)}", field="kind")
    await _check_division(conn, scope, division_code)
    target_id = await _tracker_target(conn, tracker, kind, callsign, division_code) if tracker else None
    user_id = await _user_id(conn, officer) if officer else None
    return (await _write(conn, insert(Unit).values(
        callsign=callsign, kind=kind, status="available", division_code=division_code, target_id=target_id,
        user_id=user_id).returning(Unit.id))).scalar_one()


async def update_unit(conn: AsyncConnection, scope: Scope, unit_id: int, changes: dict) -> None:
    """``changes``: callsign, kind, division_code, tracker (Tracker or None to unlink), officer (username or
    None), status (available | off_duty; only while the unit is on no dispatch)."""
    u = await _visible(conn, scope, unit_id)
    values: dict = {}
    if "callsign" in changes:
        values["callsign"] = changes["callsign"]
    if "kind" in changes:
        if changes["kind"] not in UNIT_KINDS:
            raise InvalidInput(f"unknown unit kind; one of {', '.join(UNIT_KINDS)}", field="kind")
        values["kind"] = changes["kind"]
    if "division_code" in changes:
        await _check_division(conn, scope, changes["division_code"])
        values["division_code"] = changes["division_code"]
    if "tracker" in changes:
        t = changes["tracker"]
        values["target_id"] = None if t is None else await _tracker_target(
            conn, t, values.get("kind", u["kind"]), values.get("callsign", u["callsign"]),
            values.get("division_code", u["division_code"]))
    if "officer" in changes:
        values["user_id"] = None if changes["officer"] is None else await _user_id(conn, changes["officer"], unit_id)
    if "status" in changes:
        if changes["status"] not in DUTY:
            raise InvalidInput("a unit is put on duty (available) or off it (off_duty)", field="status")
        if u["status"] not in DUTY:
            raise Conflict(f"unit {u['callsign']} is {u['status']}: finish or cancel its dispatch first")
        values["status"] = changes["status"]
    if values:
        await _write(conn, update(Unit).where(Unit.id == unit_id).values(**values))


async def delete_unit(conn: AsyncConnection, scope: Scope, unit_id: int) -> None:
    """Removes a unit registered by mistake. One that was ever dispatched stays (incidents keep their
    dispatch history): put it off duty instead. Its tracker stays either way, with its track."""
    u = await _visible(conn, scope, unit_id)
    served = (await conn.execute(select(Dispatch.id).where(Dispatch.unit_id == unit_id).limit(1))).first()
    if served is not None:
        raise Conflict(f"unit {u['callsign']} has dispatch history: put it off duty instead")
    await conn.execute(delete(Unit).where(Unit.id == unit_id))
