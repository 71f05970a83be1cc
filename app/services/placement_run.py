"""Placement of new cameras over the stored coverage: lazy greedy, plus the exact MILP when moderate."""

from __future__ import annotations

import asyncio

import numpy as np
import shapely
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import metric_crs, placement
from app.domain.errors import InvalidInput
from app.services import planning_inputs as inp

# Above this many candidate-element incidences the MILP is skipped: HiGHS would not close it quickly.
MILP_MAX_NONZEROS = 400_000


def solve(
    views,
    site,
    heading,
    kinds_of_site,
    elements,
    weight,
    budget: float,
    site_cost: dict | None,
    exact: bool,
    time_limit_s: float,
) -> dict:
    cost = None
    if site_cost:
        cost = np.array([float(site_cost.get(k, 1.0)) for k in kinds_of_site[site]])
        if np.any(cost <= 0):
            raise InvalidInput("site costs must be positive", field="site_cost")
    inst = placement.build_instance(views, elements, weight, cost=cost, site=site)
    greedy = placement.lazy_greedy(inst, budget)
    out = {"candidates": inst.n_candidates, "elements": len(weight), "greedy": greedy}
    if exact and len(inst.idx) <= MILP_MAX_NONZEROS:
        exact_sol = placement.milp(inst, budget, time_limit_s, warm=greedy)
        out["milp"] = exact_sol
        out["greedy_gap"] = placement.optimality_gap(greedy, exact_sol)
    return out


async def plan(
    conn: AsyncConnection,
    budget: float,
    division_code: str | None = None,
    mode: str = "all",
    fov_deg: float = 60.0,
    range_m: float = 60.0,
    n_headings: int = 8,
    spacing_m: float = 50.0,
    site_cost: dict | None = None,
    exact: bool = True,
    time_limit_s: float = 20.0,
) -> dict:
    """Suggested new sites for ``budget`` cameras (or cost units when ``site_cost`` maps site kinds
    'intersection' | 'road' | 'key_area_edge' to a cost). Reads the stored coverage of ``mode``."""
    if budget <= 0:
        raise InvalidInput("budget must be positive", field="budget")
    if not (1 <= fov_deg <= 360 and 0 < range_m <= 500 and 1 <= n_headings <= 36 and 5 <= spacing_m <= 1000):
        raise InvalidInput("fov 1–360°, range ≤ 500 m, 1–36 headings, spacing 5–1000 m", field="spec")
    region = "TRUE"
    p: dict = {"m": mode, "main": inp.MAIN_ROADS}
    if division_code:
        region = "ST_Intersects({g}, (SELECT boundary FROM division WHERE code = :dc))"
        p["dc"] = division_code
    _, unc = await inp.id_geoms(
        conn,
        "SELECT key_area_id, ST_AsBinary(uncovered) FROM key_area_coverage "
        f"WHERE mode = :m AND uncovered IS NOT NULL AND {region.format(g='uncovered')}",
        p,
    )
    _blind_ids, blind = await inp.id_geoms(
        conn,
        "SELECT n.id, ST_AsBinary(n.location) FROM intersection_coverage ic "
        "JOIN road_node n ON n.id = ic.node_id WHERE ic.mode = :m AND NOT ic.covered"
        f" AND {region.format(g='n.location')}",
        p,
    )
    _, inter = await inp.id_geoms(conn, inp.INTERSECTIONS + f" AND {region.format(g='n.location')}", p)
    _, roads = await inp.id_geoms(conn, inp.MAIN_ROAD_EDGES + f" AND {region.format(g='e.geom')}", p)
    allg = np.concatenate([unc, blind, inter, roads])
    if len(unc) + len(blind) == 0:
        return {"sites": [], "value": 0.0, "message": "nothing left to cover"}
    epsg = metric_crs.epsg_for(allg)
    m = metric_crs.to_metric
    area_pts, area_w = placement.sample_area(m(unc, epsg))
    elements = np.concatenate([area_pts, m(blind, epsg)])
    weight = np.concatenate([area_w, np.full(len(blind), placement.INTERSECTION_WEIGHT_M2)])
    sites, kinds = placement.candidate_sites(m(inter, epsg), m(roads, epsg), m(unc, epsg), spacing_m)
    views, site, heading = placement.candidate_views(sites, fov_deg, range_m, n_headings)
    res = await asyncio.to_thread(
        solve, views, site, heading, kinds, elements, weight, budget, site_cost, exact, time_limit_s
    )
    greedy: placement.Solution = res["greedy"]
    best = res.get("milp") if res.get("milp") is not None and res["milp"].value > greedy.value else greedy
    n_area = len(area_pts)

    def describe(sol: placement.Solution) -> list[dict]:
        out = []
        covered = np.zeros(len(weight), dtype=bool)
        inst_idx = placement.build_instance(views[sol.chosen], elements, weight)
        for k, c in enumerate(sol.chosen):
            els = inst_idx.elements(k)
            new = els[~covered[els]]
            covered[els] = True
            pt = metric_crs.to_wgs84(sites[site[c]], epsg)
            out.append(
                {
                    "lon": pt.x,
                    "lat": pt.y,
                    "heading_deg": float(heading[c]) if fov_deg < 360 else None,
                    "site_kind": str(kinds[site[c]]),
                    "gain_m2": float(weight[new[new < n_area]].sum()),
                    "gain_intersections": int((new >= n_area).sum()),
                    "view": shapely.geometry.mapping(metric_crs.to_wgs84(views[c], epsg)),
                }
            )
        return out

    def summary(sol: placement.Solution) -> dict:
        d = {"value": sol.value, "cost": sol.cost, "count": len(sol.chosen), "seconds": round(sol.seconds, 3)}
        if sol.method == "milp":
            d.update(optimal=sol.optimal, bound=sol.bound)
        return d

    result = {
        "budget": budget,
        "candidates": res["candidates"],
        "elements": res["elements"],
        "greedy": summary(greedy),
        "sites": describe(best),
        "method": best.method,
        "fov_deg": fov_deg,
        "range_m": range_m,
    }
    if "milp" in res:
        result["milp"] = summary(res["milp"])
        result["greedy_gap"] = res["greedy_gap"]
    else:
        result["milp"] = None
    return result
