from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from app import __version__
from app.api.deps import ConnDep
from app.api.schemas import Health

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", operation_id="health", response_model=Health)
async def health(conn: ConnDep, request: Request) -> dict:
    """Database, PostGIS and pgRouting versions, and what this process runs: its role, the listeners it
    bound, whether its bus is connected (no authentication: for load balancers)."""
    row = (await conn.execute(text(
        "SELECT current_setting('server_version') AS pg, postgis_lib_version() AS postgis, "
        "(SELECT extversion FROM pg_extension WHERE extname = 'pgrouting') AS pgrouting"))).mappings().one()
    return {"status": "ok", "version": __version__, "database": row["pg"], "postgis": row["postgis"],
            "pgrouting": row["pgrouting"], "process": request.app.state.runtime.health()}
