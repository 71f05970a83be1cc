"""recording_check: what each GB/T 28181 channel's device says it holds (RecordInfo sweeps)

Revision ID: 0011_recordings
Revises: 0010_gb_device
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_recordings"
down_revision: str | None = "0010_gb_device"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per camera, overwritten by each sweep: the retention KPI reads the latest fact, not a history.
    op.create_table(
        "recording_check",
        sa.Column("camera_id", sa.Integer(), sa.ForeignKey("camera.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("oldest_at", sa.DateTime(timezone=True)),
        sa.Column("newest_at", sa.DateTime(timezone=True)),
        sa.Column("days", sa.Float()),  # NULL when the device did not answer: unknown, not failing
        sa.Column("gap_s", sa.Float()),
        sa.Column("segments", sa.Integer()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_recording_check_checked_at", "recording_check", ["checked_at"])


def downgrade() -> None:
    op.drop_table("recording_check")
