"""target_event: events detected on moving targets (area enter/exit, overspeed, stale, SOS)

Revision ID: 0005_target_event
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_target_event"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "target_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("position_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["target_id"], ["target.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_target_event_target_at", "target_event", ["target_id", "at"], unique=False)
    op.create_index("ix_target_event_at", "target_event", ["at"], unique=False)
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON target_event TO sharpeyes_app")
    op.execute("GRANT USAGE ON SEQUENCE target_event_id_seq TO sharpeyes_app")


def downgrade() -> None:
    op.drop_index("ix_target_event_at", table_name="target_event")
    op.drop_index("ix_target_event_target_at", table_name="target_event")
    op.drop_table("target_event")
