"""Health, KPI summary, tile style, batch position reports."""

from __future__ import annotations

from typing import Literal

from app.api.schemas.base import Public
from app.services.viid_retention import ViidSweep


class ProcessHealth(Public):
    """What this process runs (``serve --role``): null ports are listeners it does not run (or could not bind)."""

    role: Literal["all", "api", "ingest"]
    hub: bool
    bus: Literal["local", "redis"]
    bus_connected: bool
    jt808_port: int | None
    jt808_connections: int | None  # terminals connected to this process now
    sip_udp_port: int | None
    sip_tcp_port: int | None
    viid_retention: ViidSweep | None = None  # this process's last sweep (hourly); null: none yet


class Health(Public):
    status: str
    version: str
    database: str
    postgis: str | None
    pgrouting: str | None
    process: ProcessHealth


class KpiSummary(Public):
    """Counts of the caller's scope; rates 0…1, null when there is nothing to count."""

    cameras: int
    cameras_online: int
    online_rate: float | None
    networked_rate: float | None
    hd_ratio: float | None
    key_areas: int
    key_areas_reached: int
    key_area_reach_rate: float | None
    open_incidents: int
    units_available: int


class TileLayer(Public):
    id: str
    kind: str
    minzoom: int
    maxzoom: int
    scoped: bool
    description: str
    url: str


class TileStyle(Public):
    version: int
    attribution: str
    tile_size: int
    layers: list[TileLayer]


class DuplicateItem(Public):
    index: int
    duplicate_of: int


class RejectedItem(Public):
    """``field`` names the offending field when there is one."""

    index: int
    reason: str
    message: str


class PositionsReport(Public):
    received: int
    accepted: int
    duplicates: int
    duplicate_items: list[DuplicateItem]
    rejected: list[RejectedItem]
