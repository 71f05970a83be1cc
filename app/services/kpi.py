"""KPI summary of a scope (cameras, 完好率 online rate, 联网率 networked rate, HD ratio, key areas,
open incidents, available units), computed in SQL so the numbers on every screen agree.

``key_area_reach_rate`` (重点区域覆及率) is the share of key areas an online camera's view reaches at
all; the planner's ``key_area_surface_rate`` (重点区域面积覆盖率) is the share of their surface seen.
Two measures, two names: a wall at 80 % and a plan at 48 % are not a contradiction."""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, Incident, KeyArea, Unit
from app.db.scoping import division_filter, scope_filter
from app.domain.access import Scope

OPEN_INCIDENT = ("new", "dispatched", "on_scene")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def summary(conn: AsyncConnection, scope: Scope) -> dict:
    cam_scope = and_(scope_filter(Camera.division_code, scope, Camera.secrecy), Camera.status != "planned")
    cams = (await conn.execute(select(
        func.count(),
        func.count().filter(Camera.status == "online"),
        func.count().filter(Camera.networked),
        func.count().filter(Camera.hd),
    ).where(cam_scope))).one()
    total, online, networked, hd = (int(v) for v in cams)
    sees = exists().where(cam_scope, Camera.status == "online", func.ST_Intersects(Camera.view, KeyArea.area))
    areas = (await conn.execute(select(func.count(), func.count().filter(sees)).select_from(KeyArea)
                                .where(division_filter(KeyArea.division_code, scope)))).one()
    open_incidents = (await conn.execute(select(func.count()).select_from(Incident).where(
        division_filter(Incident.division_code, scope), Incident.status.in_(OPEN_INCIDENT)))).scalar_one()
    units = (await conn.execute(select(func.count()).select_from(Unit).where(
        division_filter(Unit.division_code, scope), Unit.status == "available"))).scalar_one()
    return {
        "cameras": total,
        "cameras_online": online,
        "online_rate": _rate(online, total),
        "networked_rate": _rate(networked, total),
        "hd_ratio": _rate(hd, total),
        "key_areas": int(areas[0]),
        "key_areas_reached": int(areas[1]),
        "key_area_reach_rate": _rate(int(areas[1]), int(areas[0])),
        "open_incidents": int(open_incidents),
        "units_available": int(units),
    }
