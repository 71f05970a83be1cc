"""API v1 against the demo city in a real database: listing, filters, paging, validation, scope."""

import pytest

from tests.conftest import login


async def test_health_reports_versions(api):
    r = await api.get("/api/v1/health")
    body = r.json()
    assert r.status_code == 200 and body["postgis"].startswith("3") and body["pgrouting"]


async def test_requires_authentication(api):
    r = await api.get("/api/v1/cameras")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await api.get("/api/v1/cameras", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


async def test_list_cameras_geojson_paging_and_filters(api):
    h = await login(api, "admin")
    r = await api.get("/api/v1/cameras", params={"limit": 50}, headers=h)
    fc = r.json()
    assert r.status_code == 200 and fc["type"] == "FeatureCollection"
    assert fc["total"] == 221 and len(fc["features"]) == 50
    page2 = (await api.get("/api/v1/cameras", params={"limit": 50, "offset": 50}, headers=h)).json()
    assert {f["id"] for f in page2["features"]}.isdisjoint({f["id"] for f in fc["features"]})
    bbox = "24.9400,60.1680,24.9450,60.1720"
    inside = (await api.get("/api/v1/cameras", params={"bbox": bbox}, headers=h)).json()
    assert 0 < inside["total"] < 221
    for f in inside["features"]:
        x, y = f["geometry"]["coordinates"]
        assert 24.94 <= x <= 24.945 and 60.168 <= y <= 60.172
    div = (await api.get("/api/v1/cameras", params={"division": "990101"}, headers=h)).json()
    assert all(f["properties"]["division_code"].startswith("990101") for f in div["features"])
    online = (await api.get("/api/v1/cameras", params={"status": "offline"}, headers=h)).json()
    assert online["total"] == 0


@pytest.mark.parametrize("params", [{"bbox": "1,2,3"}, {"bbox": "a,b,c,d"}, {"bbox": "10,10,0,0"},
                                    {"limit": 0}, {"offset": -1}, {"division": "12"}, {"status": "broken"}])
async def test_bad_query_parameters_are_4xx(api, params):
    h = await login(api, "admin")
    r = await api.get("/api/v1/cameras", params=params, headers=h)
    assert r.status_code == 422 and r.json()["error"]["message"]


async def test_camera_crud_with_validation(api):
    h = await login(api, "admin")
    body = {"name": "测试相机", "lon": 24.945, "lat": 60.170, "heading_deg": 45, "fov_deg": 70, "range_m": 80}
    r = await api.post("/api/v1/cameras", json=body, headers=h)
    assert r.status_code == 201, r.text
    cam_id = r.json()["id"]
    cam = (await api.get(f"/api/v1/cameras/{cam_id}", headers=h)).json()
    props = cam["properties"]
    assert props["division_code"].startswith("99010") and props["gb_id"].startswith(props["division_code"][:6])
    assert cam["properties"]["view"]["type"] == "Polygon"
    r = await api.patch(f"/api/v1/cameras/{cam_id}", json={"heading_deg": 180, "status": "fault"}, headers=h)
    assert r.status_code == 204
    cam2 = (await api.get(f"/api/v1/cameras/{cam_id}", headers=h)).json()
    assert cam2["properties"]["status"] == "fault" and cam2["properties"]["view"] != cam["properties"]["view"]
    # Duplicate id → 409 and nothing changes.
    dup = await api.post("/api/v1/cameras", json={**body, "gb_id": props["gb_id"]}, headers=h)
    assert dup.status_code == 409 and "already exists" in dup.json()["error"]["message"]
    assert (await api.delete(f"/api/v1/cameras/{cam_id}", headers=h)).status_code == 204
    assert (await api.get(f"/api/v1/cameras/{cam_id}", headers=h)).status_code == 404


@pytest.mark.parametrize("bad", [
    {"lon": 181}, {"lat": -91}, {"heading_deg": 361}, {"fov_deg": 0}, {"range_m": 0}, {"range_m": -5},
    {"gb_id": "123"}, {"gb_id": "1234567890123456789٠"}, {"cls": 4}, {"name": ""}, {"kind": "laser"},
    {"unknown_field": 1}, {"lon": "east"},
])
async def test_camera_create_rejects_bad_input(api, bad):
    h = await login(api, "admin")
    total = (await api.get("/api/v1/cameras", params={"limit": 1}, headers=h)).json()["total"]
    body = {"name": "x", "lon": 24.945, "lat": 60.17, **bad}
    r = await api.post("/api/v1/cameras", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    assert (await api.get("/api/v1/cameras", params={"limit": 1}, headers=h)).json()["total"] == total


async def test_malformed_json_body_is_422_not_500(api):
    h = await login(api, "admin")
    r = await api.post("/api/v1/cameras", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 422


async def test_key_area_crud_and_polygon_validation(api):
    h = await login(api, "admin")
    square = {"type": "Polygon", "coordinates": [[[24.944, 60.169], [24.946, 60.169], [24.946, 60.170],
                                                   [24.944, 60.170], [24.944, 60.169]]]}
    r = await api.post("/api/v1/key-areas", json={"name": "测试广场", "category": "square", "geometry": square},
                       headers=h)
    assert r.status_code == 201, r.text
    area_id = r.json()["id"]
    got = (await api.get(f"/api/v1/key-areas/{area_id}", headers=h)).json()
    assert got["geometry"]["type"] == "MultiPolygon" and got["properties"]["division_code"]
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    for geometry, category in [(bowtie, "square"), ({"type": "Point", "coordinates": [0, 0]}, "square"),
                               (square, "volcano"),
                               ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1], [0, 0]]]}, "square"),
                               ({"type": "Polygon", "coordinates": "nonsense"}, "square")]:
        r = await api.post("/api/v1/key-areas", json={"name": "x", "category": category, "geometry": geometry},
                           headers=h)
        assert r.status_code == 422, (geometry, r.text)
    assert (await api.patch(f"/api/v1/key-areas/{area_id}", json={"name": "改名"}, headers=h)).status_code == 204
    assert (await api.delete(f"/api/v1/key-areas/{area_id}", headers=h)).status_code == 204
    listed = (await api.get("/api/v1/key-areas", params={"category": "school"}, headers=h)).json()
    assert all(f["properties"]["category"] == "school" for f in listed["features"])


async def test_divisions_tree(api):
    h = await login(api, "admin")
    fc = (await api.get("/api/v1/divisions", params={"geometry": "false"}, headers=h)).json()
    levels = {f["properties"]["level"] for f in fc["features"]}
    assert levels == {1, 2, 3, 4, 5, 6}
    kids = (await api.get("/api/v1/divisions", params={"parent": "990101", "geometry": "false"}, headers=h)).json()
    assert {f["id"] for f in kids["features"]} == {"990101001", "990101002"}
    one = (await api.get("/api/v1/divisions/990101001002", headers=h)).json()
    assert one["properties"]["level"] == 6 and one["geometry"]["type"] == "MultiPolygon"


async def test_district_planner_sees_only_their_district(api):
    h = await login(api, "planner_nw")
    fc = (await api.get("/api/v1/cameras", params={"limit": 5000}, headers=h)).json()
    assert fc["total"] > 0
    assert all(f["properties"]["division_code"].startswith("990101") for f in fc["features"])
    admin = await login(api, "admin")
    other = (await api.get("/api/v1/cameras", params={"division": "990104", "limit": 1}, headers=admin)).json()
    other_id = other["features"][0]["id"]
    assert (await api.get(f"/api/v1/cameras/{other_id}", headers=h)).status_code == 404
    # A planner may not create devices at all.
    r = await api.post("/api/v1/cameras", json={"name": "x", "lon": 24.94, "lat": 60.17}, headers=h)
    assert r.status_code == 403


async def test_request_size_limit(api):
    h = await login(api, "admin")
    r = await api.post("/api/v1/cameras", content=b"x" * (6 * 1024 * 1024),
                       headers={**h, "content-type": "application/json"})
    assert r.status_code == 413


async def test_pages_have_security_headers(api):
    r = await api.get("/wall")
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]


async def test_server_timing_header(api):
    # The platform's own time, so dev tools and the call-up bench can tell it from the network's.
    h = await login(api, "dispatcher")
    r = await api.get("/api/v1/callup/seeing", params={"lon": 24.94, "lat": 60.17}, headers=h)
    assert r.status_code == 200
    name, dur = r.headers["server-timing"].split(";dur=")
    assert name == "app" and 0 <= float(dur) < 60_000
