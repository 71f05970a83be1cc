"""admission: one device admission rule for every protocol, pending devices

Revision ID: 0006_admission
Revises: 0005_target_event
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_admission"
down_revision: str | None = "0005_target_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admission_policy",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("mode IN ('registered','pending')", name="admission_policy_mode"),
        sa.PrimaryKeyConstraint("protocol"),
    )
    op.create_table(
        "pending_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending','rejected')", name="pending_device_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("protocol", "external_id", name="uq_pending_device"),
    )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON admission_policy, pending_device TO sharpeyes_app")
    op.execute("GRANT USAGE ON SEQUENCE pending_device_id_seq TO sharpeyes_app")


def downgrade() -> None:
    op.drop_table("pending_device")
    op.drop_table("admission_policy")
