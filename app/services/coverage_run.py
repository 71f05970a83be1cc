"""Coverage runs: the full analysis stored in tables, and the incremental update after a camera change.

Geometry work happens in a metric CRS (UTM of the data) in a worker thread, so the event loop keeps
serving; PostGIS does the selection (indexed) and stores the results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import OPEN
from app.domain import coverage, metric, occlusion
from app.services import planning_inputs as inp

Progress = Callable[[float, str], Awaitable[None]]


async def _noop(_f: float, _s: str) -> None:
    return None


def metric_views(cams: inp.Cameras, buildings: np.ndarray, epsg: int) -> np.ndarray:
    """Camera views in metres, cut by building footprints when there are any."""
    views = metric.to_metric(cams.view, epsg)
    if len(buildings) and len(views):
        pts = metric.to_metric(cams.point, epsg)
        views = occlusion.occlude(pts, views, cams.range_m, metric.to_metric(buildings, epsg))
    return views


@dataclass
class Analysis:
    areas: coverage.AreaCoverage | None
    nodes: coverage.PointCoverage | None
    roads: coverage.LineCoverage | None


def analyse(
    views: np.ndarray, areas: np.ndarray, nodes: np.ndarray, roads: np.ndarray, epsg: int
) -> Analysis:
    """The three coverage analyses over one shared STRtree of the views (all metric)."""
    tree = shapely.STRtree(views)
    return Analysis(
        coverage.area_coverage(metric.to_metric(areas, epsg), views, tree) if len(areas) else None,
        coverage.point_coverage(metric.to_metric(nodes, epsg), views, tree) if len(nodes) else None,
        coverage.line_coverage(metric.to_metric(roads, epsg), views, tree=tree) if len(roads) else None,
    )


async def _store(
    conn: AsyncConnection,
    mode: str,
    res: Analysis,
    cam_ids: np.ndarray,
    epsg: int,
    area_ids: np.ndarray,
    node_ids: np.ndarray,
    edge_ids: np.ndarray,
    secrets: dict[str, list[str]],
) -> None:
    """Upsert the rows of ``res``; ``secrets`` holds each row's secret cameras (array literals) per table."""
    if res.areas is not None:
        a = res.areas
        unc = _to_wgs(a.uncovered, epsg)
        await conn.execute(
            text(
                "INSERT INTO key_area_coverage (key_area_id, mode, area_m2, covered_m2, fraction,"
                " uncovered, camera_ids, secret_ids) "
                "SELECT id, :mode, am, cm, fr, ST_Multi(ST_GeomFromWKB(decode(w, 'hex'), 4326)), cams::int[],"
                " sec::int[] "
                "FROM unnest(CAST(:ids AS int[]), CAST(:am AS float8[]), CAST(:cm AS float8[]),"
                " CAST(:fr AS float8[]),"
                " CAST(:w AS text[]), CAST(:cams AS text[]), CAST(:sec AS text[])) AS t(id, am, cm, fr, w, cams, sec) "
                "ON CONFLICT (key_area_id, mode) DO UPDATE SET area_m2 = EXCLUDED.area_m2,"
                " covered_m2 = EXCLUDED.covered_m2,"
                " fraction = EXCLUDED.fraction, uncovered = EXCLUDED.uncovered, camera_ids ="
                " EXCLUDED.camera_ids, secret_ids = EXCLUDED.secret_ids,"
                " computed_at = now()"
            ),
            {
                "mode": mode,
                "ids": area_ids.tolist(),
                "am": a.area_m2.tolist(),
                "cm": a.covered_m2.tolist(),
                "fr": np.clip(a.fraction, 0, 1).tolist(),
                "w": inp.wkb_hex(unc),
                "cams": inp.int_arrays(a.cameras, cam_ids),
                "sec": secrets["areas"],
            },
        )
    if res.nodes is not None:
        p = res.nodes
        await conn.execute(
            text(
                "INSERT INTO intersection_coverage (node_id, mode, covered, camera_ids, secret_ids) "
                "SELECT id, :mode, cov, cams::int[], sec::int[] FROM unnest(CAST(:ids AS bigint[]),"
                " CAST(:cov AS bool[]), CAST(:cams AS text[]), CAST(:sec AS text[])) AS t(id, cov, cams, sec) "
                "ON CONFLICT (node_id, mode) DO UPDATE SET covered = EXCLUDED.covered, camera_ids ="
                " EXCLUDED.camera_ids, secret_ids = EXCLUDED.secret_ids,"
                " computed_at = now()"
            ),
            {
                "mode": mode,
                "ids": node_ids.tolist(),
                "cov": p.covered.tolist(),
                "cams": inp.int_arrays(p.cameras, cam_ids),
                "sec": secrets["nodes"],
            },
        )
    if res.roads is not None:
        r = res.roads
        await conn.execute(
            text(
                "INSERT INTO road_coverage (edge_id, mode, length_m, blind_m, blind, camera_ids, secret_ids) "
                "SELECT id, :mode, lm, bm, ST_Multi(ST_GeomFromWKB(decode(w, 'hex'), 4326)), cams::int[],"
                " sec::int[] "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:lm AS float8[]), CAST(:bm AS float8[]),"
                " CAST(:w AS text[]),"
                " CAST(:cams AS text[]), CAST(:sec AS text[])) AS t(id, lm, bm, w, cams, sec) "
                "ON CONFLICT (edge_id, mode) DO UPDATE SET length_m = EXCLUDED.length_m, blind_m ="
                " EXCLUDED.blind_m, blind = EXCLUDED.blind, camera_ids = EXCLUDED.camera_ids,"
                " secret_ids = EXCLUDED.secret_ids, computed_at = now()"
            ),
            {
                "mode": mode,
                "ids": edge_ids.tolist(),
                "lm": r.length_m.tolist(),
                "bm": r.blind_m.tolist(),
                "w": inp.wkb_hex(_to_wgs(r.blind, epsg)),
                "cams": inp.int_arrays(r.cameras, cam_ids),
                "sec": secrets["roads"],
            },
        )


TABLES = ("key_area_coverage", "intersection_coverage", "road_coverage")
KEYS = ("key_area_id", "node_id", "edge_id")


async def _secret_mask(conn: AsyncConnection, cam_ids: np.ndarray) -> np.ndarray:
    """Which of the cameras are secret (secrecy > 0): readers not cleared for them get the open figures."""
    secret = (await conn.execute(text("SELECT id FROM camera WHERE id = ANY(:ids) AND secrecy > 0"),
                                 {"ids": cam_ids.tolist()})).scalars().all()
    return np.isin(cam_ids, np.array(secret, dtype=np.int64))


def _secret_rows(groups: list[np.ndarray] | None, secret: np.ndarray) -> list[np.ndarray]:
    return [] if groups is None else [g[secret[g]] for g in groups]


async def _store_both(conn: AsyncConnection, mode: str, res: Analysis, cam_ids: np.ndarray, views: np.ndarray,
                      epsg: int, areas: tuple, nodes: tuple, roads: tuple) -> None:
    """Store the full figures, then the open twins (mode '<mode>.open', secrecy-0 cameras only) of the rows a
    secret camera contributes to: only those rows are analysed again, over the views already made."""
    secret = await _secret_mask(conn, cam_ids)
    groups = {"areas": _secret_rows(res.areas and res.areas.cameras, secret),
              "nodes": _secret_rows(res.nodes and res.nodes.cameras, secret),
              "roads": _secret_rows(res.roads and res.roads.cameras, secret)}
    lits = {k: inp.int_arrays(g, cam_ids) for k, g in groups.items()}
    await _store(conn, mode, res, cam_ids, epsg, areas[0], nodes[0], roads[0], lits)
    if not secret.any():
        return
    rows = {k: np.array([len(g) > 0 for g in groups[k]], dtype=bool) for k in groups}
    if not any(r.any() for r in rows.values()):
        return
    pick = {k: (ids[rows[k]], geoms[rows[k]]) for k, (ids, geoms) in zip(groups, (areas, nodes, roads), strict=True)}
    open_ids = cam_ids[~secret]
    res_open = await asyncio.to_thread(analyse, views[~secret], pick["areas"][1], pick["nodes"][1],
                                       pick["roads"][1], epsg)
    await _store(conn, mode + OPEN, res_open, open_ids, epsg, pick["areas"][0], pick["nodes"][0], pick["roads"][0],
                 {k: [v for v, keep in zip(lits[k], rows[k], strict=True) if keep] for k in lits})


def _to_wgs(geoms: np.ndarray, epsg: int) -> np.ndarray:
    out = np.asarray(geoms, dtype=object).copy()
    has = shapely.is_geometry(out)
    out[has] = metric.to_wgs84(out[has], epsg)
    # Reprojection can leave a sliver self-touching; PostGIS predicates on such rows would fail later.
    for i in np.flatnonzero(has & ~shapely.is_valid(out)):
        parts = [p for p in shapely.get_parts(shapely.make_valid(out[i])) if p.geom_type == "Polygon"]
        out[i] = shapely.MultiPolygon(parts) if parts else None
    return out


async def run_coverage(conn: AsyncConnection, modes=inp.MODES, progress: Progress = _noop) -> dict:
    """Full run: every key area, intersection and main-road edge, for each mode; replaces stored rows."""
    area_ids, areas = await inp.id_geoms(conn, inp.KEY_AREAS)
    node_ids, nodes = await inp.id_geoms(conn, inp.INTERSECTIONS)
    edge_ids, roads = await inp.id_geoms(conn, inp.MAIN_ROAD_EDGES, {"main": inp.MAIN_ROADS})
    summary: dict = {}
    for k, mode in enumerate(modes):
        await progress(k / len(modes), f"coverage:{mode}:load")
        cams = await inp.cameras(conn, mode)
        epsg = metric.epsg_for(np.concatenate([areas, nodes, roads, cams.point]))
        buildings = await inp.buildings_near(conn, cams.view)
        await progress((k + 0.3) / len(modes), f"coverage:{mode}:compute")
        views = await asyncio.to_thread(metric_views, cams, buildings, epsg)
        res = await asyncio.to_thread(analyse, views, areas, nodes, roads, epsg)
        await progress((k + 0.8) / len(modes), f"coverage:{mode}:store")
        for table in TABLES:
            await conn.execute(text(f"DELETE FROM {table} WHERE mode IN (:m, :o)"), {"m": mode, "o": mode + OPEN})
        await _store_both(conn, mode, res, cams.id, views, epsg, (area_ids, areas), (node_ids, nodes),
                          (edge_ids, roads))
        summary[mode] = _summary(res)
    await progress(1.0, "coverage:done")
    return summary


def _summary(res: Analysis) -> dict:
    out: dict = {}
    if res.areas is not None:
        total = float(res.areas.area_m2.sum())
        out["key_areas"] = len(res.areas.area_m2)
        out["key_area_surface_rate"] = float(res.areas.covered_m2.sum()) / total if total else None
    if res.nodes is not None:
        out["intersections"] = len(res.nodes.count)
        out["blind_intersections"] = int((~res.nodes.covered).sum())
    if res.roads is not None:
        out["main_road_km"] = float(res.roads.length_m.sum()) / 1000
        out["main_road_blind_km"] = float(res.roads.blind_m.sum()) / 1000
    return out


async def on_camera_changed(conn: AsyncConnection, camera_id: int) -> dict:
    """Recompute what one camera touches, before and after its change (or deletion), in every mode.

    Rows it touched before are found through ``camera_ids``; rows it touches now through its view.
    Duplicates around it and the KPIs follow. Returns how many rows were recomputed per table.
    """
    from app.services import duplicates_run, kpi_run  # late: they import this module

    counts: dict[str, int] = {}
    view = "(SELECT view FROM camera WHERE id = :cid)"
    p = {"cid": camera_id}
    for mode in inp.MODES:
        area_ids, areas = await inp.id_geoms(
            conn,
            inp.KEY_AREAS
            + (
                f" WHERE ST_Intersects(k.area, {view}) OR k.id IN "
                "(SELECT key_area_id FROM key_area_coverage WHERE mode = :m AND camera_ids @> ARRAY[:cid])"
            ),
            {**p, "m": mode},
        )
        node_ids, nodes = await inp.id_geoms(
            conn,
            inp.INTERSECTIONS
            + (
                f" AND (ST_Intersects(n.location, {view}) OR n.id IN "
                "(SELECT node_id FROM intersection_coverage WHERE mode = :m AND camera_ids @> ARRAY[:cid]))"
            ),
            {**p, "m": mode},
        )
        edge_ids, roads = await inp.id_geoms(
            conn,
            inp.MAIN_ROAD_EDGES
            + (
                f" AND (ST_Intersects(e.geom, {view}) OR e.id IN "
                "(SELECT edge_id FROM road_coverage WHERE mode = :m AND camera_ids @> ARRAY[:cid]))"
            ),
            {**p, "m": mode, "main": inp.MAIN_ROADS},
        )
        everything = np.concatenate([areas, nodes, roads])
        if len(everything) == 0:
            continue
        # Every camera that can affect those entities: views meeting their extent.
        x0, y0, x1, y1 = shapely.total_bounds(everything)
        cams = await inp.cameras(
            conn,
            mode,
            touching="ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)",
            params={"x0": x0, "y0": y0, "x1": x1, "y1": y1},
        )
        epsg = metric.epsg_for(everything)
        buildings = await inp.buildings_near(conn, cams.view)
        views = await asyncio.to_thread(metric_views, cams, buildings, epsg)
        res = await asyncio.to_thread(analyse, views, areas, nodes, roads, epsg)
        # A recomputed row may have lost its secret cameras: its open twin goes, _store_both writes the new.
        for table, key, ids in zip(TABLES, KEYS, (area_ids, node_ids, edge_ids), strict=True):
            await conn.execute(text(f"DELETE FROM {table} WHERE mode = :o AND {key} = ANY(:ids)"),
                               {"o": mode + OPEN, "ids": ids.tolist()})
        await _store_both(conn, mode, res, cams.id, views, epsg, (area_ids, areas), (node_ids, nodes),
                          (edge_ids, roads))
        counts[f"{mode}:key_areas"] = len(area_ids)
        counts[f"{mode}:intersections"] = len(node_ids)
        counts[f"{mode}:road_edges"] = len(edge_ids)
    counts["duplicates"] = await duplicates_run.refresh_around(conn, camera_id)
    await kpi_run.compute_kpis(conn)
    return counts
