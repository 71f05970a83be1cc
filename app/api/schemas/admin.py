"""Users, grants, access requests, the audit trail, device admission, the signed-in user."""

from __future__ import annotations

from typing import Any

from app.api.schemas.base import Instant, Public


class GrantPublic(Public):
    id: int
    user_id: int
    role_name: str
    division_code: str
    valid_from: Instant | None
    valid_until: Instant | None
    max_secrecy: int
    kind: str
    status: str
    reason: str | None
    requested_by: int | None
    approved_by: int | None
    created_at: Instant | None


class UserPublic(Public):
    id: int
    username: str
    display_name: str | None
    is_active: bool
    locked_until: Instant | None
    grants: list[GrantPublic]


class MyGrant(Public):
    role: str
    role_zh: str
    role_en: str
    division: str
    valid_until: Instant | None
    max_secrecy: int


class Me(Public):
    id: int
    username: str
    permissions: list[str]
    grants: list[MyGrant]


class AuditEventPublic(Public):
    id: int
    at: Instant
    actor_id: int | None
    actor_name: str | None
    action: str
    object_type: str | None
    object_id: str | None
    detail: dict[str, Any] | None
    reason: str | None
    client_ip: str | None
    prev_hash: str
    hash: str


class AuditPage(Public):
    """Newest first; ``total`` events match the filter."""

    total: int
    items: list[AuditEventPublic]


class AuditVerification(Public):
    intact: bool
    problems: list[str]


class PendingDevice(Public):
    id: int
    protocol: str
    external_id: str
    status: str
    detail: dict[str, Any] | None
    attempts: int
    first_seen_at: str | None
    last_seen_at: str | None
    decided_by: str | None
    decided_at: str | None


class AcceptedDevice(Public):
    target_id: int | None  # the target made (JT/T 808, OsmAnd)
    device_id: int | None = None  # the GB/T 28181 device made (/api/v1/devices/{id})
    protocol: str
    external_id: str
