"""Watchlists (布控, issue #21): entries and the passes they caught; GIN indexes for the image endpoint
(which records reference an image).

Revision ID: 0017_watchlist
Revises: 0016_viid
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_watchlist"
down_revision: str | None = "0016_viid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watchlist_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("vehicle_color", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_name", sa.String(length=100), nullable=True),
        sa.Column("area", postgresql.ARRAY(sa.String(length=12)), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint("valid_until > valid_from", name="watchlist_entry_window"),
        sa.CheckConstraint("cardinality(area) > 0", name="watchlist_entry_area"),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watchlist_entry_active", "watchlist_entry", ["valid_until"],
                    postgresql_where=sa.text("cancelled_at IS NULL"))
    op.create_table(
        "watchlist_hit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("plate_no", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("image_sha256", sa.String(length=64), nullable=True),
        sa.Column("tollgate_id", sa.String(length=64), nullable=True),
        sa.Column("division_code", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["watchlist_entry.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["division_code"], ["division.code"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_watchlist_hit", "watchlist_hit", ["entry_id", "record_id"], unique=True)
    op.create_index("ix_viid_mv_images", "viid_motor_vehicle", ["images"], postgresql_using="gin",
                    postgresql_ops={"images": "jsonb_path_ops"})
    op.create_index("ix_viid_object_images", "viid_object", ["images"], postgresql_using="gin",
                    postgresql_ops={"images": "jsonb_path_ops"})


def downgrade() -> None:
    op.drop_index("ix_viid_object_images", table_name="viid_object")
    op.drop_index("ix_viid_mv_images", table_name="viid_motor_vehicle")
    op.drop_index("uq_watchlist_hit", table_name="watchlist_hit")
    op.drop_table("watchlist_hit")
    op.drop_index("ix_watchlist_entry_active", table_name="watchlist_entry")
    op.drop_table("watchlist_entry")
