"""Where to build next: weighted maximum coverage under a budget, by lazy greedy and by exact MILP.

The ground to gain is discretised into weighted elements (sample points of uncovered key-area space,
each standing for its cell's square metres, and blind intersections with a fixed weight). A candidate
is a site × heading; it covers the elements inside its view. At most one heading per site is built.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np
import shapely

# One blind intersection is worth this many square metres of key area in the objective.
INTERSECTION_WEIGHT_M2 = 400.0
SAMPLE_SPACING_M = 10.0


# ---------------------------------------------------------------- candidates and elements


def points_along(lines, spacing_m: float) -> np.ndarray:
    """Points every ``spacing_m`` along each line (at least its midpoint)."""
    lines = np.asarray(lines, dtype=object)
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    length = shapely.length(lines)
    count = np.maximum(1, np.floor(length / spacing_m).astype(int))
    owner = np.repeat(np.arange(len(lines)), count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    dist = (k + 0.5) * (length[owner] / count[owner])
    return shapely.line_interpolate_point(lines[owner], dist)


def candidate_sites(
    intersections, roads, area_polygons, spacing_m: float = 50.0
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sites and their kind: intersections, points along roads, points on key-area edges."""
    inter = np.asarray(intersections, dtype=object)
    along = points_along(roads, spacing_m)
    edges = points_along(shapely.boundary(np.asarray(area_polygons, dtype=object)), spacing_m)
    edges = shapely.get_parts(edges)  # multi-ring boundaries give multipoints
    sites = np.concatenate([inter, along, edges])
    kinds = np.array(["intersection"] * len(inter) + ["road"] * len(along) + ["key_area_edge"] * len(edges))
    return sites, kinds


def sector_template(fov_deg: float, range_m: float, heading_deg: float, segments: int = 16) -> np.ndarray:
    """Closed ring of a view at the origin, metres (x east, y north); a disc when fov ≥ 360."""
    if fov_deg >= 360.0:
        az = np.linspace(0.0, 2 * math.pi, 4 * segments + 1)
        return np.column_stack([range_m * np.sin(az), range_m * np.cos(az)])
    half, c = math.radians(fov_deg) / 2.0, math.radians(heading_deg)
    az = np.linspace(c - half, c + half, max(2, int(segments * fov_deg / 360.0) + 2))
    arc = np.column_stack([range_m * np.sin(az), range_m * np.cos(az)])
    return np.vstack([[0.0, 0.0], arc, [0.0, 0.0]])


def candidate_views(
    sites, fov_deg: float, range_m: float, n_headings: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views for every site × heading: (views, site index, heading). One disc per site when fov ≥ 360."""
    xy = shapely.get_coordinates(np.asarray(sites, dtype=object))
    headings = [0.0] if fov_deg >= 360.0 else list(np.arange(n_headings) * 360.0 / n_headings)
    rings = np.stack([sector_template(fov_deg, range_m, h) for h in headings])  # (H, m, 2)
    coords = xy[:, None, None, :] + rings[None, :, :, :]  # (S, H, m, 2)
    views = shapely.polygons(coords.reshape(-1, rings.shape[1], 2))
    site = np.repeat(np.arange(len(xy)), len(headings))
    heading = np.tile(np.asarray(headings), len(xy))
    return views, site, heading


def sample_area(polygons, weights=None, spacing_m: float = SAMPLE_SPACING_M) -> tuple[np.ndarray, np.ndarray]:
    """Grid points inside each polygon, each weighted by its cell's m² × the polygon's weight.

    A polygon smaller than one cell still gets its representative point, weighted by its own area.
    """
    polys = np.asarray(polygons, dtype=object)
    polys = polys[shapely.is_geometry(polys)]
    w = np.ones(len(polys)) if weights is None else np.asarray(weights, dtype=float)
    if len(polys) == 0:
        return np.empty(0, dtype=object), np.empty(0)
    b = shapely.bounds(polys)
    x0 = np.floor(b[:, 0] / spacing_m) * spacing_m + spacing_m / 2
    y0 = np.floor(b[:, 1] / spacing_m) * spacing_m + spacing_m / 2
    nx = np.maximum(0, np.ceil((b[:, 2] - x0) / spacing_m)).astype(int)
    ny = np.maximum(0, np.ceil((b[:, 3] - y0) / spacing_m)).astype(int)
    n = nx * ny
    owner = np.repeat(np.arange(len(polys)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    x = x0[owner] + (k % nx[owner]) * spacing_m
    y = y0[owner] + (k // nx[owner]) * spacing_m
    inside = shapely.contains_xy(polys[owner], x, y)
    owner, x, y = owner[inside], x[inside], y[inside]
    got = np.bincount(owner, minlength=len(polys)) > 0
    small = np.flatnonzero(~got)
    pts = np.concatenate([shapely.points(x, y), shapely.point_on_surface(polys[small])])
    wt = np.concatenate([w[owner] * spacing_m**2, w[small] * shapely.area(polys[small])])
    return pts, wt


# ---------------------------------------------------------------- the instance


@dataclass(frozen=True)
class Instance:
    weight: np.ndarray  # per element
    ptr: np.ndarray  # CSR: elements of candidate c are idx[ptr[c]:ptr[c+1]]
    idx: np.ndarray
    cost: np.ndarray  # per candidate
    site: np.ndarray  # per candidate; at most one candidate per site is chosen

    @property
    def n_candidates(self) -> int:
        return len(self.cost)

    def elements(self, c: int) -> np.ndarray:
        return self.idx[self.ptr[c] : self.ptr[c + 1]]

    def gains(self, weight: np.ndarray | None = None) -> np.ndarray:
        """Summed element weight per candidate (``weight`` defaults to the instance's)."""
        w = self.weight if weight is None else weight
        owner = np.repeat(np.arange(self.n_candidates), np.diff(self.ptr))
        return np.bincount(owner, weights=w[self.idx], minlength=self.n_candidates)

    def value(self, chosen) -> float:
        if len(chosen) == 0:
            return 0.0
        cov = np.zeros(len(self.weight), dtype=bool)
        for c in chosen:
            cov[self.elements(c)] = True
        return float(self.weight[cov].sum())


def build_instance(views, elements, weight, cost=None, site=None) -> Instance:
    views = np.asarray(views, dtype=object)
    tree = shapely.STRtree(np.asarray(elements, dtype=object))
    ci, ei = tree.query(views, predicate="contains")
    order = np.lexsort((ei, ci))
    ci, ei = ci[order], ei[order]
    ptr = np.searchsorted(ci, np.arange(len(views) + 1))
    cost = np.ones(len(views)) if cost is None else np.asarray(cost, dtype=float)
    site = np.arange(len(views)) if site is None else np.asarray(site)
    return Instance(np.asarray(weight, dtype=float), ptr, ei, cost, site)


@dataclass
class Solution:
    chosen: list[int]
    value: float
    cost: float
    method: str
    seconds: float = 0.0
    optimal: bool = False
    bound: float | None = None  # proven upper bound (MILP)
    gains: list[float] = field(default_factory=list)  # marginal gain of each pick, greedy order


def lazy_greedy(inst: Instance, budget: float) -> Solution:
    """Greedy by gain per unit cost with lazy re-evaluation (gains only shrink: submodular).

    With unequal costs the best single affordable candidate is returned when it beats the greedy
    set, which keeps the classic constant-factor guarantee of budgeted max coverage.
    """
    t0 = time.perf_counter()
    covered = np.zeros(len(inst.weight), dtype=bool)
    site_used: set[int] = set()
    gain0 = inst.gains()
    ok = np.flatnonzero((gain0 > 0) & (inst.cost <= budget))
    heap = list(zip((-gain0[ok] / inst.cost[ok]).tolist(), ok.tolist(), strict=True))
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    spent = 0.0
    while heap:
        _, c = heapq.heappop(heap)
        if inst.site[c] in site_used or spent + inst.cost[c] > budget:
            continue
        els = inst.elements(c)
        g = float(inst.weight[els[~covered[els]]].sum())
        if g <= 0:
            continue
        ratio = g / inst.cost[c]
        if heap and ratio < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-ratio, c))  # stale bound: re-queue with the true gain
            continue
        chosen.append(int(c))
        gains.append(g)
        covered[els] = True
        site_used.add(int(inst.site[c]))
        spent += float(inst.cost[c])
    value = float(sum(gains))
    if inst.n_candidates and np.ptp(inst.cost) > 0:
        afford = np.flatnonzero(inst.cost <= budget)
        if len(afford):
            best = int(afford[np.argmax(gain0[afford])])
            if gain0[best] > value:
                value, spent = float(gain0[best]), float(inst.cost[best])
                chosen, gains = [best], [value]
    return Solution(chosen, value, spent, "lazy_greedy", time.perf_counter() - t0, gains=gains)


def milp(inst: Instance, budget: float, time_limit_s: float = 30.0, warm: Solution | None = None) -> Solution:
    """Exact weighted max coverage with HiGHS: max Σ w·y, y_e ≤ Σ_{c∋e} x_c, Σ cost·x ≤ budget,
    Σ_{c at site} x_c ≤ 1, x binary. Only elements some candidate covers get a variable."""
    import highspy

    t0 = time.perf_counter()
    nc = inst.n_candidates
    if inst.idx.size == 0:  # no candidate covers anything: choosing none is optimal (and HiGHS needs rows)
        return Solution([], 0.0, 0.0, "milp", time.perf_counter() - t0, optimal=True, bound=0.0)
    used = np.unique(inst.idx)
    remap = np.full(len(inst.weight), -1)
    remap[used] = np.arange(len(used))
    ne = len(used)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    # Columns: x_0…x_{nc-1} (binary), y_0…y_{ne-1} (continuous 0–1).
    h.addVars(nc + ne, np.zeros(nc + ne), np.ones(nc + ne))
    h.changeColsCost(nc + ne, np.arange(nc + ne, dtype=np.int32), np.r_[np.zeros(nc), inst.weight[used]])
    h.changeColsIntegrality(
        nc, np.arange(nc, dtype=np.int32), np.full(nc, highspy.HighsVarType.kInteger, dtype=np.uint8)
    )
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    # Coverage rows: y_e − Σ_{c∋e} x_c ≤ 0, built as CSR over elements.
    cand_of = np.repeat(np.arange(nc), np.diff(inst.ptr))
    e = remap[inst.idx]
    order = np.lexsort((cand_of, e))
    e, cand_of = e[order], cand_of[order]
    counts = np.bincount(e, minlength=ne)
    starts = np.r_[0, np.cumsum(counts + 1)[:-1]]
    cols = np.empty(len(e) + ne, dtype=np.int32)
    vals = np.empty(len(e) + ne)
    pos = starts.copy()
    cols[pos] = nc + np.arange(ne)
    vals[pos] = 1.0
    slot = starts[e] + 1 + (np.arange(len(e)) - np.r_[0, np.cumsum(counts)[:-1]][e])
    cols[slot] = cand_of
    vals[slot] = -1.0
    h.addRows(ne, np.full(ne, -inf), np.zeros(ne), len(cols), starts.astype(np.int32), cols, vals)
    # Budget row.
    h.addRow(-inf, float(budget), nc, np.arange(nc, dtype=np.int32), inst.cost.astype(float))
    # One heading per site.
    _, site_inv, site_n = np.unique(inst.site, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(site_n > 1)
    if len(multi):
        ord_s = np.argsort(site_inv, kind="stable")
        sstart = np.r_[0, np.cumsum(site_n)[:-1]]
        for s in multi:
            members = ord_s[sstart[s] : sstart[s] + site_n[s]].astype(np.int32)
            h.addRow(-inf, 1.0, len(members), members, np.ones(len(members)))
    if warm is not None and warm.chosen:
        sol = highspy.HighsSolution()
        x = np.zeros(nc + ne)
        x[warm.chosen] = 1.0
        for c in warm.chosen:
            x[nc + remap[inst.elements(c)]] = 1.0
        sol.col_value = list(x)
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value[:nc]) if info.primal_solution_status else np.zeros(nc)
    chosen = [int(c) for c in np.flatnonzero(x > 0.5)]
    optimal = status == highspy.HighsModelStatus.kOptimal
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return Solution(
        chosen,
        inst.value(chosen),
        float(inst.cost[chosen].sum()),
        "milp",
        time.perf_counter() - t0,
        optimal=optimal,
        bound=bound,
    )


def optimality_gap(greedy: Solution, exact: Solution) -> float:
    """Relative gap of the greedy value to the best proven bound (the optimum when the MILP closed)."""
    ref = exact.value if exact.optimal else max(exact.value, exact.bound or exact.value)
    return 0.0 if ref <= 0 else max(0.0, (ref - greedy.value) / ref)
