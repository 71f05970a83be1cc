"""Planner results: jobs, division KPIs, key-area coverage, placement."""

from __future__ import annotations

from typing import Any

from app.api.schemas.base import Instant, ListPublic, Public


class JobQueued(Public):
    id: int
    status: str


class PlanningJob(Public):
    id: int
    kind: str
    status: str
    progress: float | None
    stage: str | None
    params: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    created_at: Instant | None
    started_at: Instant | None
    finished_at: Instant | None
    owner_id: int | None


class DivisionKpi(Public):
    """Rates 0…1, null when there is nothing to measure."""

    code: str
    name: str
    name_en: str | None
    level: int
    parent_code: str | None
    window_days: int | None
    key_area_surface_rate: float | None
    networked_rate: float | None
    online_rate: float | None
    hd_rate: float | None
    retention_compliance_rate: float | None
    cameras_per_main_road_km: float | None
    counts: dict[str, Any] | None
    computed_at: Instant | None


class KeyAreaCoverage(Public):
    key_area_id: int
    name: str
    category: str
    division_code: str | None
    area_m2: float | None
    covered_m2: float | None
    fraction: float
    camera_ids: list[int]


class DivisionKpiList(ListPublic[DivisionKpi]):
    pass


class KeyAreaCoverageList(ListPublic[KeyAreaCoverage]):
    pass


class Placement(Public):
    """Chosen sites (value, cost and solver figures alongside; ``message`` when nothing is left to cover)."""

    sites: list[dict[str, Any]]


class PlanningAccepted(Public):
    camera_ids: list[int]
