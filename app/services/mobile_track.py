"""A mobile device's camera replayed: where the device went over a time window (its track, the fixes of the
target that shares its GB id) next to what the camera recorded then (RecordInfo on the device), so that a
moment on the track can be played back.

Which device a camera follows is ``gb28181_store.follow_fixes``'s rule: a GB/T 28181 channel whose own id or
parent device is a device admitted as kind 'mobile'; its fixes are stored as the target (protocol
'gb28181') named by the id MobilePosition reports, either of the two.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import InvalidInput
from app.services import tracks

# The device's target: the one of the camera's two ids that reported last (a device reports for itself or
# for its channel, rarely both).
_DEVICE_TARGET = text("""
SELECT t.id, t.external_id FROM target t
WHERE t.protocol = 'gb28181' AND t.external_id IN (:g, :p)
  AND EXISTS (SELECT 1 FROM gb_device d WHERE d.kind = 'mobile'
              AND d.gb_id IN (CAST(:g AS char(20)), CAST(:p AS char(20))))
ORDER BY t.last_fix_at DESC NULLS LAST, t.id LIMIT 1
""")

_IS_MOBILE = text("""
SELECT EXISTS (SELECT 1 FROM gb_device d WHERE d.kind = 'mobile'
               AND d.gb_id IN (CAST(:g AS char(20)), CAST(:p AS char(20))))
""")

NOT_MOBILE = "this camera does not follow a mobile device: it has no track"


async def camera_track(conn: AsyncConnection, gb_id: str, parent_device: str | None, start: datetime,
                       end: datetime) -> dict:
    """The track of the mobile device a camera follows in [start, end): ``target_id`` (None before the
    device's first fix), ``device_id``, and the fixes as arrays (epoch seconds, lon, lat, speed, course)."""
    params = {"g": gb_id, "p": parent_device or gb_id}
    if not (await conn.execute(_IS_MOBILE, params)).scalar():
        raise InvalidInput(NOT_MOBILE, field="camera_id")
    target = (await conn.execute(_DEVICE_TARGET, params)).first()
    if target is None:
        return {"target_id": None, "device_id": parent_device or gb_id, "t": [], "lon": [], "lat": [],
                "speed_kmh": [], "course_deg": [], "truncated": False}
    tr = await tracks.get_track(conn, target.id, start, end)
    return {"target_id": target.id, "device_id": target.external_id, "t": tr.t, "lon": tr.lon, "lat": tr.lat,
            "speed_kmh": tr.speed_kmh, "course_deg": tr.course_deg, "truncated": tr.truncated}
