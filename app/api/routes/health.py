from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from app import __version__
from app.api.deps import ConnDep

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", operation_id="health")
async def health(conn: ConnDep) -> dict:
    """Database, PostGIS and pgRouting versions (no authentication: for load balancers)."""
    row = (await conn.execute(text(
        "SELECT current_setting('server_version') AS pg, postgis_lib_version() AS postgis, "
        "(SELECT extversion FROM pg_extension WHERE extname = 'pgrouting') AS pgrouting"))).mappings().one()
    return {"status": "ok", "version": __version__, "database": row["pg"], "postgis": row["postgis"],
            "pgrouting": row["pgrouting"]}
