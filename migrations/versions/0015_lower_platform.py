"""Lower platforms (GB/T 28181 cascade, SharpEyes as the upper): gb_device kind 'platform', and the directory
a lower platform's catalog carries besides its channels (business groups 215, virtual organisations 216,
civil-code nodes), kept as JSONB on its gb_device row: a handful of tree nodes per device, read with it.

Revision ID: 0015_lower_platform
Revises: 0014_upper_platform
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_lower_platform"
down_revision: str | None = "0014_upper_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("gb_device_kind", "gb_device", type_="check")
    op.create_check_constraint("gb_device_kind", "gb_device",
                               "kind IN ('ipc','nvr','dvr','encoder','mobile','platform')")
    op.add_column("gb_device", sa.Column("directory", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("gb_device", "directory")
    op.execute("DELETE FROM gb_device WHERE kind = 'platform'")
    op.drop_constraint("gb_device_kind", "gb_device", type_="check")
    op.create_check_constraint("gb_device_kind", "gb_device", "kind IN ('ipc','nvr','dvr','encoder','mobile')")
