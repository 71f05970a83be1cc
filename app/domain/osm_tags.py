"""What OpenStreetMap tags mean for SharpEyes: road classes and speeds, key-area categories, cameras.

Pure functions over tag dicts, so the loader only does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

# Drivable road classes → design speed (km/h) used for routing costs.
ROAD_SPEED_KMH: dict[str, float] = {
    "motorway": 90, "motorway_link": 50, "trunk": 70, "trunk_link": 40, "primary": 50, "primary_link": 35,
    "secondary": 45, "secondary_link": 30, "tertiary": 40, "tertiary_link": 30, "unclassified": 30,
    "residential": 25, "living_street": 10, "service": 15, "road": 25,
}
MAIN_ROAD_CLASSES = frozenset({"motorway", "trunk", "primary", "secondary"})

# Seed §10/§11 key public areas and key-industry sites. Order matters: first match wins.
KEY_AREA_CATEGORIES: dict[str, dict[str, str]] = {
    "square": {"zh": "广场", "en": "Square"},
    "transport_hub": {"zh": "交通枢纽/车站", "en": "Transport hub / station"},
    "school": {"zh": "学校", "en": "School"},
    "hospital": {"zh": "医院", "en": "Hospital"},
    "government": {"zh": "党政机关", "en": "Government"},
    "police": {"zh": "公安机关", "en": "Police"},
    "financial": {"zh": "金融机构", "en": "Financial institution"},
    "commercial": {"zh": "商业/市场", "en": "Market / commercial"},
    "venue": {"zh": "文体场馆/公园", "en": "Venue / park"},
    "museum": {"zh": "博物馆/文物", "en": "Museum / heritage"},
    "religious": {"zh": "宗教场所", "en": "Place of worship"},
    "utility": {"zh": "水电气热设施", "en": "Utility"},
    "prison": {"zh": "监所", "en": "Prison"},
}

_RULES: list[tuple[str, str, frozenset[str] | None]] = [
    ("place", "square", frozenset({"square"})),
    ("highway", "square", frozenset({"pedestrian"})),  # only as areas, see classify_key_area
    ("amenity", "transport_hub", frozenset({"bus_station", "ferry_terminal"})),
    ("railway", "transport_hub", frozenset({"station", "halt"})),
    ("public_transport", "transport_hub", frozenset({"station"})),
    ("aeroway", "transport_hub", frozenset({"terminal", "aerodrome"})),
    ("amenity", "school", frozenset({"school", "kindergarten", "college", "university"})),
    ("amenity", "hospital", frozenset({"hospital", "clinic"})),
    ("amenity", "government", frozenset({"townhall", "courthouse"})),
    ("office", "government", frozenset({"government"})),
    ("amenity", "police", frozenset({"police"})),
    ("amenity", "financial", frozenset({"bank", "bureau_de_change"})),
    ("amenity", "commercial", frozenset({"marketplace"})),
    ("shop", "commercial", frozenset({"mall", "department_store", "supermarket"})),
    ("landuse", "commercial", frozenset({"retail"})),
    ("leisure", "venue", frozenset({"stadium", "sports_centre", "park"})),
    ("amenity", "venue", frozenset({"theatre", "cinema", "arts_centre", "events_venue", "exhibition_centre"})),
    ("tourism", "museum", frozenset({"museum", "gallery"})),
    ("historic", "museum", frozenset({"monument", "castle", "memorial"})),
    ("amenity", "religious", frozenset({"place_of_worship"})),
    ("power", "utility", frozenset({"plant", "substation"})),
    ("man_made", "utility", frozenset({"water_works", "wastewater_plant", "gasometer"})),
    ("amenity", "prison", frozenset({"prison"})),
]

# Seed §15: key areas keep video 90 days, everything else 30.
KEY_AREA_RETENTION_DAYS = 90
DEFAULT_RETENTION_DAYS = 30
# Footprint radius (m) given to a key area mapped only as a point.
POINT_FOOTPRINT_M = {"transport_hub": 60.0, "square": 50.0, "hospital": 60.0, "school": 50.0}
DEFAULT_POINT_FOOTPRINT_M = 30.0


def road_class(tags: Mapping[str, str]) -> str | None:
    """Highway class if the way is drivable by a patrol car, else None."""
    hw = tags.get("highway")
    if hw not in ROAD_SPEED_KMH:
        return None
    if tags.get("area") == "yes" or tags.get("access") in ("no", "private") or tags.get("motor_vehicle") == "no":
        return None
    return hw


def oneway(tags: Mapping[str, str]) -> int:
    """+1 forward only, −1 backward only, 0 both ways."""
    ow = tags.get("oneway")
    if ow in ("yes", "true", "1"):
        return 1
    if ow == "-1":
        return -1
    if tags.get("junction") == "roundabout" or tags.get("highway") == "motorway":
        return 1
    return 0


def speed_kmh(tags: Mapping[str, str], cls: str) -> float:
    raw = tags.get("maxspeed", "")
    try:
        value = float(raw.split()[0])
        if "mph" in raw:
            value *= 1.609
        if 5 <= value <= 150:
            return value
    except (ValueError, IndexError):
        pass
    return ROAD_SPEED_KMH[cls]


def classify_key_area(tags: Mapping[str, str], is_area: bool) -> str | None:
    for key, category, values in _RULES:
        val = tags.get(key)
        if val is None or (values is not None and val not in values):
            continue
        if key == "highway" and not is_area:
            continue
        return category
    return None


def display_name(tags: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(Chinese-or-local name, Latin name) from name / name:zh / name:en."""
    local = tags.get("name:zh") or tags.get("name")
    latin = tags.get("name:en") or (tags.get("name") if tags.get("name", "").isascii() else None)
    return local, latin


def camera_attrs(tags: Mapping[str, str]) -> dict:
    """Interpret ``man_made=surveillance`` tags: kind, heading, field of view, range."""
    ctype = tags.get("camera:type", "")
    kind = {"dome": "dome", "panning": "ptz"}.get(ctype, "fixed")
    if tags.get("revolving") == "yes" and kind == "fixed":
        kind = "ptz"
    heading = _direction(tags.get("camera:direction") or tags.get("direction"))
    zoom = tags.get("surveillance:zoom")
    range_m = {"fixed": 60.0, "ptz": 100.0, "dome": 40.0}[kind]
    if zoom and zoom.replace(".", "", 1).isdigit():
        range_m = min(300.0, range_m * max(1.0, float(zoom)) ** 0.5)
    return {
        "kind": kind,
        "heading_deg": heading if kind == "fixed" else None,
        "fov_deg": 60.0 if kind == "fixed" and heading is not None else 360.0,
        "range_m": range_m,
        "mount": tags.get("camera:mount"),
        "indoor": tags.get("surveillance") == "indoor",
    }


_CARDINAL = {"N": 0, "NNE": 22.5, "NE": 45, "ENE": 67.5, "E": 90, "ESE": 112.5, "SE": 135, "SSE": 157.5,
             "S": 180, "SSW": 202.5, "SW": 225, "WSW": 247.5, "W": 270, "WNW": 292.5, "NW": 315, "NNW": 337.5}


def _direction(raw: str | None) -> float | None:
    if not raw:
        return None
    raw = raw.strip().upper()
    if raw in _CARDINAL:
        return float(_CARDINAL[raw])
    try:
        return float(raw.split(";")[0]) % 360.0
    except ValueError:
        return None
