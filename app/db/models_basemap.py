"""Base-map geography from OpenStreetMap (issue #20): water, green areas, railways, labelled POIs and
road-name label points. Public geography (unscoped tiles); every row keeps its OSM identity so a reload
adds nothing. Area ids are signed like ``building.osm_id``: ways > 0, relations < 0.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.db.models import Base, geom


class _OsmArea:
    """Columns of an area layer (water, green): one multipolygon per OSM way or relation."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    area = geom("MULTIPOLYGON")

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (Index(f"ix_{cls.__tablename__}_geom", "area", postgresql_using="gist"),)


class BaseWater(_OsmArea, Base):
    __tablename__ = "base_water"


class BaseGreen(_OsmArea, Base):
    __tablename__ = "base_green"


class BaseRail(Base):
    """One run of a railway way (a way cut by the extract's edge comes in several)."""

    __tablename__ = "base_rail"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_way_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    tunnel: Mapped[bool] = mapped_column(Boolean)
    line = geom("LINESTRING")
    __table_args__ = (UniqueConstraint("osm_way_id", "seq", name="uq_base_rail_way_seq"),
                      Index("ix_base_rail_geom", "line", postgresql_using="gist"))


class BasePoi(Base):
    __tablename__ = "base_poi"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_ref: Mapped[str] = mapped_column(String(40), unique=True)  # osm:node/1, osm:way/2, osm:relation/3
    cls: Mapped[str] = mapped_column(String(20))
    subtype: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(SmallInteger)  # label priority, lower first
    location = geom("POINT")
    __table_args__ = (Index("ix_base_poi_geom", "location", postgresql_using="gist"),)


class BaseRoadLabel(Base):
    """Where a road's name is written: points along named ways, with the text's screen angle."""

    __tablename__ = "base_road_label"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_way_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    highway: Mapped[str] = mapped_column(String(20))
    angle: Mapped[float] = mapped_column(Float)  # degrees counter-clockwise on screen, upright
    way_length_m: Mapped[float] = mapped_column(Float)
    location = geom("POINT")
    __table_args__ = (UniqueConstraint("osm_way_id", "seq", name="uq_base_road_label_way_seq"),
                      Index("ix_base_road_label_geom", "location", postgresql_using="gist"))
