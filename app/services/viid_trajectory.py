"""A plate's trajectory: its visible checkpoint passes (the plate search's own query, so the same scope) in
time order, joined pass to pass along the road network (the dispatch routing), each leg judged by
app/domain/plate_legs.py."""

from __future__ import annotations

import itertools
from datetime import datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import plate_legs
from app.domain.access import Scope
from app.domain.errors import InvalidInput
from app.services import dispatch, viid_search

MAX_PASSES = 500  # each leg is one routing query


class TrajectorySettings(BaseSettings):
    """``SHARPEYES_TRAJECTORY_MAX_KMH``: the speed above which a leg is flagged implausible."""

    model_config = SettingsConfigDict(env_prefix="SHARPEYES_TRAJECTORY_", extra="ignore")

    max_kmh: float = Field(default=plate_legs.DEFAULT_MAX_KMH, gt=0, le=1000)


def _length_m(line: dict) -> float:
    lons, lats = zip(*((c[0], c[1]) for c in line["coordinates"]), strict=True)
    return dispatch.GEOD.line_length(lons, lats) if len(lons) > 1 else 0.0


async def _leg(conn: AsyncConnection, a: dict, b: dict, max_kmh: float) -> dict:
    pa, pb = tuple(a["geometry"]["coordinates"][:2]), tuple(b["geometry"]["coordinates"][:2])
    line = await dispatch.route(conn, pa, pb)
    routed = line is not None
    if line is None:  # no road between them: the straight line, flagged
        line = {"type": "LineString", "coordinates": [list(pa), list(pb)]}
    t0, t1 = a["properties"]["pass_time"], b["properties"]["pass_time"]
    props = {"from_record_id": a["properties"]["record_id"], "to_record_id": b["properties"]["record_id"],
             "from_tollgate_id": a["properties"]["tollgate_id"], "to_tollgate_id": b["properties"]["tollgate_id"],
             "from_time": t0, "to_time": t1, **plate_legs.leg(t0, t1, _length_m(line), routed, max_kmh)}
    return {"type": "Feature", "id": f"leg-{a['id']}-{b['id']}", "geometry": line, "properties": props}


async def trajectory_of(conn: AsyncConnection, scope: Scope, plate: str, since: datetime, until: datetime,
                        max_kmh: float | None = None) -> dict:
    """Pass points then legs, as one FeatureCollection; ``total`` counts the passes. A pass at a checkpoint
    without a position is kept as a point without geometry and breaks the line (no leg to or from it)."""
    if "*" in plate or "?" in plate:
        raise InvalidInput("plate: the exact plate for a trajectory (search with wildcards first)", field="plate")
    bound = max_kmh if max_kmh is not None else TrajectorySettings().max_kmh
    found = await viid_search.search(conn, scope, plate, since, until, MAX_PASSES, 0)
    passes = found["features"]
    for f in passes:
        f["properties"]["kind"] = "pass"
    legs = []
    for a, b in itertools.pairwise(passes):
        if a["geometry"] and b["geometry"]:
            leg = await _leg(conn, a, b, bound)
            leg["properties"]["kind"] = "leg"
            legs.append(leg)
    return {"type": "FeatureCollection", "total": found["total"], "limit": MAX_PASSES, "offset": 0,
            "max_kmh": bound, "features": passes + legs}
