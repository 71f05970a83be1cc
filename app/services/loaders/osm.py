"""Load an OpenStreetMap extract (.osm.pbf or .osm XML): roads, key areas, cameras, divisions; the base map's
water, green areas, railways, POIs and road labels through ``osm_basemap``.

Idempotent: every row carries its OSM identity (``external_ref`` / ``osm_id`` / ``(osm_way_id, seq)``),
and rows already present are left as they are, so loading the same file twice changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import osmium
import shapely
from pyproj import Geod
from shapely import wkb
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Camera, CameraStatusEvent, Division, KeyArea, RoadEdge, RoadNode
from app.db.models_planning import Building
from app.domain import camera_view, division_code, osm_tags
from app.services.loaders.assign import allocate_gb_ids, division_lookup
from app.services.loaders.osm_basemap import load_basemap
from app.services.loaders.report import FileRejected, LoadReport

GEOD = Geod(ellps="WGS84")
BATCH = 2000


@dataclass
class _Extract:
    ways: list[tuple[int, dict, list[int], np.ndarray]] = field(default_factory=list)  # id, tags, refs, lonlat
    areas: list[tuple[str, dict, bytes]] = field(default_factory=list)  # ref, tags, wkb multipolygon
    poi_points: list[tuple[str, dict, float, float]] = field(default_factory=list)
    cameras: list[tuple[str, dict, float, float]] = field(default_factory=list)
    admin: list[tuple[str, dict, bytes]] = field(default_factory=list)
    buildings: list[tuple[int, bytes]] = field(default_factory=list)  # signed OSM id (relations < 0), wkb


def read(path: Path) -> _Extract:
    """One pass over the file with node locations and assembled areas."""
    ex = _Extract()
    factory = osmium.geom.WKBFactory()
    try:
        fp = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in fp:
            tags = dict(obj.tags)
            if not tags:
                continue
            if obj.is_node():
                if tags.get("man_made") == "surveillance":
                    ex.cameras.append((f"osm:node/{obj.id}", tags, obj.location.lon, obj.location.lat))
                elif osm_tags.classify_key_area(tags, is_area=False):
                    ex.poi_points.append((f"osm:node/{obj.id}", tags, obj.location.lon, obj.location.lat))
            elif obj.is_way():
                if osm_tags.road_class(tags) and len(obj.nodes) >= 2:
                    # Ways clipped by the extract's edge reference missing nodes: keep the runs we have.
                    for refs, coords in _valid_runs(obj.nodes):
                        ex.ways.append((obj.id, tags, refs, np.array(coords, dtype=float)))
            elif obj.is_area():
                ref = f"osm:{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
                is_admin = tags.get("boundary") == "administrative"
                is_key = osm_tags.classify_key_area(tags, is_area=True)
                is_building = tags.get("building", "no") != "no"
                if not (is_admin or is_key or is_building):
                    continue
                try:
                    geom = bytes.fromhex(factory.create_multipolygon(obj))
                except RuntimeError:
                    continue  # broken multipolygon in the source: OSM has some
                if is_building:  # walls that block a camera's line of sight (coverage planning)
                    ex.buildings.append((obj.orig_id() if obj.from_way() else -obj.orig_id(), geom))
                if is_admin or is_key:
                    (ex.admin if is_admin else ex.areas).append((ref, tags, geom))
    except RuntimeError as exc:
        raise FileRejected(f"cannot read OSM file {path}: {exc}") from exc
    return ex


def _valid_runs(nodes):
    refs: list[int] = []
    coords: list[tuple[float, float]] = []
    for n in nodes:
        if n.location.valid():
            refs.append(n.ref)
            coords.append((n.location.lon, n.location.lat))
            continue
        if len(refs) >= 2:
            yield refs, coords
        refs, coords = [], []
    if len(refs) >= 2:
        yield refs, coords


def split_ways(ways) -> tuple[dict[int, tuple[float, float]], list[dict]]:
    """Split ways at junctions (nodes used more than once, and way ends) into routable edges."""
    use = Counter()
    for _, _, refs, _ in ways:
        use.update(refs)
        use[refs[0]] += 1
        use[refs[-1]] += 1
    nodes: dict[int, tuple[float, float]] = {}
    edges: list[dict] = []
    next_seq: Counter = Counter()  # a way cut by the extract's edge comes in several runs
    for way_id, tags, refs, coords in ways:
        cls = osm_tags.road_class(tags)
        speed = osm_tags.speed_kmh(tags, cls)
        direction = osm_tags.oneway(tags)
        name, _ = osm_tags.display_name(tags)
        start = 0
        for i in range(1, len(refs)):
            if use[refs[i]] < 2 and i != len(refs) - 1:
                continue
            seg = coords[start : i + 1]
            length = float(GEOD.line_length(seg[:, 0], seg[:, 1]))
            if length > 0:
                seconds = length / (speed / 3.6)
                nodes[refs[start]] = tuple(seg[0])
                nodes[refs[i]] = tuple(seg[-1])
                edges.append({
                    "osm_way_id": way_id, "seq": next_seq[way_id], "src_osm": refs[start], "dst_osm": refs[i],
                    "name": name, "highway": cls, "length_m": length, "speed_kmh": speed,
                    "cost": seconds if direction >= 0 else -1.0,
                    "reverse_cost": seconds if direction <= 0 else -1.0,
                    "wkt": shapely.to_wkt(shapely.linestrings(seg), rounding_precision=7),
                })
                next_seq[way_id] += 1
            start = i
    return nodes, edges


async def _roads(conn: AsyncConnection, ex: _Extract, report: LoadReport) -> None:
    nodes, edges = split_ways(ex.ways)
    items = list(nodes.items())
    for i in range(0, len(items), BATCH):
        chunk = items[i : i + BATCH]
        await conn.execute(insert(RoadNode).values([
            {"osm_id": k, "location": func.ST_SetSRID(func.ST_MakePoint(x, y), 4326)} for k, (x, y) in chunk
        ]).on_conflict_do_nothing(index_elements=["osm_id"]))
    ids = dict((await conn.execute(select(RoadNode.osm_id, RoadNode.id)
                                   .where(RoadNode.osm_id.in_(list(nodes))))).all()) if nodes else {}
    for i in range(0, len(edges), BATCH):
        chunk = edges[i : i + BATCH]
        await conn.execute(insert(RoadEdge).values([
            {**{k: v for k, v in e.items() if k not in ("src_osm", "dst_osm", "wkt")},
             "source": ids[e["src_osm"]], "target": ids[e["dst_osm"]],
             "geom": func.ST_GeomFromText(e["wkt"], 4326)} for e in chunk
        ]).on_conflict_do_nothing(constraint="uq_road_edge_way_seq"))
    # Degree counts distinct neighbours over drivable edges: what "intersection" means (≥ 3).
    await conn.execute(text("""
        UPDATE road_node n SET degree = d.deg FROM (
          SELECT node, count(DISTINCT other) AS deg FROM (
            SELECT source AS node, target AS other FROM road_edge UNION ALL
            SELECT target, source FROM road_edge) x GROUP BY node) d
        WHERE n.id = d.node AND n.degree IS DISTINCT FROM d.deg"""))
    report.counts["road_nodes"] = len(nodes)
    report.counts["road_edges"] = len(edges)


def _point_footprint(lon: float, lat: float, radius_m: float):
    spec = camera_view.ViewSpec(lon, lat, "ptz", None, 360.0, radius_m)
    return shapely.MultiPolygon([camera_view.view_polygon(spec, segments=16)])


async def _key_areas(conn: AsyncConnection, ex: _Extract, lookup, report: LoadReport) -> None:
    rows = []
    for ref, tags, geom_wkb in ex.areas:
        geom = wkb.loads(geom_wkb)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            geom = shapely.MultiPolygon([g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"])
            if geom.is_empty:
                report.skip(ref, "invalid polygon")
                continue
        rows.append((ref, tags, osm_tags.classify_key_area(tags, True), geom))
    for ref, tags, lon, lat in ex.poi_points:
        cat = osm_tags.classify_key_area(tags, False)
        radius = osm_tags.POINT_FOOTPRINT_M.get(cat, osm_tags.DEFAULT_POINT_FOOTPRINT_M)
        rows.append((ref, tags, cat, _point_footprint(lon, lat, radius)))
    reps = shapely.point_on_surface([g for *_, g in rows]) if rows else []
    divs = lookup(shapely.get_x(reps), shapely.get_y(reps)) if rows else []
    values = []
    for (ref, tags, cat, geom), div in zip(rows, divs, strict=True):
        name, name_en = osm_tags.display_name(tags)
        values.append({
            "name": name or osm_tags.KEY_AREA_CATEGORIES[cat]["zh"], "name_en": name_en, "category": cat,
            "division_code": div, "area": func.ST_GeomFromText(shapely.to_wkt(geom, rounding_precision=7), 4326),
            "required_retention_days": osm_tags.KEY_AREA_RETENTION_DAYS, "source": "osm", "external_ref": ref})
    for i in range(0, len(values), BATCH):
        await conn.execute(insert(KeyArea).values(values[i : i + BATCH])
                           .on_conflict_do_nothing(index_elements=["external_ref"]))
    report.counts["key_areas"] = len(values)


async def _cameras(conn: AsyncConnection, ex: _Extract, lookup, report: LoadReport) -> None:
    refs = [c[0] for c in ex.cameras]
    existing = set((await conn.execute(select(Camera.external_ref).where(Camera.external_ref.in_(refs)))).scalars())
    new = [c for c in ex.cameras if c[0] not in existing]
    divs = lookup([c[2] for c in new], [c[3] for c in new])
    gb_ids = await allocate_gb_ids(conn, divs)
    values = []
    for (ref, tags, lon, lat), div, gb in zip(new, divs, gb_ids, strict=True):
        a = osm_tags.camera_attrs(tags)
        spec = camera_view.ViewSpec(lon, lat, a["kind"], a["heading_deg"], a["fov_deg"], a["range_m"])
        name, _ = osm_tags.display_name(tags)
        values.append({
            "gb_id": gb, "name": name or f"OSM {ref.split('/')[-1]}", "division_code": div,
            "location": func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326),
            "view": func.ST_GeomFromText(camera_view.view_polygon(spec).wkt, 4326),
            "kind": a["kind"], "heading_deg": a["heading_deg"], "fov_deg": a["fov_deg"], "range_m": a["range_m"],
            "cls": 3, "site_category": "indoor" if a["indoor"] else "street", "status": "online",
            "source": "osm", "external_ref": ref, "retention_days": None})
    for i in range(0, len(values), BATCH):
        ids = (await conn.execute(insert(Camera).values(values[i : i + BATCH])
                                  .on_conflict_do_nothing(index_elements=["external_ref"])
                                  .returning(Camera.id))).scalars().all()
        if ids:
            await conn.execute(insert(CameraStatusEvent).values([{"camera_id": c, "status": "online"} for c in ids]))
    report.counts["cameras"] = len(ex.cameras)


async def _divisions(conn: AsyncConnection, ex: _Extract, report: LoadReport) -> None:
    """Admin boundaries that carry a GB/T 2260 code (``ref:GB2260`` / ``adcode``) become divisions."""
    n = 0
    for ref, tags, geom_wkb in sorted(ex.admin, key=lambda a: a[1].get("admin_level", "99")):
        raw = tags.get("ref:GB2260") or tags.get("adcode") or tags.get("ref:adcode")
        if not raw:
            continue
        try:
            code = division_code.validate(raw)
        except ValueError:
            report.skip(ref, f"bad division code {raw!r}")
            continue
        name, name_en = osm_tags.display_name(tags)
        parent = division_code.parent(code)
        has_parent = parent and (await conn.execute(select(Division.code).where(Division.code == parent))).first()
        await conn.execute(insert(Division).values(
            code=code, name=name or code, name_en=name_en, level=division_code.level(code),
            parent_code=parent if has_parent else None,
            boundary=func.ST_Multi(func.ST_GeomFromWKB(geom_wkb, 4326))).on_conflict_do_nothing())
        n += 1
    report.counts["divisions"] = n


async def _buildings(conn: AsyncConnection, ex: _Extract, report: LoadReport) -> None:
    """Footprints, one polygon each (the largest part of a multipolygon), valid or skipped."""
    rows = []
    for osm_id, geom_wkb in ex.buildings:
        geom = wkb.loads(geom_wkb)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
        if not parts:
            continue
        best = max(parts, key=lambda g: g.area)
        rows.append({"osm_id": osm_id, "footprint": func.ST_GeomFromText(shapely.to_wkt(best, rounding_precision=7),
                                                                          4326)})
    for i in range(0, len(rows), BATCH):
        await conn.execute(insert(Building).values(rows[i : i + BATCH])
                           .on_conflict_do_nothing(index_elements=["osm_id"]))
    report.counts["buildings"] = len(rows)


async def load_osm(conn: AsyncConnection, path: Path) -> LoadReport:
    """Load everything useful from the file in the caller's transaction."""
    report = LoadReport(str(path))
    ex = read(path)
    await _divisions(conn, ex, report)
    lookup = await division_lookup(conn)
    await _roads(conn, ex, report)
    await _key_areas(conn, ex, lookup, report)
    await _cameras(conn, ex, lookup, report)
    await _buildings(conn, ex, report)
    await load_basemap(conn, path, report)
    return report
