import json
import math

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import shape

from app.domain import camera_view as cv
from app.domain import crs
from app.domain.errors import InvalidInput

GEOD = Geod(ellps="WGS84")


def _area_m2(poly) -> float:
    return abs(GEOD.geometry_area_perimeter(poly)[0])


def test_sector_area_and_direction():
    spec = cv.ViewSpec(116.32, 39.99, "fixed", heading_deg=90, fov_deg=60, range_m=100)
    poly = cv.view_polygon(spec, segments=720)
    assert _area_m2(poly) == pytest.approx(math.pi * 100**2 * 60 / 360, rel=0.01)
    # Looking east: the centroid lies east of the camera, about 2/3·r·sinc away, on the same latitude.
    c = poly.centroid
    az, _, dist = GEOD.inv(spec.lon, spec.lat, c.x, c.y)
    assert az == pytest.approx(90, abs=1) and 55 < dist < 70


def test_ptz_is_a_disc():
    poly = cv.view_polygon(cv.ViewSpec(114.15, 22.28, "ptz", None, 360, 50), segments=256)
    assert _area_m2(poly) == pytest.approx(math.pi * 50**2, rel=0.01)
    assert poly.contains(shapely.Point(114.15, 22.28))


@pytest.mark.parametrize("spec", [
    cv.ViewSpec(190, 0), cv.ViewSpec(0, 91), cv.ViewSpec(0, 0, "fixed", 361), cv.ViewSpec(0, 0, fov_deg=0.5),
    cv.ViewSpec(0, 0, range_m=0), cv.ViewSpec(0, 0, kind="laser"),
])
def test_view_rejects_bad_specs(spec):
    with pytest.raises(InvalidInput):
        cv.view_polygon(spec)


def test_gcj02_roundtrip_and_outside_china():
    lon, lat = crs.wgs84_to_gcj02(116.3, 39.9)
    assert abs(lon - 116.3) > 0.003  # hundreds of metres of offset inside China
    back = crs.gcj02_to_wgs84(lon, lat)
    assert np.allclose(back, (116.3, 39.9), atol=1e-7)
    assert np.allclose(crs.to_wgs84(*crs.from_wgs84(116.3, 39.9, "bd09"), "bd09"), (116.3, 39.9), atol=1e-5)
    assert np.allclose(crs.wgs84_to_gcj02(24.94, 60.17), (24.94, 60.17))  # Helsinki: unchanged


def test_beijing_gcj02_districts_land_on_wgs84_districts(shared_data):
    """The same 16 districts in both systems: converted GCJ-02 lands within tens of metres of WGS-84."""
    load = lambda name: {f["properties"]["name"]: shapely.make_valid(shape(f["geometry"]))  # noqa: E731
                         for f in json.loads((shared_data / "boundaries" / name).read_text())["features"]}
    wgs, gcj = load("beijing_districts_wgs84.geojson"), load("beijing_districts_gcj02.geojson")
    assert len(wgs) == len(gcj) == 16
    raw, converted = [], []
    for name, g in gcj.items():
        w = wgs[name].centroid
        c = crs.transform_geometry(g, "gcj02").centroid
        raw.append(GEOD.inv(g.centroid.x, g.centroid.y, w.x, w.y)[2])
        converted.append(GEOD.inv(c.x, c.y, w.x, w.y)[2])
    assert min(raw) > 300  # before: hundreds of metres apart
    assert max(converted) < 100  # after: tens of metres (two different sources' generalisation)


def test_local_polygon_is_metric():
    spec = cv.ViewSpec(24.94, 60.17, "fixed", 0, 90, 100)
    poly = cv.view_polygon(spec)
    tr = Transformer.from_crs("EPSG:4326", "EPSG:3067", always_xy=True)  # ETRS-TM35FIN, metres
    x0, y0 = tr.transform(spec.lon, spec.lat)
    xs, ys = tr.transform(*np.asarray(poly.exterior.coords).T)
    assert np.hypot(np.array(xs) - x0, np.array(ys) - y0).max() == pytest.approx(100, rel=0.01)
