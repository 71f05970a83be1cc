"""Real data: the 210 Hong Kong Transport Department cameras and the 18 districts → KPIs by district."""

from __future__ import annotations

import csv
import io
import json

import pytest
import shapely
from sqlalchemy import text

from app.db.engine import make_engine
from app.domain.camera_view import DEFAULT_RANGE_M, ViewSpec, view_polygon
from app.services import coverage_run, kpi_run


@pytest.fixture(scope="module")
async def hk(db_url, shared_data):
    eng = make_engine(db_url, pool_size=2, max_overflow=1)
    districts = json.loads((shared_data / "boundaries" / "hongkong_districts_wgs84.geojson").read_text())
    table = (shared_data / "cameras" / "hongkong_traffic_cameras.csv").read_text(encoding="utf-8-sig")
    cams = list(csv.DictReader(io.StringIO(table)))
    async with eng.begin() as conn:
        await conn.execute(
            text("INSERT INTO division (code, name, level) VALUES ('810000', '香港特别行政区', 2)")
        )
        for feat in districts["features"]:
            await conn.execute(
                text(
                    "INSERT INTO division (code, name, level, parent_code, boundary) VALUES (:c, :n,"
                    " 4, '810000',"
                    " ST_Multi(ST_GeomFromGeoJSON(:g)))"
                ),
                {
                    "c": str(feat["properties"]["adcode"]),
                    "n": feat["properties"]["name"],
                    "g": json.dumps(feat["geometry"]),
                },
            )
        rows = []
        for i, c in enumerate(cams):
            lon, lat = float(c["longitude"]), float(c["latitude"])
            # No heading in the source: a traffic camera pans, so its view is a disc (PTZ default range).
            view = view_polygon(ViewSpec(lon, lat, kind="ptz", range_m=DEFAULT_RANGE_M["ptz"]))
            rows.append(
                {
                    "id": i + 1,
                    "gb": f"81000000001320{i + 1:06d}",
                    "n": c["description"],
                    "ext": c["key"],
                    "lon": lon,
                    "lat": lat,
                    "view": shapely.to_wkt(view),
                    "hd": i % 4 != 0,
                    "ret": 30 if i % 10 else 7,
                    "st": "offline" if i % 7 == 0 else "online",
                }
            )
        await conn.execute(
            text(
                "INSERT INTO camera (id, gb_id, name, external_ref, location, view, kind, fov_deg,"
                " range_m, hd,"
                " retention_days, status) VALUES (:id, :gb, :n, :ext, ST_SetSRID(ST_MakePoint(:lon,"
                " :lat), 4326),"
                " ST_GeomFromText(:view, 4326), 'ptz', 360, 100, :hd, :ret, :st)"
            ),
            rows,
        )
    yield eng, len(cams)
    await eng.dispose()


async def test_kpis_by_district(hk):
    eng, n = hk
    assert n == 210
    async with eng.begin() as conn:
        await coverage_run.run_coverage(conn)
        assert await kpi_run.compute_kpis(conn) == 19
        k = {
            r.division_code: r
            for r in (
                await conn.execute(
                    text(
                        "SELECT division_code, counts, hd_rate, online_rate,"
                        " retention_compliance_rate, networked_rate"
                        " FROM division_kpi"
                    )
                )
            ).all()
        }
    hk_all = k["810000"]
    per_district = sum(k[c].counts["cameras"] for c in k if c != "810000")
    # AMap district outlines are coarse at the shore: a few cameras on the seawall fall outside all of them.
    assert 195 <= per_district <= 210
    assert hk_all.counts["cameras"] == per_district
    assert hk_all.networked_rate == 1.0
    assert hk_all.hd_rate == pytest.approx(0.75, abs=0.03)
    assert hk_all.retention_compliance_rate == pytest.approx(0.9, abs=0.03)
    assert hk_all.online_rate == pytest.approx(6 / 7, abs=0.03)
    busy = max((c for c in k if c != "810000"), key=lambda c: k[c].counts["cameras"])
    assert k[busy].counts["cameras"] >= 20  # traffic cameras cluster on the trunk roads of a few districts
