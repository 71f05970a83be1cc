"""Administrative divisions: list, one, children — always within the caller's scope."""

from __future__ import annotations

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Division
from app.db.scoping import division_filter
from app.domain import division_code
from app.domain.access import Scope
from app.domain.errors import NotFound


async def require(conn: AsyncConnection, code: str, field: str = "division_code") -> str:
    """A division code that is valid and loaded (404 naming the field otherwise)."""
    code = division_code.validate(code)
    if not (await conn.execute(select(Division.code).where(Division.code == code))).first():
        raise NotFound(f"division {code} not found", field=field)
    return code


def _visible(scope: Scope):
    # A user sees the divisions of their subtree and the ancestors leading to it (for the tree).
    if scope.everywhere:
        return division_filter(Division.code, scope)
    ancestors = set()
    for p in scope.prefixes:
        code = division_code.canonical(p.ljust(12 if len(p) > 6 else 6, "0"))
        while (code := division_code.parent(code)) is not None:
            ancestors.add(code)
    return or_(division_filter(Division.code, scope), Division.code.in_(ancestors))


async def list_geojson(conn: AsyncConnection, scope: Scope, *, bbox=None, level: int | None = None,
                       parent: str | None = None, geometry: bool = True, limit: int = 1000, offset: int = 0) -> dict:
    conds = [_visible(scope)]
    if bbox:
        conds.append(Division.boundary.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if level:
        conds.append(Division.level == level)
    if parent:
        conds.append(Division.parent_code == division_code.validate(parent))
    total = (await conn.execute(select(func.count()).select_from(Division).where(*conds))).scalar_one()
    geom_col = (func.ST_AsGeoJSON(Division.boundary, 6) if geometry else func.cast(None, Division.name.type))
    rows = (await conn.execute(
        select(Division.code, Division.name, Division.name_en, Division.level, Division.parent_code,
               geom_col.label("geometry")).where(*conds).order_by(Division.code).limit(limit).offset(offset)
    )).mappings().all()
    return {"type": "FeatureCollection", "total": total, "limit": limit, "offset": offset, "features": [
        {"type": "Feature", "id": r["code"],
         "geometry": orjson.loads(r["geometry"]) if r["geometry"] else None,
         "properties": {k: r[k] for k in ("code", "name", "name_en", "level", "parent_code")}} for r in rows]}


async def get(conn: AsyncConnection, scope: Scope, code: str) -> dict:
    code = division_code.validate(code)
    row = (await conn.execute(
        select(Division.code, Division.name, Division.name_en, Division.level, Division.parent_code,
               func.ST_AsGeoJSON(Division.boundary, 6).label("geometry"))
        .where(Division.code == code, _visible(scope)))).mappings().first()
    if row is None:
        raise NotFound(f"division {code} not found")
    geometry = orjson.loads(row["geometry"]) if row["geometry"] else None
    return {"type": "Feature", "id": row["code"], "geometry": geometry,
            "properties": {k: row[k] for k in ("code", "name", "name_en", "level", "parent_code")}}


# Public name for other services (tiles): the same rule as the REST listing.
visible_filter = _visible
