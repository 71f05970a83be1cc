"""Duplicated cameras (seed §14) and, for each, where moving it would add most coverage.

The gain of a move is counted on what the stored coverage says is still blind near the camera
(uncovered key-area space and blind intersections, mode 'all'), so run coverage first.
"""

from __future__ import annotations

import asyncio

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import coverage, metric, placement
from app.services import planning_inputs as inp

MOVE_RADIUS_M = 1000.0
_DEG_PER_M = 1.0 / 111_000.0


async def _blind_targets(conn: AsyncConnection, env: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uncovered key-area polygons, blind intersections, main roads) inside an envelope, WGS-84."""
    box = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
    _, unc = await inp.id_geoms(
        conn,
        "SELECT key_area_id, ST_AsBinary(uncovered) FROM key_area_coverage "
        f"WHERE mode = 'all' AND uncovered && {box}",
        env,
    )
    _, blind = await inp.id_geoms(
        conn,
        "SELECT n.id, ST_AsBinary(n.location) FROM intersection_coverage ic "
        "JOIN road_node n ON n.id = ic.node_id "
        f"WHERE ic.mode = 'all' AND NOT ic.covered AND n.location && {box}",
        env,
    )
    _, roads = await inp.id_geoms(
        conn, inp.MAIN_ROAD_EDGES + f" AND e.geom && {box}", {**env, "main": inp.MAIN_ROADS}
    )
    return unc, blind, roads


def suggest_moves(
    cam_xy: np.ndarray,
    fov: np.ndarray,
    rng: np.ndarray,
    uncovered,
    blind,
    roads,
    radius_m: float = MOVE_RADIUS_M,
) -> list[dict | None]:
    """For each camera (metric xy, its own fov and range) the best new site within ``radius_m``.

    Cameras are served one after another on a shared "already gained" mask, so two duplicates are
    never sent to watch the same spot.
    """
    area_pts, area_w = placement.sample_area(uncovered)
    elements = np.concatenate([area_pts, blind])
    weight = np.concatenate([area_w, np.full(len(blind), placement.INTERSECTION_WEIGHT_M2)])
    is_node = np.r_[np.zeros(len(area_pts), bool), np.ones(len(blind), bool)]
    out: list[dict | None] = [None] * len(cam_xy)
    if len(elements) == 0:
        return out
    sites, _ = placement.candidate_sites(blind, roads, uncovered)
    if len(sites) == 0:
        return out
    site_xy = shapely.get_coordinates(sites)
    gained = np.zeros(len(elements), dtype=bool)
    specs: dict[tuple[float, float], tuple] = {}
    for k in range(len(cam_xy)):
        key = (round(float(fov[k]), 1), round(float(rng[k]), 1))
        if key not in specs:
            views, site, heading = placement.candidate_views(sites, *key)
            specs[key] = (placement.build_instance(views, elements, weight, site=site), site, heading)
        inst, site, heading = specs[key]
        near = np.linalg.norm(site_xy[site] - cam_xy[k], axis=1) <= radius_m
        gain = np.where(near, inst.gains(np.where(gained, 0.0, inst.weight)), 0.0)
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            continue
        els = inst.elements(best)
        new = els[~gained[els]]
        gained[els] = True
        out[k] = {
            "xy": site_xy[site[best]],
            "heading": float(heading[best]),
            "gain_m2": float(weight[new][~is_node[new]].sum()),
            "gain_intersections": int(is_node[new].sum()),
        }
    return out


async def _compute(conn: AsyncConnection, cams: inp.Cameras, only: set[int] | None) -> list[dict]:
    if len(cams) == 0:
        return []
    epsg = metric.epsg_for(cams.point)
    views = metric.to_metric(cams.view, epsg)
    dups = await asyncio.to_thread(coverage.find_duplicates, views, known=cams.view_known)
    if only is not None:
        dups = [d for d in dups if int(cams.id[d.camera]) in only]
    if not dups:
        return []
    idx = np.array([d.camera for d in dups])
    pad = MOVE_RADIUS_M * _DEG_PER_M * 2
    x0, y0, x1, y1 = shapely.total_bounds(cams.point[idx])
    env = {"x0": x0 - pad, "y0": y0 - pad, "x1": x1 + pad, "y1": y1 + pad}
    unc, blind, roads = await _blind_targets(conn, env)
    cam_xy = shapely.get_coordinates(metric.to_metric(cams.point[idx], epsg))
    moves = await asyncio.to_thread(
        suggest_moves,
        cam_xy,
        cams.fov_deg[idx],
        cams.range_m[idx],
        metric.to_metric(unc, epsg),
        metric.to_metric(blind, epsg),
        metric.to_metric(roads, epsg),
    )
    rows = []
    for d, mv in zip(dups, moves, strict=True):
        row = {
            "camera_id": int(cams.id[d.camera]),
            "other": int(cams.id[d.other]),
            "overlap": d.overlap,
            "w": None,
            "heading": None,
            "gain_m2": None,
            "gain_n": None,
        }
        if mv is not None:
            pt = metric.to_wgs84(shapely.Point(mv["xy"]), epsg)
            row.update(
                w=shapely.to_wkb(pt, hex=True),
                heading=mv["heading"],
                gain_m2=mv["gain_m2"],
                gain_n=mv["gain_intersections"],
            )
        rows.append(row)
    return rows


_INSERT = text(
    "INSERT INTO camera_duplicate (camera_id, other_camera_id, overlap, suggested_location,"
    " suggested_heading_deg,"
    " suggested_gain_m2, suggested_gain_intersections) VALUES (:camera_id, :other, :overlap,"
    " ST_GeomFromWKB(decode(:w, 'hex'), 4326), :heading, :gain_m2, :gain_n)"
)


async def run_duplicates(conn: AsyncConnection) -> int:
    cams = await inp.cameras(conn, "all")
    rows = await _compute(conn, cams, None)
    await conn.execute(text("DELETE FROM camera_duplicate"))
    if rows:
        await conn.execute(_INSERT, rows)
    return len(rows)


async def refresh_around(conn: AsyncConnection, camera_id: int) -> int:
    """Recompute duplicates for the camera, the cameras its view meets, and its former partners."""
    near = (
        (
            await conn.execute(
                text(
                    "SELECT o.id FROM camera c JOIN camera o ON ST_Intersects(o.view, c.view) "
                    "WHERE c.id = :cid AND o.status <> 'planned' "
                    "UNION SELECT camera_id FROM camera_duplicate WHERE other_camera_id = :cid OR"
                    " camera_id = :cid "
                    "UNION SELECT other_camera_id FROM camera_duplicate WHERE camera_id = :cid "
                    "UNION SELECT :cid"
                ),
                {"cid": camera_id},
            )
        )
        .scalars()
        .all()
    )
    near_ids = sorted({int(x) for x in near})
    # Their duplicate status depends on every camera their views meet: load that ring too.
    cams = await inp.cameras(
        conn,
        "all",
        # Pairwise, not against ST_Collect of the views: overlapping views collect into an invalid
        # multipolygon, on which GEOS raises a TopologyException.
        meets="EXISTS (SELECT 1 FROM camera t WHERE t.id = ANY(:ids) AND ST_Intersects(c.view, t.view))",
        params={"ids": near_ids},
    )
    rows = await _compute(conn, cams, set(near_ids))
    await conn.execute(text("DELETE FROM camera_duplicate WHERE camera_id = ANY(:ids)"), {"ids": near_ids})
    if rows:
        await conn.execute(_INSERT, rows)
    return len(rows)
