"""The view library's stored images (checkpoint pictures, faces), for callers who may see a record of them."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse

from app.api.deps import Authorized, ConnDep, require
from app.api.outbox import OutboxDep
from app.api.routes.viid import receiver
from app.api.schemas.media import BINARY, documented
from app.domain.access import Perm
from app.domain.errors import NotFound
from app.services import viid_image_view

router = APIRouter(tags=["viid"])
Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="the image's SHA-256 (lower-case hex)")]


@router.get("/api/v1/viid/images/{sha256}", operation_id="get_viid_image", response_class=FileResponse,
            responses=documented(200, "the image", {m: BINARY for m in sorted(set(viid_image_view.MEDIA.values()))}))
async def get_image(sha256: Sha256, request: Request, conn: ConnDep, box: OutboxDep,
                    auth: Authorized = require(Perm.VIEW_RECORDINGS)):
    """A stored image, for whoever may see a record that references it (the record's division), 404
    otherwise. Recorded surveillance: permission ``view_recordings`` (as the plate search), and every view
    is audited (``viid_image_view``), as the evidence list is."""
    key, divisions = await viid_image_view.locate(conn, auth.scope, sha256)
    try:
        path = receiver(request).images.path(key)
    except ValueError:
        raise NotFound("image not found") from None
    if not await asyncio.to_thread(path.is_file):  # past its retention
        raise NotFound("image not found")
    box.audit("viid_image_view", auth, object_type="viid_image", object_id=sha256, divisions=divisions)
    await box.commit()
    return FileResponse(path, media_type=viid_image_view.MEDIA.get(path.suffix[1:], "application/octet-stream"),
                        headers={"Cache-Control": "private, max-age=3600"})
