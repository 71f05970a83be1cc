"""Settings from the environment (pydantic-settings).

Plain ``DATABASE_URL`` / ``REDIS_URL`` as every deployment tool expects; everything else is
``SHARPEYES_*``. Without ``DATABASE_URL`` the embedded PostgreSQL cluster under ``data_dir`` is used.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "sharpeyes-demo-secret-change-me-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHARPEYES_", extra="forbid")

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    # A read replica (hot standby) for the heavy read-only paths: tiles, lists, planning reads, track history
    # (``deps.ReadConnDep``). Unset or empty: one pool. Sign-in, rights and writes always use DATABASE_URL.
    database_read_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_READ_URL"))

    data_dir: Path = Path("var")
    embedded_port: int = 54329
    host: str = "127.0.0.1"
    port: int = 8000

    # What this process runs (app/runtime/roles.py): ``all`` (one process, the default), ``api`` (HTTP,
    # websockets, HTTP ingest) or ``ingest`` (JT/T 808, SIP, the writer). Split roles meet on REDIS_URL.
    role: Literal["all", "api", "ingest"] = "all"
    # The address other processes of this deployment reach this one's HTTP port at (an ingest process:
    # API processes fetch GB/T 28181 video from it, app/runtime/media_relay.py). Empty: http://host:port.
    internal_url: str = Field(default="", pattern=r"^(https?://[A-Za-z0-9.\-\[\]:]+)?$")
    demo_mode: bool = False
    secret_key: str = DEFAULT_SECRET
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=7, ge=1, le=90)
    play_url_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # Origins of the media servers / cameras whose streams the browser plays (HLS, HTTP-FLV, MJPEG),
    # comma-separated, e.g. "http://10.1.2.3:8080,https://media.example.gov". Allowed by the pages'
    # Content-Security-Policy; nothing else outside the platform's own origin is.
    media_origins: str = Field(default="", pattern=r"^(https?://[A-Za-z0-9.\-\[\]:]+)?(,https?://[A-Za-z0-9.\-\[\]:]+)*$")
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated CIDRs, e.g. "10.0.0.5/32"). Default
    # none: the client address is the socket's peer, so rate limits and the audit cannot be fooled by a header.
    trusted_proxies: str = Field(default="", pattern=r"^[0-9A-Fa-f.:/, ]*$")
    # A database that does not answer within this many seconds counts as down: the API answers 503 at once.
    db_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)

    # Limits enforced by the API (tipg habit: limits live in settings).
    max_page_size: int = Field(default=5000, ge=1)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    position_retention_days: int = Field(default=90, ge=1)
    # Recordings sweep (retention measured on the devices): a batch of channels every period, each channel
    # at most once per recheck; 0 disables it.
    recording_sweep_s: float = Field(default=300.0, ge=0)
    recording_sweep_batch: int = Field(default=20, ge=1, le=1000)
    recording_recheck_h: float = Field(default=24.0, gt=0)
    login_per_minute: int = Field(default=30, ge=1)
    ingest_per_minute: int = Field(default=6000, ge=1)

    # Ingest of moving targets (issue #4). JT/T 808 terminals connect over TCP to ``host``:``jt808_port``
    # (0 disables the listener). HTTP devices (OsmAnd / Traccar Client) are accepted when they are
    # registered targets; with ``device_token`` set, a device sending ``token=<it>`` is accepted and
    # registered on its first report.
    jt808_port: int = Field(default=6808, ge=0, le=65535)
    device_token: str | None = Field(default=None, min_length=16)
    area_refresh_s: float = Field(default=60.0, ge=1.0)
    stale_check_s: float = Field(default=10.0, ge=0.5)
    max_positions_per_request: int = Field(default=10_000, ge=1)

    # Live map: websocket frames queued per client before a slow client is cut off; tile cache size.
    # Redis channel prefix: platforms (or test runs) sharing one Redis must not hear each other.
    bus_prefix: str = Field(default="sharpeyes:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    ws_queue_frames: int = Field(default=256, ge=4, le=100_000)
    ws_tick_hz: float = Field(default=10.0, gt=0, le=10.0)
    tile_cache_mb: int = Field(default=64, ge=1, le=4096)

    # GA/T 1400 view library (/VIID, issue #21): a device's session lapses after keepalive_s x misses without a
    # keepalive; PassTime and the other times of its records are local wall-clock time in viid_tz; images go
    # to a content-addressed store under viid_image_dir (default <data_dir>/viid).
    viid_server_id: str = Field(default="34020000005030000001", pattern=r"^[0-9]{20}$")
    viid_keepalive_s: float = Field(default=60.0, gt=0, le=3600)
    viid_keepalive_misses: int = Field(default=3, ge=1, le=100)
    viid_tz: str = Field(default="Asia/Shanghai", pattern=r"^[A-Za-z0-9_+\-/]{1,64}$")
    viid_image_dir: Path | None = None
    # Records (and their images) older than viid_retention_days (PassTime/ShotTime) are deleted by the ingest's
    # hourly sweep, viid_retention_batch rows per transaction (app/services/viid_retention.py).
    # Per kind, viid_<kind>_retention_days overrides it (unset: viid_retention_days); face images go after
    # viid_face_image_retention_days (default 30) when that is shorter, the face record staying.
    viid_retention_days: int = Field(default=90, ge=1)
    viid_motor_vehicle_retention_days: int | None = Field(default=None, ge=1)
    viid_nonmotor_retention_days: int | None = Field(default=None, ge=1)
    viid_person_retention_days: int | None = Field(default=None, ge=1)
    viid_face_retention_days: int | None = Field(default=None, ge=1)
    viid_face_image_retention_days: int = Field(default=30, ge=1)
    viid_retention_batch: int = Field(default=1000, ge=1, le=100_000)

    @property
    def viid_retention_by_kind(self) -> dict[str, int]:
        """The retention overrides set, by record kind (app/services/viid_retention.py KINDS)."""
        given = {"vehicle": self.viid_motor_vehicle_retention_days, "nonmotor": self.viid_nonmotor_retention_days,
                 "person": self.viid_person_retention_days, "face": self.viid_face_retention_days}
        return {k: d for k, d in given.items() if d is not None}

    @property
    def viid_image_root(self) -> Path:
        return self.viid_image_dir or self.data_dir / "viid"

    @property
    def internal_base(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return (self.internal_url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def media_origin_list(self) -> list[str]:
        return [o.rstrip("/") for o in self.media_origins.split(",") if o]

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        cidrs = (c.strip() for c in self.trusted_proxies.split(","))
        return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs if c)

    @model_validator(mode="after")
    def _check_proxies(self) -> Settings:
        try:
            self.trusted_proxy_networks  # noqa: B018 -- a typo in a CIDR is refused at startup, not ignored
        except ValueError as exc:
            raise ValueError(f"SHARPEYES_TRUSTED_PROXIES: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _check_viid_tz(self) -> Settings:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(self.viid_tz)
        except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"SHARPEYES_VIID_TZ: unknown time zone {self.viid_tz!r}") from exc
        return self

    @model_validator(mode="after")
    def _split_roles_need_redis(self) -> Settings:
        if self.role != "all" and not self.redis_url:
            # Without a shared bus an API process never hears the ingest process's positions.
            raise ValueError(f"SHARPEYES_ROLE={self.role} (serve --role {self.role}) needs REDIS_URL: the roles "
                             "of a split deployment meet on the Redis bus; use --role all for one process")
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if not self.demo_mode and self.secret_key == DEFAULT_SECRET:
            # A production deployment must not sign tokens with a key printed in the source.
            raise ValueError(
                "SHARPEYES_SECRET_KEY must be set outside demo mode (SHARPEYES_DEMO_MODE=1 for the demo)"
            )
        if len(self.secret_key) < 32:
            raise ValueError("SHARPEYES_SECRET_KEY must be at least 32 characters")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
