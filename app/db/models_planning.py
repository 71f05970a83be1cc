"""Tables of the coverage planner (issue #6): stored analysis results, so the wall and reports read
them instantly, and background job progress. ``mode`` is 'all' (every camera but planned ones) or
'online' (cameras online now). ``camera_ids`` lists the cameras that touch each row's entity, so a
camera change finds the rows to recompute with one GIN-indexed lookup.

Secret cameras: a figure counting a camera of secrecy > 0 lists those in ``secret_ids`` and has an open
twin (mode '<mode>.open', secrecy-0 cameras only, same ``secret_ids``); ``app.db.scoping.figure_sql``
serves each reader the one they may see.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import SRID, Base, geom, now_col


class Building(Base):
    """Building footprints that block line of sight (from OSM ``building=*``)."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    footprint = geom("POLYGON")
    __table_args__ = (Index("ix_building_footprint", "footprint", postgresql_using="gist"),)


class PlanningJob(Base):
    __tablename__ = "planning_job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # coverage | kpi | placement | duplicates | full
    status: Mapped[str] = mapped_column(String(10), server_default="queued")  # queued|running|done|failed
    progress: Mapped[float] = mapped_column(Float, server_default="0")
    stage: Mapped[str | None] = mapped_column(String(80))
    params: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    result: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_col()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Whose job it is: its creator, and whoever holds exactly the same scope ([[prefix, max_secrecy], …]).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    scope: Mapped[list] = mapped_column(JSONB)
    __table_args__ = (Index("ix_planning_job_created", "created_at"), Index("ix_planning_job_owner", "owner_id"))


class KeyAreaCoverage(Base):
    __tablename__ = "key_area_coverage"
    key_area_id: Mapped[int] = mapped_column(ForeignKey("key_area.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)  # all | online | all.open | online.open
    area_m2: Mapped[float] = mapped_column(Float)
    covered_m2: Mapped[float] = mapped_column(Float)
    fraction: Mapped[float] = mapped_column(Float)
    uncovered = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=True)
    camera_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    secret_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    computed_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("ix_key_area_coverage_cameras", "camera_ids", postgresql_using="gin"),)


class IntersectionCoverage(Base):
    __tablename__ = "intersection_coverage"
    node_id: Mapped[int] = mapped_column(ForeignKey("road_node.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)  # all | online | all.open | online.open
    covered: Mapped[bool] = mapped_column(Boolean)
    camera_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    secret_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    computed_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_intersection_coverage_cameras", "camera_ids", postgresql_using="gin"),
        Index("ix_intersection_coverage_blind", "mode", "covered"),
    )


class RoadCoverage(Base):
    """Main-road edges: how much of each is blind, and the blind stretches themselves."""

    __tablename__ = "road_coverage"
    edge_id: Mapped[int] = mapped_column(ForeignKey("road_edge.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), primary_key=True)  # all | online | all.open | online.open
    length_m: Mapped[float] = mapped_column(Float)
    blind_m: Mapped[float] = mapped_column(Float)
    blind = mapped_column(Geometry("MULTILINESTRING", srid=SRID, spatial_index=False), nullable=True)
    camera_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    secret_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    computed_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("ix_road_coverage_cameras", "camera_ids", postgresql_using="gin"),)


class CameraDuplicate(Base):
    __tablename__ = "camera_duplicate"
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="CASCADE"), primary_key=True)
    other_camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="CASCADE"))
    overlap: Mapped[float] = mapped_column(Float)
    suggested_location = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    suggested_heading_deg: Mapped[float | None] = mapped_column(Float)
    suggested_gain_m2: Mapped[float | None] = mapped_column(Float)
    suggested_gain_intersections: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime] = now_col()
    __table_args__ = (Index("ix_camera_duplicate_other", "other_camera_id"),)


class DivisionKpi(Base):
    __tablename__ = "division_kpi"
    division_code: Mapped[str] = mapped_column(
        ForeignKey("division.code", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), primary_key=True, server_default="all")  # all | all.open
    secret_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    window_days: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict] = mapped_column(JSONB)
    key_area_surface_rate: Mapped[float | None] = mapped_column(Float)  # m² seen / m² of the key areas
    networked_rate: Mapped[float | None] = mapped_column(Float)
    online_rate: Mapped[float | None] = mapped_column(Float)
    hd_rate: Mapped[float | None] = mapped_column(Float)
    retention_compliance_rate: Mapped[float | None] = mapped_column(Float)
    cameras_per_main_road_km: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = now_col()
