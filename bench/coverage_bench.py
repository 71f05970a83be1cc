"""Coverage benchmark (issue #6): a synthetic city of 200,000 cameras, 20,000 key areas and 50,000
intersections. Times the full coverage run (key-area coverage + intersections) against a
straightforward geopandas overlay of the same inputs in the same run, then placement for K = 50
with lazy greedy and with the HiGHS MILP.

    PYTHONPATH=. python bench/coverage_bench.py [--scale 1.0] [--seed 7] [--workers N]

Our side uses the product default of threads (``coverage.MAX_WORKERS``, capped by the cores) unless
--workers says otherwise; the geopandas side is single-threaded, so CPU seconds are printed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely

from app.domain import coverage, placement

# Both sides are exact GEOS overlays in floating point; they differ only by rounding (areas ≤ 25,600 m²).
AREA_TOLERANCE_M2 = 1e-6


def city(scale: float, seed: int):
    rng = np.random.default_rng(seed)
    n_cam, n_area, n_node = int(200_000 * scale), int(20_000 * scale), int(50_000 * scale)
    side = 30_000.0 * np.sqrt(scale)  # 30 km × 30 km at full scale
    # Cameras cluster around key areas and junctions, like real deployments.
    nodes_xy = rng.uniform(0, side, (n_node, 2))
    area_c = rng.uniform(0, side, (n_area, 2))
    anchor = np.concatenate([area_c, nodes_xy])[rng.integers(0, n_area + n_node, n_cam)]
    cam_xy = anchor + rng.normal(0, 60, (n_cam, 2))
    ptz = rng.random(n_cam) < 0.2
    heading = rng.uniform(0, 360, n_cam)
    views = np.empty(n_cam, dtype=object)
    fixed = np.flatnonzero(~ptz)
    # Build sectors for 36 heading bins at once (vectorised), then discs for PTZ.
    bins = (heading[fixed] // 10).astype(int)
    for b in np.unique(bins):
        sel = fixed[bins == b]
        ring = placement.sector_template(60, 60, b * 10 + 5)
        views[sel] = shapely.polygons(cam_xy[sel][:, None, :] + ring[None])
    views[ptz] = shapely.buffer(shapely.points(cam_xy[ptz]), 100, quad_segs=8)
    w, h = rng.uniform(40, 160, n_area), rng.uniform(40, 160, n_area)
    areas = shapely.box(
        area_c[:, 0] - w / 2, area_c[:, 1] - h / 2, area_c[:, 0] + w / 2, area_c[:, 1] + h / 2
    )
    return views, areas, shapely.points(nodes_xy), side


def ours(views, areas, nodes, workers=None):
    tree = shapely.STRtree(views)
    ac = coverage.area_coverage(areas, views, tree, workers=workers)
    pc = coverage.point_coverage(nodes, views, tree, workers=workers)
    return ac.covered_m2, pc.covered


def baseline(views, areas, nodes):
    import geopandas as gpd

    va = gpd.GeoDataFrame({"cam": np.arange(len(views))}, geometry=views)
    ka = gpd.GeoDataFrame({"area": np.arange(len(areas))}, geometry=areas)
    inter = gpd.overlay(ka, va, how="intersection", keep_geom_type=True)
    covered = inter.dissolve(by="area").area.reindex(range(len(areas)), fill_value=0.0).to_numpy()
    pts = gpd.GeoDataFrame({"node": np.arange(len(nodes))}, geometry=nodes)
    hit = gpd.sjoin(pts, va, predicate="within")
    node_cov = np.zeros(len(nodes), dtype=bool)
    node_cov[hit["node"].unique()] = True
    return covered, node_cov


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--milp-seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=None, help="threads for our side (default: product default)")
    args = ap.parse_args()
    t = time.perf_counter()
    views, areas, nodes, side = city(args.scale, args.seed)
    print(
        f"synthetic city {side / 1000:.0f} km square: {len(views):,} cameras, {len(areas):,} key areas, "
        f"{len(nodes):,} intersections (built in {time.perf_counter() - t:.1f} s)"
    )

    # Wall time is the figure; CPU time is printed too because the machine is shared (2 cores), our
    # side may use several threads and the overlay one, so CPU seconds compare the work done.
    workers = coverage.thread_count(args.workers)
    t, c = time.perf_counter(), time.process_time()
    cov_m2, node_cov = ours(views, areas, nodes, workers)
    t_ours, c_ours = time.perf_counter() - t, time.process_time() - c
    rate = cov_m2.sum() / shapely.area(areas).sum()
    print(
        f"SharpEyes coverage run:      {t_ours:7.2f} s  (CPU {c_ours:.2f} s, {workers} thread{'s' * (workers > 1)}; "
        f"key-area coverage {rate:.1%}, blind intersections {(~node_cov).sum():,})"
    )

    t, c = time.perf_counter(), time.process_time()
    base_m2, base_nodes = baseline(views, areas, nodes)
    t_base, c_base = time.perf_counter() - t, time.process_time() - c
    print(
        f"geopandas overlay baseline:  {t_base:7.2f} s  "
        f"(CPU {c_base:.2f} s; key-area coverage {base_m2.sum() / shapely.area(areas).sum():.1%},"
        f" blind intersections {(~base_nodes).sum():,})"
    )
    print(
        f"speed-up: {t_base / t_ours:.1f}x wall, {c_base / c_ours:.1f}x CPU  "
        f"(target >= 10x; run under 60 s: {'yes' if t_ours < 60 else 'NO'})"
    )
    diff = np.abs(cov_m2 - base_m2).max()
    same_nodes = bool(np.array_equal(node_cov, base_nodes))
    print(
        f"max |difference| per key area: {diff:.3g} m² (tolerance {AREA_TOLERANCE_M2:g} m²); "
        f"intersection verdicts equal: {same_nodes}"
    )
    assert diff <= AREA_TOLERANCE_M2, f"covered area differs from the overlay by {diff} m²"
    assert same_nodes, "intersection verdicts differ from the overlay"

    # Placement, K = 50: a 4 km × 4 km district of the city, candidates = intersections + key-area edges
    # × 8 headings; elements = uncovered key-area samples (10 m) + blind intersections.
    win = shapely.box(0, 0, 4000, 4000)
    a_in = shapely.intersects(areas, win)
    unc = coverage.area_coverage(areas[a_in], views, shapely.STRtree(views)).uncovered
    n_in = shapely.intersects(nodes, win)
    blind = nodes[n_in][~node_cov[n_in]]
    pts, wts = placement.sample_area(unc)
    elements = np.concatenate([pts, blind])
    weight = np.concatenate([wts, np.full(len(blind), placement.INTERSECTION_WEIGHT_M2)])
    sites, _ = placement.candidate_sites(nodes[n_in], [], unc[shapely.is_geometry(unc)], 50)
    cviews, site, _ = placement.candidate_views(sites, 60, 60, 8)
    t = time.perf_counter()
    inst = placement.build_instance(cviews, elements, weight, site=site)
    t_build = time.perf_counter() - t
    g = placement.lazy_greedy(inst, 50)
    m = placement.milp(inst, 50, args.milp_seconds, warm=g)
    print(
        f"placement K=50 on a 4 km district: {inst.n_candidates:,} candidates, {len(weight):,} elements, "
        f"{len(inst.idx):,} incidences (built in {t_build:.2f} s)"
    )
    print(f"  lazy greedy: value {g.value:,.0f} in {g.seconds:.3f} s")
    bound = f", bound {m.bound:,.0f}" if m.bound is not None else ""
    print(f"  MILP (HiGHS 1 thread): value {m.value:,.0f} in {m.seconds:.2f} s, optimal={m.optimal}{bound}")
    print(f"  greedy optimality gap: {placement.optimality_gap(g, m):.2%}")


if __name__ == "__main__":
    main()
