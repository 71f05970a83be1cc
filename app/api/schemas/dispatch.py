"""Incidents, dispatches, units, places."""

from __future__ import annotations

from typing import Any

from app.api.schemas.base import Public
from app.api.schemas.geojson import Feature, FeatureCollection


class IncidentProperties(Public):
    id: int
    type: str
    type_zh: str
    type_en: str
    priority: int
    status: str
    description: str | None
    reporter: str | None
    source: str | None
    address: str | None
    division_code: str | None
    camera_id: int | None
    target_id: int | None
    created_at: str | None
    dispatched_at: str | None
    on_scene_at: str | None
    resolved_at: str | None
    closed_at: str | None


class IncidentDispatch(Public):
    id: int
    unit_id: int
    callsign: str
    status: str
    eta_s: float | None
    assigned_at: str | None
    en_route_at: str | None
    on_scene_at: str | None
    cleared_at: str | None
    route: dict[str, Any] | None


class IncidentDetailProperties(IncidentProperties):
    dispatches: list[IncidentDispatch]


class IncidentFeature(Feature[IncidentDetailProperties]):
    """One incident with its dispatches."""


class IncidentCollection(FeatureCollection[IncidentProperties]):
    pass


class IncidentTypeName(Public):
    zh: str
    en: str


class Place(Public):
    name: str
    name_en: str | None
    kind: str
    lon: float
    lat: float


class UnitCandidate(Public):
    unit_id: int
    callsign: str
    kind: str
    lon: float
    lat: float
    distance_m: float
    eta_s: float | None
    last_fix_at: str | None


class Recommendation(Public):
    """Available units by road ETA; ``stale`` ones (no recent fix) apart, with ``stale: true``."""

    incident_id: int
    recommended: list[UnitCandidate]
    stale: list[UnitCandidate]


class Assignment(Public):
    dispatch_id: int
    unit_id: int
    callsign: str
    eta_s: float | None
    route: dict[str, Any] | None
    unit_division: str | None


class AssignResult(Public):
    dispatches: list[Assignment]
    incident: IncidentFeature


class DispatchStatus(Public):
    dispatch_id: int
    incident_id: int
    unit_id: int
    status: str
    division: str | None
    unit_division: str | None
    lon: float
    lat: float


class MyUnit(Public):
    id: int
    callsign: str
    status: str
    target_id: int | None


class MyDispatch(Public):
    id: int
    status: str
    eta_s: float | None
    incident_id: int
    type: str
    priority: int
    description: str | None
    address: str | None
    lon: float
    lat: float
    route: dict[str, Any] | None


class MyAssignment(Public):
    unit: MyUnit | None
    dispatch: MyDispatch | None


class UnitPublic(Public):
    id: int
    callsign: str
    kind: str
    status: str
    division_code: str
    target_id: int | None
    tracker_protocol: str | None
    tracker_id: str | None
    officer: str | None
    last_fix_at: str | None
    lon: float | None
    lat: float | None
    last_course_deg: float | None
    stale: bool
