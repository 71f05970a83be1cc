"""The event taxonomy: bus topics and event types, one name each from the pipeline to the browser.

Topics are what the bus carries and the websocket hub forwards (``frontend/src/live.ts`` subscribes to
the same names); event types are what a detector or a use case records (``target_event.type``,
traccar-style). Plain ``str`` constants: they go through JSON, Redis channel names and dict keys as is.
"""

from __future__ import annotations

from typing import Final


class Topic:
    """Bus topics. The first five reach websocket clients (``HUB_TOPICS``)."""

    POSITIONS: Final = "positions"  # {"target_id", "lon", "lat", "division", "kind", ...}, coalesced per target
    CAMERAS: Final = "cameras"  # camera upserts/deletes and status changes
    INCIDENTS: Final = "incidents"  # {"op", "division", "lon", "lat", "incident": {...}}
    DISPATCH: Final = "dispatch"  # assignments, progress (ETA), arrival
    KPI: Final = "kpi"  # KPIs changed: recomputed per client scope
    ACCESS: Final = "access"  # {"user_id": id or None}: someone's rights changed
    EVENTS: Final = "events"  # tracking events (EventType) of targets, for other processes
    PTZ: Final = "ptz"  # PTZ commands for the SIP server that holds the camera's device
    # From the SIP server to the runtime only (GB/T 28181 ids, not camera rows): the runtime turns them into
    # ``cameras`` messages; the others are informational (no subscriber in the platform).
    CAMERA_STATUS: Final = "camera.status"
    CAMERA_DELETED: Final = "camera.deleted"
    CAMERA_MOVED: Final = "camera.moved"  # a mobile device's camera followed its fixes (≤ 1 per camera per round)
    GB28181_DEVICE: Final = "gb28181.device"
    GB28181_CATALOG: Final = "gb28181.catalog"
    GB28181_ALARM: Final = "gb28181.alarm"  # an alarm the SIP server could not store (no database)


HUB_TOPICS: Final = (Topic.POSITIONS, Topic.CAMERAS, Topic.INCIDENTS, Topic.DISPATCH, Topic.KPI)


class EventType:
    """What happened (``target_event.type`` for tracking events; see ``domain.tracking.EventKind``)."""

    SOS: Final = "sos"
    AREA_ENTER: Final = "area_enter"
    AREA_EXIT: Final = "area_exit"
    OVERSPEED: Final = "overspeed"
    OVERSPEED_END: Final = "overspeed_end"
    STALE: Final = "stale"
    RESUMED: Final = "resumed"
    CAMERA_STATUS: Final = "camera_status"
    CAMERA_DELETED: Final = "camera_deleted"
    INCIDENT_OPENED: Final = "incident_opened"
    UNIT_DISPATCHED: Final = "unit_dispatched"
