"""GB/T 28181 devices admitted to register (``gb_device``): list, show with channels, admit, change, delete.

A device is the administrator's (``manage_devices``) in its division: every use case takes the caller's
scope and a device outside it is not found. The password is turned into the digest HA1 with the SIP
domain (``realm``) here and never stored nor returned. A change takes effect at the device's next REGISTER
once the route has published ``admission.CREDENTIALS_TOPIC`` (the SIP server's cache drops the entry).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models_devices import GbDevice
from app.db.scoping import division_filter, scope_sql
from app.domain import gb28181_id, gb_device
from app.domain.access import Scope
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import divisions

PUBLIC = (
    GbDevice.id, GbDevice.gb_id, GbDevice.name, GbDevice.division_code, GbDevice.kind, GbDevice.edition,
    GbDevice.online, GbDevice.status_since, GbDevice.registered_at, GbDevice.last_keepalive_at,
    GbDevice.transport, GbDevice.address, GbDevice.manufacturer, GbDevice.model, GbDevice.firmware,
    GbDevice.channel_count, GbDevice.catalog_sum, GbDevice.created_at,
)
ACTIONS = ("catalog", "device_info", "device_status", "reboot", "guard", "unguard", "reset_alarm")


@dataclass(slots=True)
class DeviceInput:
    gb_id: str
    name: str
    division_code: str
    kind: str
    password: str


def _kind(kind: str) -> str:
    if kind not in gb_device.KINDS:
        raise InvalidInput(f"unknown kind; one of {', '.join(gb_device.KINDS)}", field="kind")
    return kind


async def _division(conn: AsyncConnection, scope: Scope, code: str) -> str:
    code = await divisions.require(conn, code)
    if not scope.covers(code):
        raise Forbidden(f"division {code} is outside your divisions", field="division_code")
    return code


async def list_devices(conn: AsyncConnection, scope: Scope, *, q: str | None = None, online: bool | None = None,
                       limit: int = 1000) -> list[dict]:
    conds = [division_filter(GbDevice.division_code, scope)]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(or_(GbDevice.gb_id.like(like), GbDevice.name.ilike(like)))
    if online is not None:
        conds.append(GbDevice.online.is_(online))
    rows = await conn.execute(select(*PUBLIC).where(*conds).order_by(GbDevice.gb_id).limit(limit))
    return [dict(r) for r in rows.mappings()]


async def _row(conn: AsyncConnection, scope: Scope, device_id: int, lock: bool = False) -> dict:
    stmt = select(*PUBLIC).where(GbDevice.id == device_id)
    row = (await conn.execute(stmt.with_for_update() if lock else stmt)).mappings().first()
    if row is None or not scope.covers(row["division_code"]):
        raise NotFound(f"device {device_id} not found")  # do not reveal that it exists
    return dict(row)


async def get(conn: AsyncConnection, scope: Scope, device_id: int) -> dict:
    """The device and its channels: cameras it carries (``parent_device``) or that it is itself, cut to
    the scope by their own division and secrecy (a channel may lie in another division than its device)."""
    row = await _row(conn, scope, device_id)
    cond, params = scope_sql(scope, "division_code", "secrecy")
    chans = await conn.execute(text(
        "SELECT gb_id, name, status, id AS camera_id, ST_X(location) AS lon, ST_Y(location) AS lat FROM camera "
        f"WHERE (parent_device = :g OR gb_id = :g) AND {cond} ORDER BY gb_id LIMIT 10000"),
        {"g": row["gb_id"], **params})
    return {**row, "channels": [dict(c) for c in chans.mappings()]}


async def insert_device(conn: AsyncConnection, *, gb_id: str, name: str, division_code: str | None, kind: str,
                        ha1: str, by: str | None) -> int:
    if (await conn.execute(select(GbDevice.id).where(GbDevice.gb_id == gb_id))).first():
        raise Conflict(f"GB/T 28181 device {gb_id} is admitted already", field="gb_id")
    return (await conn.execute(insert(GbDevice).values(
        gb_id=gb_id, name=name, division_code=division_code, kind=_kind(kind), ha1=ha1, created_by=by)
        .returning(GbDevice.id))).scalar_one()


async def create(conn: AsyncConnection, scope: Scope, data: DeviceInput, *, realm: str, by: str) -> dict:
    gb28181_id.validate(data.gb_id)
    division = await _division(conn, scope, data.division_code)
    device_id = await insert_device(conn, gb_id=data.gb_id, name=data.name, division_code=division,
                                    kind=data.kind, ha1=gb_device.ha1(data.gb_id, realm, data.password), by=by)
    # An administrator's admission takes it off the pending list (pending or rejected before).
    await conn.execute(text("DELETE FROM pending_device WHERE protocol = 'gb28181' AND external_id = :e"),
                       {"e": data.gb_id})
    return await _row(conn, scope, device_id)


async def update_device(conn: AsyncConnection, scope: Scope, device_id: int, changes: dict, *,
                        realm: str) -> tuple[dict, dict]:
    """Returns (before, after); ``changes``: name, division_code, kind, password."""
    before = await _row(conn, scope, device_id, lock=True)
    values: dict = {}
    if changes.get("name") is not None:
        values["name"] = changes["name"]
    if changes.get("kind") is not None:
        values["kind"] = _kind(changes["kind"])
    if changes.get("division_code") is not None:
        values["division_code"] = await _division(conn, scope, changes["division_code"])
    if changes.get("password") is not None:
        values["ha1"] = gb_device.ha1(before["gb_id"], realm, changes["password"])
    if values:
        await conn.execute(update(GbDevice).where(GbDevice.id == device_id)
                           .values(**values, updated_at=text("now()")))
    # The device may have moved to a division the caller no longer administers: read it unscoped.
    after = dict((await conn.execute(select(*PUBLIC).where(GbDevice.id == device_id))).mappings().one())
    return before, after


async def delete_device(conn: AsyncConnection, scope: Scope, device_id: int) -> dict:
    row = await _row(conn, scope, device_id, lock=True)
    await conn.execute(delete(GbDevice).where(GbDevice.id == device_id))
    return row


async def for_action(conn: AsyncConnection, scope: Scope, device_id: int, action: str) -> dict:
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action; one of {', '.join(ACTIONS)}", field="action")
    return await _row(conn, scope, device_id)
