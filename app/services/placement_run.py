"""Placement of new cameras over the stored coverage: lazy greedy, plus the exact MILP when moderate."""

from __future__ import annotations

import asyncio

import numpy as np
import shapely
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.scoping import OPEN, figure_sql
from app.domain import metric, placement
from app.domain.access import Scope
from app.domain.errors import InvalidInput, NotFound
from app.services import planning_inputs as inp
from app.services import planning_report

# Above this many candidate-element incidences the MILP is skipped: HiGHS would not close it quickly.
MILP_MAX_NONZEROS = 400_000
# Candidate views (sites × headings) a placement may weigh: past this the request is refused (422),
# as the instance would take minutes and gigabytes to build rather than seconds.
MAX_CANDIDATES = 200_000


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
    scope: Scope | None = None,
    max_candidates: int = MAX_CANDIDATES,
) -> dict:
    """Suggested new sites for ``budget`` cameras (or cost units when ``site_cost`` maps site kinds
    'intersection' | 'road' | 'key_area_edge' to a cost). Reads the stored coverage of ``mode``, inside
    ``scope`` only (and ``division_code`` when given, which must lie in it)."""
    if budget <= 0:
        raise InvalidInput("budget must be positive", field="budget")
    if not (1 <= fov_deg <= 360 and 0 < range_m <= 500 and 1 <= n_headings <= 36 and 5 <= spacing_m <= 1000):
        raise InvalidInput("fov 1–360°, range ≤ 500 m, 1–36 headings, spacing 5–1000 m", field="spec")
    if division_code and scope is not None and not scope.covers(division_code):
        raise NotFound(f"division {division_code} not found")
    p: dict = {"m": mode, "mo": mode + OPEN, "main": inp.MAIN_ROADS}

    def region(g: str, name: str) -> str:
        cond, params = planning_report.in_scope(scope, geom=g, prefix=name)
        p.update(params)
        if division_code:
            p["dc"] = division_code
            cond += f" AND ST_Intersects({g}, (SELECT boundary FROM division WHERE code = :dc))"
        return cond

    ka_scope, ka_p = planning_report.in_scope(scope, "k.division_code", prefix="sk")
    p.update(ka_p)
    # the figures the caller may see: without secret cameras they are not cleared for (their open twins)
    ka_fig, ka_fp = figure_sql(scope, "kc", prefix="fk")
    ic_fig, ic_fp = figure_sql(scope, "ic", prefix="fi")
    p.update(ka_fp | ic_fp)
    _, unc = await inp.id_geoms(
        conn,
        "SELECT kc.key_area_id, ST_AsBinary(kc.uncovered) FROM key_area_coverage kc"
        " JOIN key_area k ON k.id = kc.key_area_id "
        f"WHERE kc.mode IN (:m, :mo) AND {ka_fig} AND kc.uncovered IS NOT NULL AND {ka_scope}"
        f" AND {region('kc.uncovered', 'su')}",
        p,
    )
    _blind_ids, blind = await inp.id_geoms(
        conn,
        "SELECT n.id, ST_AsBinary(n.location) FROM intersection_coverage ic "
        f"JOIN road_node n ON n.id = ic.node_id WHERE ic.mode IN (:m, :mo) AND {ic_fig} AND NOT ic.covered"
        f" AND {region('n.location', 'sb')}",
        p,
    )
    _, inter = await inp.id_geoms(conn, inp.INTERSECTIONS + f" AND {region('n.location', 'si')}", p)
    _, roads = await inp.id_geoms(conn, inp.MAIN_ROAD_EDGES + f" AND {region('e.geom', 'se')}", p)
    if len(unc) + len(blind) == 0:
        return {"sites": [], "value": 0.0, "message": "nothing left to cover"}
    # Sampling, candidates, solving and describing are seconds of CPU on a city: off the event loop.
    return await asyncio.to_thread(_place, unc, blind, inter, roads, budget, fov_deg, range_m, n_headings,
                                   spacing_m, site_cost, exact, time_limit_s, max_candidates)


def _place(unc, blind, inter, roads, budget, fov_deg, range_m, n_headings, spacing_m, site_cost, exact,
           time_limit_s, max_candidates) -> dict:
    allg = np.concatenate([unc, blind, inter, roads])
    epsg = metric.epsg_for(allg)
    m = metric.to_metric
    area_pts, area_w = placement.sample_area(m(unc, epsg))
    elements = np.concatenate([area_pts, m(blind, epsg)])
    weight = np.concatenate([area_w, np.full(len(blind), placement.INTERSECTION_WEIGHT_M2)])
    sites, kinds = placement.candidate_sites(m(inter, epsg), m(roads, epsg), m(unc, epsg), spacing_m)
    if len(sites) * n_headings > max_candidates:
        raise InvalidInput(
            f"{len(sites) * n_headings:,} candidate views (sites × headings) exceed {max_candidates:,}: choose a "
            "smaller division, a wider spacing or fewer headings", field="spacing_m")
    views, site, heading = placement.candidate_views(sites, fov_deg, range_m, n_headings)
    res = solve(views, site, heading, kinds, elements, weight, budget, site_cost, exact, time_limit_s)
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
            pt = metric.to_wgs84(sites[site[c]], epsg)
            out.append(
                {
                    "lon": pt.x,
                    "lat": pt.y,
                    "heading_deg": float(heading[c]) if fov_deg < 360 else None,
                    "site_kind": str(kinds[site[c]]),
                    "gain_m2": float(weight[new[new < n_area]].sum()),
                    "gain_intersections": int((new >= n_area).sum()),
                    "view": shapely.geometry.mapping(metric.to_wgs84(views[c], epsg)),
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
