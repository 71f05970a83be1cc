"""Vector tiles ``/tiles/{layer}/{z}/{x}/{y}.pbf`` (200 gzip / 204 empty / 304 ETag) and the style.

Most tile requests never reach this route: ``app.api.tile_fastpath`` answers them first (same headers, same
scope). This route answers the rest: errors (401/403/404/422/503) and callers whose principal is not cached.
"""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response

from app.api.deps import Authorized, ReadConnDep, require
from app.api.schemas import TileStyle
from app.api.schemas.media import BINARY, MVTResponse
from app.domain.access import Perm
from app.services import tiles

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
# Scoped content behind a token: the browser may keep it but must revalidate (cheap: 304).
CACHE_CONTROL = "private, no-cache"
VARY = "Authorization, Accept-Encoding"


@router.get("/tiles/style.json", operation_id="tile_style", response_model=TileStyle)
async def tile_style(auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return tiles.style()


@router.get("/tiles/{layer}/{z}/{x}/{y}.pbf", operation_id="get_tile", response_class=MVTResponse,
            responses={200: {"content": {MVT: {"schema": BINARY}}}, 204: {"description": "empty tile"},
                       304: {"description": "not modified (ETag)"}})
async def get_tile(request: Request, conn: ReadConnDep, layer: str, z: Annotated[int, Path(ge=0, le=22)],
                   x: Annotated[int, Path(ge=0)], y: Annotated[int, Path(ge=0)],
                   if_none_match: Annotated[str | None, Header()] = None,
                   accept_encoding: Annotated[str | None, Header()] = None,
                   auth: Authorized = require(Perm.VIEW_MAP)) -> Response:
    spec = tiles.check_tile(layer, z, x, y)
    tile = await tiles.get_tile(conn, request.app.state.tiles, spec, z, x, y, auth.scope)
    headers = {"ETag": tile.etag, "Cache-Control": CACHE_CONTROL, "Vary": VARY}
    if if_none_match and tile.etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    if not tile.gzipped:
        return Response(status_code=204, headers=headers)
    if accept_encoding and "gzip" in accept_encoding:
        return Response(tile.gzipped, media_type=MVT, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(tile.gzipped), media_type=MVT, headers=headers)
