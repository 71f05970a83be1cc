"""planning jobs owned by their creator and scope; the planner's key-area KPI named for what it measures

Revision ID: 0007_planning_owner
Revises: 0006_admission
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_planning_owner"
down_revision: str | None = "0006_admission"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Jobs from before had no owner: nobody but an everywhere scope (the rules below) may read them.
    op.add_column("planning_job", sa.Column("owner_id", sa.Integer(), nullable=True))
    op.add_column("planning_job", sa.Column("scope", postgresql.JSONB(astext_type=sa.Text()),
                                            server_default=sa.text("'[[\"\", 0]]'::jsonb"), nullable=False))
    op.alter_column("planning_job", "scope", server_default=None)
    op.create_foreign_key("planning_job_owner_id_fkey", "planning_job", "app_user", ["owner_id"], ["id"],
                          ondelete="SET NULL")
    op.create_index("ix_planning_job_owner", "planning_job", ["owner_id"], unique=False)
    # Surface share of the key areas (m² seen / m²), not the share of areas a camera reaches (the wall's).
    op.alter_column("division_kpi", "key_area_coverage_rate", new_column_name="key_area_surface_rate")
    # A camera's retention is known or NULL: OSM records none, and the 30 days written for it made the
    # retention compliance of whole districts read 0 % where nothing was known.
    op.alter_column("camera", "retention_days", nullable=True, server_default=None)
    op.execute("UPDATE camera SET retention_days = NULL WHERE source = 'osm'")


def downgrade() -> None:
    op.execute("UPDATE camera SET retention_days = 30 WHERE retention_days IS NULL")
    op.alter_column("camera", "retention_days", nullable=False, server_default="30")
    op.alter_column("division_kpi", "key_area_surface_rate", new_column_name="key_area_coverage_rate")
    op.drop_index("ix_planning_job_owner", table_name="planning_job")
    op.drop_constraint("planning_job_owner_id_fkey", "planning_job", type_="foreignkey")
    op.drop_column("planning_job", "scope")
    op.drop_column("planning_job", "owner_id")
