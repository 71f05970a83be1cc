"""The scope oracle (issue #15), REST objects and planning: a user with random grants (roles, divisions, time
windows, secrecy, grant status) asks every GET endpoint of the family (cameras, key areas, divisions, incidents,
units, targets, devices, users, KPIs, planning layers and tables); nothing out of the user's scope may come back.
Video, the live feed, audit and tiles are judged in tests/api/test_scope_oracle_live.py, over the same world
(tests/scope_world.py) with the same judge (tests/scope_oracle.py).

The truth is the pure rule: ``Principal(grants).scope_for(perm, now).covers(division, secrecy)``, with
``perm`` the permission the route itself requires (read from its ``require(...)`` dependency), and each
returned object's division and secrecy looked up in the database. The endpoints come from the app's
OpenAPI: a GET of this family that is neither judged here nor allow-listed with a reason fails
``test_every_get_endpoint_is_judged``, so a new endpoint joins the oracle by construction. Besides the
objects an endpoint lists, every field that names a scoped object anywhere in an answer (``camera_id``,
``camera_ids``, ``unit_id``, ``division_code``, ``gb_id``... see ``tests/scope_oracle.py``) is judged too.

Known leaks in code owned elsewhere are ``xfail(strict=True)`` in ``KNOWN_LEAKS`` (tests/scope_oracle.py):
fixing one makes its case pass, which fails the run until the mark is removed.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from app.domain.access import Perm, Principal
from app.services import planning_report
from tests.scope_oracle import (
    EXAMPLES,
    by_id_case,
    case_params,
    check_judged,
    check_kpi,
    division_filter,
    features,
    judge,
    judged_cases,
    list_case,
    ok_or_hidden,
    pick,
    rows,
    run_case,
    tree_visible,
)
from tests.scope_world import (  # noqa: F401
    API,
    DIVISIONS,
    MIXED,
    WIDE,
    World,
    apply_grants,
    grants_st,
    seed_coverage_figures,
    sql,
    world,
)


def division_by_code(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    for code in pick(rng, w.codes, 5):
        r = w.client.get(f"{API}/divisions/{code}", headers=w.headers)
        if ok_or_hidden(r, code):
            assert tree_visible(scope, code), f"division {code}: answered out of scope {scope.rules}"


def places(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    """Key areas found by name must be key areas of the scope (streets are public OSM)."""
    scope = p.scope_for(perm, datetime.now(UTC))
    names = pick(rng, [n for n in w.area_names if n and len(n) >= 4], 3)
    for name in names:
        r = w.client.get(f"{API}/incidents/places", headers=w.headers, params={"q": name})
        if ok_or_hidden(r, "places"):
            for hit in r.json():
                if hit.get("kind") == "key_area":
                    divs = w.area_names.get(hit["name"], set())
                    assert any(scope.covers(d) for d in divs), \
                        f"places {name!r}: key area {hit['name']!r} of {sorted(map(str, divs))} " \
                        f"out of scope {scope.rules}"


def kpi_summary(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/kpi/summary", headers=w.headers)
    if ok_or_hidden(r, "kpi"):
        check_kpi(w, scope, r.json(), "kpi/summary")


def planning_layer(layer: str) -> Callable:
    kind = {"uncovered": "area", "duplicates": "camera", "cameras": "camera"}.get(layer)
    return list_case(f"{API}/planning/layers/{layer}.geojson",
                     (lambda b: [(kind, f["properties"]["id"]) for f in b["features"]]) if kind else None)


ID_COLUMNS = {"camera_id", "other_camera_id", "key_area_id", "unit_id", "target_id", "incident_id"}


def planning_table(table: str) -> Callable:
    def run(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
        scope = p.scope_for(perm, datetime.now(UTC))
        r = w.client.get(f"{API}/planning/tables/{table}.csv", headers=w.headers)
        if ok_or_hidden(r, table):
            recs = [{k: (int(v) if k in ID_COLUMNS and v.isdigit() else v or None) for k, v in row.items()}
                    for row in csv.DictReader(io.StringIO(r.text))]
            judge(w, scope, [], recs, f"table {table}")
    return run


def _table() -> dict[str, list[tuple[str, Callable]]]:
    cams, areas = (lambda w: w.cams), (lambda w: w.areas)
    incs, tgts = (lambda w: w.incidents), (lambda w: w.targets)
    t = f"{API}/targets/{{target_id}}"
    return {
        f"{API}/cameras": [("", list_case(f"{API}/cameras", features("camera"), filters=division_filter))],
        f"{API}/cameras/{{camera_id}}": [("", by_id_case(f"{API}/cameras/{{}}", "camera", cams,
                                                          lambda b: [("camera", b["id"])]))],
        f"{API}/key-areas": [("", list_case(f"{API}/key-areas", features("area"), filters=division_filter))],
        f"{API}/key-areas/{{area_id}}": [("", by_id_case(f"{API}/key-areas/{{}}", "area", areas,
                                                          lambda b: [("area", b["id"])]))],
        f"{API}/divisions": [("", list_case(f"{API}/divisions", features("division_tree"), {"geometry": False},
                                            filters=lambda rng: {"parent": rng.choice(DIVISIONS)}))],
        f"{API}/divisions/{{code}}": [("", division_by_code)],
        f"{API}/incidents": [("", list_case(f"{API}/incidents", features("incident"), {"open_only": False}))],
        f"{API}/incidents/{{incident_id}}": [("", by_id_case(f"{API}/incidents/{{}}", "incident", incs,
                                                              lambda b: [("incident", b["id"])]))],
        f"{API}/incidents/{{incident_id}}/recommend": [("", by_id_case(f"{API}/incidents/{{}}/recommend",
                                                                        "incident", incs))],
        f"{API}/incidents/places": [("", places)],
        f"{API}/incidents/{{incident_id}}/evidence": [("", by_id_case(
            f"{API}/incidents/{{}}/evidence", "incident", incs,
            lambda b: [("incident", b["incident_id"])] + [("camera", c["camera_id"]) for c in b["cameras"]]))],
        f"{API}/cameras/{{camera_id}}/recordings": [("", by_id_case(
            f"{API}/cameras/{{}}/recordings", "camera", lambda w: w.cams, lambda b: [("camera", b["camera_id"])],
            params={"start": "2026-12-01T00:00:00+00:00", "end": "2026-12-02T00:00:00+00:00"}))],
        **{f"{API}/cameras/{{camera_id}}/{sub}": [("", by_id_case(
            f"{API}/cameras/{{}}/{sub}", "camera", cams, lambda b: [("camera", b["camera_id"])]))]
           for sub in ("presets", "ptz-position")},
        f"{API}/units": [("", list_case(f"{API}/units", rows("unit")))],
        f"{API}/targets": [("", list_case(f"{API}/targets", rows("target")))],
        t: [("", by_id_case(f"{API}/targets/{{}}", "target", tgts, lambda b: [("target", b["id"])]))],
        **{f"{t}/{sub}": [("", by_id_case(f"{API}/targets/{{}}/{sub}", "target", tgts))]
           for sub in ("track", "summary", "events", "prediction")},
        f"{API}/kpi/summary": [("", kpi_summary)],
        f"{API}/planning/kpi": [("", list_case(f"{API}/planning/kpi", rows("division", "code", lambda b: b["items"])))],
        f"{API}/planning/coverage/key-areas": [("", list_case(f"{API}/planning/coverage/key-areas",
                                                              rows("area", "key_area_id", lambda b: b["items"])))],
        f"{API}/planning/layers/{{layer}}.geojson": [(n, planning_layer(n)) for n in planning_report.LAYERS],
        f"{API}/planning/tables/{{table}}.csv": [(n, planning_table(n)) for n in planning_report.TABLES],
        f"{API}/users": [("", list_case(f"{API}/users", None))],
        f"{API}/access-requests": [("", list_case(f"{API}/access-requests", None))],
        f"{API}/admission/pending": [("", list_case(f"{API}/admission/pending", None))],
        f"{API}/devices": [("", list_case(f"{API}/devices", rows("device", inside=lambda b: b["devices"])))],
        f"{API}/devices/{{device_id}}": [("", by_id_case(
            f"{API}/devices/{{}}", "device", lambda w: w.devices,
            lambda b: [("device", b["id"])] + [("camera", ch["camera_id"]) for ch in b["channels"]]))],
        f"{API}/cameras/{{camera_id}}/track": [("", by_id_case(
            f"{API}/cameras/{{}}/track", "camera", lambda w: w.cams, lambda b: [("camera", b["camera_id"])],
            params={"start": "2026-12-01T00:00:00+00:00", "end": "2026-12-02T00:00:00+00:00"}))],
    }


CASES, UNJUDGED = judged_cases("rest", _table())


def test_every_get_endpoint_is_judged():
    """A new GET endpoint must join the oracle (a case above) or be allow-listed with its reason."""
    check_judged("rest", CASES, UNJUDGED)


@pytest.mark.parametrize("case", case_params(CASES))
def test_nothing_out_of_scope_comes_back(world, case):  # noqa: F811
    run_case(world, case)


def test_figures_count_only_cameras_the_reader_may_see(world):  # noqa: F811
    """A stored figure (here a key area's coverage) counts a secret camera only for a reader who may see
    that camera: everyone else gets the figure without secret cameras (0.25 here, 0.5 with them)."""
    w = world
    seed_coverage_figures(w.db, w.figure_cams)  # as seeded: a camera edit in another module recomputes them
    secret = dict(sql(w.db, "SELECT key_area_id, secret_ids FROM key_area_coverage WHERE mode = 'all'"))
    assert any(secret.values()) and not all(secret.values())

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(grants=grants_st)
    @example(grants=MIXED)
    @example(grants=WIDE)
    def check(grants):
        scope = apply_grants(w, grants).scope_for(Perm.PLAN, datetime.now(UTC))
        r = w.client.get(f"{API}/planning/coverage/key-areas", params={"limit": 5000}, headers=w.headers)
        if not ok_or_hidden(r, "key-area coverage"):
            return
        items = r.json()["items"]
        assert len({i["key_area_id"] for i in items}) == len(items), "a key area with two figures"
        for i in items:
            full = all(scope.covers(*w.cams[c]) for c in secret[i["key_area_id"]])
            assert i["fraction"] == (0.5 if full else 0.25), (i, scope.rules)

    check()

