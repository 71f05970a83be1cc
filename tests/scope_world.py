"""The scope oracle's world (tests/api/test_scope_oracle*.py): one app over one copy of the demo city, seeded
with secret cameras in every district, incidents, units with trackers, targets with fixes, stored planning
figures, GB/T 28181 devices, GA/T 1400 passes with their images and watchlist entries; and the oracle
user's grants, drawn at random or from fixed examples.

The world is built once for all the oracle's modules (seeding takes seconds) and closed after the last."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from app.api.main import create_app
from app.config import Settings
from app.domain.access import ROLES, GrantScope, Principal
from app.services.viid_images import ImageStore
from tests.conftest import _admin, _url, fresh_db

API = "/api/v1"
DIVISIONS = [
    "000000", "990000", "990100", "990101", "990101001", "990101001001", "990101001002", "990101002",
    "990101002001", "990102", "990102001", "990102001001", "990102002", "990102002002", "990103",
    "990103001", "990103001001", "990103002", "990104", "990104001", "990104001002", "990104002001",
]
DISTRICTS = ["990101", "990102", "990103", "990104"]


@dataclass
class World:
    client: TestClient
    db: psycopg.Connection
    user_id: int
    headers: dict
    token: str
    cams: dict[int, tuple[str | None, int]] = field(default_factory=dict)
    cam_at: dict[int, tuple[float, float]] = field(default_factory=dict)
    gb: dict[str, int] = field(default_factory=dict)
    areas: dict[int, str | None] = field(default_factory=dict)
    area_names: dict[str, set[str | None]] = field(default_factory=dict)
    incidents: dict[int, str | None] = field(default_factory=dict)
    units: dict[int, str | None] = field(default_factory=dict)
    targets: dict[int, str | None] = field(default_factory=dict)
    devices: dict[int, str | None] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)
    passes: dict[str, str | None] = field(default_factory=dict)  # GA/T 1400 record id → its division
    pass_images: dict[str, str | None] = field(default_factory=dict)  # a pass's image sha256 → its division
    trip: dict[str, str | None] = field(default_factory=dict)  # one plate's passes (/plates/trajectory) → division
    watchlists: dict[int, list[str]] = field(default_factory=dict)  # watchlist entry → its area
    alarms: dict[int, str | None] = field(default_factory=dict)  # watchlist incident → its division
    figure_cams: list[int] = field(default_factory=list)  # the cameras the stored coverage figures name

    def division_of(self, kind: str, ident) -> tuple[str | None, int]:
        if kind == "camera":
            return self.cams[ident]
        if kind == "camera_gb":
            return self.cams[self.gb[ident]]
        table = {"area": self.areas, "incident": self.incidents, "unit": self.units, "target": self.targets,
                 "device": self.devices}[kind]
        return table[ident], 0

    def known(self, kind: str, ident) -> bool:
        if kind in ("division", "division_tree"):
            return True
        try:
            self.division_of(kind, ident)
            return True
        except KeyError:
            return False


def sql(db: psycopg.Connection, q: str, params: Any = None) -> list[tuple]:
    cur = db.execute(q, params)
    return cur.fetchall() if cur.description else []


def _seed(w: World) -> None:
    """Secret cameras spread over every district, incidents, units with trackers, targets with fixes,
    stored planning results that name cameras of other districts."""
    db, c = w.db, w.client
    admin = {"Authorization": f"Bearer {login_token(c, 'admin')}"}
    sql(db, "UPDATE camera SET secrecy = (id * 7 % 11) % 4")  # ~ a quarter at each level 0…3
    rows = sql(db, "SELECT id, division_code, ST_X(location), ST_Y(location) FROM camera ORDER BY id")
    by_district: dict[str, list[tuple]] = {}
    for r in rows:
        by_district.setdefault((r[1] or "")[:6], []).append(r)
    assert set(DISTRICTS) <= set(by_district), "the demo city should have cameras in every district"
    for i, d in enumerate(DISTRICTS):
        for r in by_district[d][:2]:
            resp = c.post(f"{API}/incidents", headers=admin,
                          json={"type": "fire", "priority": 2, "lon": r[2], "lat": r[3], "description": "oracle"})
            assert resp.status_code == 201, resp.text
        resp = c.post(f"{API}/units", headers=admin, json={
            "callsign": f"ORACLE-{i}", "division_code": f"{d}001001" if d != "990104" else "990104001002",
            "tracker": {"protocol": "api", "external_id": f"oracle-unit-{i}"}})
        assert resp.status_code == 201, resp.text
        # A target filed under the division itself and one only known through its unit.
        sql(db, "INSERT INTO target (protocol, external_id, kind, name, division_code) VALUES "
                "('api', %s, 'officer', %s, %s)", (f"oracle-t-{i}", f"T{i}", f"{d}002001" if d != "990104"
                                                   else "990104002001"))
    sql(db, "INSERT INTO target (protocol, external_id, kind, name) VALUES ('api', 'oracle-nowhere', 'officer', 'N')")
    sql(db, "UPDATE target SET division_code = NULL WHERE external_id LIKE 'oracle-unit-%'")
    now = datetime.now(UTC)
    for tid, in sql(db, "SELECT id FROM target"):
        lon, lat = 24.93 + (tid % 7) * 0.005, 60.165 + (tid % 5) * 0.003
        for k in range(5):
            t = now - timedelta(minutes=10) + timedelta(minutes=2 * k)
            sql(db, "INSERT INTO position (target_id, fix_time, location, speed_kmh, source) VALUES "
                    "(%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 20, 'api')", (tid, t, lon + k * 1e-3, lat))
        sql(db, "UPDATE target SET last_fix_at = %s, last_location = ST_SetSRID(ST_MakePoint(%s, %s), 4326) "
                "WHERE id = %s", (now - timedelta(minutes=2), lon + 4e-3, lat, tid))
    # Stored planning results (normally made by a planning job) that mix districts and secrecy.
    cams = [r[0] for r in rows]
    sql(db, "INSERT INTO division_kpi (division_code, window_days, counts) "
            "SELECT code, 7, '{\"cameras\": 1}' FROM division")
    w.figure_cams = cams
    seed_coverage_figures(db, cams)
    for j in range(30):
        a, b = cams[(j * 17) % len(cams)], cams[(j * 31 + 5) % len(cams)]
        if a != b:
            sql(db, "INSERT INTO camera_duplicate (camera_id, other_camera_id, overlap) VALUES (%s, %s, 0.8) "
                    "ON CONFLICT DO NOTHING", (a, b))
    w.client.app.state.tiles.bump("cameras")  # secrecy was changed behind the services' back

    for cid, div, sec, gb, lon, lat in sql(db, "SELECT id, division_code, secrecy, gb_id, ST_X(location), "
                                               "ST_Y(location) FROM camera"):
        w.cams[cid], w.gb[gb], w.cam_at[cid] = (div, sec), cid, (lon, lat)
    for aid, div, name in sql(db, "SELECT id, division_code, name FROM key_area"):
        w.areas[aid] = div
        w.area_names.setdefault(name, set()).add(div)
    w.incidents = dict(sql(db, "SELECT id, division_code FROM incident"))
    w.units = dict(sql(db, "SELECT id, division_code FROM unit"))
    w.targets = dict(sql(db, "SELECT t.id, COALESCE(t.division_code, u.division_code) FROM target t "
                             "LEFT JOIN unit u ON u.target_id = t.id"))
    w.codes = {r[0] for r in sql(db, "SELECT code FROM division")}
    assert {s for _, s in w.cams.values()} == {0, 1, 2, 3}
    # GB/T 28181 devices in every district and one filed nowhere, each carrying cameras of other districts
    # and secrecy levels as channels: a device's detail lists only the channels the caller may see.
    for i, d in enumerate(DISTRICTS):
        gb = f"{d}00001180{i:06d}"
        resp = c.post(f"{API}/devices", headers=admin, json={
            "gb_id": gb, "name": f"NVR {i}", "division_code": d, "kind": "nvr", "password": "oracle-nvr-pass"})
        assert resp.status_code == 201, resp.text
        sql(db, "UPDATE camera SET parent_device = %s WHERE id = ANY(%s)",
            (gb, [cams[(i * 37 + k * 11) % len(cams)] for k in range(8)]))
    sql(db, "INSERT INTO gb_device (gb_id, name, kind, ha1) VALUES ('00000000001180000099', 'N', 'nvr', 'x')")
    w.devices = dict(sql(db, "SELECT id, division_code FROM gb_device"))
    # GA/T 1400 checkpoint passes of one plate family (/plates/search): a checkpoint in every district and
    # deeper, and one pass filed nowhere (a device without a division).
    settings = w.client.app.state.settings
    store = ImageStore(settings.viid_image_dir or settings.data_dir / "viid")
    for i, d in enumerate([*DISTRICTS, "990101001", "990104001002", None]):
        gate = f"9901000000121{i:07d}"
        sql(db, "INSERT INTO viid_tollgate (tollgate_id, name, location, division_code, device_id) VALUES "
                "(%s, %s, ST_SetSRID(ST_MakePoint(24.94, 60.17), 4326), %s, '99010000001190000001')",
            (gate, f"卡口 {i}", d))
        # its image in the content-addressed store (/viid/images/{sha256}), one image per pass
        key, sha = store.put("vehicle", date(2000, 1, 2), f"oracle-image-{i}".encode(), "jpg")
        sql(db, "INSERT INTO viid_motor_vehicle (record_id, uploaded_by, tollgate_id, division_code, pass_time, "
                "plate_no, images) VALUES (%s, '99010000001190000001', %s, %s, '2000-01-02T03:00:00Z', %s, %s)",
            (f"oracle-pass-{i}", gate, d, f"京O0000{i}", Jsonb([{"type": "01", "format": "jpg", "key": key,
                                                                  "sha256": sha}])))
        w.passes[f"oracle-pass-{i}"] = d
        w.pass_images[sha] = d
        # one plate passing every checkpoint a minute apart (/plates/trajectory: its points and legs)
        sql(db, "INSERT INTO viid_motor_vehicle (record_id, uploaded_by, tollgate_id, division_code, pass_time, "
                "plate_no) VALUES (%s, '99010000001190000001', %s, %s, "
                "TIMESTAMPTZ '2000-01-02T04:00:00Z' + %s * interval '1 minute', '京O99999')",
            (f"oracle-trip-{i}", gate, d, i))
        w.trip[f"oracle-trip-{i}"] = d
    # Watchlist entries (/watchlists): one per district, one deeper, one spanning two districts.
    for area in [*([d] for d in DISTRICTS), ["990104001"], ["990101", "990102"]]:
        (eid,) = sql(db, "INSERT INTO watchlist_entry (plate, reason, area, valid_from, valid_until) VALUES "
                         "('京O1234?', 'oracle', %s, now() - interval '1 hour', now() + interval '30 days') "
                         "RETURNING id", (area,))[0]
        w.watchlists[eid] = area
    # Watchlist alarms (/watchlists/alarms/{incident_id}): hits on some of the seeded incidents, in their division.
    for inc, div in sorted(w.incidents.items())[:8]:
        sql(db, "INSERT INTO watchlist_hit (entry_id, record_id, incident_id, plate_no, division_code) "
                "VALUES (%s, %s, %s, '京O12340', %s)", (eid, f"oracle-hit-{inc}", inc, div))
        w.alarms[inc] = div


def seed_coverage_figures(db, cams: list[int]) -> None:
    """Key-area coverage figures as a planning run stores them, some counting a secret camera; written
    again by the test that reads them (another module's camera edits recompute real figures in their place)."""
    sql(db, "DELETE FROM key_area_coverage")
    areas = [r[0] for r in sql(db, "SELECT id FROM key_area ORDER BY id")]
    for j, a in enumerate(areas[:40]):
        seen_by = [cams[(j * 13) % len(cams)], cams[(j * 29) % len(cams)]]
        sql(db, "INSERT INTO key_area_coverage (key_area_id, mode, area_m2, covered_m2, fraction, camera_ids,"
                " secret_ids) VALUES (%s, 'all', 100, 50, 0.5, %s, ARRAY(SELECT id FROM camera WHERE id = ANY(%s)"
                " AND secrecy > 0))", (a, seen_by, seen_by))
    # A figure counting a secret camera has its open twin (secrecy-0 cameras only), as a planning run makes.
    sql(db, "INSERT INTO key_area_coverage (key_area_id, mode, area_m2, covered_m2, fraction, camera_ids, secret_ids)"
            " SELECT key_area_id, 'all.open', 100, 25, 0.25, ARRAY(SELECT unnest(camera_ids) EXCEPT"
            " SELECT unnest(secret_ids)), secret_ids FROM key_area_coverage WHERE cardinality(secret_ids) > 0")


_TOKENS: dict[tuple[int, str], str] = {}


def login_token(client: TestClient, user: str, password: str = "sharpeyes-demo") -> str:
    """One login per user and app (logins are rate-limited)."""
    if (id(client), user) not in _TOKENS:
        r = client.post(f"{API}/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        _TOKENS[id(client), user] = r.json()["access_token"]
    return _TOKENS[id(client), user]


_SHARED: dict[str, Any] = {}  # the run's one world, and the test modules still to use it


@pytest.fixture(scope="module")
def world(request, demo_template):
    """The world for this module: built by the first oracle module of the run, closed after the last."""
    if "world" not in _SHARED:
        stack = contextlib.ExitStack()
        request.config.add_cleanup(stack.close)  # an interrupted run closes it too
        users = {i.path for i in request.session.items if getattr(getattr(i, "module", None), "world", None) is world}
        _SHARED.update(world=_open(stack, demo_template), stack=stack, modules=users)
    yield _SHARED["world"]
    _SHARED["modules"].discard(request.path)
    if not _SHARED["modules"]:
        _SHARED.pop("stack").close()
        _SHARED.clear()


def _open(stack: contextlib.ExitStack, template: str) -> World:
    name = fresh_db(template)
    stack.callback(_admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    url = _url(name)
    client = stack.enter_context(TestClient(create_app(Settings(demo_mode=True), url)))
    db = stack.enter_context(psycopg.connect(url, autocommit=True))
    admin = {"Authorization": f"Bearer {login_token(client, 'admin')}"}
    r = client.post(f"{API}/users", headers=admin, json={
        "username": "oracle", "password": "oracle-password-1", "role": "officer", "division_code": "990100"})
    assert r.status_code == 201, r.text
    token = login_token(client, "oracle", "oracle-password-1")
    w = World(client, db, r.json()["id"], {"Authorization": f"Bearer {token}"}, token)
    _seed(w)
    return w


# -- grants ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class G:
    role: str
    division: str
    window: str  # always | active | expired | future
    secrecy: int
    status: str = "active"


WINDOWS = {"always": (None, None), "active": (-2, 2), "expired": (-5, -1), "future": (1, 5)}

grant_st = st.builds(G, st.sampled_from(sorted(ROLES)), st.sampled_from(DIVISIONS), st.sampled_from(sorted(WINDOWS)),
                     st.integers(0, 3), st.sampled_from(["active"] * 4 + ["requested", "revoked"]))
grants_st = st.lists(grant_st, min_size=1, max_size=4)

# Fixed examples that always run: secrecy differing per division, roles mixed (a manage_users holder whose
# other grants lie elsewhere), time windows and grant status.
MIXED = [G("admin", "990101", "always", 2), G("admin", "990102", "active", 0), G("auditor", "990103", "always", 0),
         G("planner", "990104001", "always", 3)]
TIMED = [G("commander", "990100", "active", 1), G("dispatcher", "990104", "expired", 3),
         G("planner", "000000", "future", 3), G("admin", "000000", "always", 3, "requested")]
NARROW = [G("admin", "990102001001", "always", 3), G("officer", "990103", "always", 0)]
WIDE = [G("commander", "000000", "always", 1), G("dispatcher", "990102", "always", 3)]


def apply_grants(w: World, gs: list[G]) -> Principal:
    """Replace the oracle user's grants (in the database, as an administrator's change would) and return
    the pure principal they make."""
    now = datetime.now(UTC)
    sql(w.db, 'DELETE FROM "grant" WHERE user_id = %s', (w.user_id,))
    scopes = []
    for g in gs:
        a, b = WINDOWS[g.window]
        start = None if a is None else now + timedelta(hours=a)
        end = None if b is None else now + timedelta(hours=b)
        sql(w.db, 'INSERT INTO "grant" (user_id, role_name, division_code, valid_from, valid_until, max_secrecy, '
                  'status) VALUES (%s, %s, %s, %s, %s, %s, %s)',
             (w.user_id, g.role, g.division, start, end, g.secrecy, g.status))
        if g.status == "active":
            scopes.append(GrantScope(g.role, g.division, start, end, g.secrecy))
    w.client.app.state.principals.invalidate(w.user_id)
    return Principal(w.user_id, "oracle", tuple(scopes))

