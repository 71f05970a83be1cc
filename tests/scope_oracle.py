"""The scope oracle's judging (tests/api/test_scope_oracle*.py): which GETs need no judge and why, every
reference to a scoped object in any JSON answer (tiles are decoded by tests/mvt.py), the case builders,
and the check that every GET endpoint of the app is judged by the module of its path family.

The truth is the pure rule: ``Principal(grants).scope_for(perm, now).covers(division, secrecy)``, with
``perm`` the permission the route itself requires (read from its ``require(...)`` dependency)."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from app.api.main import create_app
from app.config import Settings
from app.domain import division_code
from app.domain.access import Perm, Principal, Scope
from tests.mvt import mvt_decode  # noqa: F401  (re-exported for the oracle)
from tests.scope_world import API, DIVISIONS, MIXED, NARROW, TIMED, WIDE, World, apply_grants, grants_st, sql

EXAMPLES = int(os.environ.get("SCOPE_ORACLE_EXAMPLES", "4"))

# GET endpoints that return no object of anyone's scope, with the reason.
ALLOWED: dict[str, str] = {
    f"{API}/health": "liveness, no data",
    f"{API}/auth/me": "the caller's own account and grants",
    f"{API}/me/assignment": "the caller's own unit and dispatch (by user id, not by division)",
    f"{API}/incidents/types": "static list of incident types",
    f"{API}/audit/verify": "hash-chain check: counts and the first broken link, no events",
    f"{API}/planning/jobs/{{job_id}}": "a planning job's status and progress by id (no division objects)",
    f"{API}/planning/report/deckgl/index.js": "deck.gl's public bundle",
    f"{API}/planning/report/index.html": "built from planning_report.geojson_layer/csv_table, judged here "
                                         "through /planning/layers and /planning/tables",
    "/tiles/style.json": "static layer catalogue",
    f"{API}/admission/policy": "per-protocol admission mode: platform configuration, no objects",
    "/ingest/osmand": "position intake (OsmAnd/Traccar), returns no objects",
    "/video/play/{camera_id}": "needs a signed URL from POST /callup (scope checked there and at play time)",
    "/video/play/{camera_id}/r/{ref}": "a signed stream's media segments (see /video/play)",
    "/video/playback/{camera_id}/{ref}": "needs a sealed URL from POST /callup/playback (scope checked there and "
                                         "at play time)",
    f"{API}/snapshots/upload/{{token}}": "a POST, no bearer: a device uploads the picture it was asked for with "
                                         "the one-time token of POST /cameras/{id}/snapshot (scope checked there)",
    f"{API}/platforms": "upper platforms (no division_code/camera fields): judged in tests/api/test_scope_platforms.py",
    f"{API}/platforms/{{platform_id}}": "an upper platform: judged in tests/api/test_scope_platforms.py",
}
UNSCOPED_TILE_LAYERS = {"roads": "public OSM road network", "buildings": "public OSM building footprints",
                        "water": "public OSM water areas", "green": "public OSM parks and green areas",
                        "rail": "public OSM railway lines", "road_labels": "public OSM road-name label points",
                        "poi": "public OSM named points of interest"}

# Leaks found by this oracle in files owned by others: case id → what leaks, where.
KNOWN_LEAKS: dict[str, str] = {
}

# The oracle's modules by path family: the live module judges these, the REST module every other path.
LIVE_PREFIXES = ("/tiles/", "/video/", "/ws", f"{API}/callup", f"{API}/snapshots", f"{API}/audit", f"{API}/replay")


def family(path: str) -> str:
    return "live" if path.startswith(LIVE_PREFIXES) else "rest"


DIVISION_KEYS = {"division_code", "division"}
CAMERA_KEYS = {"camera_id", "other_camera_id"}
CAMERA_LIST_KEYS = {"camera_ids"}


def references(doc: object, path: str = "$") -> Iterator[tuple[str, str, object]]:
    """Every (kind, where, value) a JSON answer says about scoped things: ``division`` for a division code
    an object is filed under, ``camera`` for a camera it names. Generic on purpose: a new field or a new
    endpoint carrying these keys is judged without anyone listing it."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            where = f"{path}.{k}"
            if k in DIVISION_KEYS and isinstance(v, str):
                yield "division", where, v
            elif k in CAMERA_KEYS and isinstance(v, int) and not isinstance(v, bool):
                yield "camera", where, v
            elif k in CAMERA_LIST_KEYS and isinstance(v, list):
                yield from (("camera", f"{where}[{i}]", c) for i, c in enumerate(v) if isinstance(c, int))
            else:
                yield from references(v, where)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from references(v, f"{path}[{i}]")


# -- judging --------------------------------------------------------------------------------------------
def tree_visible(scope: Scope, code: str) -> bool:
    """Divisions: the scope's subtrees and the ancestors leading to them (the tree needs its path)."""
    prefix = division_code.subtree_prefix(code)
    return scope.covers(code) or any(r.prefix.startswith(prefix) for r in scope.rules)


def judge(w: World, scope: Scope, objects: Iterable[tuple[str, Any]], body: Any, what: str,
          generic: bool = True) -> None:
    refs = [(k, where, v) for k, where, v in references(body)] if generic else []
    items = [(k, "object", v) for k, v in objects] + refs
    for kind, where, ident in items:
        if ident is None:
            continue
        if kind == "division":
            ok = scope.covers(ident)
        elif kind == "division_tree":
            ok = tree_visible(scope, ident)
        elif not w.known(kind, ident):
            continue  # made by another test step (not a seeded object): nothing to judge
        else:
            ok = scope.covers(*w.division_of(kind, ident))
        assert ok, f"{what}: out of scope {kind} {ident!r} at {where} (scope {scope.rules})"


def ok_or_hidden(r, what: str) -> bool:
    """An answer is either content (then judged) or a refusal; a server error is a bug in its own right."""
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    return r.status_code < 300


def features(kind: str, key: str = "id"):
    return lambda body: [(kind, f.get(key)) for f in body["features"]]


def rows(kind: str, key: str = "id", inside: Callable[[Any], list] = lambda b: b):
    return lambda body: [(kind, x[key]) for x in inside(body)]


# -- cases kept here rather than in a module's table ---------------------------------------------------------
def plate_search(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """GA/T 1400 passes (tests/scope_world.py seeds one per district, and one filed nowhere): every pass in
    the scope comes back, none outside it, and the search is refused only to a caller without the right."""
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/plates/search", headers=w.headers, params={
        "plate": rng.choice(["京O00*", "京O0000?", "*O0000?", "京O?0*"]), "reason": "oracle",
        "since": "2000-01-01T00:00:00+00:00", "until": "2000-02-01T00:00:00+00:00"})
    if not ok_or_hidden(r, "plates/search"):
        assert scope.empty and r.status_code == 403, f"plates/search: {r.status_code} with {scope} ({r.text})"
        return
    feats = r.json()["features"]
    judge(w, scope, [("division", f["properties"]["division_code"]) for f in feats], r.json(), "plates/search")
    expected = sum(scope.covers(d) if d else scope.everywhere for d in w.passes.values())  # nowhere: admins only
    assert len(feats) == expected, f"plates/search: {len(feats)} passes, {expected} expected ({scope.rules})"


def plate_trajectory(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """One plate passing every seeded checkpoint (tests/scope_world.py): exactly the passes in the scope come
    back as points, and legs join only those (one fewer than the points)."""
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/plates/trajectory", headers=w.headers, params={
        "plate": "京O99999", "reason": "oracle",
        "since": "2000-01-01T00:00:00+00:00", "until": "2000-02-01T00:00:00+00:00"})
    if not ok_or_hidden(r, "plates/trajectory"):
        assert scope.empty and r.status_code == 403, f"plates/trajectory: {r.status_code} with {scope} ({r.text})"
        return
    feats = r.json()["features"]
    points = [f for f in feats if f["properties"]["kind"] == "pass"]
    legs = [f for f in feats if f["properties"]["kind"] == "leg"]
    judge(w, scope, [("division", f["properties"]["division_code"]) for f in points], r.json(), "plates/trajectory")
    visible = {k for k, d in w.trip.items() if (scope.covers(d) if d else scope.everywhere)}
    assert {f["properties"]["record_id"] for f in points} == visible, f"plates/trajectory in {scope.rules}"
    assert len(legs) == max(len(points) - 1, 0)
    assert {x for f in legs for x in (f["properties"]["from_record_id"], f["properties"]["to_record_id"])} <= visible


def _refused(r, scope: Scope, what: str) -> bool:
    """A refusal is a 403 for a caller without the right at all; the answer's content is judged otherwise."""
    if ok_or_hidden(r, what):
        return False
    assert r.status_code in (403, 404), f"{what}: {r.status_code} ({r.text})"
    assert r.status_code == 404 or scope.empty, f"{what}: 403 with {scope} ({r.text})"
    return True


def _entry_visible(scope: Scope, area: list[str]) -> bool:
    return all(scope.covers(c) for c in area)


def watchlist_list(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """Watchlist entries (tests/scope_world.py seeds one per district, one deeper, one over two districts):
    the caller sees exactly those whose whole area lies in their divisions."""
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/watchlists", headers=w.headers, params={"limit": 1000})
    if _refused(r, scope, "watchlists"):
        assert r.status_code == 403 and scope.empty
        return
    got = {x["id"]: x["area"] for x in r.json()["items"] if x["id"] in w.watchlists}
    for eid, area in got.items():
        assert _entry_visible(scope, area), f"watchlists: entry {eid} of {area} out of scope {scope.rules}"
    expected = {eid for eid, area in w.watchlists.items() if _entry_visible(scope, area)}
    assert set(got) == expected, f"watchlists: {sorted(got)}, {sorted(expected)} expected ({scope.rules})"


def watchlist_one(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    scope = p.scope_for(perm, datetime.now(UTC))
    eid = rng.choice(sorted(w.watchlists))
    r = w.client.get(f"{API}/watchlists/{eid}", headers=w.headers)
    if _refused(r, scope, f"watchlists/{eid}"):
        assert not _entry_visible(scope, w.watchlists[eid]), f"watchlists/{eid}: hidden in scope {scope.rules}"
        return
    assert _entry_visible(scope, r.json()["area"]), f"watchlists/{eid}: out of scope {scope.rules}"


def watchlist_alarm(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """A watchlist incident's details: as the incident, in its division only."""
    scope = p.scope_for(perm, datetime.now(UTC))
    inc = rng.choice(sorted(w.alarms))
    r = w.client.get(f"{API}/watchlists/alarms/{inc}", headers=w.headers)
    if _refused(r, scope, f"watchlists/alarms/{inc}"):
        assert not scope.covers(w.alarms[inc]), f"watchlists/alarms/{inc}: hidden in scope {scope.rules}"
        return
    judge(w, scope, [("incident", inc)], r.json(), f"watchlists/alarms/{inc}")


def watchlist_alarm_list(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """The alarms list: exactly the seeded alarms whose division the scope covers (filed nowhere: admins only)."""
    scope = p.scope_for(perm, datetime.now(UTC))
    r = w.client.get(f"{API}/watchlists/alarms", headers=w.headers, params={"limit": 500})
    if _refused(r, scope, "watchlists/alarms"):
        assert r.status_code == 403 and scope.empty
        return
    items = r.json()["items"]
    judge(w, scope, [("incident", x["incident_id"]) for x in items], r.json(), "watchlists/alarms")
    got = {x["incident_id"] for x in items if x["incident_id"] in w.alarms}
    expected = {i for i, d in w.alarms.items() if (scope.covers(d) if d else scope.everywhere)}
    assert got == expected, f"watchlists/alarms: {sorted(got)}, {sorted(expected)} expected ({scope.rules})"


def viid_image(w, p: Principal, perm: Perm, rng: random.Random) -> None:
    """A pass's stored image: served when its pass is in scope (a pass filed nowhere: to admins only), a 404
    otherwise."""
    scope = p.scope_for(perm, datetime.now(UTC))
    sha = rng.choice(sorted(w.pass_images))
    division = w.pass_images[sha]
    inside = scope.covers(division) if division else scope.everywhere
    r = w.client.get(f"{API}/viid/images/{sha}", headers=w.headers)
    if _refused(r, scope, "viid/images"):
        assert not inside, f"viid/images: the image of a pass in {division} hidden in scope {scope.rules}"
        return
    assert inside, f"viid/images: the image of a pass in {division} served out of scope {scope.rules}"
    assert r.headers["cache-control"].startswith("private")


EXTRA_CASES: dict[str, list[tuple[str, Callable]]] = {
    f"{API}/plates/search": [("", plate_search)],
    f"{API}/plates/trajectory": [("", plate_trajectory)],
    f"{API}/watchlists": [("", watchlist_list)],
    f"{API}/watchlists/{{entry_id}}": [("", watchlist_one)],
    f"{API}/watchlists/alarms/{{incident_id}}": [("", watchlist_alarm)],
    f"{API}/watchlists/alarms": [("", watchlist_alarm_list)],
    f"{API}/viid/images/{{sha256}}": [("", viid_image)],
}


# -- the cases --------------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    path: str  # the OpenAPI path it judges
    run: Callable[[World, Principal, Perm, random.Random], None]
    perm: Perm | None = None


def pick(rng: random.Random, ids: Iterable, n: int = 2) -> list:
    ids = sorted(ids, key=str)
    return rng.sample(ids, min(n, len(ids)))


def split(w: World, scope: Scope, kind: str, pool: Iterable) -> tuple[list, list]:
    inside, outside = [], []
    for i in pool:
        (inside if scope.covers(*w.division_of(kind, i)) else outside).append(i)
    return inside, outside


def list_case(path: str, objects, params: dict | None = None, generic: bool = True,
              filters: Callable[[random.Random], dict] | None = None) -> Callable:
    """The list as is, and with a random filter (a division outside the scope must not widen it)."""
    def run(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
        scope = p.scope_for(perm, datetime.now(UTC))
        for extra in ({}, filters(rng)) if filters else ({},):
            r = w.client.get(path, headers=w.headers, params={**(params or {}), **extra})
            if ok_or_hidden(r, path):
                judge(w, scope, objects(r.json()) if objects else [], r.json(), f"{path} {extra}", generic)
            else:
                assert scope.empty or r.status_code not in (401, 403), f"{path}: refused with {scope} ({r.text})"
    return run


def division_filter(rng: random.Random) -> dict:
    return {"division": rng.choice([d for d in DIVISIONS if d != "000000"])}


def by_id_case(path: str, kind: str, pool: Callable[[World], Iterable], objects=None,
               params: dict | None = None) -> Callable:
    """Ids inside and outside the scope: outside must be refused (404/403), inside is judged."""
    def run(w: World, p: Principal, perm: Perm, rng: random.Random) -> None:
        scope = p.scope_for(perm, datetime.now(UTC))
        inside, outside = split(w, scope, kind, pool(w))
        for ident in pick(rng, inside) + pick(rng, outside, 3):
            url = path.format(ident)
            r = w.client.get(url, headers=w.headers, params=params or {})
            if ok_or_hidden(r, url):
                assert ident in inside, f"{url}: answered {r.status_code} for an object out of scope {scope.rules}"
                judge(w, scope, objects(r.json()) if objects else [], r.json(), url)
    return run


def check_kpi(w: World, scope: Scope, kpi: dict, what: str, cameras_only: bool = False) -> None:
    """Aggregates count exactly the scope's objects: no secret camera is counted where it is not open."""
    cams = sql(w.db, "SELECT division_code, secrecy FROM camera WHERE status <> 'planned'")
    assert kpi["cameras"] == sum(scope.covers(d, s) for d, s in cams), f"{what}: camera count"
    if cameras_only:
        return
    assert kpi["key_areas"] == sum(scope.covers(d) for d in w.areas.values()), f"{what}: key area count"
    open_inc = sql(w.db, "SELECT division_code FROM incident WHERE status IN ('new', 'dispatched', 'on_scene')")
    assert kpi["open_incidents"] == sum(scope.covers(d) for d, in open_inc), f"{what}: open incidents"


def route_perms(app, method: str = "GET") -> dict[str, Perm | None]:
    """The permission each route of ``method`` requires, read from its ``require(perm)`` dependency."""
    def find(dep) -> Perm | None:
        for cell in getattr(dep.call, "__closure__", None) or ():
            if isinstance(cell.cell_contents, Perm):
                return cell.cell_contents
        for sub in dep.dependencies:
            if (found := find(sub)) is not None:
                return found
        return None

    return {r.path: find(r.dependant) for r in app.routes
            if getattr(r, "methods", None) and method in r.methods and hasattr(r, "dependant")}


@functools.cache
def openapi_app():
    """The app whose routes are walked (not started: no database behind it)."""
    return create_app(Settings(demo_mode=True), "postgresql://unused@127.0.0.1/unused")


def judged_cases(fam: str, table: dict[str, list[tuple[str, Callable]]]) -> tuple[list[Case], list[str]]:
    """Every GET of the OpenAPI in the path family ``fam`` becomes cases (or has an allow-listed reason);
    what is left is unjudged, and so is a table entry of another family (it is judged in the wrong module)."""
    table = {**table, **{p: c for p, c in EXTRA_CASES.items() if family(p) == fam}}
    app = openapi_app()
    perms = route_perms(app)
    cases = []
    unjudged = [f"{p} (judged here, but of the {family(p)!r} family)" for p in table if family(p) != fam]
    paths = sorted(p for p, ops in app.openapi()["paths"].items() if "get" in ops and family(p) == fam)
    for path in paths:
        if path in ALLOWED:
            continue
        if path not in table:
            unjudged.append(path)
            continue
        for suffix, run in table[path]:
            cases.append(Case(f"GET {path}" + (f" {suffix}" if suffix else ""), path, run, perms.get(path)))
    return cases, unjudged


def check_judged(fam: str, cases: list[Case], unjudged: list[str]) -> None:
    """A new GET endpoint must join the oracle (a case of its family's module) or be allow-listed with its reason."""
    assert unjudged == [], f"GET endpoints neither judged by the scope oracle nor allow-listed: {unjudged}"
    stale = [c for c in KNOWN_LEAKS if family(c.split(" ", 1)[1]) == fam and c not in {x.id for x in cases}]
    assert not stale, f"KNOWN_LEAKS entries for cases that no longer exist: {stale}"
    unscoped = [c.id for c in cases if c.perm is None]
    assert not unscoped, f"judged endpoints without a permission dependency: {unscoped}"


def case_params(cases: list[Case]) -> list:
    def param(c: Case):
        marks = [pytest.mark.xfail(strict=True, reason=f"leak: {KNOWN_LEAKS[c.id]}")] if c.id in KNOWN_LEAKS else []
        return pytest.param(c, id=c.id, marks=marks)
    return [param(c) for c in cases]


def run_case(world: World, case: Case) -> None:
    """The case under the fixed grant examples and ``EXAMPLES`` random ones."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(grants=grants_st, seed=st.integers(0, 2**16))
    @example(grants=MIXED, seed=1)
    @example(grants=TIMED, seed=2)
    @example(grants=NARROW, seed=3)
    @example(grants=WIDE, seed=4)
    def check(grants, seed):
        principal = apply_grants(world, grants)
        case.run(world, principal, case.perm, random.Random(seed))

    check()
