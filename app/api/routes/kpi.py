from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import Authorized, ConnDep, require
from app.api.schemas import KpiSummary
from app.domain.access import Perm
from app.services import kpi

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi"])


@router.get("/summary", operation_id="kpi_summary", response_model=KpiSummary)
async def kpi_summary(conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """KPIs of the caller's scope (rates are 0…1, null when there is nothing to count)."""
    return await kpi.summary(conn, auth.scope)
