"""Watchlist (布控) entries: what a dispatcher sets, what the API answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

from app.api.schemas.base import Instant, Public, Strict


class WatchlistCreate(Strict):
    plate: Annotated[str, Field(min_length=1, max_length=32, description="plate, exact or with wildcards * ?")]
    vehicle_color: Annotated[str | None, Field(max_length=8, description="GA/T 1400 VehicleColor code")] = None
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="why (kept in the audit log)")]
    area: Annotated[list[str], Field(min_length=1, max_length=50,
                                     description="division codes where passes are matched (disposition area)")]
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime
    priority: Annotated[int, Field(ge=1, le=4)] = 2


class WatchlistEntry(Public):
    id: int
    plate: str
    vehicle_color: str | None
    reason: str
    owner_id: int | None
    owner_name: str | None
    area: list[str]
    priority: int
    valid_from: Instant
    valid_until: Instant
    created_at: Instant
    cancelled_at: Instant | None
    cancelled_by: str | None
    active: bool


class WatchlistEntries(Public):
    total: int
    limit: int
    offset: int
    items: list[WatchlistEntry]


class WatchlistAlarm(Public):
    """The pass a ``watchlist`` incident was opened for: plate, direction, image (``/viid/images/{sha256}``)."""

    incident_id: int
    entry_id: int
    record_id: str
    plate_no: str | None
    direction: str | None
    image_sha256: str | None
    tollgate_id: str | None
    tollgate_name: str | None
    division_code: str | None
    pass_time: Instant | None
    lane_no: int | None
    speed_kmh: float | None
    vehicle_color: str | None
    plate_color: str | None
    created_at: Instant


class Interceptor(Public):
    """A free unit that reaches the checkpoint by road before the vehicle."""

    unit_id: int
    callsign: str
    eta_s: float


class NextCheckpoint(Public):
    """A checkpoint to intercept at: driving time from the hit, and how often vehicles seen at the hit's
    checkpoint were seen here next."""

    tollgate_id: str
    name: str | None
    lon: float
    lat: float
    eta_s: float
    seen_next: int
    units: list[Interceptor]


class WatchlistAlarmDetail(WatchlistAlarm):
    next_checkpoints: list[NextCheckpoint]


class WatchlistAlarmItem(WatchlistAlarm):
    incident_status: str


class WatchlistAlarmList(Public):
    """The latest alarms first, those whose incident the caller sees."""

    total: int
    limit: int
    offset: int
    items: list[WatchlistAlarmItem]
