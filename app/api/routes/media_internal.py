"""The internal video route of a process that runs the SIP server: API processes of the same deployment
read a GB/T 28181 channel's MPEG-TS here (``app/runtime/media_relay.py``). Not for browsers: a request
needs a sealed grant that only the platform's processes make, after checking the viewer's rights."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.api.deps import SettingsDep
from app.domain.errors import Conflict, InvalidInput
from app.runtime.media_relay import read_grant
from app.runtime.video import first_bytes

router = APIRouter(include_in_schema=False)


@router.get("/internal/gb/{kind}/{channel_id}")
async def gb_media(kind: Literal["live", "playback"], channel_id: str, request: Request, settings: SettingsDep,
                   grant: Annotated[str, Query(max_length=2000)],
                   start: datetime | None = None, end: datetime | None = None,
                   download: bool = False, speed: Annotated[float, Query(gt=0, le=16)] = 1.0) -> StreamingResponse:
    read_grant(settings.secret_key, grant, kind, channel_id)
    video = getattr(getattr(request.app.state, "runtime", None), "video", None)
    if video is None or video.server.device_of(channel_id) is None:
        # Another worker process behind the same port holds the device: the caller asks again (new connection).
        raise Conflict(f"channel {channel_id}: its device is not registered with this process")
    if kind == "live":
        viewer = video.live(channel_id)
    elif start is None or end is None or end <= start:
        raise InvalidInput("a playback needs start < end", field="start")
    else:
        viewer = video.playback(channel_id, start, end, download=download, speed=speed)
    return StreamingResponse(await first_bytes(viewer), media_type="video/mp2t",
                             headers={"Cache-Control": "no-store"})
