"""Planner HTTP API (issue #6): jobs with progress, stored coverage results, KPIs, placement, exports.

Reads come from the stored result tables, so they answer instantly; heavy runs are background jobs.
The report page loads deck.gl from this same router (``report/deckgl/index.js``), never from a CDN.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import DomainError, InvalidInput, NotFound
from app.services import placement_run, planning_jobs, planning_report

try:
    from app.api.deps import get_conn
except ImportError:  # the lead's deps module is not there yet: same contract, engine on app.state
    from collections.abc import AsyncIterator

    from fastapi import Request

    async def get_conn(request: Request) -> AsyncIterator[AsyncConnection]:
        async with request.app.state.engine.begin() as conn:
            yield conn


router = APIRouter(prefix="/api/v1/planning", tags=["planning"])
Conn = Annotated[AsyncConnection, Depends(get_conn)]
Mode = Literal["all", "online"]
_STATUS = {InvalidInput: 422, NotFound: 404}


def _http(exc: DomainError) -> HTTPException:
    return HTTPException(
        _STATUS.get(type(exc), 400), detail={"code": exc.code, "message": exc.message, "field": exc.field}
    )


class JobCreate(BaseModel):
    kind: Literal["full", "coverage", "duplicates", "kpi", "placement"] = "full"
    params: dict[str, Any] = Field(default_factory=dict)


class PlacementRequest(BaseModel):
    budget: float = Field(gt=0, le=10_000)
    division_code: str | None = Field(default=None, pattern=r"^(\d{6}|\d{9}|\d{12})$")
    mode: Mode = "all"
    fov_deg: float = Field(default=60.0, ge=1, le=360)
    range_m: float = Field(default=60.0, gt=0, le=500)
    n_headings: int = Field(default=8, ge=1, le=36)
    spacing_m: float = Field(default=50.0, ge=5, le=1000)
    site_cost: dict[Literal["intersection", "road", "key_area_edge"], float] | None = None
    exact: bool = True
    time_limit_s: float = Field(default=20.0, gt=0, le=300)


@router.post("/jobs", status_code=202, operation_id="planning_create_job")
async def create_job(body: JobCreate, conn: Conn) -> dict:
    if body.kind == "placement":
        body.params = PlacementRequest(**body.params).model_dump()
    try:
        job_id = await planning_jobs.runner_for(conn.engine).submit(body.kind, body.params)
    except DomainError as exc:
        raise _http(exc) from exc
    return {"id": job_id, "status": "queued"}


@router.get("/jobs/{job_id}", operation_id="planning_get_job")
async def get_job(job_id: int, conn: Conn) -> dict:
    try:
        return await planning_jobs.get_job(conn, job_id)
    except DomainError as exc:
        raise _http(exc) from exc


@router.get("/kpi", operation_id="planning_kpi")
async def kpis(
    conn: Conn, parent: Annotated[str | None, Query(pattern=r"^(\d{6}|\d{9}|\d{12})$")] = None
) -> dict:
    """KPIs of every division, or of the children of ``parent`` (plus the parent itself)."""
    where = "" if parent is None else "WHERE d.code = :p OR d.parent_code = :p"
    rows = (
        (
            await conn.execute(
                text(
                    "SELECT d.code, d.name, d.name_en, d.level, d.parent_code, k.window_days,"
                    " k.key_area_coverage_rate,"
                    " k.networked_rate, k.online_rate, k.hd_rate, k.retention_compliance_rate,"
                    " k.cameras_per_main_road_km,"
                    f" k.counts, k.computed_at FROM division_kpi k JOIN division d ON d.code ="
                    f" k.division_code {where}"
                    " ORDER BY d.level, d.code"
                ),
                {"p": parent},
            )
        )
        .mappings()
        .all()
    )
    return {"count": len(rows), "items": [dict(r) for r in rows]}


@router.get("/coverage/key-areas", operation_id="planning_key_area_coverage")
async def key_area_coverage(
    conn: Conn,
    mode: Mode = "all",
    below: float = Query(1.0, ge=0, le=1),
    limit: int = Query(500, ge=1, le=5000),
) -> dict:
    rows = (
        (
            await conn.execute(
                text(
                    "SELECT kc.key_area_id, k.name, k.category, kc.area_m2, kc.covered_m2,"
                    " kc.fraction, kc.camera_ids"
                    " FROM key_area_coverage kc JOIN key_area k ON k.id = kc.key_area_id"
                    " WHERE kc.mode = :m AND kc.fraction <= :b ORDER BY kc.fraction LIMIT :l"
                ),
                {"m": mode, "b": below, "l": limit},
            )
        )
        .mappings()
        .all()
    )
    return {"count": len(rows), "items": [dict(r) for r in rows]}


@router.get("/layers/{layer}.geojson", operation_id="planning_layer")
async def layer(layer: str, conn: Conn, mode: Mode = "all") -> Response:
    import orjson

    try:
        fc = await planning_report.geojson_layer(conn, layer, mode)
    except DomainError as exc:
        raise _http(exc) from exc
    return Response(orjson.dumps(fc), media_type="application/geo+json")


@router.get("/tables/{table}.csv", operation_id="planning_table")
async def table(table: str, conn: Conn) -> Response:
    try:
        body = await planning_report.csv_table(conn, table)
    except DomainError as exc:
        raise _http(exc) from exc
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
    )


@router.post("/placement", operation_id="planning_placement")
async def place(body: PlacementRequest, conn: Conn) -> dict:
    """Synchronous placement for a division or a moderate area; use a 'placement' job for big ones."""
    try:
        return await placement_run.plan(conn, **body.model_dump())
    except DomainError as exc:
        raise _http(exc) from exc


@router.get("/report/index.html", response_class=HTMLResponse, operation_id="planning_report")
async def report(conn: Conn, mode: Mode = "all") -> HTMLResponse:
    layers = {name: await planning_report.geojson_layer(conn, name, mode) for name in planning_report.LAYERS}
    c = (
        await conn.execute(
            text(
                "SELECT ST_X(ST_Centroid(ST_Extent(location))),"
                " ST_Y(ST_Centroid(ST_Extent(location))) FROM camera"
            )
        )
    ).first()
    html = planning_report.render_html(
        layers, "覆盖规划报告", "deckgl/index.js", (float(c[0] or 0.0), float(c[1] or 0.0))
    )
    return HTMLResponse(html)


@router.get("/report/deckgl/index.js", operation_id="planning_report_js")
async def report_js() -> FileResponse:
    return FileResponse(
        planning_report.deck_bundle(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
