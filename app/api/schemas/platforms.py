"""Upper platforms (/api/v1/platforms, GB/T 28181 cascade): never the password in an answer."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from app.api.schemas.base import Instant, Patch, Public, Strict
from app.api.schemas.requests import DIVISION_CODE

__all__ = ["Platform", "PlatformCreate", "PlatformList", "PlatformUpdate"]

LinkState = Literal["disabled", "registering", "registered", "offline"]
CameraKind = Literal["fixed", "ptz", "dome"]
GB_ID = r"^[0-9]{20}$"
DivisionCode = Field(pattern=DIVISION_CODE)


class Platform(Public):
    id: int
    name: str
    sip_id: str = Field(description="the upper platform's 20-digit SIP id")
    domain: str = Field(description="its SIP domain (also the realm it usually challenges with)")
    host: str
    port: int
    transport: Literal["udp", "tcp"]
    local_id: str | None = Field(description="the id this platform registers as; null: the SIP server's own")
    register_expires_s: int
    keepalive_s: int
    keepalive_misses: int
    charset: Literal["GB2312", "UTF-8"]
    enabled: bool
    share_divisions: list[str] = Field(description="division subtrees shared upward")
    share_max_secrecy: int = Field(description="cameras up to this secrecy level are shared")
    share_classes: list[int] | None = Field(description="camera classes 1–3 shared; null: every class")
    share_kinds: list[CameraKind] | None = Field(description="camera kinds shared; null: every kind")
    relay_positions: bool
    relay_alarms: bool
    link_state: LinkState
    link_since: Instant | None
    registered_at: Instant | None
    last_keepalive_at: Instant | None
    last_error: str | None = Field(description="why the link is not registered (e.g. 403 wrong password)")
    created_at: Instant
    updated_at: Instant


class PlatformList(Public):
    platforms: list[Platform]


class _Fields(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    host: str | None = Field(default=None, min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    transport: Literal["udp", "tcp"] | None = None
    local_id: str | None = Field(default=None, pattern=GB_ID)
    register_expires_s: int | None = Field(default=None, ge=60, le=86400)
    keepalive_s: int | None = Field(default=None, ge=1, le=3600)
    keepalive_misses: int | None = Field(default=None, ge=1, le=10)
    charset: Literal["GB2312", "UTF-8"] | None = None
    enabled: bool | None = None
    share_divisions: list[str] | None = Field(default=None, max_length=200)
    share_max_secrecy: int | None = Field(default=None, ge=0, le=9)
    share_classes: list[Literal[1, 2, 3]] | None = None
    share_kinds: list[CameraKind] | None = None
    relay_positions: bool | None = None
    relay_alarms: bool | None = None


class PlatformCreate(_Fields):
    name: str = Field(min_length=1, max_length=200)
    sip_id: str = Field(pattern=GB_ID)
    domain: str = Field(pattern=r"^[0-9]{1,20}$")
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5060, ge=1, le=65535)
    password: str = Field(min_length=1, max_length=64, description="sent as digest; stored sealed, never returned")
    share_divisions: list[str] = Field(default_factory=list, max_length=200)


class PlatformUpdate(Patch, _Fields):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"local_id", "share_classes", "share_kinds"})
    sip_id: str | None = Field(default=None, pattern=GB_ID)
    password: str | None = Field(default=None, min_length=1, max_length=64)
