"""The base map's geography from an OSM extract (issue #20): water, green areas, railways, named POIs and
road-name label points. Its own pass over the file (small extracts: a second or two), so the routing and
camera loader in ``osm`` stays as it is.

Idempotent like the rest: rows keep their OSM identity and existing ones are left alone.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import shapely
from pyproj import Geod, Transformer
from shapely import wkb
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models_basemap import BaseGreen, BasePoi, BaseRail, BaseRoadLabel, BaseWater
from app.domain import basemap_tags, osm_tags
from app.services.loaders.report import FileRejected, LoadReport

GEOD = Geod(ellps="WGS84")
TO_MERC = Transformer.from_crs(4326, 3857, always_xy=True)
BATCH = 2000


@dataclass
class BaseExtract:
    water: list[dict] = field(default_factory=list)
    green: list[dict] = field(default_factory=list)
    rail: list[dict] = field(default_factory=list)
    poi: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)


def _runs(nodes):
    """Coordinate runs of a way between nodes the extract lacks (a way cut by the extract's edge)."""
    for ok, group in itertools.groupby(nodes, key=lambda n: n.location.valid()):
        if ok:
            run = [(n.location.lon, n.location.lat) for n in group]
            if len(run) >= 2:
                yield run


def _wkt(geom) -> object:
    return func.ST_GeomFromText(shapely.to_wkt(geom, rounding_precision=7), 4326)


def _polygons(geom_wkb: bytes):
    """A valid multipolygon from OSM's assembled area, or None (OSM has broken ones)."""
    geom = wkb.loads(geom_wkb)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    return shapely.MultiPolygon(parts) if parts else None


def _labels(named: dict[str, list[tuple[int, str, list]]], latin: dict[str, str]) -> list[dict]:
    """Label points along each street: its ways merged by name first (OSM cuts a street into many short
    ways, half of them under 20 m here), then one label per ``LABEL_SPACING_M`` of each merged line.
    Identity: the street's smallest way id and a running number, the same for the same file."""
    out = []
    for name, ways in sorted(named.items()):
        best = max((hw for _, hw, _ in ways), key=lambda hw: osm_tags.ROAD_SPEED_KMH[hw])
        merged = shapely.line_merge(shapely.MultiLineString([run for *_, run in ways]))
        parts = sorted(shapely.get_parts(merged), key=lambda g: g.coords[0])
        way_id, seq = min(w for w, _, _ in ways), 0
        placed: list[tuple[float, float]] = []
        for part in parts:
            lon, lat = part.xy
            length = float(GEOD.line_length(lon, lat))
            xs, ys = TO_MERC.transform(lon, lat)
            merc = list(zip(xs, ys, strict=True))
            for frac in basemap_tags.label_stations(length):
                x, y, angle = basemap_tags.point_along(merc, frac)
                plon, plat = TO_MERC.transform(x, y, direction="INVERSE")
                # The other carriageway of a divided street is another line of the same name: one label.
                ground = math.cos(math.radians(plat))
                if any(math.dist((x, y), p) * ground < basemap_tags.LABEL_SPACING_M / 2 for p in placed):
                    continue
                placed.append((x, y))
                out.append({"osm_way_id": way_id, "seq": seq, "name": name[:200], "name_en": latin.get(name),
                            "highway": best, "angle": angle,
                            "way_length_m": length, "location": _wkt(shapely.Point(plon, plat))})
                seq += 1
    return out


def _poi(ref: str, tags: dict, lon: float, lat: float) -> dict | None:
    found = basemap_tags.poi_class(tags)
    if found is None:
        return None
    cls, subtype = found
    name, name_en = osm_tags.display_name(tags)
    return {"osm_ref": ref, "cls": cls, "subtype": subtype, "name": (name or name_en or "")[:200],
            "name_en": name_en[:200] if name_en else None, "rank": basemap_tags.poi_rank(cls),
            "lon": lon, "lat": lat}


def read_basemap(path: Path) -> BaseExtract:
    ex = BaseExtract()
    factory = osmium.geom.WKBFactory()
    named: dict[str, list[tuple[int, str, list]]] = {}  # street name → (way id, class, coordinates)
    latin: dict[str, str] = {}  # street name → its Latin name, from the first way that has one
    try:
        for obj in osmium.FileProcessor(str(path)).with_locations().with_areas():
            tags = dict(obj.tags)
            if not tags:
                continue
            if obj.is_node():
                row = _poi(f"osm:node/{obj.id}", tags, obj.location.lon, obj.location.lat)
                if row:
                    ex.poi.append(row)
            elif obj.is_way():
                rail = basemap_tags.rail_kind(tags)
                road, (name, name_en) = osm_tags.road_class(tags), osm_tags.display_name(tags)
                if road and name and name_en:
                    latin.setdefault(name, name_en[:200])
                named_road = road and name
                if not (rail or named_road):
                    continue
                for seq, run in enumerate(_runs(obj.nodes)):
                    if rail:
                        ex.rail.append({"osm_way_id": obj.id, "seq": seq, "kind": rail, "name": tags.get("name"),
                                        "tunnel": basemap_tags.is_tunnel(tags), "line": _wkt(shapely.LineString(run))})
                    if named_road:
                        named.setdefault(name, []).append((obj.id, road, run))
            elif obj.is_area():
                _area(ex, factory, obj, tags)
    except RuntimeError as exc:
        raise FileRejected(f"cannot read OSM file {path}: {exc}") from exc
    ex.labels = _labels(named, latin)
    keep = basemap_tags.distinct_places([(p["name"], p["rank"], p["lon"], p["lat"]) for p in ex.poi])
    ex.poi = [{k: v for k, v in p.items() if k not in ("lon", "lat")}
              | {"location": _wkt(shapely.Point(p["lon"], p["lat"]))} for p in (ex.poi[i] for i in keep)]
    return ex


def _area(ex: BaseExtract, factory, obj, tags: dict) -> None:
    water, green = basemap_tags.water_kind(tags), basemap_tags.green_kind(tags)
    poi_wanted = basemap_tags.poi_class(tags) is not None
    if not (water or green or poi_wanted):
        return
    try:
        geom = _polygons(bytes.fromhex(factory.create_multipolygon(obj)))
    except RuntimeError:
        return
    if geom is None:
        return
    osm_id = obj.orig_id() if obj.from_way() else -obj.orig_id()
    if water or green:
        row = {"osm_id": osm_id, "kind": water or green, "name": (tags.get("name") or "")[:200] or None,
               "area": _wkt(geom)}
        (ex.water if water else ex.green).append(row)
    if poi_wanted:
        p = shapely.point_on_surface(geom)
        row = _poi(f"osm:{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}", tags, p.x, p.y)
        if row:
            ex.poi.append(row)


async def _insert(conn: AsyncConnection, model, rows: list[dict], **conflict) -> None:
    for i in range(0, len(rows), BATCH):
        await conn.execute(insert(model).values(rows[i : i + BATCH]).on_conflict_do_nothing(**conflict))


async def load_basemap(conn: AsyncConnection, path: Path, report: LoadReport) -> None:
    """Load the base-map layers of the file in the caller's transaction; counts go to ``report``."""
    ex = read_basemap(path)
    await _insert(conn, BaseWater, ex.water, index_elements=["osm_id"])
    await _insert(conn, BaseGreen, ex.green, index_elements=["osm_id"])
    await _insert(conn, BaseRail, ex.rail, constraint="uq_base_rail_way_seq")
    await _insert(conn, BasePoi, ex.poi, index_elements=["osm_ref"])
    await _insert(conn, BaseRoadLabel, ex.labels, constraint="uq_base_road_label_way_seq")
    for key, rows in (("base_water", ex.water), ("base_green", ex.green), ("base_rail", ex.rail),
                      ("base_poi", ex.poi), ("road_labels", ex.labels)):
        report.counts[key] = len(rows)
