"""SQLAlchemy 2 + GeoAlchemy2 models: the whole data model of DESIGN.md.

Geometries are stored in SRID 4326. Spatial indexes are declared explicitly (``spatial_index=False``
on the columns) so that Alembic sees exactly what exists and ``alembic check`` stays clean.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326


def geom(kind: str, nullable: bool = False):
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=False), nullable=nullable)


def now_col(nullable: bool = False):
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=nullable)


class Base(DeclarativeBase):
    pass


class Division(Base):
    __tablename__ = "division"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="RESTRICT"))
    boundary = geom("MULTIPOLYGON", nullable=True)
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 6", name="division_level_range"),
        Index("ix_division_parent", "parent_code"),
        Index("ix_division_boundary", "boundary", postgresql_using="gist"),
    )


class Camera(Base):
    __tablename__ = "camera"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gb_id: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    location = geom("POINT")
    view = geom("POLYGON")
    cls: Mapped[int] = mapped_column(SmallInteger, server_default="3")  # 一类/二类/三类
    site_category: Mapped[str | None] = mapped_column(String(40))
    owner: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8), server_default="fixed")  # fixed | ptz | dome
    heading_deg: Mapped[float | None] = mapped_column(Float)
    fov_deg: Mapped[float] = mapped_column(Float, server_default="60")
    range_m: Mapped[float] = mapped_column(Float, server_default="60")
    hd: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    networked: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(10), server_default="online")
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stream_url: Mapped[str | None] = mapped_column(Text)
    retention_days: Mapped[int | None] = mapped_column(SmallInteger)  # NULL: not known (OSM has no such tag)
    secrecy: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    source: Mapped[str] = mapped_column(String(16), server_default="manual")
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    parent_device: Mapped[str | None] = mapped_column(String(20))
    # Who placed its geometry: NULL = its source (a catalog keeps it current); a username = a planner's
    # correction the catalog keeps; 'gb28181:position' = a mobile device's own fixes (migration 0012).
    placed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_col()
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (
        CheckConstraint("cls BETWEEN 1 AND 3", name="camera_cls_range"),
        CheckConstraint("kind IN ('fixed','ptz','dome')", name="camera_kind"),
        CheckConstraint("status IN ('online','offline','fault','planned')", name="camera_status"),
        CheckConstraint("heading_deg IS NULL OR heading_deg BETWEEN 0 AND 360", name="camera_heading"),
        CheckConstraint("fov_deg BETWEEN 1 AND 360", name="camera_fov"),
        CheckConstraint("range_m > 0", name="camera_range"),
        Index("ix_camera_location", "location", postgresql_using="gist"),
        Index("ix_camera_view", "view", postgresql_using="gist"),
        Index("ix_camera_division", "division_code", postgresql_ops={"division_code": "text_pattern_ops"}),
        Index("ix_camera_status", "status"),
    )


class CameraStatusEvent(Base):
    """Status history, for the intact rate (完好率) over a time window."""

    __tablename__ = "camera_status_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="CASCADE"))
    at: Mapped[datetime] = now_col()
    status: Mapped[str] = mapped_column(String(10))
    __table_args__ = (Index("ix_camera_status_event_camera_at", "camera_id", "at"),)


class KeyArea(Base):
    __tablename__ = "key_area"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    area = geom("MULTIPOLYGON")
    required_retention_days: Mapped[int] = mapped_column(SmallInteger, server_default="90")
    source: Mapped[str] = mapped_column(String(16), server_default="manual")
    external_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_key_area_area", "area", postgresql_using="gist"),
        Index("ix_key_area_division", "division_code", postgresql_ops={"division_code": "text_pattern_ops"}),
    )


class RoadNode(Base):
    __tablename__ = "road_node"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    degree: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    location = geom("POINT")
    __table_args__ = (Index("ix_road_node_location", "location", postgresql_using="gist"),)


class RoadEdge(Base):
    """One routable edge between two nodes, in pgRouting's shape (id, source, target, cost, reverse_cost)."""

    __tablename__ = "road_edge"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_way_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    source: Mapped[int] = mapped_column(ForeignKey("road_node.id", ondelete="CASCADE"))
    target: Mapped[int] = mapped_column(ForeignKey("road_node.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    highway: Mapped[str] = mapped_column(String(20))
    length_m: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)  # seconds; negative = not allowed (pgRouting)
    reverse_cost: Mapped[float] = mapped_column(Float)
    geom_ = mapped_column("geom", Geometry("LINESTRING", srid=SRID, spatial_index=False), nullable=False)
    __table_args__ = (
        UniqueConstraint("osm_way_id", "seq", name="uq_road_edge_way_seq"),
        Index("ix_road_edge_geom", "geom", postgresql_using="gist"),
        Index("ix_road_edge_source", "source"),
        Index("ix_road_edge_target", "target"),
    )


class Target(Base):
    """Anything that moves and reports positions."""

    __tablename__ = "target"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(16))  # osmand | jt808 | gb28181 | api | sim
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), server_default="vehicle")
    name: Mapped[str | None] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    last_fix_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_location = geom("POINT", nullable=True)
    last_speed_kmh: Mapped[float | None] = mapped_column(Float)
    last_course_deg: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = now_col()
    __table_args__ = (
        UniqueConstraint("protocol", "external_id", name="uq_target_device"),
        CheckConstraint(
            "kind IN ('patrol_car','officer','body_cam','vehicle_cam','drone','vehicle')", name="target_kind"
        ),
        Index("ix_target_last_location", "last_location", postgresql_using="gist"),
    )


class Position(Base):
    """Every fix, range-partitioned by day on ``fix_time``; partitions are created ahead by the app."""

    __tablename__ = "position"
    target_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fix_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    location = geom("POINT")
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    course_deg: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_position_location", "location", postgresql_using="gist"),
        {"postgresql_partition_by": "RANGE (fix_time)"},
    )


class Incident(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="3")  # 1 highest … 4
    status: Mapped[str] = mapped_column(String(12), server_default="new")
    description: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), server_default="console")
    location = geom("POINT")
    address: Mapped[str | None] = mapped_column(String(300))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id", ondelete="SET NULL"))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("target.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = now_col()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_scene_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("priority BETWEEN 1 AND 4", name="incident_priority"),
        CheckConstraint(
            "status IN ('new','dispatched','on_scene','resolved','closed')", name="incident_status"
        ),
        Index("ix_incident_location", "location", postgresql_using="gist"),
        Index("ix_incident_status", "status"),
    )


class Unit(Base):
    __tablename__ = "unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    callsign: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="patrol_car")
    status: Mapped[str] = mapped_column(String(12), server_default="available")
    target_id: Mapped[int | None] = mapped_column(ForeignKey("target.id", ondelete="SET NULL"), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint(
            "status IN ('available','assigned','en_route','on_scene','off_duty')", name="unit_status"
        ),
    )


class Dispatch(Base):
    __tablename__ = "dispatch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), server_default="assigned")
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    eta_s: Mapped[float | None] = mapped_column(Float)
    route = geom("LINESTRING", nullable=True)
    assigned_at: Mapped[datetime] = now_col()
    en_route_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_scene_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(
            "status IN ('assigned','en_route','on_scene','cleared','cancelled')", name="dispatch_status"
        ),
        Index("ix_dispatch_incident", "incident_id"),
        Index("ix_dispatch_unit", "unit_id"),
    )


class AppUser(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), server_default="zh-CN")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    failed_logins: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")  # bump = revoke all tokens
    created_at: Mapped[datetime] = now_col()


class AuthTicket(Base):
    """One-time ticket for a page opened in a new tab (app/services/tickets.py); only its SHA-256 is kept."""

    __tablename__ = "auth_ticket"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    token_version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_auth_ticket_expires", "expires_at"),)


class Role(Base):
    __tablename__ = "role"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_zh: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")


class Grant(Base):
    """A role for a user, scoped to a division subtree, optionally to a time window and secrecy level."""

    __tablename__ = "grant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    role_name: Mapped[str] = mapped_column(ForeignKey("role.name", ondelete="RESTRICT"))
    division_code: Mapped[str] = mapped_column(ForeignKey("division.code", ondelete="CASCADE"))
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_secrecy: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    kind: Mapped[str] = mapped_column(String(12), server_default="regional")  # full|regional|timeboxed|on_request
    status: Mapped[str] = mapped_column(String(10), server_default="active")  # requested|active|denied|revoked
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("ix_grant_user", "user_id"),)


class AuditEvent(Base):
    """Append-only, hash-chained: ``hash = sha256(prev_hash || canonical row)``."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = now_col()
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    reason: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    # The divisions the event concerns (its objects' and its actor's): a division administrator reads the
    # events of their subtree. NULL on events older than this column (read by platform-wide auditors only).
    divisions: Mapped[list[str] | None] = mapped_column(ARRAY(String(12)))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    __table_args__ = (Index("ix_audit_event_at", "at"), Index("ix_audit_event_action", "action"))
