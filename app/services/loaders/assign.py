"""Assign divisions (deepest containing one) and GB/T 28181 ids to new cameras in bulk."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, Division
from app.domain import gb28181_id


async def division_lookup(conn: AsyncConnection):
    """A function (lon[], lat[]) → division codes (deepest level wins), built once per load."""
    rows = (await conn.execute(select(Division.code, Division.level, Division.boundary)
                               .where(Division.boundary.is_not(None)))).all()
    codes = np.array([r.code for r in rows], dtype=object)
    levels = np.array([r.level for r in rows])
    tree = shapely.STRtree([to_shape(r.boundary) for r in rows]) if rows else None

    def lookup(lon, lat) -> list[str | None]:
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        out: list[str | None] = [None] * len(lon)
        if tree is None or len(lon) == 0:
            return out
        pts = shapely.points(lon, lat)
        ip, idiv = tree.query(pts, predicate="intersects")
        best = np.full(len(lon), -1)
        for p, d in zip(ip, idiv, strict=True):
            if best[p] < 0 or levels[d] > levels[best[p]]:
                best[p] = d
        for i, b in enumerate(best):
            if b >= 0:
                out[i] = codes[b]
        return out

    return lookup


async def allocate_gb_ids(conn: AsyncConnection, divisions: list[str | None], type_code: int = 132) -> list[str]:
    """Next free ids per division prefix, consistent with ids already in the database."""
    by_prefix: dict[str, set[int]] = {}
    out = []
    counters: dict[str, int] = defaultdict(lambda: 1)
    for div in divisions:
        prefix = gb28181_id.make(div or "000000", type_code, 0)[:14]
        if prefix not in by_prefix:
            used = (await conn.execute(select(Camera.gb_id).where(Camera.gb_id.like(prefix + "%")))).scalars()
            by_prefix[prefix] = {int(u[14:]) for u in used}
        taken = by_prefix[prefix]
        n = counters[prefix]
        while n in taken:
            n += 1
        taken.add(n)
        counters[prefix] = n + 1
        out.append(f"{prefix}{n:06d}")
    return out
