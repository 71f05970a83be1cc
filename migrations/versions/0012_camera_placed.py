"""camera.placed_by: who placed a camera's geometry (NULL: its source, e.g. a GB/T 28181 catalog)

A planner's correction of a channel's location, heading or view (PATCH) names the planner here, and the next
catalog keeps that geometry. A mobile device's own fixes mark its camera 'gb28181:position' (not a username:
usernames hold no ':'), so later catalogs keep the place the device last reported.

Revision ID: 0012_camera_placed
Revises: 0011_recordings
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_camera_placed"
down_revision: str | None = "0011_recordings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("camera", sa.Column("placed_by", sa.String(64)))


def downgrade() -> None:
    op.drop_column("camera", "placed_by")
