"""Settings of the GB/T 28181 signalling server (``SHARPEYES_GB_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Gb28181Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARPEYES_GB_", extra="forbid")

    server_id: str = Field(default="34020000002000000001", pattern=r"^\d{20}$")
    domain: str = Field(default="3402000000", pattern=r"^\d{10}$")  # also the digest realm
    host: str = "0.0.0.0"
    port: int = Field(default=5060, ge=0, le=65535)  # 0 = pick a free port (tests)
    public_host: str | None = None  # address written into Via/Contact; default: the bound address
    udp: bool = True
    tcp: bool = True
    # Platform-wide device password: lets an unknown device reach the pending list (admission mode "pending"),
    # or, in demo mode, register as before the device registry. Admitted devices use their own (README).
    password: str | None = None
    register_expires_min_s: int = Field(default=60, ge=1)
    register_expires_max_s: int = Field(default=86400, ge=60)
    heartbeat_interval_s: float = Field(default=60.0, gt=0)
    heartbeat_count: int = Field(default=3, ge=1)
    max_message_bytes: int = Field(default=65535, ge=1024, le=1 << 20)
    catalog_on_register: bool = True
    catalog_timeout_s: float = Field(default=30.0, gt=0)
    subscribe_catalog: bool = True
    subscribe_mobile_position: bool = True
    mobile_position_interval_s: int = Field(default=5, ge=1)
    subscribe_alarm: bool = True  # SetGuard, then SUBSCRIBE Alarm
    subscription_expires_s: int = Field(default=3600, ge=30)
    transaction_timeout_s: float = Field(default=8.0, gt=0)
    default_crs: Literal["wgs84", "gcj02"] = "wgs84"
    device_tz: str = "Asia/Shanghai"  # GB bodies carry local wall-clock time without a zone
    date_header: bool = True
    # Live video: where devices send RTP. "auto" = UDP for a device that signals over UDP, else TCP with the
    # device connecting to us (passive); media_host is the address written into the SDP (default: the
    # public_host, else the local address the device's packets reach us on).
    media_transport: Literal["auto", "udp", "tcp-passive", "tcp-active"] = "auto"
    media_host: str | None = None
    media_bind: str = "0.0.0.0"
    media_idle_s: float = Field(default=10.0, gt=0)  # a stream silent this long is over (device gone)
    enabled: bool = True  # started with `sharpeyes serve`; 0 when another process runs the SIP server
