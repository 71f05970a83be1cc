"""Tables of the GA/T 1400 view library (/VIID, issue #21): device sessions, the checkpoint (卡口) catalogue,
motor-vehicle passes and the other structured records (faces, persons, non-motor vehicles).

Images are not here: a record lists its images' keys in the content-addressed store on disk
(app/services/viid_images.py). Records carry the division they are filed under (their checkpoint's, else
their device's), copied when stored, so a search is scoped without a join."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, geom, now_col


class ViidSession(Base):
    """A registered GA/T 1400 device (``User-Identify``): alive while keepalives come (app/config.py
    ``viid_keepalive_s`` x ``viid_keepalive_misses``); bound to the address it registered from."""

    __tablename__ = "viid_session"
    device_id: Mapped[str] = mapped_column(CHAR(20), primary_key=True)
    address: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime] = now_col()
    last_keepalive_at: Mapped[datetime] = now_col()
    __table_args__ = (CheckConstraint("device_id ~ '^[0-9]{20}$'", name="viid_session_device_id"),)


class ViidTollgate(Base):
    """A checkpoint as its device describes it (``TollgateObject``); ``division_code``: its ``PlaceCode``
    when that is a loaded division inside the device's own, else the device's division."""

    __tablename__ = "viid_tollgate"
    tollgate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    location = geom("POINT", nullable=True)
    place_code: Mapped[str | None] = mapped_column(String(12))
    place: Mapped[str | None] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    category: Mapped[str | None] = mapped_column(String(8))  # TollgateCat
    usage: Mapped[str | None] = mapped_column(String(8))  # TollgateUsage
    lane_count: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str | None] = mapped_column(String(8))
    device_id: Mapped[str] = mapped_column(CHAR(20))  # who described it last
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_viid_tollgate_division", "division_code", postgresql_ops={"division_code": "text_pattern_ops"}),
    )


class ViidApe(Base):
    """A capture device as it describes itself (``APEObject``, /VIID/APEs); ``division_code``: the loaded
    division it stands in (its position) inside the describing device's own, else that device's division.
    Its credentials (``UserId``, ``Password``) are never kept; its other scalar fields are ``attributes``."""

    __tablename__ = "viid_ape"
    ape_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(100))
    ip_addr: Mapped[str | None] = mapped_column(String(64))
    port: Mapped[int | None] = mapped_column(Integer)
    location = geom("POINT", nullable=True)
    place_code: Mapped[str | None] = mapped_column(String(12))
    place: Mapped[str | None] = mapped_column(String(200))
    org_code: Mapped[str | None] = mapped_column(String(32))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    is_online: Mapped[bool | None] = mapped_column(Boolean)
    attributes: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    device_id: Mapped[str] = mapped_column(CHAR(20))  # who described it last
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_viid_ape_division", "division_code", postgresql_ops={"division_code": "text_pattern_ops"}),
    )


class ViidLane(Base):
    """A lane of a checkpoint (``LaneObject``, /VIID/Lanes): a pass names it by ``LaneNo``."""

    __tablename__ = "viid_lane"
    tollgate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lane_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    lane_no: Mapped[int | None] = mapped_column(SmallInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    direction: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(String(200))
    max_speed: Mapped[int | None] = mapped_column(SmallInteger)
    city_pass: Mapped[str | None] = mapped_column(String(8))
    ape_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(CHAR(20))
    updated_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("ix_viid_lane_no", "tollgate_id", "lane_no"),)


class ViidMotorVehicle(Base):
    """One checkpoint pass (``MotorVehicleObject``). ``record_id`` (MotorVehicleID) makes an upload sent
    again (an unacknowledged answer) idempotent."""

    __tablename__ = "viid_motor_vehicle"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str | None] = mapped_column(String(64))  # the capturing device (DeviceID)
    uploaded_by: Mapped[str] = mapped_column(CHAR(20))  # the session's User-Identify
    tollgate_id: Mapped[str | None] = mapped_column(String(64))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    pass_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lane_no: Mapped[int | None] = mapped_column(SmallInteger)
    direction: Mapped[str | None] = mapped_column(String(8))
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    plate_no: Mapped[str | None] = mapped_column(String(32))
    plate_color: Mapped[str | None] = mapped_column(String(8))
    plate_class: Mapped[str | None] = mapped_column(String(8))
    vehicle_class: Mapped[str | None] = mapped_column(String(8))
    vehicle_color: Mapped[str | None] = mapped_column(String(8))
    vehicle_brand: Mapped[str | None] = mapped_column(String(32))
    images: Mapped[list[dict]] = mapped_column(JSONB, server_default="[]")
    received_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_viid_mv_plate", "plate_no", "pass_time", postgresql_ops={"plate_no": "text_pattern_ops"}),
        Index("ix_viid_mv_pass_time", "pass_time"),
        Index("ix_viid_mv_tollgate", "tollgate_id", "pass_time"),
        # the image endpoint finds the records that reference an image (0017_watchlist)
        Index("ix_viid_mv_images", "images", postgresql_using="gin", postgresql_ops={"images": "jsonb_path_ops"}),
    )


class ViidObject(Base):
    """A face, person or non-motor-vehicle record: the fields searched later are columns, the rest of the
    object (without its images) is kept as sent."""

    __tablename__ = "viid_object"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    record_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(CHAR(20))
    tollgate_id: Mapped[str | None] = mapped_column(String(64))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    shot_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attributes: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    images: Mapped[list[dict]] = mapped_column(JSONB, server_default="[]")
    received_at: Mapped[datetime] = now_col()
    __table_args__ = (
        CheckConstraint("kind IN ('face','person','nonmotor')", name="viid_object_kind"),
        Index("uq_viid_object_record", "kind", "record_id", unique=True),
        Index("ix_viid_object_shot", "kind", "shot_time"),
        Index("ix_viid_object_images", "images", postgresql_using="gin", postgresql_ops={"images": "jsonb_path_ops"}),
    )


class WatchlistEntry(Base):
    """A watchlist (布控) entry (app/domain/watchlist.py): a plate or plate pattern, optionally a vehicle
    colour, why, whose, how long, where. Cancelled entries are kept (the audit log names them)."""

    __tablename__ = "watchlist_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate: Mapped[str] = mapped_column(String(16))
    vehicle_color: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    owner_name: Mapped[str | None] = mapped_column(String(100))
    area: Mapped[list[str]] = mapped_column(ARRAY(String(12)))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="2")
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        CheckConstraint("valid_until > valid_from", name="watchlist_entry_window"),
        CheckConstraint("cardinality(area) > 0", name="watchlist_entry_area"),
        Index("ix_watchlist_entry_active", "valid_until", postgresql_where=text("cancelled_at IS NULL")),
    )


class WatchlistHit(Base):
    """A pass an entry caught, and the incident it opened: one per (entry, record), so a record sent
    again raises no second alarm."""

    __tablename__ = "watchlist_hit"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("watchlist_entry.id", ondelete="CASCADE"))
    record_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    plate_no: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(8))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    tollgate_id: Mapped[str | None] = mapped_column(String(64))
    division_code: Mapped[str | None] = mapped_column(ForeignKey("division.code", ondelete="SET NULL"))
    created_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("uq_watchlist_hit", "entry_id", "record_id", unique=True),)
