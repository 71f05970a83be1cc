"""View-library catalogue (issue #21): the capture devices (采集设备, ``APEObject``) and the checkpoints' lanes
(车道, ``LaneObject``) uploaded to /VIID/APEs and /VIID/Lanes.

Revision ID: 0019_viid_catalog
Revises: 0018_basemap
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0019_viid_catalog"
down_revision: str | None = "0018_basemap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "viid_ape",
        sa.Column("ape_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("ip_addr", sa.String(length=64), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("location", Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False,
                                       from_text="ST_GeomFromEWKT", name="geometry"), nullable=True),
        sa.Column("place_code", sa.String(length=12), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("org_code", sa.String(length=32), nullable=True),
        sa.Column("division_code", sa.String(length=12), nullable=True),
        sa.Column("is_online", sa.Boolean(), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("device_id", sa.CHAR(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["division_code"], ["division.code"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("ape_id"),
    )
    op.create_index("ix_viid_ape_division", "viid_ape", ["division_code"], unique=False,
                    postgresql_ops={"division_code": "text_pattern_ops"})
    op.create_table(
        "viid_lane",
        sa.Column("tollgate_id", sa.String(length=64), nullable=False),
        sa.Column("lane_id", sa.SmallInteger(), nullable=False),
        sa.Column("lane_no", sa.SmallInteger(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("max_speed", sa.SmallInteger(), nullable=True),
        sa.Column("city_pass", sa.String(length=8), nullable=True),
        sa.Column("ape_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.CHAR(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tollgate_id", "lane_id"),
    )
    op.create_index("ix_viid_lane_no", "viid_lane", ["tollgate_id", "lane_no"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_viid_lane_no", table_name="viid_lane")
    op.drop_table("viid_lane")
    op.drop_index("ix_viid_ape_division", table_name="viid_ape", postgresql_ops={"division_code": "text_pattern_ops"})
    op.drop_geospatial_table("viid_ape")
