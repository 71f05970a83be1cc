"""What OpenStreetMap tags mean for the base map (issue #20): water, green areas, railways, labelled POIs,
and where a road's name label goes. Pure functions, so the loader only does I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

# (key, values) → kind; first match wins.
_WATER: list[tuple[str, frozenset[str], str]] = [
    ("natural", frozenset({"water", "bay", "strait"}), "water"),
    ("waterway", frozenset({"riverbank", "dock", "canal"}), "river"),
    ("landuse", frozenset({"reservoir", "basin"}), "reservoir"),
]
_GREEN: list[tuple[str, frozenset[str], str]] = [
    ("leisure", frozenset({"park", "garden", "nature_reserve", "dog_park"}), "park"),
    ("landuse", frozenset({"forest"}), "forest"),
    ("natural", frozenset({"wood"}), "forest"),
    ("landuse", frozenset({"grass", "meadow", "village_green", "recreation_ground", "cemetery"}), "grass"),
    ("natural", frozenset({"grassland", "scrub", "heath"}), "grass"),
    ("leisure", frozenset({"pitch", "golf_course", "playground"}), "pitch"),
]
RAIL_KINDS = frozenset({"rail", "tram", "subway", "light_rail", "narrow_gauge", "monorail", "funicular"})

# POI classes in label priority order (lower rank = kept first when labels collide).
POI_CLASSES: list[tuple[str, str, frozenset[str] | None]] = [
    ("station", "railway", frozenset({"station", "halt"})),
    ("station", "public_transport", frozenset({"station"})),
    ("station", "amenity", frozenset({"bus_station", "ferry_terminal"})),
    ("public", "amenity", frozenset({"hospital", "police", "fire_station", "townhall", "courthouse", "school",
                                     "university", "college", "library", "place_of_worship", "theatre",
                                     "cinema", "arts_centre"})),
    ("tourism", "tourism", frozenset({"museum", "gallery", "attraction", "viewpoint", "hotel", "hostel",
                                      "information", "artwork", "zoo"})),
    ("transit", "railway", frozenset({"tram_stop", "subway_entrance", "stop"})),
    ("transit", "public_transport", frozenset({"stop_position", "platform"})),
    ("transit", "highway", frozenset({"bus_stop"})),
    ("food", "amenity", frozenset({"restaurant", "cafe", "fast_food", "bar", "pub", "food_court", "ice_cream"})),
    ("shop", "shop", None),
    ("amenity", "amenity", None),
    ("leisure", "leisure", frozenset({"sports_centre", "fitness_centre", "stadium", "swimming_pool"})),
]
POI_RANK = {cls: i for i, cls in enumerate(dict.fromkeys(c for c, _, _ in POI_CLASSES))}

LABEL_SPACING_M = 250.0  # one road-name label per this much road (a long street gets several)
MIN_LABEL_WAY_M = 40.0  # shorter named pieces (a bit of a junction) get none


def _first(rules, tags: Mapping[str, str]) -> str | None:
    for key, values, kind in rules:
        if tags.get(key) in values:
            return kind
    return None


def water_kind(tags: Mapping[str, str]) -> str | None:
    """Kind of a water area (``water`` / ``river`` / ``reservoir``), or None."""
    return _first(_WATER, tags)


def green_kind(tags: Mapping[str, str]) -> str | None:
    """Kind of a green area (``park`` / ``forest`` / ``grass`` / ``pitch``), or None. Water wins over green."""
    if water_kind(tags):
        return None
    return _first(_GREEN, tags)


def rail_kind(tags: Mapping[str, str]) -> str | None:
    """Kind of a railway line, or None (platforms, disused and abandoned lines, stations are not lines)."""
    kind = tags.get("railway")
    if kind not in RAIL_KINDS or tags.get("area") == "yes":
        return None
    return kind


def is_tunnel(tags: Mapping[str, str]) -> bool:
    return tags.get("tunnel", "no") not in ("no", "false", "0") or tags.get("layer", "0").startswith("-")


def poi_class(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """(class, subtype) of a named point of interest, or None (an unnamed one has nothing to label)."""
    if not (tags.get("name") or tags.get("name:zh") or tags.get("name:en")):
        return None
    for cls, key, values in POI_CLASSES:
        val = tags.get(key)
        if val is None or val in ("no", "vacant") or (values is not None and val not in values):
            continue
        return cls, val[:40]
    return None


def poi_rank(cls: str) -> int:
    return POI_RANK.get(cls, len(POI_RANK))


def upright_angle(dx: float, dy: float) -> float:
    """Counter-clockwise screen angle (degrees, in (-90, 90]) of a direction given in Web Mercator metres
    (y up): text along a road, never upside down."""
    a = math.degrees(math.atan2(dy, dx))
    if a > 90:
        a -= 180
    elif a <= -90:
        a += 180
    return round(a, 1)


def label_stations(length_m: float) -> list[float]:
    """Where along a named way (fractions of its length) its labels go: the middle of each
    ``LABEL_SPACING_M`` stretch; none for a way shorter than ``MIN_LABEL_WAY_M``."""
    if length_m < MIN_LABEL_WAY_M:
        return []
    n = max(1, int(length_m // LABEL_SPACING_M))
    return [(i + 0.5) / n for i in range(n)]


def point_along(xy: Sequence[tuple[float, float]], fraction: float) -> tuple[float, float, float]:
    """(x, y, upright angle) at ``fraction`` (0..1) of a planar polyline's length (metre coordinates)."""
    pairs = [(a, b, math.dist(a, b)) for a, b in itertools.pairwise(xy)]
    pairs = [p for p in pairs if p[2] > 0]
    if not pairs:
        raise ValueError("zero-length line")
    goal = min(max(fraction, 0.0), 1.0) * sum(d for *_, d in pairs)
    i = 0
    while i < len(pairs) - 1 and goal > pairs[i][2]:
        goal -= pairs[i][2]
        i += 1
    a, b, d = pairs[i]
    t = min(goal / d, 1.0)
    return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), upright_angle(b[0] - a[0], b[1] - a[1])


def ground_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres between two nearby points (equirectangular: exact enough within a city)."""
    kx = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * kx, lat2 - lat1) * math.pi / 180 * 6_371_000


def distinct_places(places: Sequence[tuple[str, int, float, float]], min_gap_m: float = 80.0) -> list[int]:
    """Indices (ascending) of the places to label, from (name, rank, lon, lat): of places with the same
    name closer than ``min_gap_m`` (OSM often maps a library as a node and as its building), the best-ranked
    one, then the first."""
    kept: dict[str, list[tuple[float, float]]] = {}
    keep = []
    for i in sorted(range(len(places)), key=lambda i: (places[i][1], i)):
        name, _, lon, lat = places[i]
        near = kept.setdefault(name, [])
        if all(ground_m(lon, lat, a, b) >= min_gap_m for a, b in near):
            near.append((lon, lat))
            keep.append(i)
    return sorted(keep)
