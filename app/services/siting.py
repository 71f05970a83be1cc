"""Where an object lies decides its division: derived from its geometry, never taken from the client.

A client-given division code is only checked against the geometry (it may name the derived division
or one of its ancestors), and a scoped administrator places objects only inside their own divisions.
"""

from __future__ import annotations

from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import scope_sql
from app.domain import division_code
from app.domain.access import Scope
from app.domain.errors import Forbidden, InvalidInput


async def division_at(conn: AsyncConnection, lon: float, lat: float) -> str | None:
    """The deepest division whose boundary contains the point."""
    return (await conn.execute(text(
        "SELECT code FROM division WHERE boundary IS NOT NULL AND ST_Intersects(boundary, "
        "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY level DESC LIMIT 1"), {"lon": lon, "lat": lat})).scalar()


async def _inside_scope(conn: AsyncConnection, scope: Scope, wkt: str) -> bool:
    """The geometry lies wholly inside the union of the scope's division boundaries."""
    cond, params = scope_sql(scope, "code")
    return bool((await conn.execute(text(
        f"SELECT ST_CoveredBy(ST_GeomFromText(:g, 4326), ST_Union(boundary)) FROM division "
        f"WHERE boundary IS NOT NULL AND {cond}"), {"g": wkt, **params})).scalar())


async def division_for(conn: AsyncConnection, scope: Scope, geom: BaseGeometry, given: str | None,
                       what: str, secrecy: int = 0) -> str | None:
    """The division an object at ``geom`` belongs to, once the caller may place it there.

    The division is the deepest one containing the geometry's representative point. A given code
    that is neither it nor an ancestor is a 422; a place outside the caller's divisions a 403 (the
    whole geometry must lie inside them, not only its point)."""
    p = geom if geom.geom_type == "Point" else geom.representative_point()
    derived = await division_at(conn, p.x, p.y)
    if given is not None:
        given = division_code.validate(given)
        if derived is None or not division_code.is_within(derived, given):
            raise InvalidInput(f"division {given} does not contain this {what}'s location"
                               + (f" (it lies in {derived})" if derived else " (it lies in no known division)"),
                               field="division_code")
    if not scope.covers(derived, secrecy) or (
            not scope.everywhere and not await _inside_scope(conn, scope, geom.wkt)):
        raise Forbidden(f"this {what} lies outside your divisions")
    return derived
