"""One camera as an upper platform sees it (GB/T 28181 cascade): whether the platform's sharing rule gives
it the camera, and its catalog item, decided by the same pure rule and directory as the whole catalog
(``app.domain.sharing``). Used when the upper plays a channel and when a camera changes under a catalog
subscription. The audit of what an upper platform did (``cascade_play``)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import sharing
from app.services import audit, platforms

_CAMERA = """SELECT c.id, c.gb_id, c.name, c.division_code, c.secrecy, c.cls, c.kind, c.status, c.owner,
 ST_X(c.location) AS lon, ST_Y(c.location) AS lat, d.manufacturer, d.model
 FROM camera c LEFT JOIN gb_device d ON d.gb_id = c.parent_device WHERE {where}"""


async def platform(conn: AsyncConnection, platform_id: int) -> dict | None:
    row = (await conn.execute(select(*platforms.PUBLIC).where(platforms.P.id == platform_id))).mappings().first()
    return dict(row) if row is not None else None


async def camera_item(conn: AsyncConnection, platform_id: int, local_id: str, *, gb_id: str | None = None,
                      camera_id: int | None = None) -> tuple[dict | None, dict | None]:
    """(the camera's catalog item if the platform is shared it, else None; the camera row or None)."""
    row = await platform(conn, platform_id)
    where, params = ("c.gb_id = :g", {"g": gb_id}) if gb_id is not None else ("c.id = :i", {"i": camera_id})
    cam = (await conn.execute(text(_CAMERA.format(where=where) + " LIMIT 1"), params)).mappings().first()
    if row is None or cam is None:
        return None, dict(cam) if cam is not None else None
    rule = platforms.rule_of(row)
    c = sharing.Camera(**cam)
    if c.status == "planned" or not rule.shares(c.division_code, c.secrecy, c.cls, c.kind):
        return None, dict(cam)
    div = (await conn.execute(text("SELECT code, name, parent_code FROM division WHERE code = :c"),
                              {"c": c.division_code})).mappings().first()
    divs = [sharing.Division(div["code"], div["name"], div["parent_code"])] if div is not None else []
    items = sharing.directory(rule, local_id, row["name"], divs, [c])
    return items[-1], dict(cam)


async def record_play(conn: AsyncConnection, platform_row: dict, channel_id: str, kind: str,
                      camera_id: int | None, detail: dict) -> None:
    """``cascade_play``: who is the upper platform (its id and name), what it played."""
    await audit.record(conn, "cascade_play", actor_name=f"upper:{platform_row['sip_id']}",
                       object_type="camera" if camera_id is not None else None,
                       object_id=str(camera_id) if camera_id is not None else None,
                       detail={"platform_id": platform_row["id"], "platform": platform_row["name"],
                               "channel_id": channel_id, "kind": kind, **detail})
