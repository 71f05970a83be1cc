"""Tables of device access and platform links: admission policy, pending devices, GB/T 28181 devices,
what their recordings hold (the retention sweep), and the upper platforms this one registers to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, now_col


class AdmissionPolicy(Base):
    """Per protocol: ``registered`` (registered devices only, the default) or ``pending`` (auto-admit to the
    pending list). See app/domain/admission.py."""

    __tablename__ = "admission_policy"
    protocol: Mapped[str] = mapped_column(String(16), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = now_col()
    updated_by: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (CheckConstraint("mode IN ('registered','pending')", name="admission_policy_mode"),)


class PendingDevice(Base):
    """A device that reported without being registered: waiting for an administrator, or rejected."""

    __tablename__ = "pending_device"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    detail: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    first_seen_at: Mapped[datetime] = now_col()
    last_seen_at: Mapped[datetime] = now_col()
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("protocol", "external_id", name="uq_pending_device"),
        CheckConstraint("status IN ('pending','rejected')", name="pending_device_status"),
    )


class GbDevice(Base):
    """A GB/T 28181 device admitted to register (its own digest credential) and its live state, kept by the
    SIP server: online since, keepalive (written at most every ~30 s), DeviceInfo, catalog size."""

    __tablename__ = "gb_device"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gb_id: Mapped[str] = mapped_column(CHAR(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8), server_default="ipc")  # ipc nvr dvr encoder mobile platform
    ha1: Mapped[str] = mapped_column(Text)  # MD5(gb_id:realm:password); the password is never stored
    edition: Mapped[str | None] = mapped_column(Text)  # '2016' | '2022' (REGISTER header X-GB-Ver)
    online: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_keepalive_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transport: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(64))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    firmware: Mapped[str | None] = mapped_column(String(200))
    channel_count: Mapped[int | None] = mapped_column(Integer)
    catalog_sum: Mapped[int | None] = mapped_column(Integer)  # SumNum of the last catalog answer
    # A lower platform's (or NVR's) directory from its last complete catalog: the business groups (215),
    # virtual organisations (216) and civil-code nodes that are not channels, each {id, name, type, parent}
    # (see ingest/gb28181/mapping.directory_node); NULL until a catalog with such items arrived.
    directory: Mapped[list[dict] | None] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_col()
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (
        CheckConstraint("gb_id ~ '^[0-9]{20}$'", name="gb_device_gb_id"),
        CheckConstraint("kind IN ('ipc','nvr','dvr','encoder','mobile','platform')", name="gb_device_kind"),
        CheckConstraint("edition IS NULL OR edition IN ('2016','2022')", name="gb_device_edition"),
        Index("ix_gb_device_division", "division_code", postgresql_ops={"division_code": "text_pattern_ops"}),
    )


class RecordingCheck(Base):
    """What a GB/T 28181 channel's device last said it holds (the recordings sweep): the retention KPI's
    fact. ``days`` is NULL when the device did not answer: unknown, not failing."""

    __tablename__ = "recording_check"
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("camera.id", ondelete="CASCADE"), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered: Mapped[bool] = mapped_column(Boolean)
    oldest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    newest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    days: Mapped[float | None] = mapped_column(Float)
    gap_s: Mapped[float | None] = mapped_column(Float)
    segments: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class UpperPlatform(Base):
    """A GB/T 28181 upper platform (上级) this platform registers to as a lower one, what it shares with it
    (division subtrees up to a secrecy level, optionally only some camera classes and kinds) and the link's
    state, written by the process that runs the SIP server. The password is sealed (AES-GCM with the secret
    key): digest authentication needs it in clear, so a hash would not do; it is never returned."""

    __tablename__ = "upper_platform"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sip_id: Mapped[str] = mapped_column(CHAR(20), unique=True)
    domain: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, server_default="5060")
    transport: Mapped[str] = mapped_column(String(3), server_default="udp")
    password_sealed: Mapped[str] = mapped_column(Text)
    local_id: Mapped[str | None] = mapped_column(CHAR(20))  # NULL: the SIP server's own id
    register_expires_s: Mapped[int] = mapped_column(Integer, server_default="3600")
    keepalive_s: Mapped[int] = mapped_column(Integer, server_default="60")
    keepalive_misses: Mapped[int] = mapped_column(SmallInteger, server_default="3")
    charset: Mapped[str] = mapped_column(String(8), server_default="GB2312")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    share_divisions: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default="{}")
    share_max_secrecy: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    share_classes: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))  # NULL: every class
    share_kinds: Mapped[list[str] | None] = mapped_column(ARRAY(String(8)))  # NULL: every kind
    relay_positions: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    relay_alarms: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    link_state: Mapped[str] = mapped_column(String(12), server_default="offline")
    link_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_keepalive_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_col()
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (
        CheckConstraint("sip_id ~ '^[0-9]{20}$'", name="upper_platform_sip_id"),
        CheckConstraint("local_id IS NULL OR local_id ~ '^[0-9]{20}$'", name="upper_platform_local_id"),
        CheckConstraint("transport IN ('udp','tcp')", name="upper_platform_transport"),
        CheckConstraint("charset IN ('GB2312','UTF-8')", name="upper_platform_charset"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="upper_platform_port"),
        CheckConstraint("share_max_secrecy BETWEEN 0 AND 9", name="upper_platform_secrecy"),
        CheckConstraint("link_state IN ('disabled','registering','registered','offline')",
                        name="upper_platform_link_state"),
    )
