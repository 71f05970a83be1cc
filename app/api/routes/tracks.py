"""Moving targets: scoped list with last position, track, summary, replay, events and prediction."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import Authorized, BBoxDep, ConnDep, IdPath, Limit, Offset, ReadConnDep, SettingsDep, require
from app.api.schemas import Prediction, Replay, TargetEvent, TargetPublic, TrackArrays, TrackSummary
from app.domain.access import Perm
from app.domain.errors import InvalidInput
from app.services import road_prediction, targets, tracks

router = APIRouter(prefix="/api/v1", tags=["tracks"])
StartQ = Annotated[datetime | None, Query(description="ISO-8601 with zone; default: end − 1 h")]
EndQ = Annotated[datetime | None, Query(description="ISO-8601 with zone; default: now")]
ZoomQ = Annotated[float | None, Query(ge=0, le=24, description="map zoom: simplify the track for it")]


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    return (start or end - timedelta(hours=1)), end


def _track(tr: tracks.Track) -> dict:
    return {"target_id": tr.target_id, "points": len(tr.t), "raw_points": tr.raw_points, "truncated": tr.truncated,
            "t": tr.t, "lon": tr.lon, "lat": tr.lat, "speed_kmh": tr.speed_kmh, "course_deg": tr.course_deg}


@router.get("/targets", operation_id="list_targets", response_model=list[TargetPublic])
async def list_targets(conn: ConnDep, settings: SettingsDep, bbox: BBoxDep,
                       kind: Annotated[str | None, Query(max_length=16)] = None, limit: Limit = 1000,
                       offset: Offset = 0, auth: Authorized = require(Perm.VIEW_MAP)) -> list[dict]:
    """Targets in scope with their last position, its age and a ``stale`` flag (never "nearest" when stale)."""
    return await targets.list_targets(conn, auth.scope, kind=kind, bbox=bbox,
                                      limit=min(limit, settings.max_page_size), offset=offset)


@router.get("/targets/{target_id}", operation_id="get_target", response_model=TargetPublic)
async def get_target(target_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    return await targets.get_target(conn, auth.scope, target_id)


@router.get("/targets/{target_id}/track", operation_id="get_track", response_model=TrackArrays)
async def get_track(target_id: IdPath, conn: ConnDep, read: ReadConnDep, start: StartQ = None, end: EndQ = None,
                    zoom: ZoomQ = None, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """Fixes in [start, end) as arrays (epoch seconds, lon, lat, speed, course), simplified for ``zoom``."""
    await targets.get_target(conn, auth.scope, target_id)
    s, e = _window(start, end)
    return _track(await tracks.get_track(read, target_id, s, e, zoom=zoom))  # the target's scope: primary


@router.get("/targets/{target_id}/summary", operation_id="get_track_summary", response_model=TrackSummary)
async def get_summary(target_id: IdPath, conn: ConnDep, start: StartQ = None, end: EndQ = None,
                      auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """Distance, durations, speeds, and the stop / move segments in the window."""
    await targets.get_target(conn, auth.scope, target_id)
    s, e = _window(start, end)
    summary = await tracks.get_summary(conn, target_id, s, e)
    return {"target_id": target_id, "start": s.isoformat(), "end": e.isoformat(), **asdict(summary.summary),
            "segments": [asdict(seg) | {"duration_s": seg.duration_s} for seg in summary.segments]}


@router.get("/targets/{target_id}/events", operation_id="list_target_events", response_model=list[TargetEvent])
async def list_events(target_id: IdPath, conn: ConnDep, start: StartQ = None, end: EndQ = None, limit: Limit = 1000,
                      auth: Authorized = require(Perm.VIEW_MAP)) -> list[dict]:
    await targets.get_target(conn, auth.scope, target_id)
    s, e = _window(start, end)
    return await targets.list_events(conn, target_id, s, e, min(limit, 10_000))


@router.get("/targets/{target_id}/prediction", operation_id="predict_target", response_model=Prediction)
async def prediction(target_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """Positions at +30/+60/+120 s with a 95 % radius: Kalman constant velocity (``cv``) and along the
    map-matched road (``road``, null when no road is within 30 m)."""
    target = await targets.get_target(conn, auth.scope, target_id)
    return await road_prediction.predict(conn, target)


@router.get("/replay", operation_id="replay", response_model=Replay)
async def replay(conn: ConnDep, read: ReadConnDep,
                 ids: Annotated[str, Query(max_length=600, description="target ids: 1,2,3")],
                 start: StartQ = None, end: EndQ = None, zoom: ZoomQ = None,
                 auth: Authorized = require(Perm.VIEW_MAP)) -> dict:
    """Several targets on a shared clock: per target, arrays plus ``offset_s`` since ``start``."""
    try:
        id_list = [int(v) for v in ids.split(",") if v.strip()]
    except ValueError:
        raise InvalidInput("ids must be target ids separated by commas", field="ids") from None
    if any(not (1 <= i <= 2_147_483_647) for i in id_list):
        raise InvalidInput("ids out of range", field="ids")
    if len(id_list) > tracks.MAX_TARGETS:
        raise InvalidInput(f"at most {tracks.MAX_TARGETS} targets in one replay", field="ids")
    await targets.check_targets(conn, auth.scope, id_list)
    s, e = _window(start, end)
    r = await tracks.get_replay(read, id_list, s, e, zoom=zoom)
    return {"start": r.start.isoformat(), "end": r.end.isoformat(),
            "tracks": [_track(tr) | {"offset_s": r.offsets(i)} for i, tr in r.tracks.items()]}
