"""Which stored view-library image a caller may see: one that a record in their divisions references.

An image is shared by every record that names its hash (a resend, two records of one scene): it is shown
when any of them lies in the caller's scope, and is a 404 otherwise (its existence is not told)."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Scope
from app.domain.errors import NotFound

MEDIA = {"jpg": "image/jpeg", "png": "image/png", "bmp": "image/bmp", "gif": "image/gif",
         "bin": "application/octet-stream"}

# GIN (jsonb_path_ops) indexes on both tables' ``images`` answer the containment (0017_watchlist).
_REFS = text("""
(SELECT division_code, images FROM viid_motor_vehicle WHERE images @> CAST(:q AS jsonb) LIMIT 200)
UNION ALL
(SELECT division_code, images FROM viid_object WHERE images @> CAST(:q AS jsonb) LIMIT 200)""")


async def locate(conn: AsyncConnection, scope: Scope, sha: str) -> tuple[str, list[str]]:
    """(the store key, the divisions of the records in scope that reference it)."""
    rows = (await conn.execute(_REFS, {"q": orjson.dumps([{"sha256": sha}]).decode()})).all()
    seen = [r for r in rows if scope.covers(r.division_code)]
    key = next((i["key"] for r in seen for i in r.images if i.get("sha256") == sha and i.get("key")), None)
    if key is None:
        raise NotFound("image not found")
    return key, sorted({r.division_code for r in seen if r.division_code})
