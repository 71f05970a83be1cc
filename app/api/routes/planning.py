"""Planner HTTP API (issue #6): jobs with progress, stored coverage results, KPIs, placement, exports.

Reads come from the stored result tables, so they answer instantly; heavy runs are background jobs.
Everything is scoped: a district planner reads the KPIs, key areas and cameras of their district only.
The report page loads deck.gl from this same router (``report/deckgl/index.js``), never from a CDN.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text

from app.api.deps import Authorized, ConnDep, IdPath, ReadConnDep, require
from app.api.outbox import OutboxDep
from app.api.schemas import (
    DivisionKpiList,
    JobQueued,
    KeyAreaCoverageList,
    Placement,
    PlanningAccepted,
    PlanningJob,
    Strict,
)
from app.api.schemas.geojson import Layer
from app.api.schemas.media import TEXT, CSVResponse, GeoJSONResponse, documented
from app.domain.access import Perm
from app.domain.errors import NotFound
from app.services import cameras, placement_run, planning_jobs, planning_report

router = APIRouter(prefix="/api/v1/planning", tags=["planning"])
Mode = Literal["all", "online"]
CODE = r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$"
SYNC_TIME_LIMIT_S = 5.0
SYNC_MAX_CANDIDATES = 50_000


class JobCreate(Strict):
    kind: Literal["full", "coverage", "duplicates", "kpi", "placement"] = "full"
    params: dict[str, Any] = Field(default_factory=dict)


class NoParams(Strict):
    """Coverage and duplicate runs take no parameters: anything given is a mistake, said as 422."""


class KpiParams(Strict):
    window_days: int = Field(default=30, ge=1, le=365)


class PlacementRequest(Strict):
    # Budget in cameras, or in cost units with ``site_cost``; as many as one accept may take (500 sites).
    budget: float = Field(gt=0, le=500)
    division_code: str | None = Field(default=None, pattern=CODE)
    mode: Mode = "all"
    fov_deg: float = Field(default=60.0, ge=1, le=360)
    range_m: float = Field(default=60.0, ge=1, le=500)
    n_headings: int = Field(default=8, ge=1, le=36)
    spacing_m: float = Field(default=50.0, ge=5, le=1000)
    site_cost: dict[Literal["intersection", "road", "key_area_edge"], float] | None = None
    exact: bool = True
    time_limit_s: float = Field(default=20.0, gt=0, le=300)


class PlacementNow(PlacementRequest):
    """Placement answered in the request: the exact solver gets at most a few seconds; longer is a job."""

    time_limit_s: float = Field(default=5.0, gt=0, le=SYNC_TIME_LIMIT_S)


JOB_PARAMS: dict[str, type[Strict]] = {"full": NoParams, "coverage": NoParams, "duplicates": NoParams,
                                      "kpi": KpiParams, "placement": PlacementRequest}


class PlannedSite(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    fov_deg: float = Field(default=60.0, ge=1, le=360)
    range_m: float = Field(default=60.0, ge=1, le=500)


class AcceptSites(Strict):
    sites: list[PlannedSite] = Field(min_length=1, max_length=500)
    name_prefix: str = Field(default="规划点位", min_length=1, max_length=100)


@router.post("/jobs", status_code=202, operation_id="planning_create_job", response_model=JobQueued)
async def create_job(body: JobCreate, request: Request, auth: Authorized = require(Perm.PLAN)) -> dict:
    """A background run owned by the caller (and readable by the same scope); params checked per kind."""
    try:
        params = JOB_PARAMS[body.kind].model_validate(body.params).model_dump()
    except ValidationError as exc:  # the body's own 422, with locations under "params"
        raise RequestValidationError([{**e, "loc": ("body", "params", *e["loc"])} for e in exc.errors()]) from None
    if body.kind == "placement" and params["division_code"] and not auth.scope.covers(params["division_code"]):
        raise NotFound(f"division {params['division_code']} not found")
    job_id = await planning_jobs.runner_for(request.app.state.engine).submit(
        body.kind, params, scope=auth.scope, owner_id=auth.user_id)
    return {"id": job_id, "status": "queued"}


@router.get("/jobs/{job_id}", operation_id="planning_get_job", response_model=PlanningJob)
async def get_job(job_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.PLAN)) -> dict:
    """The caller's job (or one of the same scope); anyone else's is 404."""
    return await planning_jobs.get_job(conn, job_id, user_id=auth.user_id, scope=auth.scope)


@router.get("/kpi", operation_id="planning_kpi", response_model=DivisionKpiList)
async def kpis(conn: ReadConnDep, parent: Annotated[str | None, Query(pattern=CODE)] = None,
               auth: Authorized = require(Perm.PLAN)) -> dict:
    """KPIs of every division the planner may see, or of ``parent`` and its children."""
    cond, params = planning_report.in_scope(auth.scope, "d.code")
    fig, fig_p = planning_report.figures(auth.scope, "k")
    cond += f" AND {fig}"
    if parent is not None:
        cond += " AND (d.code = :p OR d.parent_code = :p)"
    rows = (await conn.execute(text(
        "SELECT d.code, d.name, d.name_en, d.level, d.parent_code, k.window_days, k.key_area_surface_rate,"
        " k.networked_rate, k.online_rate, k.hd_rate, k.retention_compliance_rate, k.cameras_per_main_road_km,"
        f" k.counts, k.computed_at FROM division_kpi k JOIN division d ON d.code = k.division_code WHERE {cond}"
        " ORDER BY d.level, d.code"), {"p": parent, **params, **fig_p})).mappings().all()
    items = [dict(r) for r in rows]
    return {"count": len(items), "items": items}


@router.get("/coverage/key-areas", operation_id="planning_key_area_coverage", response_model=KeyAreaCoverageList)
async def key_area_coverage(conn: ReadConnDep, mode: Mode = "all", below: float = Query(1.0, ge=0, le=1),
                            limit: int = Query(500, ge=1, le=5000), auth: Authorized = require(Perm.PLAN)) -> dict:
    # Scoped in SQL before the LIMIT. camera_ids: only the cameras the reader may see; each figure full or
    # open (without secret cameras) as the reader's clearance allows.
    cond, params = planning_report.in_scope(auth.scope, "k.division_code")
    fig, fig_p = planning_report.figures(auth.scope, "kc")
    cams, cam_p = planning_report.in_scope(auth.scope, "c.division_code", "c.secrecy", prefix="sc2")
    rows = (await conn.execute(text(
        "SELECT kc.key_area_id, k.name, k.category, k.division_code, kc.area_m2, kc.covered_m2, kc.fraction,"
        " ARRAY(SELECT c.id FROM camera c WHERE c.id = ANY(kc.camera_ids) AND "
        f"{cams} ORDER BY c.id) AS camera_ids FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id"
        f" WHERE kc.mode IN (CAST(:m AS text), CAST(:m AS text) || '.open') AND {fig} AND kc.fraction <= :b AND {cond}"
        " ORDER BY kc.fraction LIMIT :l"),
        {"m": mode, "b": below, "l": limit, **params, **cam_p, **fig_p})).mappings().all()
    items = [dict(r) for r in rows]
    return {"count": len(items), "items": items}


@router.get("/layers/{layer}.geojson", operation_id="planning_layer", response_class=GeoJSONResponse,
            responses={200: {"model": Layer}})
async def layer(layer: Annotated[str, Path(max_length=40)], conn: ReadConnDep, mode: Mode = "all",
                auth: Authorized = require(Perm.PLAN)) -> Response:
    fc = await planning_report.geojson_layer(conn, layer, mode, auth.scope)
    return Response(orjson.dumps(fc), media_type="application/geo+json")


@router.get("/tables/{table}.csv", operation_id="planning_table", response_class=CSVResponse,
            responses=documented(200, "the table as CSV (UTF-8)", {"text/csv": TEXT}))
async def table(table: Annotated[str, Path(max_length=40)], conn: ConnDep, box: OutboxDep,
                auth: Authorized = require(Perm.PLAN)) -> Response:
    body = await planning_report.csv_table(conn, table, auth.scope)
    box.audit("export", auth, object_type="planning_table", object_id=table)
    await box.commit()
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})


@router.post("/placement", operation_id="planning_placement", response_model=Placement)
async def place(body: PlacementNow, conn: ConnDep, auth: Authorized = require(Perm.PLAN)) -> dict:
    """Placement answered at once, for a division of the caller's scope or a moderate area: the solver
    runs off the event loop with at most ``SYNC_TIME_LIMIT_S``, and a big instance is refused (422);
    a 'placement' job takes longer ones."""
    return await placement_run.plan(conn, scope=auth.scope, max_candidates=SYNC_MAX_CANDIDATES, **body.model_dump())


@router.post("/accept", operation_id="planning_accept", status_code=201, response_model=PlanningAccepted)
async def accept(body: AcceptSites, conn: ConnDep, box: OutboxDep, auth: Authorized = require(Perm.PLAN)) -> dict:
    """Accepted suggestions become cameras with status ``planned`` (not counted as built)."""
    ids = []
    for i, s in enumerate(body.sites, start=1):
        kind = "fixed" if s.heading_deg is not None and s.fov_deg < 360 else "ptz"
        ids.append(await cameras.create(conn, auth.scope, cameras.CameraInput(
            name=f"{body.name_prefix}{i}", lon=s.lon, lat=s.lat, kind=kind, heading_deg=s.heading_deg,
            fov_deg=s.fov_deg if kind == "fixed" else 360.0, range_m=s.range_m, status="planned",
            networked=False, source="planning")))
    box.audit("planning_accept", auth, object_type="camera", object_id=",".join(map(str, ids)),
              detail={"sites": len(ids)})
    box.announce("cameras", None, table="cameras")
    await box.commit()
    return {"camera_ids": ids}


@router.get("/report/index.html", response_class=HTMLResponse, operation_id="planning_report")
async def report(conn: ConnDep, box: OutboxDep, mode: Mode = "all", lang: Literal["zh-CN", "en"] = "zh-CN",
                 auth: Authorized = require(Perm.PLAN)) -> HTMLResponse:
    html = await planning_report.report_html(conn, mode=mode, scope=auth.scope, lang=lang)
    box.audit("export", auth, object_type="planning_report", object_id=mode)
    await box.commit()
    html = html.replace("<head>", '<head><link rel="icon" href="data:,">', 1)  # no /favicon.ico request (404)
    return HTMLResponse(html, headers={"Content-Security-Policy": _report_csp(html)})


def _report_csp(html: str) -> str:
    """The site's policy, plus exactly the report's own inline scripts (by hash): it opens in a browser tab."""
    import base64
    import hashlib
    import re

    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S))
    return ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self' blob: {hashes}; worker-src 'self' blob:; connect-src 'self'; "
            "frame-ancestors 'none'")


@router.get("/report/deckgl/index.js", operation_id="planning_report_js", response_class=FileResponse,
            responses=documented(200, "deck.gl bundle", {"text/javascript": TEXT}))
async def report_js() -> FileResponse:
    """deck.gl's bundle, served locally (public static code, no data)."""
    return FileResponse(planning_report.deck_bundle(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})
