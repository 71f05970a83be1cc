"""Base map (issue #20): water, green areas, railways, labelled POIs and road-name label points from OSM,
each with a GiST index for the tile queries. (Road names were already in ``road_edge.name``.)

Revision ID: 0018_basemap
Revises: 0017_watchlist
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0018_basemap"
down_revision: str | None = "0017_watchlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _geom(name: str, kind: str) -> sa.Column:
    return sa.Column(name, Geometry(geometry_type=kind, srid=4326, dimension=2, spatial_index=False,
                                    from_text="ST_GeomFromEWKT", name="geometry", nullable=False), nullable=False)


def upgrade() -> None:
    for table in ("base_water", "base_green"):
        op.create_table(
            table,
            sa.Column("id", sa.BigInteger(), nullable=False),
            sa.Column("osm_id", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=True),
            _geom("area", "MULTIPOLYGON"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("osm_id"),
        )
        op.create_index(f"ix_{table}_geom", table, ["area"], postgresql_using="gist")
    op.create_table(
        "base_rail",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("tunnel", sa.Boolean(), nullable=False),
        _geom("line", "LINESTRING"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("osm_way_id", "seq", name="uq_base_rail_way_seq"),
    )
    op.create_index("ix_base_rail_geom", "base_rail", ["line"], postgresql_using="gist")
    op.create_table(
        "base_poi",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("osm_ref", sa.String(length=40), nullable=False),
        sa.Column("cls", sa.String(length=20), nullable=False),
        sa.Column("subtype", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        _geom("location", "POINT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("osm_ref"),
    )
    op.create_index("ix_base_poi_geom", "base_poi", ["location"], postgresql_using="gist")
    op.create_table(
        "base_road_label",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("highway", sa.String(length=20), nullable=False),
        sa.Column("angle", sa.Float(), nullable=False),
        sa.Column("way_length_m", sa.Float(), nullable=False),
        _geom("location", "POINT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("osm_way_id", "seq", name="uq_base_road_label_way_seq"),
    )
    op.create_index("ix_base_road_label_geom", "base_road_label", ["location"], postgresql_using="gist")


def downgrade() -> None:
    for table in ("base_road_label", "base_poi", "base_rail", "base_green", "base_water"):
        op.drop_table(table)  # drops its indexes too
