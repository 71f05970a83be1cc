"""gb_device: the GB/T 28181 devices admitted to register, their credentials (HA1) and live state

Revision ID: 0010_gb_device
Revises: 0009_trust_scope
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_gb_device"
down_revision: str | None = "0009_trust_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gb_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gb_id", sa.CHAR(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("division_code", sa.String(length=12), nullable=True),
        sa.Column("kind", sa.String(length=8), server_default="ipc", nullable=False),
        # MD5(gb_id:realm:password), what digest authentication needs; the password itself is never stored.
        sa.Column("ha1", sa.Text(), nullable=False),
        sa.Column("edition", sa.Text(), nullable=True),
        sa.Column("online", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_keepalive_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transport", sa.String(length=8), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("firmware", sa.String(length=200), nullable=True),
        sa.Column("channel_count", sa.Integer(), nullable=True),
        sa.Column("catalog_sum", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("gb_id ~ '^[0-9]{20}$'", name="gb_device_gb_id"),
        sa.CheckConstraint("kind IN ('ipc','nvr','dvr','encoder','mobile')", name="gb_device_kind"),
        sa.CheckConstraint("edition IS NULL OR edition IN ('2016','2022')", name="gb_device_edition"),
        sa.ForeignKeyConstraint(["division_code"], ["division.code"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gb_id"),
    )
    op.create_index("ix_gb_device_division", "gb_device", ["division_code"], unique=False,
                    postgresql_ops={"division_code": "text_pattern_ops"})
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON gb_device TO sharpeyes_app")
    op.execute("GRANT USAGE ON SEQUENCE gb_device_id_seq TO sharpeyes_app")


def downgrade() -> None:
    op.drop_index("ix_gb_device_division", table_name="gb_device")
    op.drop_table("gb_device")
